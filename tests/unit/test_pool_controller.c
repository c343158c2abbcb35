/* Tests of the neighbour-aware worker count: the pure decision from injected CPU samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "pool/controller.h"

/* A period of 100 ticks per CPU on a machine with `cpus` CPUs, in which we used `self` CPUs and the
 * machine as a whole was busy on `busy` CPUs. */
static void period(lkv_cpu_sample_t *prev, lkv_cpu_sample_t *cur, int cpus, double self, double busy) {
  *cur = *prev;
  cur->machine_cpus = cpus;
  cur->machine_total += (uint64_t)(100 * cpus);
  cur->machine_busy += (uint64_t)(100 * busy);
  cur->self_ticks += (uint64_t)(100 * self);
}

/* The same 100 ms period in which workers waited at the gate with work for `waited` of it (summed over
 * workers). */
static void period_waiting(lkv_cpu_sample_t *prev, lkv_cpu_sample_t *cur, int cpus, double self, double busy,
                           double waited) {
  period(prev, cur, cpus, self, busy);
  cur->at_ns += 100000000u;
  cur->gate_wait_ns += (uint64_t)(waited * 100000000.0);
}

static int run_periods(lkv_pool_ctl_t *c, int n, int cpus, double self, double busy) {
  lkv_cpu_sample_t a = {.machine_cpus = cpus}, b;
  int active = c->active;
  for (int i = 0; i < n; i++) {
    period(&a, &b, cpus, self, busy);
    active = lkv_pool_ctl_step(c, &a, &b);
    a = b;
  }
  return active;
}

static void test_idle_machine_keeps_every_worker(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 4, 4, 1.0);
  assert_int_equal(run_periods(&c, 5, 4, 1.0, 1.0), 4);
}

static void test_neighbour_on_both_cores_leaves_one_worker(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 2, 2, 1.0);
  /* we use 0.5 CPU, the machine is fully busy: neighbours take 1.5 of 2 CPUs */
  assert_int_equal(run_periods(&c, 10, 2, 0.5, 2.0), 1);
  /* and when they leave, the workers come back */
  assert_int_equal(run_periods(&c, 10, 2, 0.5, 0.5), 2);
}

static void test_partial_neighbour(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 8, 8, 1.0);
  /* neighbours use 5 of 8 CPUs: 3 left */
  assert_int_equal(run_periods(&c, 20, 8, 1.0, 6.0), 3);
}

static void test_budget_smaller_than_machine(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 4, 2, 1.0);
  /* 8 CPUs, neighbours use 4: plenty left, but our budget is 2 */
  assert_int_equal(run_periods(&c, 20, 8, 1.0, 5.0), 2);
  /* neighbours use 7 of 8: 1 left */
  assert_int_equal(run_periods(&c, 20, 8, 0.5, 7.5), 1);
}

static void test_overcommit(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 8, 8, 1.5);
  /* 2 CPUs left, 1.5x overcommit: 3 workers */
  assert_int_equal(run_periods(&c, 20, 8, 0.0, 6.0), 3);
}

static void test_bounds_and_bad_samples(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 0, 0, 0.2);
  assert_int_equal(c.workers, 1);
  assert_int_equal(c.budget, 1);
  assert_true(c.overcommit >= 1.0);
  lkv_pool_ctl_init(&c, 3, 3, 1.0);
  assert_int_equal(run_periods(&c, 10, 3, 0.0, 3.0), 1); /* never below one worker */
  lkv_cpu_sample_t a = {.self_ticks = 100, .machine_busy = 100, .machine_total = 1000, .machine_cpus = 3};
  lkv_cpu_sample_t b = a;
  assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 1); /* no time passed: previous decision */
  b.machine_total = 900;
  assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 1); /* clock went backwards */
  /* self above machine busy (sampling skew) counts as no neighbours */
  lkv_pool_ctl_init(&c, 3, 3, 1.0);
  assert_int_equal(run_periods(&c, 3, 3, 2.0, 1.0), 3);
}

static void test_smoothing_does_not_follow_one_spike(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 4, 4, 1.0);
  run_periods(&c, 10, 4, 1.0, 1.0);
  /* one period with neighbours on 3 CPUs: the estimate moves halfway */
  assert_int_equal(run_periods(&c, 1, 4, 1.0, 4.0), 3);
}

/* Parking that leaves our own work waiting is undone: a period with backlog raises a floor under the
 * decision, which stays for LKV_POOL_CTL_CALM_PERIODS quiet periods; a trace of waiting does not. */
static void test_own_backlog_outweighs_neighbours(void **state) {
  (void)state;
  lkv_pool_ctl_t c;
  lkv_pool_ctl_init(&c, 2, 2, 1.0);
  lkv_cpu_sample_t a = {.machine_cpus = 2}, b;
  for (int i = 0; i < 5; i++, a = b) { /* greedy neighbours on both cores: parked to one */
    period_waiting(&a, &b, 2, 0.6, 2.0, 0.0);
    assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), i == 0 ? 2 : 1);
  }
  period_waiting(&a, &b, 2, 0.6, 2.0, 0.01); /* 1 % of the period: the price of parking */
  assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 1);
  a = b;
  period_waiting(&a, &b, 2, 0.6, 2.0, 0.3); /* work held back: the second worker comes back */
  assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 2);
  a = b;
  for (int i = 1; i < LKV_POOL_CTL_CALM_PERIODS; i++, a = b) {
    period_waiting(&a, &b, 2, 0.6, 2.0, 0.0);
    assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 2);
  }
  period_waiting(&a, &b, 2, 0.6, 2.0, 0.0); /* calm long enough: parked again */
  assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 1);
  a = b;
  period_waiting(&a, &b, 2, 0.6, 2.0, 0.5); /* the floor never exceeds the workers */
  assert_int_equal(lkv_pool_ctl_step(&c, &a, &b), 2);
  assert_int_equal(c.floor, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idle_machine_keeps_every_worker),
      cmocka_unit_test(test_neighbour_on_both_cores_leaves_one_worker),
      cmocka_unit_test(test_own_backlog_outweighs_neighbours),
      cmocka_unit_test(test_partial_neighbour),
      cmocka_unit_test(test_budget_smaller_than_machine),
      cmocka_unit_test(test_overcommit),
      cmocka_unit_test(test_bounds_and_bad_samples),
      cmocka_unit_test(test_smoothing_does_not_follow_one_spike),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
