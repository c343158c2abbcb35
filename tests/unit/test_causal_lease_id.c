/* Unit tests for the causal mode's owner-tagged lease ids (causal/lease_id.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal/lease_id.h"

/* A member's tag is its id's low 15 bits: etcd's generator (16 bits of the member id over a counter, the
 * sign bit cleared) makes ids that name their member. */
static void test_owned(void **state) {
  (void)state;
  const uint64_t member = UINT64_C(0x8e9e05c52164694d);
  assert_int_equal(lkv_causal_lease_tag(member), 0x694d);
  int64_t etcd_like = (int64_t)(((member & 0xffff) << 48 | 12345) & ((UINT64_C(1) << 63) - 1));
  assert_true(lkv_causal_lease_owned(etcd_like, member));
  assert_true(lkv_causal_lease_owned((INT64_C(0x694d) << 48) | 1, member));
  assert_false(lkv_causal_lease_owned((INT64_C(0x694c) << 48) | 1, member));
  assert_false(lkv_causal_lease_owned(12345, member));          /* tag 0 */
  assert_true(lkv_causal_lease_owned(12345, UINT64_C(0x8000))); /* tag 0: its low 15 bits */
  assert_false(lkv_causal_lease_owned(0, UINT64_C(0x8000)));    /* not a lease */
  assert_false(lkv_causal_lease_owned(-1, UINT64_C(0xffff)));   /* not positive */
}

static void test_owner_and_distinct(void **state) {
  (void)state;
  const uint64_t ids[3] = {UINT64_C(0x1111000000000001), UINT64_C(0x2222000000000002), 3};
  assert_int_equal(lkv_causal_lease_owner((INT64_C(2) << 48) | 7, ids, 3), ids[1]);
  assert_int_equal(lkv_causal_lease_owner((INT64_C(3) << 48), ids, 3), 3);
  assert_int_equal(lkv_causal_lease_owner((INT64_C(4) << 48) | 7, ids, 3), 0);
  assert_int_equal(lkv_causal_lease_owner(-7, ids, 3), 0);
  uint64_t a = 0, b = 0;
  assert_true(lkv_causal_lease_tags_distinct(ids, 3, &a, &b));
  const uint64_t clash[3] = {5, UINT64_C(0x10000000000000c), UINT64_C(0xabc000000000800c)};
  assert_false(lkv_causal_lease_tags_distinct(clash, 3, &a, &b));
  assert_int_equal(a, clash[1]);
  assert_int_equal(b, clash[2]);
  assert_false(lkv_causal_lease_tags_distinct(clash + 1, 2, NULL, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_owned),
      cmocka_unit_test(test_owner_and_distinct),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
