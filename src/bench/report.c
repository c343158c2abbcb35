/* Writing the bench report as text or JSON. */
#include "bench/report.h"

#include <stdio.h>
#include <unistd.h>

#include "common/error.h"

const double lkv_bench_report_percentiles[] = {0,  10, 20, 30,   40,   50,    60,    70,     75,     80,
                                               90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100};
const int lkv_bench_report_n_percentiles =
    (int)(sizeof(lkv_bench_report_percentiles) / sizeof(lkv_bench_report_percentiles[0]));

/* The summary percentiles shown in both formats (min and max are the exact extremes). */
static const struct {
  const char *name;
  double p;
} summary[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}};
#define N_SUMMARY (sizeof(summary) / sizeof(summary[0]))

static double ms(uint64_t ns) {
  return (double)ns / 1e6;
}

double lkv_bench_report_throughput(const lkv_bench_result_t *r) {
  return r->elapsed_s > 0 ? (double)r->stats.ok / r->elapsed_s : 0;
}

/* What one successful operation is, for the labels. */
static const char *op_noun(const lkv_bench_config_t *cfg) {
  switch (cfg->workload) {
    case LKV_BENCH_WATCH:
      return "events";
    case LKV_BENCH_LEASE_KEEPALIVE:
      return "keepalives";
    case LKV_BENCH_RECEIPT:
      return "receipts";
    case LKV_BENCH_VERIFY:
      return "verifications";
    default:
      return "requests";
  }
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

/* What one verification is: the text report says it in words, the JSON report names it. */
#define VERIFY_INCLUDES "leaf hash, inclusion proof, Ed25519 signature"

static int finish(FILE *f) {
  return fflush(f) == 0 && !ferror(f) ? 0 : LKV_EIO;
}

int lkv_bench_report_text(FILE *f, const lkv_bench_config_t *cfg, const lkv_bench_result_t *r) {
  const lkv_bench_stats_t *s = &r->stats;
  const lkv_bench_hist_t *h = &s->latency_ns;
  fprintf(
      f, "workload %s%s against", lkv_bench_workload_name(cfg->workload),
      cfg->workload == LKV_BENCH_RANGE ? (cfg->serializable ? " (serializable)" : " (linearizable)") : "");
  for (size_t i = 0; i < cfg->n_endpoints; i++)
    fprintf(f, " %s:%d", cfg->endpoints[i].host, cfg->endpoints[i].port);
  if (cfg->rate > 0)
    fprintf(f, ", open loop at %.0f req/s", cfg->rate);
  else
    fprintf(f, ", closed loop");
  fprintf(f, ", %d conns, %d clients, %d threads\n", cfg->conns, cfg->clients, cfg->threads);
  if (r->aborted) fprintf(f, "  ABORTED: %s\n", r->aborted);
  if (r->interrupted) fprintf(f, "  interrupted: partial results\n");
  int verify = cfg->workload == LKV_BENCH_VERIFY;
  fprintf(f, "  %llu %s ok, %llu failed, %llu %s in %.3f s\n", (unsigned long long)s->ok, op_noun(cfg),
          (unsigned long long)lkv_bench_stats_errors(s), (unsigned long long)s->sent,
          verify ? "attempted" : "requests sent", r->elapsed_s);
  if (cfg->workload == LKV_BENCH_RECEIPT && r->revision) {
    fprintf(f, "  revisions drawn uniformly from 2..%lld (covered by a signed head)\n",
            (long long)r->revision);
  }
  if (verify) {
    fprintf(f,
            "  %llu receipts fetched (revisions spread over 2..%lld), verified offline with the node's key\n"
            "  one verification = %s: leaf_index < tree size, the leaf hash\n"
            "  from its components, the proof's SHA-256 hashes up to the head's root, the head's signature\n",
            (unsigned long long)r->receipts, (long long)r->revision, VERIFY_INCLUDES);
    fprintf(f, "  verifications/s per thread (one core each while threads <= %ld online CPUs):",
            sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < r->n_threads; i++) fprintf(f, " %.1f", r->thread_ops_per_s[i]);
    fputc('\n', f);
  }
  if (cfg->workload == LKV_BENCH_TXN_MIXED) {
    fprintf(f, "  reads %llu, writes %llu\n", (unsigned long long)s->reads, (unsigned long long)s->writes);
  }
  if (cfg->workload == LKV_BENCH_WATCH) {
    fprintf(f, "  puts ok %llu, %d watchers: latency is put sent -> event received\n",
            (unsigned long long)s->puts_ok, cfg->watchers);
  }
  fprintf(f, "  %s/s: %.1f\n", op_noun(cfg), lkv_bench_report_throughput(r));
  fprintf(f, "  latency ms: min %.3f  mean %.3f", ms(lkv_bench_hist_min(h)), lkv_bench_hist_mean(h) / 1e6);
  for (size_t i = 0; i < N_SUMMARY; i++) {
    fprintf(f, "  %s %.3f", summary[i].name, ms(lkv_bench_hist_percentile(h, summary[i].p)));
  }
  fprintf(f, "  max %.3f\n", ms(lkv_bench_hist_max(h)));
  for (int i = 1; i < LKV_BENCH_N_OUTCOMES; i++) {
    if (!s->errors[i]) continue;
    fprintf(f, "  error %s: %llu", lkv_bench_outcome_name(i), (unsigned long long)s->errors[i]);
    if (s->first_error[i]) fprintf(f, " (first: %s)", s->first_error[i]);
    fputc('\n', f);
  }
  return finish(f);
}

int lkv_bench_report_json(FILE *f, const lkv_bench_config_t *cfg, const lkv_bench_result_t *r) {
  const lkv_bench_stats_t *s = &r->stats;
  const lkv_bench_hist_t *h = &s->latency_ns;
  fprintf(f, "{\"workload\":\"%s\",\"endpoints\":[", lkv_bench_workload_name(cfg->workload));
  for (size_t i = 0; i < cfg->n_endpoints; i++) {
    char ep[320];
    snprintf(ep, sizeof(ep), "%s:%d", cfg->endpoints[i].host, cfg->endpoints[i].port);
    if (i) fputc(',', f);
    json_string(f, ep);
  }
  fprintf(
      f,
      "],\"conns\":%d,\"clients\":%d,\"threads\":%d,\"total\":%llu,\"duration_s\":%.3f,\"rate\":%.3f,"
      "\"key_size\":%zu,\"val_size\":%zu,\"key_space\":%llu,\"sequential_keys\":%s,\"consistency\":\"%s\","
      "\"range_keys\":%llu,\"rw_ratio\":%g,\"txn_ops\":%d,\"watchers\":%d,\"lease_ttl\":%lld,",
      cfg->conns, cfg->clients, cfg->threads, (unsigned long long)cfg->total, (double)cfg->duration_ms / 1e3,
      cfg->rate, cfg->key_size, cfg->val_size, (unsigned long long)cfg->key_space,
      cfg->sequential_keys ? "true" : "false", cfg->serializable ? "serializable" : "linearizable",
      (unsigned long long)cfg->range_keys, cfg->rw_ratio, cfg->txn_ops, cfg->watchers,
      (long long)cfg->lease_ttl);
  fprintf(f, "\"revision\":%lld,\"receipts\":%llu,\"online_cpus\":%ld,\"thread_ops_per_s\":[",
          (long long)r->revision, (unsigned long long)r->receipts, sysconf(_SC_NPROCESSORS_ONLN));
  for (int i = 0; i < r->n_threads; i++) fprintf(f, "%s%.3f", i ? "," : "", r->thread_ops_per_s[i]);
  fprintf(f, "],\"verification\":%s,",
          cfg->workload == LKV_BENCH_VERIFY ? "\"" VERIFY_INCLUDES "\"" : "null");
  fprintf(f,
          "\"unit\":\"%s\",\"elapsed_s\":%.6f,\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,\"reads\":%llu,"
          "\"writes\":%llu,\"puts_ok\":%llu,\"ops_per_s\":%.3f,\"interrupted\":%s,\"aborted\":",
          op_noun(cfg), r->elapsed_s, (unsigned long long)s->sent, (unsigned long long)s->ok,
          (unsigned long long)lkv_bench_stats_errors(s), (unsigned long long)s->reads,
          (unsigned long long)s->writes, (unsigned long long)s->puts_ok, lkv_bench_report_throughput(r),
          r->interrupted ? "true" : "false");
  if (r->aborted)
    json_string(f, r->aborted);
  else
    fputs("null", f);
  fputs(",\"errors_by_status\":{", f);
  for (int i = 1, n = 0; i < LKV_BENCH_N_OUTCOMES; i++) {
    if (s->errors[i])
      fprintf(f, "%s\"%s\":%llu", n++ ? "," : "", lkv_bench_outcome_name(i),
              (unsigned long long)s->errors[i]);
  }
  fputs("},\"first_errors\":{", f);
  for (int i = 1, n = 0; i < LKV_BENCH_N_OUTCOMES; i++) {
    if (!s->first_error[i]) continue;
    fprintf(f, "%s\"%s\":", n++ ? "," : "", lkv_bench_outcome_name(i));
    json_string(f, s->first_error[i]);
  }
  fprintf(f, "},\"latency_ms\":{\"min\":%.6f,\"mean\":%.6f", ms(lkv_bench_hist_min(h)),
          lkv_bench_hist_mean(h) / 1e6);
  for (size_t i = 0; i < N_SUMMARY; i++) {
    fprintf(f, ",\"%s\":%.6f", summary[i].name, ms(lkv_bench_hist_percentile(h, summary[i].p)));
  }
  fprintf(f, ",\"max\":%.6f},\"percentiles_ms\":[", ms(lkv_bench_hist_max(h)));
  for (int i = 0; i < lkv_bench_report_n_percentiles; i++) {
    double p = lkv_bench_report_percentiles[i];
    fprintf(f, "%s[%g,%.6f]", i ? "," : "", p, ms(lkv_bench_hist_percentile(h, p)));
  }
  fputs("]}\n", f);
  return finish(f);
}
