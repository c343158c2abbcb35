/* Unit tests for the lease handoff's codec (src/lease/sync_codec.h): round trips of every kind, the exact
 * byte layout, and refusal of wrong lengths, unknown kinds, a bad ack flag and too many entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "common/error.h"
#include "lease/sync_codec.h"

static void test_record_layout_and_round_trip(void **state) {
  (void)state;
  lkv_lease_remaining_t v[2] = {{0x0102030405060708ll, 9500}, {-1, -20}};
  lkv_lease_sync_msg_t m = {.kind = LKV_LEASE_SYNC_RECORD, .term = 3, .seq = 0x1122, .n = 2};
  assert_int_equal(lkv_lease_sync_size(&m), 21 + 32);
  uint8_t buf[64];
  assert_int_equal(lkv_lease_sync_encode(&m, v, buf), 53);
  const uint8_t head[21] = {3, 3, 0, 0, 0, 0, 0, 0, 0, 0x22, 0x11, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0};
  assert_memory_equal(buf, head, sizeof(head));
  const uint8_t first[16] = {8, 7, 6, 5, 4, 3, 2, 1, 0x1c, 0x25, 0, 0, 0, 0, 0, 0};
  assert_memory_equal(buf + 21, first, sizeof(first));
  lkv_lease_sync_msg_t d;
  assert_int_equal(lkv_lease_sync_decode(buf, 53, &d), 0);
  assert_int_equal(d.kind, LKV_LEASE_SYNC_RECORD);
  assert_int_equal(d.term, 3);
  assert_int_equal(d.seq, 0x1122);
  assert_int_equal(d.n, 2);
  lkv_lease_remaining_t back[2];
  lkv_lease_sync_entries(&d, back);
  assert_memory_equal(back, v, sizeof(v));
  /* One byte short, one too many, a length between entries. */
  assert_int_equal(lkv_lease_sync_decode(buf, 52, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_sync_decode(buf, 54, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_sync_decode(buf, 37 + 8, &d), LKV_EBADMSG);
}

static void test_answer_round_trip(void **state) {
  (void)state;
  lkv_lease_remaining_t v[1] = {{42, 7000}};
  lkv_lease_sync_msg_t m = {
      .kind = LKV_LEASE_SYNC_ANSWER, .term = UINT64_MAX, .seq = 9, .uptime_ms = 123456, .n = 1};
  uint8_t buf[64];
  assert_int_equal(lkv_lease_sync_encode(&m, v, buf), 29 + 16);
  lkv_lease_sync_msg_t d;
  assert_int_equal(lkv_lease_sync_decode(buf, 45, &d), 0);
  assert_int_equal(d.kind, LKV_LEASE_SYNC_ANSWER);
  assert_true(d.term == UINT64_MAX);
  assert_int_equal(d.seq, 9);
  assert_int_equal(d.uptime_ms, 123456);
  assert_int_equal(d.n, 1);
  lkv_lease_remaining_t back;
  lkv_lease_sync_entries(&d, &back);
  assert_int_equal(back.id, 42);
  assert_int_equal(back.ms, 7000);
  /* An empty answer (a member with no leases). */
  m.n = 0;
  assert_int_equal(lkv_lease_sync_encode(&m, NULL, buf), 29);
  assert_int_equal(lkv_lease_sync_decode(buf, 29, &d), 0);
  assert_int_equal(d.n, 0);
}

static void test_ack_and_query(void **state) {
  (void)state;
  uint8_t buf[32];
  for (uint8_t ok = 0; ok <= 1; ok++) {
    lkv_lease_sync_msg_t m = {.kind = LKV_LEASE_SYNC_ACK, .term = 5, .seq = 6, .ok = ok};
    assert_int_equal(lkv_lease_sync_encode(&m, NULL, buf), 18);
    lkv_lease_sync_msg_t d;
    assert_int_equal(lkv_lease_sync_decode(buf, 18, &d), 0);
    assert_int_equal(d.ok, ok);
    assert_int_equal(d.seq, 6);
    assert_int_equal(lkv_lease_sync_decode(buf, 17, &d), LKV_EBADMSG);
  }
  buf[17] = 2;
  lkv_lease_sync_msg_t d;
  assert_int_equal(lkv_lease_sync_decode(buf, 18, &d), LKV_EBADMSG);
  lkv_lease_sync_msg_t q = {.kind = LKV_LEASE_SYNC_QUERY, .term = 7, .seq = 1};
  assert_int_equal(lkv_lease_sync_encode(&q, NULL, buf), 17);
  assert_int_equal(lkv_lease_sync_decode(buf, 17, &d), 0);
  assert_int_equal(d.kind, LKV_LEASE_SYNC_QUERY);
  assert_int_equal(d.term, 7);
  assert_int_equal(lkv_lease_sync_decode(buf, 18, &d), LKV_EBADMSG);
}

static void test_refusals(void **state) {
  (void)state;
  uint8_t buf[32] = {0};
  lkv_lease_sync_msg_t d;
  /* The forwarder's kinds (1, 2) and anything newer are not this codec's. */
  for (uint8_t kind = 0; kind < 10; kind++) {
    if (kind >= LKV_LEASE_SYNC_RECORD && kind <= LKV_LEASE_SYNC_ANSWER) continue;
    buf[0] = kind;
    assert_int_equal(lkv_lease_sync_decode(buf, 18, &d), LKV_EBADMSG);
    lkv_lease_sync_msg_t m = {.kind = kind};
    assert_int_equal(lkv_lease_sync_size(&m), 0);
    assert_int_equal(lkv_lease_sync_encode(&m, NULL, buf), 0);
  }
  assert_int_equal(lkv_lease_sync_decode(buf, 0, &d), LKV_EBADMSG);
  /* A count beyond the limit is refused whatever the length says. */
  lkv_lease_sync_msg_t m = {.kind = LKV_LEASE_SYNC_RECORD, .n = LKV_LEASE_SYNC_MAX_ENTRIES + 1};
  assert_int_equal(lkv_lease_sync_size(&m), 0);
  m.n = 0;
  assert_int_equal(lkv_lease_sync_encode(&m, NULL, buf), 21);
  buf[17] = 0xff, buf[18] = 0xff, buf[19] = 0xff, buf[20] = 0xff;
  assert_int_equal(lkv_lease_sync_decode(buf, 21, &d), LKV_EBADMSG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record_layout_and_round_trip),
      cmocka_unit_test(test_answer_round_trip),
      cmocka_unit_test(test_ack_and_query),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
