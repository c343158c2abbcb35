/* Bench result accounting: per-thread tallies of successes, latencies and failures, and their merge. */
#include "bench/stats.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/grpc_client.h"

int lkv_bench_stats_init(lkv_bench_stats_t *s) {
  memset(s, 0, sizeof(*s));
  return lkv_bench_hist_init(&s->latency_ns, LKV_BENCH_MAX_LATENCY_NS);
}

void lkv_bench_stats_free(lkv_bench_stats_t *s) {
  lkv_bench_hist_free(&s->latency_ns);
  for (int i = 0; i < LKV_BENCH_N_OUTCOMES; i++) {
    free(s->first_error[i]);
    s->first_error[i] = NULL;
  }
}

void lkv_bench_stats_ok(lkv_bench_stats_t *s, uint64_t latency_ns) {
  s->ok++;
  lkv_bench_hist_record(&s->latency_ns, latency_ns);
}

void lkv_bench_stats_error(lkv_bench_stats_t *s, int outcome, const char *message) {
  if (outcome < 1 || outcome >= LKV_BENCH_N_OUTCOMES) outcome = 2; /* gRPC UNKNOWN */
  s->errors[outcome]++;
  /* Out of memory only loses the sample text, never the count. */
  if (!s->first_error[outcome] && message) s->first_error[outcome] = strdup(message);
}

int lkv_bench_stats_merge(lkv_bench_stats_t *dst, const lkv_bench_stats_t *src) {
  if (lkv_bench_hist_merge(&dst->latency_ns, &src->latency_ns) != 0) return LKV_EINVAL;
  dst->ok += src->ok;
  dst->reads += src->reads;
  dst->writes += src->writes;
  dst->sent += src->sent;
  dst->puts_ok += src->puts_ok;
  for (int i = 0; i < LKV_BENCH_N_OUTCOMES; i++) {
    dst->errors[i] += src->errors[i];
    if (!dst->first_error[i] && src->first_error[i]) {
      if (!(dst->first_error[i] = strdup(src->first_error[i]))) return LKV_ENOMEM;
    }
  }
  return 0;
}

uint64_t lkv_bench_stats_errors(const lkv_bench_stats_t *s) {
  uint64_t n = 0;
  for (int i = 0; i < LKV_BENCH_N_OUTCOMES; i++) n += s->errors[i];
  return n;
}

const char *lkv_bench_outcome_name(int outcome) {
  if (outcome == LKV_BENCH_BAD_RESPONSE) return "BAD_RESPONSE";
  if (outcome == LKV_BENCH_MISSING_EVENT) return "MISSING_EVENT";
  if (outcome == LKV_BENCH_BAD_RECEIPT) return "BAD_RECEIPT";
  return lkv_grpc_status_name(outcome);
}

int lkv_bench_result_init(lkv_bench_result_t *r) {
  memset(r, 0, sizeof(*r));
  return lkv_bench_stats_init(&r->stats);
}

void lkv_bench_result_free(lkv_bench_result_t *r) {
  lkv_bench_stats_free(&r->stats);
  free(r->aborted);
  r->aborted = NULL;
  free(r->thread_ops_per_s);
  r->thread_ops_per_s = NULL;
}
