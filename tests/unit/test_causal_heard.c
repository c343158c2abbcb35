/* Unit tests for the causal member's hearing from peers: last heard per peer, silence reported once when a
 * peer goes silent and once when it is heard again, counted from the start for a peer never heard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"

static void test_last_heard(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  lkv_causal_member_t *m = t->m[0];
  assert_int_equal(lkv_causal_member_last_heard(m, 2), 0);
  lkv_causal_member_heard(m, 2, 5000);
  assert_int_equal(lkv_causal_member_last_heard(m, 2), 5000);
  lkv_causal_member_heard(m, 2, 4000); /* a clock stepped back: the later hearing stays */
  assert_int_equal(lkv_causal_member_last_heard(m, 2), 5000);
  lkv_causal_member_heard(m, 1, 6000); /* itself: ignored */
  lkv_causal_member_heard(m, 9, 6000); /* not a member: ignored */
  assert_int_equal(lkv_causal_member_last_heard(m, 1), 0);
  assert_int_equal(lkv_causal_member_last_heard(m, 9), 0);
  assert_int_equal(lkv_causal_member_last_heard(m, 3), 0);
  /* Quiet: since the last message, or since the start (the first hearing input, 5000) when none came. */
  assert_int_equal(lkv_causal_member_quiet(m, 2, 5250), 250);
  assert_int_equal(lkv_causal_member_quiet(m, 3, 5300), 300);
  assert_int_equal(lkv_causal_member_quiet(m, 2, 4000), 0);
  assert_int_equal(lkv_causal_member_quiet(m, 1, 9000), 0);
  net_free(t);
}

/* One silence check at now with a 500 ms threshold changes exactly peer id, to silent, last heard then. */
static void expect_one_change(lkv_causal_member_t *m, uint64_t now, uint64_t id, int silent, uint64_t heard) {
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  assert_int_equal(lkv_causal_member_silence(m, now, 500, out), 1);
  assert_int_equal(out[0].id, id);
  assert_int_equal(out[0].silent, silent);
  assert_int_equal(out[0].last_heard, heard);
  assert_int_equal(lkv_causal_member_is_silent(m, id), silent);
}

static void test_silence_reported_once_each_way(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  lkv_causal_member_t *m = t->m[0];
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  assert_int_equal(lkv_causal_member_silence(m, 1000, 500, out), 0); /* the start: nobody silent yet */
  lkv_causal_member_heard(m, 2, 1400);
  /* 3 was never heard: silent 500 ms after the start; 2 was heard at 1400. */
  assert_int_equal(lkv_causal_member_silence(m, 1500, 500, out), 0);
  expect_one_change(m, 1501, 3, 1, 0);
  assert_false(lkv_causal_member_is_silent(m, 2));
  assert_int_equal(lkv_causal_member_silence(m, 1600, 500, out), 0); /* reported once */
  expect_one_change(m, 1901, 2, 1, 1400);
  /* 3 speaks again: reported heard once; 2 stays silent. */
  lkv_causal_member_heard(m, 3, 2000);
  expect_one_change(m, 2001, 3, 0, 2000);
  assert_true(lkv_causal_member_is_silent(m, 2));
  assert_int_equal(lkv_causal_member_silence(m, 2002, 500, out), 0);
  net_free(t);
}

/* Hearing is not an input: it is allowed while a batch is out and leaves the batch as it was. */
static void test_heard_during_batch(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"k", .key_len = 1};
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(t->m[0], 5, &mu, 1, 1, &rev), 0);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(t->m[0], &rb), 1);
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_member_heard(t->m[0], 2, 7000);
  assert_int_equal(lkv_causal_member_silence(t->m[0], 7000, 10, out), 0);
  assert_int_equal(rb.n_applied, 1);
  lkv_causal_member_advance(t->m[0]);
  assert_int_equal(lkv_causal_member_last_heard(t->m[0], 2), 7000);
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_heard),
      cmocka_unit_test(test_silence_reported_once_each_way),
      cmocka_unit_test(test_heard_during_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
