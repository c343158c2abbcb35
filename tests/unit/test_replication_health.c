/* etcd's "unhealthy cluster" rules (replication/health.h) on made-up connection times, including etcd's
 * own unit cases for isConnectedFullySince / numConnectedSince. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "replication/health.h"

#define SELF 1
#define NOW 100000u

/* Connection times by member id (index); asking about self is a bug in the rules. */
static uint64_t since_of[8];

static uint64_t since(void *arg, uint64_t id) {
  (void)arg;
  assert_true(id != SELF && id < 8);
  return since_of[id];
}

static const uint64_t three[] = {1, 2, 3}, five[] = {1, 2, 3, 4, 5};

static lkv_health_view_t view(const uint64_t *voters, size_t n) {
  return (lkv_health_view_t){.self = SELF, .voters = voters, .n_voters = n, .since = since, .now_ms = NOW};
}

/* Every peer up for `age` ms. */
static void all_up(uint64_t age) {
  for (int i = 0; i < 8; i++) since_of[i] = NOW - age;
}

static void test_add_needs_every_voter_for_the_interval(void **state) {
  (void)state;
  lkv_health_view_t v = view(three, 3);
  all_up(60000);
  assert_int_equal(lkv_health_may_add(&v), 0);
  since_of[3] = 0; /* down */
  assert_int_equal(lkv_health_may_add(&v), LKV_EUNHEALTHY);
  since_of[3] = NOW - 4900; /* back, but not for 5 s yet */
  assert_int_equal(lkv_health_may_add(&v), LKV_EUNHEALTHY);
  since_of[3] = NOW - LKV_HEALTH_INTERVAL_MS; /* etcd: strictly before now - 5 s */
  assert_int_equal(lkv_health_may_add(&v), LKV_EUNHEALTHY);
  since_of[3] = NOW - LKV_HEALTH_INTERVAL_MS - 1;
  assert_int_equal(lkv_health_may_add(&v), 0);
  /* A member alone needs nothing (self is never asked about). */
  lkv_health_view_t alone = view(three, 1);
  all_up(0);
  assert_int_equal(lkv_health_may_add(&alone), 0);
}

static void test_remove_of_a_down_member_is_always_allowed(void **state) {
  (void)state;
  lkv_health_view_t v = view(five, 5);
  for (int i = 0; i < 8; i++) since_of[i] = 0; /* everyone down: still removable one by one */
  assert_int_equal(lkv_health_may_remove(&v, 4), 0);
}

static void test_remove_keeps_an_active_quorum(void **state) {
  (void)state;
  lkv_health_view_t v = view(three, 3);
  all_up(60000);
  assert_int_equal(lkv_health_may_remove(&v, 2), 0);
  assert_int_equal(lkv_health_may_remove(&v, SELF), 0); /* self: never the down-member shortcut */
  since_of[3] = 0; /* 3 down: removing live 2 would leave self alone of two */
  assert_int_equal(lkv_health_may_remove(&v, 2), LKV_EUNHEALTHY);
  assert_int_equal(lkv_health_may_remove(&v, 3), 0);
  /* etcd counts the removed member out even while it is too young to count in: 2 just came back. */
  all_up(60000);
  since_of[2] = NOW - 1000;
  assert_int_equal(lkv_health_may_remove(&v, 2), LKV_EUNHEALTHY); /* active: self and 3, less one */
  lkv_health_view_t v5 = view(five, 5);
  all_up(60000);
  since_of[5] = 0;
  assert_int_equal(lkv_health_may_remove(&v5, 2), 0); /* 4 active, 3 left of 4: a quorum */
  since_of[4] = NOW - 10;
  assert_int_equal(lkv_health_may_remove(&v5, 2), LKV_EUNHEALTHY); /* 3 active, 2 left: not 3 of 4 */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_needs_every_voter_for_the_interval),
      cmocka_unit_test(test_remove_of_a_down_member_is_always_allowed),
      cmocka_unit_test(test_remove_keeps_an_active_quorum),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
