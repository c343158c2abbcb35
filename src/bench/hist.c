/* The log-linear latency histogram: bucket arithmetic, recording, merging, percentiles. */
#include "bench/hist.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* 2^SUB_BITS values get exact buckets; each later power-of-two range gets HALF buckets. */
#define SUB_BITS 11
#define SUB_COUNT ((uint64_t)1 << SUB_BITS)
#define HALF (SUB_COUNT / 2)

static int top_bit(uint64_t v) {
  return 63 - __builtin_clzll(v);
}

static size_t bucket_of(uint64_t v) {
  if (v < SUB_COUNT) return (size_t)v;
  int shift = top_bit(v) - (SUB_BITS - 1); /* >= 1: the bucket width is 2^shift */
  return (size_t)(SUB_COUNT + (uint64_t)(shift - 1) * HALF + ((v >> shift) - HALF));
}

/* The largest value that falls into bucket i. */
static uint64_t bucket_top(size_t i) {
  if (i < SUB_COUNT) return i;
  uint64_t j = i - SUB_COUNT;
  int shift = (int)(j / HALF) + 1;
  uint64_t low = (j % HALF + HALF) << shift;
  return low + (((uint64_t)1 << shift) - 1);
}

int lkv_bench_hist_init(lkv_bench_hist_t *h, uint64_t highest) {
  memset(h, 0, sizeof(*h));
  if (highest < 1 || highest > (UINT64_MAX >> 1)) return LKV_EINVAL;
  h->n_buckets = bucket_of(highest) + 1;
  h->counts = calloc(h->n_buckets, sizeof(*h->counts));
  if (!h->counts) return LKV_ENOMEM;
  h->highest = highest;
  h->min = UINT64_MAX;
  return 0;
}

void lkv_bench_hist_free(lkv_bench_hist_t *h) {
  free(h->counts);
  h->counts = NULL;
  h->n_buckets = 0;
}

void lkv_bench_hist_reset(lkv_bench_hist_t *h) {
  memset(h->counts, 0, h->n_buckets * sizeof(*h->counts));
  h->total = 0;
  h->min = UINT64_MAX;
  h->max = 0;
  h->sum = 0;
}

void lkv_bench_hist_record_n(lkv_bench_hist_t *h, uint64_t value, uint64_t n) {
  if (value > h->highest) value = h->highest;
  h->counts[bucket_of(value)] += n;
  h->total += n;
  if (value < h->min) h->min = value;
  if (value > h->max) h->max = value;
  h->sum += (double)value * (double)n;
}

void lkv_bench_hist_record(lkv_bench_hist_t *h, uint64_t value) {
  lkv_bench_hist_record_n(h, value, 1);
}

int lkv_bench_hist_merge(lkv_bench_hist_t *dst, const lkv_bench_hist_t *src) {
  if (dst->highest != src->highest) return LKV_EINVAL;
  for (size_t i = 0; i < src->n_buckets; i++) dst->counts[i] += src->counts[i];
  dst->total += src->total;
  if (src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
  dst->sum += src->sum;
  return 0;
}

uint64_t lkv_bench_hist_percentile(const lkv_bench_hist_t *h, double p) {
  if (h->total == 0) return 0;
  if (!(p > 0)) return h->min; /* also NaN */
  if (p >= 100) return h->max;
  /* Nearest rank: the ceil(p% of total)-th smallest value. The tiny slack keeps p = 99.9 of 1000 values
   * at rank 999 despite 99.9/100*1000 being 999.0000000000001 in binary floating point. */
  double r = p / 100.0 * (double)h->total;
  uint64_t rank = (uint64_t)r;
  if ((double)rank < r - 1e-9) rank++;
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < h->n_buckets; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = bucket_top(i);
      if (v > h->max) v = h->max;
      if (v < h->min) v = h->min;
      return v;
    }
  }
  return h->max;
}

uint64_t lkv_bench_hist_min(const lkv_bench_hist_t *h) {
  return h->total ? h->min : 0;
}

uint64_t lkv_bench_hist_max(const lkv_bench_hist_t *h) {
  return h->max;
}

double lkv_bench_hist_mean(const lkv_bench_hist_t *h) {
  return h->total ? h->sum / (double)h->total : 0;
}
