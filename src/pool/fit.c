/* The quota fit: from the budget up while the cores hold us back, down when the quota does. */
#include "pool/fit.h"

#include <math.h>

/* "Clearly less than the quota": a worker that gets whole cores uses nearly all of its CPU, so below this
 * share of the quota the cores, not the work, held the workers back. */
#define LKV__FIT_HEADROOM 0.85

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
  f->calm = backlog ? 0 : f->calm + 1;
  if (cur->throttled > prev->throttled) {
    if (f->active > f->budget) f->active--;
    f->cooldown = LKV_POOL_FIT_COOLDOWN_PERIODS;
  } else if (f->cooldown > 0) {
    f->cooldown--;
  } else if (backlog && used < LKV__FIT_HEADROOM * f->quota) {
    if (f->active < f->workers) f->active++;
  } else if (f->calm >= LKV_POOL_FIT_CALM_PERIODS) {
    if (f->active > f->budget) f->active--;
    f->calm = 0;
  }
  return f->active;
}
