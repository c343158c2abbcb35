/* Token bucket arithmetic: refill by elapsed time, payment, fullness. Pure. */
#include "ratelimit/ratelimit.h"

void lkv_ratelimit_bucket_init(lkv_ratelimit_bucket_t *b, uint64_t size, uint64_t now_ns) {
  b->tokens = (double)size;
  b->last_ns = now_ns;
}

void lkv_ratelimit_bucket_refill(lkv_ratelimit_bucket_t *b, uint64_t rate, uint64_t size, uint64_t now_ns) {
  /* A clock that went back (a test's, or a wall clock someone set) must not mint tokens later for time that
   * already counted: the bucket simply counts on from the earlier reading. */
  if (now_ns > b->last_ns) {
    b->tokens += (double)rate * (double)(now_ns - b->last_ns) / 1e9;
    if (b->tokens > (double)size) b->tokens = (double)size;
  }
  b->last_ns = now_ns;
}

int lkv_ratelimit_bucket_can_pay(const lkv_ratelimit_bucket_t *b, uint64_t cost, uint64_t size) {
  /* A cost above the bucket's size could never be paid in full: a full bucket pays it and goes into debt. */
  return b->tokens >= (double)(cost < size ? cost : size);
}

int lkv_ratelimit_bucket_full(const lkv_ratelimit_bucket_t *b, uint64_t size) {
  return b->tokens >= (double)size;
}
