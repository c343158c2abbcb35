/* Unit tests for the hybrid logical clock: local and receive rules, monotonicity, the bound ahead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal/hlc.h"
#include "common/error.h"

static lkv_causal_hlc_t at(uint64_t wall, uint32_t logical) {
  return (lkv_causal_hlc_t){.wall = wall, .logical = logical};
}

static void assert_stamp(const lkv_causal_hlc_t *s, uint64_t wall, uint32_t logical) {
  assert_int_equal(s->wall, wall);
  assert_int_equal(s->logical, logical);
}

static void test_local(void **state) {
  (void)state;
  lkv_causal_hlc_t c, s, zero = at(0, 0);
  lkv_causal_hlc_init(&c, &zero);
  lkv_causal_hlc_now(&c, 100, &s);
  assert_stamp(&s, 100, 0);
  lkv_causal_hlc_now(&c, 100, &s); /* same millisecond */
  assert_stamp(&s, 100, 1);
  lkv_causal_hlc_now(&c, 90, &s); /* the physical clock went back: the stamp still grows */
  assert_stamp(&s, 100, 2);
  lkv_causal_hlc_now(&c, 101, &s);
  assert_stamp(&s, 101, 0);
}

static void test_logical_overflow(void **state) {
  (void)state;
  lkv_causal_hlc_t c, s, last = at(7, UINT32_MAX);
  lkv_causal_hlc_init(&c, &last);
  lkv_causal_hlc_now(&c, 5, &s);
  assert_stamp(&s, 8, 0);
  assert_true(lkv_causal_hlc_cmp(&s, &last) > 0);
}

static void test_receive(void **state) {
  (void)state;
  lkv_causal_hlc_t c, s, start = at(100, 4);
  lkv_causal_hlc_init(&c, &start);
  lkv_causal_hlc_t r = at(150, 7); /* remote ahead of both */
  assert_int_equal(lkv_causal_hlc_recv(&c, 120, &r, 1000), 0);
  assert_stamp(&c, 150, 8);
  r = at(150, 20); /* same wall, larger counter */
  assert_int_equal(lkv_causal_hlc_recv(&c, 120, &r, 1000), 0);
  assert_stamp(&c, 150, 21);
  r = at(10, 99); /* remote behind */
  assert_int_equal(lkv_causal_hlc_recv(&c, 140, &r, 1000), 0);
  assert_stamp(&c, 150, 22);
  r = at(160, 3); /* physical time ahead of both */
  assert_int_equal(lkv_causal_hlc_recv(&c, 200, &r, 1000), 0);
  assert_stamp(&c, 200, 0);
  /* After receiving, a local stamp is greater than the remote one. */
  r = at(300, 9);
  assert_int_equal(lkv_causal_hlc_recv(&c, 250, &r, 1000), 0);
  lkv_causal_hlc_now(&c, 250, &s);
  assert_true(lkv_causal_hlc_cmp(&s, &r) > 0);
}

static void test_bound_ahead(void **state) {
  (void)state;
  lkv_causal_hlc_t c, start = at(100, 0);
  lkv_causal_hlc_init(&c, &start);
  lkv_causal_hlc_t r = at(1601, 0);
  assert_true(lkv_causal_hlc_too_far(1100, &r, 500));
  assert_int_equal(lkv_causal_hlc_recv(&c, 1100, &r, 500), LKV_ECLOCKAHEAD);
  assert_stamp(&c, 100, 0); /* unchanged */
  r = at(1600, 0);          /* exactly at the bound: accepted */
  assert_false(lkv_causal_hlc_too_far(1100, &r, 500));
  assert_int_equal(lkv_causal_hlc_recv(&c, 1100, &r, 500), 0);
  assert_stamp(&c, 1600, 1);
  r = at(UINT64_MAX, 0); /* no overflow in the bound */
  assert_int_equal(lkv_causal_hlc_recv(&c, UINT64_MAX - 10, &r, 500), 0);
}

static void test_cmp(void **state) {
  (void)state;
  lkv_causal_hlc_t a = at(5, 1), b = at(5, 2), d = at(6, 0);
  assert_true(lkv_causal_hlc_cmp(&a, &b) < 0);
  assert_true(lkv_causal_hlc_cmp(&b, &a) > 0);
  assert_true(lkv_causal_hlc_cmp(&b, &d) < 0);
  assert_int_equal(lkv_causal_hlc_cmp(&a, &a), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local),   cmocka_unit_test(test_logical_overflow),
      cmocka_unit_test(test_receive), cmocka_unit_test(test_bound_ahead),
      cmocka_unit_test(test_cmp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
