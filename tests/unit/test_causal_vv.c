/* Unit tests for version vectors: set/get, compare in all four orders, merge, missing ranges, capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal/vv.h"
#include "common/error.h"

static lkv_causal_vv_t vv_of(const uint64_t (*pairs)[2], size_t n) {
  lkv_causal_vv_t v;
  lkv_causal_vv_init(&v);
  for (size_t i = 0; i < n; i++) assert_int_equal(lkv_causal_vv_set(&v, pairs[i][0], pairs[i][1]), 0);
  return v;
}

static void test_set_get_sorted(void **state) {
  (void)state;
  const uint64_t p[][2] = {{30, 3}, {10, 1}, {20, 2}, {5, 0}};
  lkv_causal_vv_t v = vv_of(p, 4);
  assert_int_equal(v.n, 3); /* a zero sequence adds no entry */
  assert_int_equal(v.e[0].origin, 10);
  assert_int_equal(v.e[1].origin, 20);
  assert_int_equal(v.e[2].origin, 30);
  assert_int_equal(lkv_causal_vv_get(&v, 20), 2);
  assert_int_equal(lkv_causal_vv_get(&v, 99), 0);
  assert_true(lkv_causal_vv_covers(&v, 30, 3));
  assert_false(lkv_causal_vv_covers(&v, 30, 4));
  assert_true(lkv_causal_vv_covers(&v, 99, 0));
  assert_int_equal(lkv_causal_vv_set(&v, 20, 0), 0); /* removes */
  assert_int_equal(v.n, 2);
  assert_int_equal(v.e[1].origin, 30);
  assert_int_equal(lkv_causal_vv_set(&v, 0, 1), LKV_EINVAL);
}

static void test_capacity(void **state) {
  (void)state;
  lkv_causal_vv_t v;
  lkv_causal_vv_init(&v);
  for (uint64_t o = 1; o <= LKV_CAUSAL_MAX_ORIGINS; o++) assert_int_equal(lkv_causal_vv_set(&v, o, o), 0);
  assert_int_equal(lkv_causal_vv_set(&v, 1000, 1), LKV_ENOSPC);
  assert_int_equal(v.n, LKV_CAUSAL_MAX_ORIGINS);
  assert_int_equal(lkv_causal_vv_set(&v, 5, 50), 0); /* an existing origin still updates */
  lkv_causal_vv_t w;
  lkv_causal_vv_init(&w);
  assert_int_equal(lkv_causal_vv_set(&w, 1000, 1), 0);
  lkv_causal_vv_t before = v;
  assert_int_equal(lkv_causal_vv_merge(&v, &w), LKV_ENOSPC);
  assert_memory_equal(&v, &before, sizeof(v));
}

static void test_compare(void **state) {
  (void)state;
  const uint64_t pa[][2] = {{1, 2}, {2, 1}};
  const uint64_t pb[][2] = {{1, 2}, {2, 3}};
  const uint64_t pc[][2] = {{1, 3}, {3, 1}};
  lkv_causal_vv_t a = vv_of(pa, 2), b = vv_of(pb, 2), c = vv_of(pc, 2), e;
  lkv_causal_vv_init(&e);
  assert_int_equal(lkv_causal_vv_compare(&a, &a), LKV_CAUSAL_EQUAL);
  assert_int_equal(lkv_causal_vv_compare(&a, &b), LKV_CAUSAL_BEFORE);
  assert_int_equal(lkv_causal_vv_compare(&b, &a), LKV_CAUSAL_AFTER);
  assert_int_equal(lkv_causal_vv_compare(&a, &c), LKV_CAUSAL_CONCURRENT);
  assert_int_equal(lkv_causal_vv_compare(&e, &a), LKV_CAUSAL_BEFORE);
  assert_int_equal(lkv_causal_vv_compare(&e, &e), LKV_CAUSAL_EQUAL);
  assert_true(lkv_causal_vv_leq(&a, &b));
  assert_true(lkv_causal_vv_leq(&a, &a));
  assert_false(lkv_causal_vv_leq(&b, &a));
  assert_false(lkv_causal_vv_leq(&a, &c));
}

static void test_merge(void **state) {
  (void)state;
  const uint64_t pa[][2] = {{1, 2}, {2, 1}};
  const uint64_t pc[][2] = {{1, 3}, {3, 1}};
  lkv_causal_vv_t a = vv_of(pa, 2), c = vv_of(pc, 2);
  assert_int_equal(lkv_causal_vv_merge(&a, &c), 0);
  assert_int_equal(a.n, 3);
  assert_int_equal(lkv_causal_vv_get(&a, 1), 3);
  assert_int_equal(lkv_causal_vv_get(&a, 2), 1);
  assert_int_equal(lkv_causal_vv_get(&a, 3), 1);
  assert_int_equal(lkv_causal_vv_compare(&a, &c), LKV_CAUSAL_AFTER);
}

static void test_missing(void **state) {
  (void)state;
  const uint64_t pm[][2] = {{1, 5}, {2, 1}, {4, 7}};
  const uint64_t po[][2] = {{1, 2}, {2, 3}, {3, 9}};
  lkv_causal_vv_t mine = vv_of(pm, 3), other = vv_of(po, 3);
  lkv_causal_range_t r[LKV_CAUSAL_MAX_ORIGINS];
  size_t n = lkv_causal_vv_missing(&mine, &other, r, LKV_CAUSAL_MAX_ORIGINS);
  assert_int_equal(n, 2);
  assert_int_equal(r[0].origin, 1);
  assert_int_equal(r[0].from, 2);
  assert_int_equal(r[0].to, 5);
  assert_int_equal(r[1].origin, 4);
  assert_int_equal(r[1].from, 0);
  assert_int_equal(r[1].to, 7);
  /* A short buffer still counts them all. */
  assert_int_equal(lkv_causal_vv_missing(&mine, &other, r, 1), 2);
  assert_int_equal(lkv_causal_vv_missing(&mine, &mine, r, LKV_CAUSAL_MAX_ORIGINS), 0);
  /* Merging the ranges into the other side makes it cover mine. */
  for (size_t i = 0; i < n; i++) assert_int_equal(lkv_causal_vv_set(&other, r[i].origin, r[i].to), 0);
  assert_true(lkv_causal_vv_leq(&mine, &other));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_get_sorted), cmocka_unit_test(test_capacity), cmocka_unit_test(test_compare),
      cmocka_unit_test(test_merge),          cmocka_unit_test(test_missing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
