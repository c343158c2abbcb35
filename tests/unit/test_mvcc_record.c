/* Unit tests for the MVCC byte layouts: revision keys, history records, key-index entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "mvcc/record.h"

static void test_revkey_roundtrip_and_order(void **state) {
  (void)state;
  uint8_t a[LKV__REVKEY_LEN], b[LKV__REVKEY_LEN];
  int64_t main, sub;
  lkv__revkey_encode(0x0102030405060708, 9, a);
  assert_int_equal(a[0], 1);
  assert_int_equal(a[7], 8);
  assert_int_equal(a[15], 9);
  assert_int_equal(lkv__revkey_decode(a, sizeof(a), &main, &sub), 0);
  assert_int_equal(main, 0x0102030405060708);
  assert_int_equal(sub, 9);
  /* byte order is numeric order: (2, 300) < (3, 0) < (256, 0) */
  lkv__revkey_encode(2, 300, a);
  lkv__revkey_encode(3, 0, b);
  assert_true(memcmp(a, b, sizeof(a)) < 0);
  lkv__revkey_encode(256, 0, a);
  assert_true(memcmp(b, a, sizeof(a)) < 0);
  assert_int_equal(lkv__revkey_decode(a, 15, &main, &sub), LKV_ECORRUPT);
}

static void test_record_roundtrip(void **state) {
  (void)state;
  uint8_t buf[256];
  const char *key = "some/key", *val = "the value";
  lkv__rec_t r = {.flags = 0,
                  .create = 5,
                  .version = 300,
                  .lease = 0x7fffffffffffffff,
                  .key = (const uint8_t *)key,
                  .key_len = strlen(key),
                  .value = (const uint8_t *)val,
                  .value_len = strlen(val)};
  size_t n = lkv__rec_encode(&r, buf);
  assert_int_equal(n, lkv__rec_size(&r));
  lkv__rec_t d;
  assert_int_equal(lkv__rec_decode(buf, n, &d), 0);
  assert_int_equal(d.flags, 0);
  assert_int_equal(d.create, 5);
  assert_int_equal(d.version, 300);
  assert_int_equal(d.lease, 0x7fffffffffffffff);
  assert_int_equal(d.key_len, strlen(key));
  assert_memory_equal(d.key, key, d.key_len);
  assert_int_equal(d.value_len, strlen(val));
  assert_memory_equal(d.value, val, d.value_len);
  /* small numbers take one byte each: flags + 4 varints + key + value */
  r.lease = 0;
  r.version = 1;
  assert_int_equal(lkv__rec_size(&r), 1 + 4 + strlen(key) + strlen(val));
}

static void test_record_tombstone_and_negative(void **state) {
  (void)state;
  uint8_t buf[64];
  lkv__rec_t r = {.flags = LKV__REC_TOMBSTONE, .lease = -1, .key = (const uint8_t *)"k", .key_len = 1};
  size_t n = lkv__rec_encode(&r, buf);
  assert_int_equal(n, 1 + 1 + 1 + 10 + 1 + 1); /* -1 as uint64 needs 10 varint bytes */
  lkv__rec_t d;
  assert_int_equal(lkv__rec_decode(buf, n, &d), 0);
  assert_int_equal(d.flags, LKV__REC_TOMBSTONE);
  assert_int_equal(d.lease, -1);
  assert_int_equal(d.value_len, 0);
  assert_int_equal(d.key_len, 1);
}

static void test_record_empty_key_and_value(void **state) {
  (void)state;
  uint8_t buf[16];
  lkv__rec_t r = {0}, d;
  size_t n = lkv__rec_encode(&r, buf);
  assert_int_equal(n, 5);
  assert_int_equal(lkv__rec_decode(buf, n, &d), 0);
  assert_int_equal(d.key_len, 0);
  assert_int_equal(d.value_len, 0);
}

static void test_record_corrupt(void **state) {
  (void)state;
  uint8_t buf[64];
  lkv__rec_t r = {.create = 1000, .version = 2, .key = (const uint8_t *)"abc", .key_len = 3}, d;
  size_t n = lkv__rec_encode(&r, buf);
  /* every truncation that cuts into the header or the key is refused */
  for (size_t len = 0; len < n; len++) assert_int_equal(lkv__rec_decode(buf, len, &d), LKV_ECORRUPT);
  assert_int_equal(lkv__rec_decode(buf, n, &d), 0);
  buf[0] = 0x80; /* unknown flag bit */
  assert_int_equal(lkv__rec_decode(buf, n, &d), LKV_ECORRUPT);
  uint8_t overlong[12] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  assert_int_equal(lkv__rec_decode(overlong, sizeof(overlong), &d), LKV_ECORRUPT);
  uint8_t bigkey[6] = {0, 1, 1, 0, 100, 'x'}; /* key_len 100 but one byte left */
  assert_int_equal(lkv__rec_decode(bigkey, sizeof(bigkey), &d), LKV_ECORRUPT);
}

static void test_dup_roundtrip_and_order(void **state) {
  (void)state;
  uint8_t a[LKV__DUP_LEN], b[LKV__DUP_LEN];
  lkv__dup_t d = {.main = 7, .sub = 2, .flags = LKV__REC_TOMBSTONE, .create = 3, .version = 4, .lease = 99},
             e;
  lkv__dup_encode(&d, a);
  assert_int_equal(lkv__dup_decode(a, sizeof(a), &e), 0);
  assert_int_equal(e.main, 7);
  assert_int_equal(e.sub, 2);
  assert_int_equal(e.flags, LKV__REC_TOMBSTONE);
  assert_int_equal(e.create, 3);
  assert_int_equal(e.version, 4);
  assert_int_equal(e.lease, 99);
  /* entries sort by revision whatever the rest holds */
  lkv__dup_t later = {.main = 7, .sub = 3};
  lkv__dup_encode(&later, b);
  assert_true(memcmp(a, b, sizeof(a)) < 0);
  assert_int_equal(lkv__dup_decode(a, 40, &e), LKV_ECORRUPT);
  a[16] = 2;
  assert_int_equal(lkv__dup_decode(a, sizeof(a), &e), LKV_ECORRUPT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_revkey_roundtrip_and_order),
      cmocka_unit_test(test_record_roundtrip),
      cmocka_unit_test(test_record_tombstone_and_negative),
      cmocka_unit_test(test_record_empty_key_and_value),
      cmocka_unit_test(test_record_corrupt),
      cmocka_unit_test(test_dup_roundtrip_and_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
