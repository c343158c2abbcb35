/* The bench runner: starts the client threads, releases them together, shows progress, merges results. */
#include "bench/run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/internal.h"
#include "common/error.h"

/* Threads that have not connected and set up by then abort the run. */
#define SETUP_TIMEOUT_NS (60ull * 1000000000ull)
#define POLL_NS 10000000L

static atomic_int interrupt_requested;

void lkv_bench_interrupt(void) {
  atomic_store(&interrupt_requested, 1);
}

typedef struct {
  FILE *f;
  int tty;
  uint64_t next_ns, last_ns, last_ok;
  int printed;
} progress_t;

static void show_progress(progress_t *p, const lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n,
                          uint64_t now) {
  if (!p->f || now < p->next_ns) return;
  uint64_t ok = 0, err = 0;
  for (int i = 0; i < n; i++) {
    ok += atomic_load_explicit(&threads[i].prog_ok, memory_order_relaxed);
    err += atomic_load_explicit(&threads[i].prog_err, memory_order_relaxed);
  }
  double elapsed = (double)(now - sh->start_ns) / 1e9;
  double recent = now > p->last_ns ? (double)(ok - p->last_ok) / ((double)(now - p->last_ns) / 1e9) : 0;
  fprintf(p->f, "%s[%6.1fs] %llu ok, %llu failed, %.0f/s (last second %.0f/s)%s", p->tty ? "\r" : "", elapsed,
          (unsigned long long)ok, (unsigned long long)err, elapsed > 0 ? (double)ok / elapsed : 0, recent,
          p->tty ? "\033[K" : "\n");
  fflush(p->f);
  p->printed = 1;
  p->last_ns = now;
  p->last_ok = ok;
  p->next_ns = now + 1000000000ull;
}

static int all_finished(lkv__bench_thread_t *threads, int n) {
  for (int i = 0; i < n; i++) {
    if (!atomic_load(&threads[i].finished)) return 0;
  }
  return 1;
}

static int is_ledger(const lkv_bench_config_t *cfg) {
  return cfg->workload == LKV_BENCH_RECEIPT || cfg->workload == LKV_BENCH_VERIFY;
}

/* Every thread's head covers what it waited for: the revisions to draw from are those all heads cover.
 * verify: the fetch becomes one request per receipt slot, spread over those revisions. */
static void prepare_ledger(lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n,
                           lkv_bench_result_t *res) {
  sh->rev_hi = threads[0].rev_head;
  for (int i = 1; i < n; i++) {
    if (threads[i].rev_head < sh->rev_hi) sh->rev_hi = threads[i].rev_head;
  }
  res->revision = sh->rev_hi;
  if (sh->cfg->workload != LKV_BENCH_VERIFY) return;
  /* One endpoint (args.c): every thread asked the same node, whose key is the one to trust. */
  memcpy(sh->trusted_key, threads[0].head_key, LKV_LEDGER_KEY_LEN);
  uint64_t span = (uint64_t)(sh->rev_hi - 1);
  sh->n_receipts = sh->cfg->key_space < span ? sh->cfg->key_space : span;
  sh->total = sh->n_receipts;
  sh->duration_ms = 0;
  sh->receipts = calloc(sh->n_receipts, sizeof(*sh->receipts));
  if (!sh->receipts) {
    res->aborted = strdup("no memory for the receipts");
    atomic_store(&sh->stop, 1);
  }
}

/* Watches the threads until they all finished: releases the load once every thread is ready (or the run
 * must be aborted), passes on interrupts, prints progress. */
static void supervise(lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n, lkv_bench_result_t *res,
                      FILE *progress) {
  const lkv_bench_config_t *cfg = sh->cfg;
  uint64_t setup_deadline = lkv__bench_now_ns() + SETUP_TIMEOUT_NS;
  progress_t p = {progress, progress ? isatty(fileno(progress)) : 0, 0, 0, 0, 0};
  while (!all_finished(threads, n)) {
    struct timespec ts = {0, POLL_NS};
    nanosleep(&ts, NULL);
    uint64_t now = lkv__bench_now_ns();
    if (atomic_load(&interrupt_requested) && !res->interrupted) {
      res->interrupted = 1;
      atomic_store(&sh->stop, 1);
    }
    if (atomic_load(&sh->go)) {
      show_progress(&p, sh, threads, n, now);
      continue;
    }
    int timed_out = now > setup_deadline;
    if (atomic_load(&sh->ready) < n && !atomic_load(&sh->stop) && !timed_out) continue;
    if (timed_out && !atomic_load(&sh->stop) && !res->aborted) {
      res->aborted = strdup("connecting and setting up took longer than 60 s");
      atomic_store(&sh->stop, 1);
    }
    /* Once, before the first phase's load (verify's second phase reuses what it found). */
    if (!atomic_load(&sh->stop) && is_ledger(cfg) && sh->rev_hi == 0) prepare_ledger(sh, threads, n, res);
    sh->start_ns = now;
    sh->deadline_ns = sh->duration_ms ? now + sh->duration_ms * 1000000ull : 0;
    p.next_ns = now + 1000000000ull;
    p.last_ns = now;
    atomic_store(&sh->go, 1); /* publishes start_ns and deadline_ns to the threads */
  }
  if (p.printed && p.tty) fputc('\n', progress);
}

/* Merges the threads' tallies into res and works out the elapsed time and what was lost. */
static int collect(lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n, lkv_bench_result_t *res) {
  uint64_t last = 0;
  double *rates = realloc(res->thread_ops_per_s, (size_t)n * sizeof(*rates));
  if (!rates) return LKV_ENOMEM;
  res->thread_ops_per_s = rates;
  res->n_threads = n;
  for (int i = 0; i < n; i++) {
    uint64_t took = threads[i].last_ns > sh->start_ns ? threads[i].last_ns - sh->start_ns : 0;
    rates[i] = took ? (double)threads[i].stats.ok / ((double)took / 1e9) : 0;
    if (lkv_bench_stats_merge(&res->stats, &threads[i].stats) != 0) return LKV_ENOMEM;
    if (threads[i].last_ns > last) last = threads[i].last_ns;
    if (threads[i].abort[0] && !res->aborted && !(res->aborted = strdup(threads[i].abort))) return LKV_ENOMEM;
  }
  if (atomic_load(&sh->go) && last > sh->start_ns) res->elapsed_s = (double)(last - sh->start_ns) / 1e9;
  lkv_bench_stats_t *s = &res->stats;
  if (sh->cfg->workload == LKV_BENCH_WATCH && !res->aborted) {
    uint64_t want = s->puts_ok * (uint64_t)sh->cfg->watchers;
    if (s->ok < want) {
      char msg[96];
      snprintf(msg, sizeof(msg), "%llu of %llu events never arrived", (unsigned long long)(want - s->ok),
               (unsigned long long)want);
      lkv_bench_stats_error(s, LKV_BENCH_MISSING_EVENT, msg);
      s->errors[LKV_BENCH_MISSING_EVENT] += want - s->ok - 1;
    }
  }
  return 0;
}

/* Starts n threads running body, supervises them until they all finished, joins them. Returns 0 or the
 * negative errno of a failed pthread_create (the threads already running were stopped and joined). */
static int run_phase(lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n, void *(*body)(void *),
                     lkv_bench_result_t *res, FILE *progress) {
  int rv = 0, started = 0;
  for (; started < n; started++) {
    if ((rv = -pthread_create(&threads[started].thread, NULL, body, &threads[started])) != 0) break;
  }
  if (rv != 0) {
    /* The threads already running see stop, wind down, and are joined below. */
    atomic_store(&sh->stop, 1);
    atomic_store(&sh->go, 1);
  }
  supervise(sh, threads, started, res, progress);
  for (int i = 0; i < started; i++) pthread_join(threads[i].thread, NULL);
  return rv;
}

/* verify, once the receipts are fetched: the result so far counts the fetch; from here it counts the
 * verifications, done offline by fresh threads over the same limits (--total, --duration). */
static int verify_phase(lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n, lkv_bench_result_t *res,
                        FILE *progress) {
  lkv_bench_stats_t *s = &res->stats;
  res->receipts = s->ok;
  if (!res->aborted && !res->interrupted && s->ok < sh->n_receipts) {
    char msg[128];
    snprintf(msg, sizeof(msg), "verify: %llu of %llu receipts could not be fetched",
             (unsigned long long)(sh->n_receipts - s->ok), (unsigned long long)sh->n_receipts);
    if (!(res->aborted = strdup(msg))) return LKV_ENOMEM;
  }
  /* Fetch failures stay in the report; its successes and latencies are not verifications. */
  s->ok = s->sent = 0;
  lkv_bench_hist_reset(&s->latency_ns);
  res->elapsed_s = 0;
  if (res->aborted || res->interrupted) return 0;
  for (int i = 0; i < n; i++) {
    lkv__bench_thread_t *t = &threads[i];
    lkv_bench_stats_free(&t->stats);
    if (lkv_bench_stats_init(&t->stats) != 0) return LKV_ENOMEM;
    t->last_ns = 0;
    atomic_store(&t->prog_ok, 0);
    atomic_store(&t->prog_err, 0);
    atomic_store(&t->finished, 0);
  }
  atomic_store(&sh->tickets, 0);
  atomic_store(&sh->ready, 0);
  atomic_store(&sh->go, 0);
  sh->total = sh->cfg->total;
  sh->duration_ms = sh->cfg->duration_ms;
  int rv = run_phase(sh, threads, n, lkv__bench_verify_main, res, progress);
  return rv ? rv : collect(sh, threads, n, res);
}

int lkv_bench_run(const lkv_bench_config_t *cfg, lkv_bench_result_t *res, FILE *progress) {
  int rv, n = cfg->threads;
  if ((rv = lkv_bench_result_init(res)) != 0) return rv;
  atomic_store(&interrupt_requested, 0);
  lkv__bench_shared_t sh;
  memset(&sh, 0, sizeof(sh));
  sh.cfg = cfg;
  sh.total = cfg->total;
  sh.duration_ms = cfg->duration_ms;
  lkv__bench_thread_t *threads = calloc((size_t)n, sizeof(*threads));
  if (!threads) return LKV_ENOMEM;
  int inited = 0;
  for (; inited < n; inited++) {
    if ((rv = lkv__bench_thread_init(&threads[inited], &sh, inited)) != 0) goto err_after_init;
  }
  rv = run_phase(&sh, threads, n, lkv__bench_thread_main, res, progress);
  if (rv == 0) rv = collect(&sh, threads, n, res);
  if (rv == 0 && cfg->workload == LKV_BENCH_VERIFY) rv = verify_phase(&sh, threads, n, res, progress);

err_after_init:
  for (int i = 0; i < inited; i++) lkv__bench_thread_free(&threads[i]);
  free(threads);
  free(sh.receipts);
  return rv;
}
