/* Tests for the bench latency histogram (bench/hist.h): exactness, error bound, merging, clamping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "bench/hist.h"
#include "common/error.h"

#define HOUR_NS (3600ull * 1000000000ull)

static void test_empty(void **state) {
  (void)state;
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, HOUR_NS), 0);
  assert_int_equal(lkv_bench_hist_percentile(&h, 50), 0);
  assert_int_equal(lkv_bench_hist_min(&h), 0);
  assert_int_equal(lkv_bench_hist_max(&h), 0);
  assert_true(lkv_bench_hist_mean(&h) == 0);
  lkv_bench_hist_free(&h);
}

static void test_bad_init(void **state) {
  (void)state;
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, 0), LKV_EINVAL);
  assert_int_equal(lkv_bench_hist_init(&h, UINT64_MAX), LKV_EINVAL);
}

/* Below 2048 every value has its own bucket: percentiles are exact (nearest rank). */
static void test_small_values_exact(void **state) {
  (void)state;
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, HOUR_NS), 0);
  for (uint64_t v = 1000; v >= 1; v--) lkv_bench_hist_record(&h, v);
  assert_int_equal(lkv_bench_hist_percentile(&h, 0), 1);
  assert_int_equal(lkv_bench_hist_percentile(&h, 0.1), 1);
  assert_int_equal(lkv_bench_hist_percentile(&h, 50), 500);
  assert_int_equal(lkv_bench_hist_percentile(&h, 90), 900);
  assert_int_equal(lkv_bench_hist_percentile(&h, 99), 990);
  assert_int_equal(lkv_bench_hist_percentile(&h, 99.9), 999);
  assert_int_equal(lkv_bench_hist_percentile(&h, 100), 1000);
  assert_int_equal(lkv_bench_hist_percentile(&h, 150), 1000);
  assert_int_equal(lkv_bench_hist_min(&h), 1);
  assert_int_equal(lkv_bench_hist_max(&h), 1000);
  assert_true(lkv_bench_hist_mean(&h) == 500.5);
  lkv_bench_hist_free(&h);
}

/* Above 2048 a value is reported as the top of its bucket: 2048..2049 share one (width 2), 4096..4099 one
 * (width 4), and the reported value never exceeds the exact max. */
static void test_bucket_edges(void **state) {
  (void)state;
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, HOUR_NS), 0);
  lkv_bench_hist_record(&h, 2048);
  lkv_bench_hist_record(&h, 2049);
  assert_int_equal(lkv_bench_hist_percentile(&h, 50), 2049);
  lkv_bench_hist_reset(&h);
  lkv_bench_hist_record(&h, 2047);
  lkv_bench_hist_record(&h, 2048);
  assert_int_equal(lkv_bench_hist_percentile(&h, 50), 2047);
  lkv_bench_hist_reset(&h);
  lkv_bench_hist_record(&h, 4096);
  lkv_bench_hist_record(&h, 4100);
  lkv_bench_hist_record(&h, 4200);
  assert_int_equal(lkv_bench_hist_percentile(&h, 33), 4099);
  assert_int_equal(lkv_bench_hist_percentile(&h, 66), 4103);
  assert_int_equal(lkv_bench_hist_percentile(&h, 100), 4200);
  /* A single value is reported exactly whatever its bucket width (clamped to min and max). */
  lkv_bench_hist_reset(&h);
  lkv_bench_hist_record(&h, 123456789);
  assert_int_equal(lkv_bench_hist_percentile(&h, 50), 123456789);
  lkv_bench_hist_free(&h);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Latencies from 1 us to 10 s, log-spread: each percentile is the exact nearest-rank value or at most
 * 1/1024 above it. */
static void test_error_bound(void **state) {
  (void)state;
  enum { N = 200000 };
  uint64_t *vals = malloc(N * sizeof(*vals));
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, HOUR_NS), 0);
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < N; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int exp10 = 3 + (int)(x % 7); /* 1e3 .. 1e9 */
    uint64_t v = 1;
    for (int k = 0; k < exp10; k++) v *= 10;
    v += (x >> 8) % (v * 9);
    vals[i] = v;
    lkv_bench_hist_record(&h, v);
  }
  qsort(vals, N, sizeof(*vals), cmp_u64);
  const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 99.999};
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
    uint64_t rank = (uint64_t)(ps[i] * N / 100 + 0.5); /* every p * N / 100 here is whole */
    uint64_t exact = vals[rank - 1];
    uint64_t got = lkv_bench_hist_percentile(&h, ps[i]);
    assert_true(got >= exact);
    assert_true((double)(got - exact) <= (double)exact / 1024.0);
  }
  assert_int_equal(lkv_bench_hist_min(&h), vals[0]);
  assert_int_equal(lkv_bench_hist_max(&h), vals[N - 1]);
  lkv_bench_hist_free(&h);
  free(vals);
}

/* Per-thread histograms merged give exactly what one histogram of every value gives. */
static void test_merge(void **state) {
  (void)state;
  lkv_bench_hist_t a, b, all;
  assert_int_equal(lkv_bench_hist_init(&a, HOUR_NS), 0);
  assert_int_equal(lkv_bench_hist_init(&b, HOUR_NS), 0);
  assert_int_equal(lkv_bench_hist_init(&all, HOUR_NS), 0);
  for (uint64_t v = 1; v < 5000000; v = v * 3 / 2 + 7) {
    lkv_bench_hist_record(v % 3 ? &a : &b, v);
    lkv_bench_hist_record(&all, v);
  }
  assert_int_equal(lkv_bench_hist_merge(&a, &b), 0);
  assert_int_equal(a.total, all.total);
  assert_int_equal(lkv_bench_hist_min(&a), lkv_bench_hist_min(&all));
  assert_int_equal(lkv_bench_hist_max(&a), lkv_bench_hist_max(&all));
  for (double p = 0; p <= 100; p += 0.5) {
    assert_int_equal(lkv_bench_hist_percentile(&a, p), lkv_bench_hist_percentile(&all, p));
  }
  /* Merging an empty histogram changes nothing, even the extremes. */
  lkv_bench_hist_reset(&b);
  assert_int_equal(lkv_bench_hist_merge(&a, &b), 0);
  assert_int_equal(lkv_bench_hist_min(&a), lkv_bench_hist_min(&all));
  lkv_bench_hist_t other;
  assert_int_equal(lkv_bench_hist_init(&other, 1000), 0);
  assert_int_equal(lkv_bench_hist_merge(&a, &other), LKV_EINVAL);
  lkv_bench_hist_free(&other);
  lkv_bench_hist_free(&a);
  lkv_bench_hist_free(&b);
  lkv_bench_hist_free(&all);
}

static void test_clamp_and_counts(void **state) {
  (void)state;
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, 1000000), 0);
  lkv_bench_hist_record(&h, 50000000); /* above highest: counted as highest */
  assert_int_equal(lkv_bench_hist_max(&h), 1000000);
  assert_int_equal(h.total, 1);
  /* Huge counts: no sampling, no overflow. */
  lkv_bench_hist_record_n(&h, 10, 1000000000000ull);
  assert_int_equal(h.total, 1000000000001ull);
  assert_int_equal(lkv_bench_hist_percentile(&h, 99.9999), 10);
  assert_int_equal(lkv_bench_hist_percentile(&h, 100), 1000000);
  lkv_bench_hist_free(&h);
}

/* An hour in nanoseconds costs a few hundred KiB, not gigabytes. */
static void test_size(void **state) {
  (void)state;
  lkv_bench_hist_t h;
  assert_int_equal(lkv_bench_hist_init(&h, HOUR_NS), 0);
  assert_true(h.n_buckets < 40000);
  lkv_bench_hist_record(&h, HOUR_NS);
  assert_int_equal(lkv_bench_hist_percentile(&h, 50), HOUR_NS);
  lkv_bench_hist_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_bad_init),
      cmocka_unit_test(test_small_values_exact),
      cmocka_unit_test(test_bucket_edges),
      cmocka_unit_test(test_error_bound),
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_clamp_and_counts),
      cmocka_unit_test(test_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
