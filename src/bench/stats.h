/* Result accounting for the bench: successes with their latencies, failures by gRPC status, merging. */
#ifndef LKV_BENCH_STATS_H
#define LKV_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "bench/hist.h"

/* Outcomes 1..16 are gRPC status codes (0, OK, is counted in ok); the bench adds its own after them. */
enum {
  LKV_BENCH_BAD_RESPONSE = 17,  /* an OK answer that could not be decoded or made no sense */
  LKV_BENCH_MISSING_EVENT = 18, /* watch: an event for a successful put never arrived */
  LKV_BENCH_BAD_RECEIPT = 19,   /* verify: a receipt that does not verify */
  LKV_BENCH_N_OUTCOMES = 20
};

/* The latency histogram tracks up to one hour, in nanoseconds. */
#define LKV_BENCH_MAX_LATENCY_NS (3600ull * 1000000000ull)

/* One thread's tally (not thread-safe); threads' tallies are merged into one at the end. */
typedef struct lkv_bench_stats_s {
  lkv_bench_hist_t latency_ns;             /* every successful operation */
  uint64_t ok;                             /* successful operations */
  uint64_t errors[LKV_BENCH_N_OUTCOMES];   /* failed operations by outcome (index 0 unused) */
  char *first_error[LKV_BENCH_N_OUTCOMES]; /* the first message seen per outcome, or NULL */
  uint64_t reads, writes;                  /* txn-mixed: successful reads and writes */
  uint64_t sent;                           /* requests sent (watch: puts) */
  uint64_t puts_ok;                        /* watch: puts that succeeded (each owes one event per watcher) */
} lkv_bench_stats_t;

/* The outcome of a run, as reported. */
typedef struct lkv_bench_result_s {
  lkv_bench_stats_t stats;
  double elapsed_s; /* from the start of the load to the last completion */
  int interrupted;  /* stopped early by a signal */
  char *aborted;    /* why the run could not proceed (connect failure, setup failure), or NULL; owned */
  double *thread_ops_per_s; /* n_threads entries: each thread's successes over its own elapsed time; owned */
  int n_threads;
  int64_t revision;  /* receipt, verify: receipts were asked for revisions 2..revision (0: not known) */
  uint64_t receipts; /* verify: receipts fetched (and verified round-robin) */
} lkv_bench_result_t;

/* Prepares an empty tally. Returns 0 or LKV_ENOMEM (s then needs no free). */
int lkv_bench_stats_init(lkv_bench_stats_t *s);

/* Releases the histogram and the messages. */
void lkv_bench_stats_free(lkv_bench_stats_t *s);

/* Counts one success that took latency_ns. */
void lkv_bench_stats_ok(lkv_bench_stats_t *s, uint64_t latency_ns);

/* Counts one failure with outcome (a gRPC status 1..16 or LKV_BENCH_*; anything else counts as UNKNOWN)
 * and keeps message (copied; may be NULL) if it is the first for that outcome. */
void lkv_bench_stats_error(lkv_bench_stats_t *s, int outcome, const char *message);

/* Adds src into dst (counts, histogram, first messages dst lacks). Returns 0 or LKV_ENOMEM. */
int lkv_bench_stats_merge(lkv_bench_stats_t *dst, const lkv_bench_stats_t *src);

/* Failed operations over all outcomes. */
uint64_t lkv_bench_stats_errors(const lkv_bench_stats_t *s);

/* The name of an outcome: gRPC status names ("UNAVAILABLE"), "BAD_RESPONSE", "MISSING_EVENT",
 * "BAD_RECEIPT". Static. */
const char *lkv_bench_outcome_name(int outcome);

/* Prepares / releases a result (stats included). lkv_bench_result_init returns 0 or LKV_ENOMEM. */
int lkv_bench_result_init(lkv_bench_result_t *r);
void lkv_bench_result_free(lkv_bench_result_t *r);

#endif
