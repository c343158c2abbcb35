/* Tests of the CPU gate and of reading CPU samples from /proc (fixture trees and the real one). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/error.h"
#include "pool/controller.h"
#include "pool/gate.h"

typedef struct {
  lkv_cpu_gate_t *g;
  pthread_mutex_t mu;
  int inside, max_inside, rounds_left;
} gate_run_t;

static void *worker(void *arg) {
  gate_run_t *r = arg;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    int more = r->rounds_left-- > 0;
    pthread_mutex_unlock(&r->mu);
    if (!more) return NULL;
    int counted = lkv_cpu_gate_enter(r->g);
    pthread_mutex_lock(&r->mu);
    if (++r->inside > r->max_inside) r->max_inside = r->inside;
    pthread_mutex_unlock(&r->mu);
    nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
    pthread_mutex_lock(&r->mu);
    r->inside--;
    pthread_mutex_unlock(&r->mu);
    if (counted) lkv_cpu_gate_leave(r->g);
  }
}

static int max_concurrent(int workers, int limit) {
  lkv_cpu_gate_t g;
  assert_int_equal(lkv_cpu_gate_init(&g, workers), 0);
  lkv_cpu_gate_set_limit(&g, limit);
  gate_run_t r = {.g = &g, .rounds_left = 400};
  pthread_mutex_init(&r.mu, NULL);
  pthread_t t[8];
  for (int i = 0; i < workers; i++) pthread_create(&t[i], NULL, worker, &r);
  for (int i = 0; i < workers; i++) pthread_join(t[i], NULL);
  pthread_mutex_destroy(&r.mu);
  assert_int_equal(atomic_load(&g.parked), 0);
  lkv_cpu_gate_destroy(&g);
  return r.max_inside;
}

static void test_gate_limits_concurrency(void **state) {
  (void)state;
  assert_int_equal(max_concurrent(4, 1), 1);
  assert_true(max_concurrent(4, 2) <= 2);
  assert_true(max_concurrent(4, 4) > 1); /* open: nothing serialises the workers */
}

static void test_gate_limit_clamped_and_open(void **state) {
  (void)state;
  lkv_cpu_gate_t g;
  assert_int_equal(lkv_cpu_gate_init(&g, 3), 0);
  assert_int_equal(lkv_cpu_gate_enter(&g), 0); /* open gate: not counted */
  lkv_cpu_gate_set_limit(&g, 0);
  assert_int_equal(lkv_cpu_gate_limit(&g), 1);
  lkv_cpu_gate_set_limit(&g, 99);
  assert_int_equal(lkv_cpu_gate_limit(&g), 3);
  lkv_cpu_gate_set_limit(&g, 2);
  assert_int_equal(lkv_cpu_gate_enter(&g), 1);
  lkv_cpu_gate_leave(&g);
  lkv_cpu_gate_destroy(&g);
}

static void *enter_and_leave(void *arg) {
  lkv_cpu_gate_t *g = arg;
  if (lkv_cpu_gate_enter(g)) lkv_cpu_gate_leave(g);
  return NULL;
}

static void test_raising_the_limit_wakes_parked(void **state) {
  (void)state;
  lkv_cpu_gate_t g;
  assert_int_equal(lkv_cpu_gate_init(&g, 2), 0);
  lkv_cpu_gate_set_limit(&g, 1);
  assert_int_equal(lkv_cpu_gate_enter(&g), 1); /* we hold the only place */
  pthread_t t;
  pthread_create(&t, NULL, enter_and_leave, &g);
  for (int i = 0; i < 2000 && atomic_load(&g.parked) == 0; i++) usleep(1000);
  assert_int_equal(atomic_load(&g.parked), 1);
  assert_int_equal(lkv_cpu_gate_waited_ns(&g), 0); /* counted when the wait ends */
  usleep(20000);
  lkv_cpu_gate_set_limit(&g, 2); /* room returns: the parked worker goes in while we are still inside */
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&g.parked), 0);
  assert_true(lkv_cpu_gate_waited_ns(&g) >= 20000000u); /* the time it waited, for the controller */
  lkv_cpu_gate_leave(&g);
  lkv_cpu_gate_destroy(&g);
}

static char fixture[256];

static void write_file(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", fixture, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int make_fixture(void **state) {
  (void)state;
  snprintf(fixture, sizeof(fixture), "/tmp/lkv-sample-XXXXXX");
  assert_non_null(mkdtemp(fixture));
  char path[512];
  snprintf(path, sizeof(path), "%s/proc", fixture);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/proc/self", fixture);
  mkdir(path, 0700);
  return 0;
}

static int remove_fixture(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", fixture);
  return system(cmd);
}

static void test_sample_from_fixture(void **state) {
  (void)state;
  /* a command name with spaces and parentheses must not shift the fields */
  write_file("proc/self/stat", "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 110 22 0 0 20 0 1 0\n");
  write_file("proc/stat",
             "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\ncpu1 50 3 25 500 10 2 1 1 0 0\n"
             "intr 1 2 3\n");
  lkv_cpu_sample_t s;
  assert_int_equal(lkv_cpu_sample_read(fixture, &s), 0);
  assert_int_equal(s.self_ticks, 132);
  assert_int_equal(s.machine_busy, 100 + 5 + 50 + 3 + 2 + 1);
  assert_int_equal(s.machine_total, 161 + 1000 + 20);
  assert_int_equal(s.machine_cpus, 2);
}

static void test_sample_bad_files(void **state) {
  (void)state;
  lkv_cpu_sample_t s;
  write_file("proc/self/stat", "garbage without parens\n");
  assert_int_equal(lkv_cpu_sample_read(fixture, &s), LKV_ECORRUPT);
  write_file("proc/self/stat", "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12\n");
  write_file("proc/stat", "intr 1 2 3\n");
  assert_int_equal(lkv_cpu_sample_read(fixture, &s), LKV_ECORRUPT);
  assert_int_equal(lkv_cpu_sample_read("/nonexistent-root", &s), LKV_EIO);
}

static void test_sample_real_proc(void **state) {
  (void)state;
  lkv_cpu_sample_t a, b;
  assert_int_equal(lkv_cpu_sample_read("/", &a), 0);
  assert_true(a.machine_cpus >= 1);
  assert_true(a.machine_total >= a.machine_busy);
  volatile unsigned long spin = 0;
  for (unsigned long i = 0; i < 50000000ul; i++) spin += i;
  assert_int_equal(lkv_cpu_sample_read("/", &b), 0);
  assert_true(b.self_ticks >= a.self_ticks);
  assert_true(b.machine_total >= a.machine_total);
}

typedef struct {
  lkv_cpu_gate_t *g;
  atomic_int in; /* 1 once the waiter passed the gate */
} fair_run_t;

static void *fair_waiter(void *arg) {
  fair_run_t *r = arg;
  int counted = lkv_cpu_gate_enter(r->g);
  atomic_store(&r->in, 1);
  nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
  if (counted) lkv_cpu_gate_leave(r->g);
  return NULL;
}

/* A worker that leaves and comes straight back queues behind the one already waiting: it gets in only
 * after the waiter did (an unfair gate lets it re-take the place before the woken waiter runs). */
static void test_gate_serves_waiters_in_order(void **state) {
  (void)state;
  lkv_cpu_gate_t g;
  assert_int_equal(lkv_cpu_gate_init(&g, 2), 0);
  lkv_cpu_gate_set_limit(&g, 1);
  for (int round = 0; round < 20; round++) {
    fair_run_t r = {.g = &g};
    atomic_init(&r.in, 0);
    assert_int_equal(lkv_cpu_gate_enter(&g), 1);
    pthread_t t;
    pthread_create(&t, NULL, fair_waiter, &r);
    while (atomic_load(&g.parked) == 0) nanosleep(&(struct timespec){.tv_nsec = 100000}, NULL);
    lkv_cpu_gate_leave(&g);
    assert_int_equal(lkv_cpu_gate_enter(&g), 1);
    assert_int_equal(atomic_load(&r.in), 1);
    lkv_cpu_gate_leave(&g);
    pthread_join(t, NULL);
  }
  lkv_cpu_gate_destroy(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gate_limits_concurrency),
      cmocka_unit_test(test_gate_limit_clamped_and_open),
      cmocka_unit_test(test_raising_the_limit_wakes_parked),
      cmocka_unit_test(test_gate_serves_waiters_in_order),
      cmocka_unit_test_setup_teardown(test_sample_from_fixture, make_fixture, remove_fixture),
      cmocka_unit_test_setup_teardown(test_sample_bad_files, make_fixture, remove_fixture),
      cmocka_unit_test(test_sample_real_proc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
