/* Latency histogram with HdrHistogram-style log-linear buckets: every value counted, mergeable, ~0.1% exact.
 */
#ifndef LKV_BENCH_HIST_H
#define LKV_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

/*
 * Values (nanoseconds in the bench, but the unit is the caller's) below 2048 each have their own bucket;
 * above that, every power-of-two range [2^k, 2^(k+1)) is split into 1024 equal buckets, so a bucket is never
 * wider than 1/1024 of the values in it: a reported percentile is within 0.1% of the true one. Every
 * recorded value is counted (no sampling), so the tail is as exact as the middle. A histogram belongs to one
 * thread; per-thread histograms with the same max are merged at the end.
 */

typedef struct lkv_bench_hist_s {
  uint64_t *counts; /* one counter per bucket */
  size_t n_buckets;
  uint64_t highest;  /* the largest trackable value; larger values are recorded as this */
  uint64_t total;    /* values recorded */
  uint64_t min, max; /* exact extremes (min is UINT64_MAX while empty) */
  double sum;        /* for the mean */
} lkv_bench_hist_t;

/* Prepares h for values in [0, highest] (highest >= 1). Returns 0, LKV_EINVAL, or LKV_ENOMEM (h then needs
 * no free). Memory: about 8 KiB per doubling of highest above 2048 (1 hour in ns: ~260 KiB). */
int lkv_bench_hist_init(lkv_bench_hist_t *h, uint64_t highest);

/* Releases the buckets. h may be initialised again. */
void lkv_bench_hist_free(lkv_bench_hist_t *h);

/* Forgets every value (keeps the buckets). */
void lkv_bench_hist_reset(lkv_bench_hist_t *h);

/* Records value n times (n >= 1); a value above highest counts as highest. */
void lkv_bench_hist_record_n(lkv_bench_hist_t *h, uint64_t value, uint64_t n);

/* Records value once. */
void lkv_bench_hist_record(lkv_bench_hist_t *h, uint64_t value);

/* Adds every value of src to dst. Returns 0, or LKV_EINVAL when their highest values differ. */
int lkv_bench_hist_merge(lkv_bench_hist_t *dst, const lkv_bench_hist_t *src);

/* The value at percentile p (0..100, clamped) by the nearest-rank rule: the smallest recorded value v such
 * that at least p% of the values are <= v, reported as the top of its bucket but never above the exact max
 * nor below the exact min. p = 0 gives min, p = 100 gives max. 0 when h is empty. */
uint64_t lkv_bench_hist_percentile(const lkv_bench_hist_t *h, double p);

/* Exact smallest / largest recorded value (after clamping to highest), 0 when empty. */
uint64_t lkv_bench_hist_min(const lkv_bench_hist_t *h);
uint64_t lkv_bench_hist_max(const lkv_bench_hist_t *h);

/* Mean of the recorded values (after clamping), 0 when empty. */
double lkv_bench_hist_mean(const lkv_bench_hist_t *h);

#endif
