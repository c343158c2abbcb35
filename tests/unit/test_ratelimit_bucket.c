/* Tests of the token bucket arithmetic (src/ratelimit/bucket.c) with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "ratelimit/ratelimit.h"

#define SEC 1000000000ull

/* Takes cost from b if it can pay at now (after a refill at rate, size): what an admission does. */
static int take(lkv_ratelimit_bucket_t *b, uint64_t rate, uint64_t size, uint64_t cost, uint64_t now) {
  lkv_ratelimit_bucket_refill(b, rate, size, now);
  if (!lkv_ratelimit_bucket_can_pay(b, cost, size)) return 0;
  b->tokens -= (double)cost;
  return 1;
}

/* A new bucket holds its burst: exactly that many requests pass at one instant, then none. */
static void test_burst_then_empty(void **state) {
  (void)state;
  lkv_ratelimit_bucket_t b;
  lkv_ratelimit_bucket_init(&b, 5, 100 * SEC);
  for (int i = 0; i < 5; i++) assert_true(take(&b, 2, 5, 1, 100 * SEC));
  assert_false(take(&b, 2, 5, 1, 100 * SEC));
  assert_false(lkv_ratelimit_bucket_full(&b, 5));
}

/* Tokens come back at the rate, in proportion to the time passed, never above the burst. */
static void test_refill_rate_and_cap(void **state) {
  (void)state;
  lkv_ratelimit_bucket_t b;
  lkv_ratelimit_bucket_init(&b, 4, 0);
  for (int i = 0; i < 4; i++) assert_true(take(&b, 10, 4, 1, 0));
  assert_false(take(&b, 10, 4, 1, SEC / 20)); /* half a token after 50 ms at 10/s */
  assert_true(take(&b, 10, 4, 1, SEC / 10));  /* one after 100 ms */
  assert_false(take(&b, 10, 4, 1, SEC / 10));
  lkv_ratelimit_bucket_refill(&b, 10, 4, 100 * SEC); /* a long idle time fills it, to the burst only */
  assert_true(lkv_ratelimit_bucket_full(&b, 4));
  assert_true(b.tokens <= 4.0);
  int passed = 0;
  while (take(&b, 10, 4, 1, 100 * SEC)) passed++;
  assert_int_equal(passed, 4);
}

/* Bytes: a request passes when the bucket holds its bytes; one larger than the bucket needs a full bucket
 * and leaves a debt that the rate pays back before anything else passes. */
static void test_bytes_and_debt(void **state) {
  (void)state;
  lkv_ratelimit_bucket_t b;
  lkv_ratelimit_bucket_init(&b, 1000, 0);
  assert_true(take(&b, 1000, 1000, 600, 0));
  assert_false(take(&b, 1000, 1000, 600, 0)); /* 400 left */
  assert_true(take(&b, 1000, 1000, 400, 0));
  assert_false(take(&b, 1000, 1000, 5000, SEC / 2)); /* larger than the bucket, which is half full */
  assert_true(take(&b, 1000, 1000, 5000, SEC));      /* full: it passes, 4000 in debt */
  assert_true(b.tokens < 0);
  assert_false(take(&b, 1000, 1000, 1, 5 * SEC)); /* the debt is paid at 1000/s: 4 s later it is 0 */
  assert_true(take(&b, 1000, 1000, 1, 5 * SEC + SEC / 1000));
}

/* A clock that goes back mints nothing, and counts on from its new reading (no stall, no windfall). */
static void test_clock_backwards(void **state) {
  (void)state;
  lkv_ratelimit_bucket_t b;
  lkv_ratelimit_bucket_init(&b, 2, 50 * SEC);
  assert_true(take(&b, 1, 2, 1, 50 * SEC));
  assert_true(take(&b, 1, 2, 1, 50 * SEC));
  assert_false(take(&b, 1, 2, 1, 10 * SEC)); /* back by 40 s: no tokens for it */
  assert_int_equal(b.last_ns, 10 * SEC);
  assert_false(take(&b, 1, 2, 1, 10 * SEC + SEC / 2));
  assert_true(take(&b, 1, 2, 1, 11 * SEC)); /* one second on the new reading: one token */
  assert_false(take(&b, 1, 2, 1, 11 * SEC));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_then_empty),
      cmocka_unit_test(test_refill_rate_and_cap),
      cmocka_unit_test(test_bytes_and_debt),
      cmocka_unit_test(test_clock_backwards),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
