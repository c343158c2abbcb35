/* Tests of the quota fit (src/pool/fit.c): the pure decision from injected samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "pool/fit.h"

#define PERIOD_NS 100000000u

/* Idle CPUs of the 2-CPU machine in the periods that follow (what the neighbours leave). */
static double machine_idle;

/* One 100 ms period after *s in which the process used `used` CPUs, workers waited at the gate with work
 * for `waited` of it, the cgroup was throttled `throttled` times and the machine had machine_idle CPUs
 * idle (100 ticks per CPU). */
static void period(lkv_cpu_sample_t *s, double used, double waited, int throttled) {
  s->at_ns += PERIOD_NS;
  s->self_ns += (uint64_t)(used * PERIOD_NS);
  s->gate_wait_ns += (uint64_t)(waited * PERIOD_NS);
  s->throttled += (uint64_t)throttled;
  s->machine_cpus = 2;
  s->machine_total += 200;
  s->machine_busy += (uint64_t)(200 - 100 * machine_idle);
}

/* Runs n such periods and returns the last decision. */
static int run(lkv_pool_fit_t *f, lkv_cpu_sample_t *s, int n, double used, double waited, int throttled) {
  int active = f->active;
  for (int i = 0; i < n; i++) {
    lkv_cpu_sample_t prev = *s;
    period(s, used, waited, throttled);
    active = lkv_pool_fit_step(f, &prev, s);
  }
  return active;
}

static int setup(void **state) {
  (void)state;
  machine_idle = 0.0;
  return 0;
}

static void test_starts_at_the_budget(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_pool_fit_init(&f, 4, 1.5);
  assert_int_equal(f.active, 2);
  lkv_pool_fit_init(&f, 4, 0.25);
  assert_int_equal(f.active, 1);
  lkv_pool_fit_init(&f, 2, 8.0); /* never more than exist */
  assert_int_equal(f.active, 2);
  lkv_pool_fit_init(&f, 0, 0.0); /* clamped */
  assert_int_equal(f.workers, 1);
  assert_int_equal(f.active, 1);
}

/* Alone in a 1-CPU cgroup, the one worker gets its core and uses the quota: backlog is the quota's doing,
 * more workers would only be throttled. */
static void test_at_the_quota_stays_at_the_budget(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 2, 1.0);
  assert_int_equal(run(&f, &s, 50, 0.97, 0.9, 0), 1);
}

/* Beside a neighbour on the same cores the worker gets 2/3 of a CPU with work waiting: one more worker
 * per period up to every worker, and it stays there while nothing is throttled. */
static void test_cores_held_back_adds_workers(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 3, 1.0);
  assert_int_equal(run(&f, &s, 1, 0.66, 0.5, 0), 2);
  assert_int_equal(run(&f, &s, 1, 0.80, 0.5, 0), 3);
  assert_int_equal(run(&f, &s, 5, 0.80, 0.5, 0), 3);
  assert_int_equal(run(&f, &s, 20, 0.99, 0.5, 0), 3); /* at the quota, not throttled: keep */
}

/* With idle CPUs on the machine the workers were not waiting for cores (our clients or I/O held them
 * back): another worker would not help. No /proc reading (clocks stuck) counts as unknown: no growth. */
static void test_idle_machine_no_growth(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 4, 1.0);
  machine_idle = 0.5;
  assert_int_equal(run(&f, &s, 20, 0.7, 0.5, 0), 1);
  machine_idle = 0.0;
  lkv_cpu_sample_t prev = s;
  period(&s, 0.5, 0.5, 0);
  s.machine_total = prev.machine_total;
  s.machine_busy = prev.machine_busy;
  assert_int_equal(lkv_pool_fit_step(&f, &prev, &s), 1);
  assert_int_equal(run(&f, &s, 1, 0.5, 0.5, 0), 2);
}

/* No backlog: room in the quota is no reason to add workers. A few percent of waiting is not backlog. */
static void test_no_backlog_no_growth(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 4, 1.0);
  assert_int_equal(run(&f, &s, 10, 0.3, 0.0, 0), 1);
  assert_int_equal(run(&f, &s, 10, 0.3, 0.01, 0), 1);
}

/* Throttled: one worker fewer per throttled period down to the budget, and no growth for the cooldown
 * even with backlog and room; then growth resumes. */
static void test_throttling_takes_workers_back(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 4, 1.0);
  assert_int_equal(run(&f, &s, 3, 0.5, 0.5, 0), 4);
  assert_int_equal(run(&f, &s, 1, 1.0, 0.5, 3), 3);
  assert_int_equal(run(&f, &s, 5, 1.0, 0.5, 1), 1); /* never below the budget */
  assert_int_equal(run(&f, &s, LKV_POOL_FIT_COOLDOWN_PERIODS, 0.5, 0.5, 0), 1);
  assert_int_equal(run(&f, &s, 1, 0.5, 0.5, 0), 2);
}

/* Long calm brings a grown pool back to the budget, one worker per calm stretch. */
static void test_calm_returns_to_the_budget(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 3, 1.0);
  assert_int_equal(run(&f, &s, 2, 0.5, 0.5, 0), 3);
  assert_int_equal(run(&f, &s, LKV_POOL_FIT_CALM_PERIODS - 1, 0.2, 0.0, 0), 3);
  assert_int_equal(run(&f, &s, 1, 0.2, 0.0, 0), 2);
  assert_int_equal(run(&f, &s, LKV_POOL_FIT_CALM_PERIODS, 0.2, 0.0, 0), 1);
  assert_int_equal(run(&f, &s, 3 * LKV_POOL_FIT_CALM_PERIODS, 0.2, 0.0, 0), 1);
}

/* A quota changed at run time restarts at its budget: lowered, the workers beyond it park at once. */
static void test_new_budget_restarts(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_cpu_sample_t s = {0};
  lkv_pool_fit_init(&f, 4, 2.0);
  assert_int_equal(run(&f, &s, 2, 1.0, 0.5, 0), 4);
  assert_int_equal(lkv_pool_fit_budget(&f, 2.0), 4); /* unchanged: keep the decision */
  assert_int_equal(lkv_pool_fit_budget(&f, 1.0), 1);
  assert_int_equal(lkv_pool_fit_budget(&f, 3.5), 4);
}

/* Clocks that did not advance keep the decision. */
static void test_stuck_clocks_keep_the_decision(void **state) {
  (void)state;
  lkv_pool_fit_t f;
  lkv_pool_fit_init(&f, 4, 1.0);
  lkv_cpu_sample_t a = {.at_ns = 5, .self_ns = 5}, b = a;
  b.gate_wait_ns = 100;
  assert_int_equal(lkv_pool_fit_step(&f, &a, &b), 1);
  b.at_ns = 4;
  assert_int_equal(lkv_pool_fit_step(&f, &a, &b), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_starts_at_the_budget, setup),
      cmocka_unit_test_setup(test_at_the_quota_stays_at_the_budget, setup),
      cmocka_unit_test_setup(test_cores_held_back_adds_workers, setup),
      cmocka_unit_test_setup(test_idle_machine_no_growth, setup),
      cmocka_unit_test_setup(test_no_backlog_no_growth, setup),
      cmocka_unit_test_setup(test_throttling_takes_workers_back, setup),
      cmocka_unit_test_setup(test_calm_returns_to_the_budget, setup),
      cmocka_unit_test_setup(test_new_budget_restarts, setup),
      cmocka_unit_test_setup(test_stuck_clocks_keep_the_decision, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
