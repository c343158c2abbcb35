/* The controller thread: every period, sample, decide, and set the gate's limit. */
#include "pool/pool.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/sleeper.h"
#include "pool/cpu_budget.h"
#include "pool/fit.h"

/* The budget is re-read every this many periods: a handful of small files, but no need to do it 10x/s. */
#define LKV__POOL_BUDGET_EVERY 10

struct lkv_pool_s {
  lkv_cpu_gate_t gate;
  lkv_pool_ctl_t ctl;    /* neighbour-aware decision */
  lkv_pool_fit_t fit;    /* budget-following decision */
  lkv_cpu_budget_t *cpu; /* the last budget read (heap: it is ~13 KiB) */
  const char *root;
  int period_ms;
  int neighbour_aware;
  int running; /* the thread was started and not yet joined */
  pthread_t thread;
  lkv_sleeper_t sleeper; /* the controller's sleep between periods, cut short to stop it */
};

/* Re-reads the budget into p->cpu; on failure the last one stays. */
static void read_budget(lkv_pool_t *p) {
  int aff = lkv_cpu_budget_affinity();
  if (aff >= 1) lkv_cpu_budget_read(p->root, aff, p->cpu);
}

/* Reads the /proc clocks and stamps the reading with the time, our CPU time, the gate's waiting and the
 * quota's throttling. Without the /proc clocks the neighbour-aware decision skips the period; the fit
 * still sees throttling (it then treats the machine's idle time as unknown). */
static int read_sample(lkv_pool_t *p, lkv_cpu_sample_t *out) {
  int rc = lkv_cpu_sample_read(p->root, out);
  if (rc != 0 && !p->neighbour_aware) {
    out->machine_busy = out->machine_total = 0;
    out->machine_cpus = 0;
    rc = 0;
  }
  out->at_ns = lkv_clock_ns(CLOCK_MONOTONIC);
  out->self_ns = lkv_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
  out->gate_wait_ns = lkv_cpu_gate_waited_ns(&p->gate);
  if (lkv_cpu_budget_throttled(p->cpu, &out->throttled) != 0) out->throttled = 0;
  return rc;
}

/* The fit is the most the quota allows; the neighbour-aware decision may park below it (its backlog floor
 * alone would grow past the quota and be throttled, bench/pool's busy 1-CPU setting). */
static int decide(lkv_pool_t *p, const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur) {
  int fit = lkv_pool_fit_step(&p->fit, prev, cur);
  if (!p->neighbour_aware) return fit;
  int ctl = lkv_pool_ctl_step(&p->ctl, prev, cur);
  return ctl < fit ? ctl : fit;
}

static void *controller_main(void *arg) {
  lkv_pool_t *p = arg;
  lkv_cpu_sample_t prev, cur;
  int have_prev = read_sample(p, &prev) == 0;
  for (unsigned n = 1; !lkv_sleeper_sleep_ms(&p->sleeper, (uint64_t)p->period_ms); n++) {
    if (n % LKV__POOL_BUDGET_EVERY == 0) {
      read_budget(p);
      p->ctl.budget = p->cpu->cpus;
      int fit = lkv_pool_fit_budget(&p->fit, p->cpu->exact);
      if (!p->neighbour_aware) lkv_cpu_gate_set_limit(&p->gate, fit);
    }
    if (read_sample(p, &cur) != 0) continue; /* keep the last decision */
    /* A throttling count that went backwards (the cgroup was replaced) is not throttling. */
    if (have_prev && cur.throttled >= prev.throttled) lkv_cpu_gate_set_limit(&p->gate, decide(p, &prev, &cur));
    prev = cur;
    have_prev = 1;
  }
  return NULL;
}

int lkv_pool_start(lkv_pool_t **out, const lkv_pool_options_t *opts) {
  if (!out || !opts || opts->workers < 1) return LKV_EINVAL;
  lkv_pool_t *p = calloc(1, sizeof(*p));
  if (!p) return LKV_ENOMEM;
  p->root = opts->root ? opts->root : "/";
  p->period_ms = opts->period_ms > 0 ? opts->period_ms : LKV_POOL_DEFAULT_PERIOD_MS;
  if (lkv_cpu_gate_init(&p->gate, opts->workers) != 0) goto err_after_alloc;
  if (lkv_sleeper_init(&p->sleeper) != 0) goto err_after_gate;
  p->cpu = calloc(1, sizeof(*p->cpu)); /* no source found: no quota, until read_budget finds one */
  if (!p->cpu) goto err_after_sleeper;
  p->cpu->cpus = opts->workers;
  p->cpu->exact = opts->workers;
  read_budget(p);
  lkv_pool_ctl_init(&p->ctl, opts->workers, p->cpu->cpus, opts->overcommit);
  lkv_pool_fit_init(&p->fit, opts->workers, p->cpu->exact);
  p->neighbour_aware = opts->neighbour_aware != 0;
  if (opts->neighbour_aware || opts->follow_budget) {
    if (!p->neighbour_aware) lkv_cpu_gate_set_limit(&p->gate, p->fit.active);
    if (pthread_create(&p->thread, NULL, controller_main, p) != 0) goto err_after_cpu;
    p->running = 1;
  }
  *out = p;
  return 0;
err_after_cpu:
  free(p->cpu);
err_after_sleeper:
  lkv_sleeper_destroy(&p->sleeper);
err_after_gate:
  lkv_cpu_gate_destroy(&p->gate);
err_after_alloc:
  free(p);
  return LKV_ENOMEM;
}

lkv_cpu_gate_t *lkv_pool_gate(lkv_pool_t *p) {
  return &p->gate;
}

int lkv_pool_active(const lkv_pool_t *p) {
  return lkv_cpu_gate_limit(&p->gate);
}

void lkv_pool_stop(lkv_pool_t *p) {
  if (p->running) {
    lkv_sleeper_stop(&p->sleeper);
    pthread_join(p->thread, NULL);
    p->running = 0;
  }
  lkv_cpu_gate_set_limit(&p->gate, p->gate.workers);
}

void lkv_pool_free(lkv_pool_t *p) {
  if (!p) return;
  lkv_sleeper_destroy(&p->sleeper);
  lkv_cpu_gate_destroy(&p->gate);
  free(p->cpu);
  free(p);
}
