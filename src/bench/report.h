/* The bench report: throughput, latency percentiles and failures, as text or as one JSON object. */
#ifndef LKV_BENCH_REPORT_H
#define LKV_BENCH_REPORT_H

#include <stdio.h>

#include "bench/args.h"
#include "bench/stats.h"

/* Percentiles listed in the JSON "percentiles_ms" array (enough to plot a latency-by-percentile curve). */
extern const double lkv_bench_report_percentiles[];
extern const int lkv_bench_report_n_percentiles;

/* Operations per second: successes over the elapsed time (0 when nothing elapsed). */
double lkv_bench_report_throughput(const lkv_bench_result_t *r);

/* Writes a human-readable report to f: configuration summary, counts, operations/s, latency min, mean,
 * p50/p90/p99/p99.9 and max in milliseconds, failures by status with the first message of each; receipt:
 * the revisions drawn from; verify: the receipts, what one verification checks, the rate per thread.
 * Returns 0, or LKV_EIO when writing failed. */
int lkv_bench_report_text(FILE *f, const lkv_bench_config_t *cfg, const lkv_bench_result_t *r);

/* Writes one JSON object (and a newline) to f with the configuration and the same figures, plus
 * "errors_by_status", "first_errors", "percentiles_ms" ([[percentile, ms], ...]), "thread_ops_per_s",
 * "online_cpus", and for the ledger workloads "revision", "receipts" and "verification" (what one
 * verification checks; null for the other workloads). Key names are stable
 * (bench/compare reads them). Returns 0, or LKV_EIO when writing failed. */
int lkv_bench_report_json(FILE *f, const lkv_bench_config_t *cfg, const lkv_bench_result_t *r);

#endif
