/* Fitting the running workers to the CPU quota: the budget, plus workers the quota pays for but the
 * cores do not give. */
#ifndef LKV_POOL_FIT_H
#define LKV_POOL_FIT_H

#include "pool/controller.h"

/*
 * Workers sized from the CPU budget (the quota rounded up) keep a busy process under its quota. With more
 * runnable threads than that, it spends its quota early in each CFS period and then all its threads stop
 * until the next one (throttling: stalls of tens of ms with the usual 100 ms period; bench/pool measured
 * a 4-6x higher max latency with 2 or 16 threads in a 1-CPU cgroup than with 1).
 *
 * One worker per quota CPU gets the quota only if it gets whole cores, though. Beside a neighbour that
 * shares the cores (another container busy on both), one worker got ~2/3 of a CPU while the quota paid
 * for one, and requests queued. So, every period:
 *  - the cgroup was throttled: one worker fewer (never below the budget), and no growth for
 *    LKV_POOL_FIT_COOLDOWN_PERIODS: the quota is the limit, not the cores;
 *  - the workers had backlog (lkv_pool_backlog), the process used clearly less than its quota and the
 *    machine had no idle CPU (so the workers waited for cores): one worker more (never more than exist);
 *  - LKV_POOL_FIT_CALM_PERIODS periods in a row without backlog: one worker fewer (never below the budget).
 * Without a quota below the machine the budget is every worker and nothing moves.
 *
 * Alone in its quota a busy process probed with a second worker whenever its use dipped below the quota
 * (its clients were slow for a moment) and was throttled each time; the idle-CPU condition stops that.
 *
 * Pure: tests drive it with injected samples (self_ns, at_ns, gate_wait_ns, throttled and the machine's
 * busy and total time).
 */

#define LKV_POOL_FIT_CALM_PERIODS 300
#define LKV_POOL_FIT_COOLDOWN_PERIODS 10

typedef struct lkv_pool_fit_s {
  int workers;  /* threads that exist: the upper bound */
  double quota; /* the budget's exact CPUs (lkv_cpu_budget_t.exact) */
  int budget;   /* the quota rounded up, in [1, workers]: the lower bound */
  int active;   /* the last decision (state) */
  int calm;     /* periods in a row without backlog (state) */
  int cooldown; /* periods left before growth is allowed again (state) */
} lkv_pool_fit_t;

/* Starts at the budget of `quota` CPUs (> 0) for `workers` threads (clamped to >= 1). */
void lkv_pool_fit_init(lkv_pool_fit_t *f, int workers, double quota);

/* A budget read again (quotas change at run time). A changed quota restarts the decision at its budget,
 * so a lowered quota parks workers at once. Returns the decision. */
int lkv_pool_fit_budget(lkv_pool_fit_t *f, double quota);

/* Decides from the samples at the start and end of a period; returns the workers that may run. A period
 * whose clocks did not advance keeps the previous decision. */
int lkv_pool_fit_step(lkv_pool_fit_t *f, const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur);

#endif
