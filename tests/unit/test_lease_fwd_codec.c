/* Unit tests for the lease channel codec (src/lease/fwd_codec.h): round trips of requests and answers,
 * the exact byte layout, and refusal of wrong lengths and unknown kinds, ops and statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "common/error.h"
#include "lease/fwd_codec.h"

static void test_request_round_trip_and_layout(void **state) {
  (void)state;
  lkv_lease_fwd_msg_t m = {.kind = LKV_LEASE_FWD_REQUEST,
                           .op = LKV_LEASE_FWD_RENEW,
                           .request_id = 0x0102030405060708ull,
                           .lease_id = -2};
  uint8_t buf[LKV_LEASE_FWD_MAX_LEN];
  assert_int_equal(lkv_lease_fwd_encode(&m, buf), LKV_LEASE_FWD_REQUEST_LEN);
  const uint8_t want[LKV_LEASE_FWD_REQUEST_LEN] = {1, 1,    8,    7,    6,    5,    4,    3,    2,
                                                   1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  assert_memory_equal(buf, want, sizeof(want));
  lkv_lease_fwd_msg_t d;
  assert_int_equal(lkv_lease_fwd_decode(buf, LKV_LEASE_FWD_REQUEST_LEN, &d), 0);
  assert_int_equal(d.kind, LKV_LEASE_FWD_REQUEST);
  assert_int_equal(d.op, LKV_LEASE_FWD_RENEW);
  assert_true(d.request_id == m.request_id);
  assert_true(d.lease_id == -2);
  assert_int_equal(d.ttl, 0);
}

static void test_answer_round_trip(void **state) {
  (void)state;
  for (uint8_t status = LKV_LEASE_FWD_OK; status <= LKV_LEASE_FWD_NOT_LEADER; status++) {
    lkv_lease_fwd_msg_t m = {.kind = LKV_LEASE_FWD_ANSWER,
                             .op = LKV_LEASE_FWD_TIME_TO_LIVE,
                             .status = status,
                             .request_id = UINT64_MAX,
                             .lease_id = INT64_MAX,
                             .ttl = 59,
                             .granted_ttl = 60};
    uint8_t buf[LKV_LEASE_FWD_MAX_LEN];
    assert_int_equal(lkv_lease_fwd_encode(&m, buf), LKV_LEASE_FWD_ANSWER_LEN);
    assert_int_equal(buf[0], LKV_LEASE_FWD_ANSWER);
    assert_int_equal(buf[18], status);
    lkv_lease_fwd_msg_t d;
    assert_int_equal(lkv_lease_fwd_decode(buf, LKV_LEASE_FWD_ANSWER_LEN, &d), 0);
    assert_int_equal(d.kind, m.kind);
    assert_int_equal(d.op, m.op);
    assert_int_equal(d.status, m.status);
    assert_true(d.request_id == m.request_id);
    assert_true(d.lease_id == m.lease_id);
    assert_int_equal(d.ttl, 59);
    assert_int_equal(d.granted_ttl, 60);
  }
}

static void test_encode_refuses_unknown_values(void **state) {
  (void)state;
  uint8_t buf[LKV_LEASE_FWD_MAX_LEN];
  lkv_lease_fwd_msg_t m = {.kind = 3, .op = LKV_LEASE_FWD_RENEW};
  assert_int_equal(lkv_lease_fwd_encode(&m, buf), 0);
  m = (lkv_lease_fwd_msg_t){.kind = LKV_LEASE_FWD_REQUEST, .op = 0};
  assert_int_equal(lkv_lease_fwd_encode(&m, buf), 0);
  m = (lkv_lease_fwd_msg_t){.kind = LKV_LEASE_FWD_ANSWER, .op = LKV_LEASE_FWD_RENEW, .status = 3};
  assert_int_equal(lkv_lease_fwd_encode(&m, buf), 0);
}

static void test_decode_refuses_malformed(void **state) {
  (void)state;
  lkv_lease_fwd_msg_t req = {
      .kind = LKV_LEASE_FWD_REQUEST, .op = LKV_LEASE_FWD_TIME_TO_LIVE, .request_id = 9};
  lkv_lease_fwd_msg_t ans = {.kind = LKV_LEASE_FWD_ANSWER, .op = LKV_LEASE_FWD_RENEW, .request_id = 9};
  uint8_t r[LKV_LEASE_FWD_MAX_LEN + 1] = {0}, a[LKV_LEASE_FWD_MAX_LEN + 1] = {0};
  size_t rn = lkv_lease_fwd_encode(&req, r), an = lkv_lease_fwd_encode(&ans, a);
  lkv_lease_fwd_msg_t d;
  assert_int_equal(lkv_lease_fwd_decode(r, 0, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_fwd_decode(r, rn - 1, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_fwd_decode(r, rn + 1, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_fwd_decode(a, an - 1, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_fwd_decode(a, an + 1, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_fwd_decode(a, rn, &d), LKV_EBADMSG); /* an answer cut to a request's length */
  uint8_t bad[LKV_LEASE_FWD_MAX_LEN];
  memcpy(bad, r, rn);
  bad[0] = 0; /* unknown kind */
  assert_int_equal(lkv_lease_fwd_decode(bad, rn, &d), LKV_EBADMSG);
  memcpy(bad, r, rn);
  bad[1] = 3; /* unknown op */
  assert_int_equal(lkv_lease_fwd_decode(bad, rn, &d), LKV_EBADMSG);
  memcpy(bad, a, an);
  bad[18] = 3; /* unknown status */
  assert_int_equal(lkv_lease_fwd_decode(bad, an, &d), LKV_EBADMSG);
  assert_int_equal(lkv_lease_fwd_decode(r, rn, &d), 0);
  assert_int_equal(lkv_lease_fwd_decode(a, an, &d), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_round_trip_and_layout),
      cmocka_unit_test(test_answer_round_trip),
      cmocka_unit_test(test_encode_refuses_unknown_values),
      cmocka_unit_test(test_decode_refuses_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
