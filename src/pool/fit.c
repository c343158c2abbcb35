/* The quota fit: from the budget up while the cores hold us back, down when the quota does. */
#include "pool/fit.h"

#include <math.h>

/* "Clearly less than the quota": below this share of it, something other than the quota held the
 * workers back. */
#define LKV__FIT_HEADROOM 0.85

/* "No idle CPU": the machine's idle CPUs in the period were below this. With idle CPUs about, the workers
 * were not waiting for a core (our own I/O or clients held them back), and another one would only be
 * throttled. A quarter of a CPU covers tick noise. */
#define LKV__FIT_IDLE_CPUS 0.25

/* Idle CPUs of the machine over the period, or a negative value when /proc gave no reading. */
static double idle_cpus(const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur) {
  double busy = lkv_pool_ticks_cpus(prev, cur, prev->machine_busy, cur->machine_busy);
  if (busy < 0.0) return -1.0;
  return busy >= cur->machine_cpus ? 0.0 : cur->machine_cpus - busy;
}

void lkv_pool_fit_init(lkv_pool_fit_t *f, int workers, double quota) {
  f->workers = workers < 1 ? 1 : workers;
  f->quota = -1.0;
  lkv_pool_fit_budget(f, quota);
}

int lkv_pool_fit_budget(lkv_pool_fit_t *f, double quota) {
  if (quota == f->quota) return f->active;
  int budget = (int)ceil(quota);
  f->quota = quota;
  f->budget = budget < 1 ? 1 : budget > f->workers ? f->workers : budget;
  f->active = f->budget;
  f->calm = 0;
  f->cooldown = 0;
  return f->active;
}

int lkv_pool_fit_step(lkv_pool_fit_t *f, const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur) {
  if (cur->at_ns <= prev->at_ns || cur->self_ns < prev->self_ns) return f->active;
  double used = (double)(cur->self_ns - prev->self_ns) / (double)(cur->at_ns - prev->at_ns);
  int backlog = lkv_pool_backlog(prev, cur);
  double idle = idle_cpus(prev, cur);
  f->calm = backlog ? 0 : f->calm + 1;
  if (cur->throttled > prev->throttled) {
    if (f->active > f->budget) f->active--;
    f->cooldown = LKV_POOL_FIT_COOLDOWN_PERIODS;
  } else if (f->cooldown > 0) {
    f->cooldown--;
  } else if (backlog && used < LKV__FIT_HEADROOM * f->quota && idle >= 0.0 && idle < LKV__FIT_IDLE_CPUS) {
    if (f->active < f->workers) f->active++;
  } else if (f->calm >= LKV_POOL_FIT_CALM_PERIODS) {
    if (f->active > f->budget) f->active--;
    f->calm = 0;
  }
  return f->active;
}
