/* Tests of the pool's controller thread against a fixture /proc whose clocks the test advances. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "pool/cpu_budget.h"
#include "pool/pool.h"

static char root[256];
static unsigned long long busy, idle, self;

/* Replaces a fixture file atomically, so the controller never reads half of it. */
static void put_file(const char *rel, const char *text) {
  char path[512], tmp[520];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(rename(tmp, path), 0);
}

/* Advances the fixture clocks by one 2-CPU period of 100 ticks per CPU. */
static void advance(unsigned long long self_d, unsigned long long busy_d) {
  char text[256];
  self += self_d;
  busy += busy_d;
  idle += 200 - busy_d;
  snprintf(text, sizeof(text), "1 (ledgerkv) S 1 1 1 0 0 0 0 0 0 0 %llu 0 0 0\n", self);
  put_file("proc/self/stat", text);
  snprintf(text, sizeof(text), "cpu %llu 0 0 %llu 0 0 0 0 0 0\ncpu0 0 0 0 0\ncpu1 0 0 0 0\n", busy, idle);
  put_file("proc/stat", text);
}

/* Advances the clocks until the gate's limit is `want` (or about two seconds pass). */
static int drive_until(lkv_pool_t *p, int want, unsigned long long self_d, unsigned long long busy_d) {
  for (int i = 0; i < 200; i++) {
    advance(self_d, busy_d);
    usleep(10000);
    if (lkv_pool_active(p) == want) return 1;
  }
  return 0;
}

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof(root), "/tmp/lkv-pool-XXXXXX");
  assert_non_null(mkdtemp(root));
  char path[512];
  snprintf(path, sizeof(path), "%s/proc", root);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/proc/self", root);
  mkdir(path, 0700);
  busy = idle = self = 0;
  advance(0, 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  return system(cmd);
}

static void test_parks_under_neighbours_and_wakes_after(void **state) {
  (void)state;
  int budget = lkv_cpu_budget_affinity(); /* the fixture has no cgroups: affinity is the budget */
  int full = budget < 2 ? budget : 2;
  lkv_pool_t *p;
  lkv_pool_options_t o = {.workers = 2, .neighbour_aware = 1, .period_ms = 5, .root = root};
  assert_int_equal(lkv_pool_start(&p, &o), 0);
  assert_int_equal(lkv_pool_active(p), 2); /* starts open */
  /* a neighbour spins on both CPUs while we use little */
  assert_true(drive_until(p, 1, 10, 200));
  /* the neighbour leaves */
  assert_true(drive_until(p, full, 10, 10));
  lkv_pool_stop(p);
  assert_int_equal(lkv_pool_active(p), 2); /* stopped: the gate is open for good */
  lkv_pool_free(p);
}

static void test_not_neighbour_aware_stays_open(void **state) {
  (void)state;
  lkv_pool_t *p;
  lkv_pool_options_t o = {.workers = 3, .neighbour_aware = 0, .period_ms = 5, .root = root};
  assert_int_equal(lkv_pool_start(&p, &o), 0);
  for (int i = 0; i < 10; i++) {
    advance(0, 200);
    usleep(10000);
  }
  assert_int_equal(lkv_pool_active(p), 3);
  assert_int_equal(lkv_cpu_gate_enter(lkv_pool_gate(p)), 0); /* open: uncounted */
  lkv_pool_stop(p);
  lkv_pool_free(p);
  lkv_pool_options_t bad = {.workers = 0};
  assert_int_equal(lkv_pool_start(&p, &bad) < 0, 1);
}

/* Without neighbour awareness the pool still follows the budget: a quota lowered at run time (here in a
 * fixture cgroup v2 tree) parks the workers beyond it, and raising it wakes them. */
static void test_follows_a_quota_changed_at_run_time(void **state) {
  (void)state;
  if (lkv_cpu_budget_affinity() < 2) skip(); /* the budget could not exceed one CPU */
  char path[512];
  snprintf(path, sizeof(path), "%s/sys", root);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/sys/fs", root);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/sys/fs/cgroup", root);
  mkdir(path, 0700);
  put_file("proc/self/mountinfo", "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  put_file("proc/self/cgroup", "0::/\n");
  put_file("sys/fs/cgroup/cpu.max", "max 100000\n");
  lkv_pool_t *p;
  lkv_pool_options_t o = {.workers = 2, .follow_budget = 1, .period_ms = 5, .root = root};
  assert_int_equal(lkv_pool_start(&p, &o), 0);
  assert_int_equal(lkv_pool_active(p), 2);
  put_file("sys/fs/cgroup/cpu.max", "100000 100000\n");
  assert_true(drive_until(p, 1, 0, 200)); /* neighbours do not matter: the quota does */
  put_file("sys/fs/cgroup/cpu.max", "200000 100000\n");
  assert_true(drive_until(p, 2, 0, 200));
  lkv_pool_stop(p);
  lkv_pool_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_parks_under_neighbours_and_wakes_after, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_neighbour_aware_stays_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_follows_a_quota_changed_at_run_time, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
