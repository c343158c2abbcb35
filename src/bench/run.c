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
    sh->start_ns = now;
    sh->deadline_ns = cfg->duration_ms ? now + cfg->duration_ms * 1000000ull : 0;
    p.next_ns = now + 1000000000ull;
    p.last_ns = now;
    atomic_store(&sh->go, 1); /* publishes start_ns and deadline_ns to the threads */
  }
  if (p.printed && p.tty) fputc('\n', progress);
}

/* Merges the threads' tallies into res and works out the elapsed time and what was lost. */
static int collect(lkv__bench_shared_t *sh, lkv__bench_thread_t *threads, int n, lkv_bench_result_t *res) {
  uint64_t last = 0;
  for (int i = 0; i < n; i++) {
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

int lkv_bench_run(const lkv_bench_config_t *cfg, lkv_bench_result_t *res, FILE *progress) {
  int rv, n = cfg->threads, started = 0;
  if ((rv = lkv_bench_result_init(res)) != 0) return rv;
  atomic_store(&interrupt_requested, 0);
  lkv__bench_shared_t sh;
  memset(&sh, 0, sizeof(sh));
  sh.cfg = cfg;
  lkv__bench_thread_t *threads = calloc((size_t)n, sizeof(*threads));
  if (!threads) return LKV_ENOMEM;
  int inited = 0;
  for (; inited < n; inited++) {
    if ((rv = lkv__bench_thread_init(&threads[inited], &sh, inited)) != 0) goto err_after_init;
  }
  for (; started < n; started++) {
    if ((rv = -pthread_create(&threads[started].thread, NULL, lkv__bench_thread_main, &threads[started])) !=
        0) {
      break;
    }
  }
  if (rv != 0) {
    /* The threads already running see stop, wind down, and are joined below. */
    atomic_store(&sh.stop, 1);
    atomic_store(&sh.go, 1);
  }
  supervise(&sh, threads, started, res, progress);
  for (int i = 0; i < started; i++) pthread_join(threads[i].thread, NULL);
  if (rv == 0) rv = collect(&sh, threads, n, res);

err_after_init:
  for (int i = 0; i < inited; i++) lkv__bench_thread_free(&threads[i]);
  free(threads);
  return rv;
}
