/* The friendlypool decision: neighbours' CPU use from two samples, and the workers that still fit. */
#include "pool/controller.h"

#include <math.h>

/* Weight of the newest period in the neighbour estimate: reacts within a few periods without following
 * every spike of a bursty neighbour. */
#define LKV__CTL_SMOOTHING 0.5

/* A sliver of a CPU this small is sampling noise (tick granularity, the smoothing's tail), not room for
 * another worker. */
#define LKV__CTL_NOISE 0.05

/* Share of a period that workers may wait at the gate with work before the floor rises: a few percent of
 * queueing is the price of parking, more means the workers left cannot keep up. */
#define LKV__CTL_BACKLOG 0.02

void lkv_pool_ctl_init(lkv_pool_ctl_t *c, int workers, int budget, double overcommit) {
  c->workers = workers < 1 ? 1 : workers;
  c->budget = budget < 1 ? 1 : budget;
  c->overcommit = overcommit < 1.0 ? 1.0 : overcommit;
  c->neighbours = 0.0;
  c->active = c->workers;
  c->floor = 1;
  c->calm = 0;
}

int lkv_pool_backlog(const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur) {
  return cur->at_ns > prev->at_ns && cur->gate_wait_ns > prev->gate_wait_ns &&
         (double)(cur->gate_wait_ns - prev->gate_wait_ns) > LKV__CTL_BACKLOG * (double)(cur->at_ns - prev->at_ns);
}

/* Raises the floor after a period with backlog, lowers it after enough quiet ones. */
static void update_floor(lkv_pool_ctl_t *c, const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur) {
  if (lkv_pool_backlog(prev, cur)) {
    if (c->floor <= c->active) c->floor = c->active < c->workers ? c->active + 1 : c->workers;
    c->calm = 0;
  } else if (++c->calm >= LKV_POOL_CTL_CALM_PERIODS && c->floor > 1) {
    c->floor--;
    c->calm = 0;
  }
}

double lkv_pool_ticks_cpus(const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur, uint64_t from, uint64_t to) {
  if (cur->machine_total <= prev->machine_total || to < from || cur->machine_cpus < 1) return -1.0;
  /* The counters count ticks over all CPUs, so their ratio to the machine's total is a share of the
   * machine; times the CPU count it is in CPUs. */
  return (double)(to - from) * cur->machine_cpus / (double)(cur->machine_total - prev->machine_total);
}

int lkv_pool_ctl_step(lkv_pool_ctl_t *c, const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur) {
  double busy = lkv_pool_ticks_cpus(prev, cur, prev->machine_busy, cur->machine_busy);
  double self = lkv_pool_ticks_cpus(prev, cur, prev->self_ticks, cur->self_ticks);
  if (busy < 0.0 || self < 0.0) return c->active;
  double others = busy > self ? busy - self : 0.0;
  c->neighbours = LKV__CTL_SMOOTHING * others + (1.0 - LKV__CTL_SMOOTHING) * c->neighbours;
  /* Our budget may be smaller than the machine: neighbours first take the CPUs outside it. */
  double free_cpus = cur->machine_cpus - c->neighbours;
  double left = free_cpus < c->budget ? free_cpus : c->budget;
  int active = (int)ceil(left * c->overcommit - LKV__CTL_NOISE);
  update_floor(c, prev, cur);
  if (active < c->floor) active = c->floor;
  if (active < 1) active = 1;
  if (active > c->workers) active = c->workers;
  c->active = active;
  return active;
}
