/* Neighbour-aware worker count (friendlypool): CPU samples in, number of workers that may run out. */
#ifndef LKV_POOL_CONTROLLER_H
#define LKV_POOL_CONTROLLER_H

#include <stdint.h>

/*
 * Every period the server samples its own CPU time and the machine's busy time. What the machine spent
 * beyond our own use is the neighbours' share; what is left of our CPU budget after it is what our workers
 * may use without fighting the neighbours for the same cores. Workers beyond that are parked (see gate.h):
 * fewer runnable threads than cores means no involuntary context switches, which is where tail latency
 * explodes under contention.
 *
 * Our own work comes first: parking is only worth it while the workers left can keep up. A period in
 * which workers waited at the gate with work for more than a few percent of it raises a floor under the
 * decision by one worker; the floor comes down one worker per LKV_POOL_CTL_CALM_PERIODS quiet periods.
 * (Measured without it, bench/pool: beside CPU-greedy neighbours one worker got 2/3 of a core, less than
 * the load needed, and p99 went from 15 ms to 474 ms.)
 *
 * The decision (lkv_pool_ctl_step) is a pure function of two samples and the previous state, so tests
 * drive it with injected readings; lkv_cpu_sample_read takes the readings from /proc.
 */

/* Quiet periods (no backlog) before the floor comes down by one worker. */
#define LKV_POOL_CTL_CALM_PERIODS 300

/* One reading of the clocks the controller compares. */
typedef struct lkv_cpu_sample_s {
  uint64_t self_ticks;    /* this process's utime + stime (/proc/self/stat), clock ticks */
  uint64_t machine_busy;  /* all CPUs' busy time (/proc/stat "cpu" line minus idle and iowait), ticks */
  uint64_t machine_total; /* all CPUs' total time (busy + idle + iowait), ticks */
  int machine_cpus;       /* number of "cpuN" lines in /proc/stat (online CPUs) */
  uint64_t at_ns;         /* monotonic time of the sample (set by the pool; 0 in /proc-only readings) */
  uint64_t gate_wait_ns;  /* the gate's lkv_cpu_gate_waited_ns at that time (set by the pool) */
  uint64_t self_ns;       /* this process's CPU time, CLOCK_PROCESS_CPUTIME_ID (set by the pool; fit.h) */
  uint64_t throttled;     /* lkv_cpu_budget_throttled at that time, 0 without a quota (set by the pool) */
} lkv_cpu_sample_t;

/* 1 when workers waited at the gate with work for more than a few percent of the period between the
 * samples: the workers allowed in could not keep up. Pure. */
int lkv_pool_backlog(const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur);

/* The CPUs a tick counter's growth from `from` (in prev) to `to` (in cur) amounts to: its share of the
 * machine's total time between the samples, times the CPU count. Negative when the machine's clocks did
 * not advance or the counter went backwards. Pure. */
double lkv_pool_ticks_cpus(const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur, uint64_t from, uint64_t to);

/* Reads a sample from <root>/proc/self/stat and <root>/proc/stat (root "/" in production, a fixture tree
 * in tests; not retained). Returns 0, or LKV_EIO / LKV_ECORRUPT (missing or unparsable files). */
int lkv_cpu_sample_read(const char *root, lkv_cpu_sample_t *out);

/* Tunables and state of the controller. Initialise with lkv_pool_ctl_init. */
typedef struct lkv_pool_ctl_s {
  int workers;       /* threads that exist; the result never exceeds it */
  int budget;        /* CPUs this process may use (cpu_budget.h) */
  double overcommit; /* active = ceil(left * overcommit); 1.0 = exactly what is left */
  double neighbours; /* smoothed estimate of the CPUs neighbours use (state) */
  int active;        /* the last decision (state) */
  int floor;         /* workers our own backlog needs, whatever the neighbours use (state) */
  int calm;          /* periods since the backlog last raised the floor (state) */
} lkv_pool_ctl_t;

/* Sets the tunables; the state starts with no neighbours, every worker active and a floor of one. workers
 * and budget are clamped to >= 1, overcommit to >= 1.0 (fewer workers than free CPUs would waste them). */
void lkv_pool_ctl_init(lkv_pool_ctl_t *c, int workers, int budget, double overcommit);

/* Updates the neighbour estimate and the backlog floor from the samples taken at the start and end of a
 * period and returns the number of workers that may run, in [1, workers]. A period in which a clock went
 * backwards or did not advance keeps the previous decision. Pure: no I/O, no clock. */
int lkv_pool_ctl_step(lkv_pool_ctl_t *c, const lkv_cpu_sample_t *prev, const lkv_cpu_sample_t *cur);

#endif
