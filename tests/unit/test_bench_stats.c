/* Tests for bench result accounting (bench/stats.h) and the text/JSON report (bench/report.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "bench/args.h"
#include "bench/report.h"
#include "bench/stats.h"
#include "common/error.h"

static void test_counts_and_first_messages(void **state) {
  (void)state;
  lkv_bench_stats_t s;
  assert_int_equal(lkv_bench_stats_init(&s), 0);
  lkv_bench_stats_ok(&s, 1000);
  lkv_bench_stats_ok(&s, 3000);
  lkv_bench_stats_error(&s, 14, "connection refused");
  lkv_bench_stats_error(&s, 14, "a later message is not kept");
  lkv_bench_stats_error(&s, 12, NULL);
  lkv_bench_stats_error(&s, 99, "out of range counts as UNKNOWN");
  lkv_bench_stats_error(&s, 0, "OK is not a failure: UNKNOWN");
  assert_int_equal(s.ok, 2);
  assert_int_equal(s.latency_ns.total, 2);
  assert_int_equal(s.errors[14], 2);
  assert_string_equal(s.first_error[14], "connection refused");
  assert_int_equal(s.errors[12], 1);
  assert_null(s.first_error[12]);
  assert_int_equal(s.errors[2], 2);
  assert_string_equal(s.first_error[2], "out of range counts as UNKNOWN");
  assert_int_equal(lkv_bench_stats_errors(&s), 5);
  lkv_bench_stats_free(&s);
}

static void test_merge(void **state) {
  (void)state;
  lkv_bench_stats_t a, b;
  assert_int_equal(lkv_bench_stats_init(&a), 0);
  assert_int_equal(lkv_bench_stats_init(&b), 0);
  lkv_bench_stats_ok(&a, 10);
  a.sent = 3;
  a.reads = 1;
  lkv_bench_stats_error(&a, 14, "first of a");
  lkv_bench_stats_ok(&b, 20);
  lkv_bench_stats_ok(&b, 30);
  b.sent = 4;
  b.writes = 2;
  b.puts_ok = 7;
  lkv_bench_stats_error(&b, 14, "first of b");
  lkv_bench_stats_error(&b, LKV_BENCH_MISSING_EVENT, "lost");
  assert_int_equal(lkv_bench_stats_merge(&a, &b), 0);
  assert_int_equal(a.ok, 3);
  assert_int_equal(a.sent, 7);
  assert_int_equal(a.reads, 1);
  assert_int_equal(a.writes, 2);
  assert_int_equal(a.puts_ok, 7);
  assert_int_equal(a.errors[14], 2);
  assert_string_equal(a.first_error[14], "first of a");
  assert_string_equal(a.first_error[LKV_BENCH_MISSING_EVENT], "lost");
  assert_int_equal(lkv_bench_hist_max(&a.latency_ns), 30);
  assert_int_equal(lkv_bench_hist_min(&a.latency_ns), 10);
  lkv_bench_stats_free(&a);
  lkv_bench_stats_free(&b);
}

static void test_outcome_names(void **state) {
  (void)state;
  assert_string_equal(lkv_bench_outcome_name(1), "CANCELLED");
  assert_string_equal(lkv_bench_outcome_name(12), "UNIMPLEMENTED");
  assert_string_equal(lkv_bench_outcome_name(16), "UNAUTHENTICATED");
  assert_string_equal(lkv_bench_outcome_name(LKV_BENCH_BAD_RESPONSE), "BAD_RESPONSE");
  assert_string_equal(lkv_bench_outcome_name(LKV_BENCH_MISSING_EVENT), "MISSING_EVENT");
  assert_string_equal(lkv_bench_outcome_name(42), "UNKNOWN_STATUS");
}

/* ---- report ---- */

typedef struct {
  lkv_bench_config_t cfg;
  lkv_bench_result_t res;
} report_fixture_t;

static int report_setup(void **state) {
  report_fixture_t *f = calloc(1, sizeof(*f));
  char err[256];
  char *argv[] = {"range", "--endpoints", "127.0.0.1:2379,127.0.0.2:2380", "--consistency", "s", "--clients",
                  "4"};
  assert_int_equal(lkv_bench_args_parse(&f->cfg, 7, argv, err, sizeof(err)), 0);
  assert_int_equal(lkv_bench_result_init(&f->res), 0);
  /* 1000 successes of 1..1000 us, two failures, in 0.5 s. */
  for (uint64_t us = 1; us <= 1000; us++) lkv_bench_stats_ok(&f->res.stats, us * 1000);
  lkv_bench_stats_error(&f->res.stats, 14, "connect: \"refused\"\n\\ here");
  lkv_bench_stats_error(&f->res.stats, 14, NULL);
  f->res.stats.sent = 1002;
  f->res.elapsed_s = 0.5;
  *state = f;
  return 0;
}

static int report_teardown(void **state) {
  report_fixture_t *f = *state;
  lkv_bench_result_free(&f->res);
  lkv_bench_args_free(&f->cfg);
  free(f);
  return 0;
}

/* Runs one report writer into memory and returns the text (caller frees). */
/* Not inlined: GCC 12 at -O3 then takes open_memstream's buffer for a dangling pointer to buf. */
__attribute__((noinline)) static char *render(int (*fn)(FILE *, const lkv_bench_config_t *,
                                                        const lkv_bench_result_t *),
                                              const report_fixture_t *f) {
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  assert_non_null(mem);
  assert_int_equal(fn(mem, &f->cfg, &f->res), 0);
  fclose(mem);
  return buf;
}

static void expect_in(const char *text, const char *needle) {
  if (!strstr(text, needle)) fail_msg("\"%s\" not found in:\n%s", needle, text);
}

static void test_throughput(void **state) {
  report_fixture_t *f = *state;
  assert_true(lkv_bench_report_throughput(&f->res) == 2000.0);
  f->res.elapsed_s = 0;
  assert_true(lkv_bench_report_throughput(&f->res) == 0);
}

static void test_json(void **state) {
  report_fixture_t *f = *state;
  char *j = render(lkv_bench_report_json, f);
  expect_in(j, "{\"workload\":\"range\",\"endpoints\":[\"127.0.0.1:2379\",\"127.0.0.2:2380\"]");
  expect_in(j, "\"clients\":4,");
  expect_in(j, "\"consistency\":\"serializable\"");
  expect_in(j, "\"sent\":1002,\"ok\":1000,\"errors\":2,");
  expect_in(j, "\"ops_per_s\":2000.000,");
  expect_in(j, "\"aborted\":null");
  expect_in(j, "\"errors_by_status\":{\"UNAVAILABLE\":2}");
  /* Quotes, backslashes and control characters in messages are escaped. */
  expect_in(j, "\"first_errors\":{\"UNAVAILABLE\":\"connect: \\\"refused\\\"\\u000a\\\\ here\"}");
  expect_in(j, "\"latency_ms\":{\"min\":0.001000,");
  expect_in(j, "\"p50\":0.500"); /* within the histogram's 0.1% */
  expect_in(j, "\"p99.9\":0.999");
  expect_in(j, "\"max\":1.000000}");
  expect_in(j, "\"percentiles_ms\":[[0,0.001000],");
  expect_in(j, "[100,1.000000]]}\n");
  /* One object on one line. */
  assert_int_equal(strchr(j, '\n') - j, (long)strlen(j) - 1);
  free(j);
}

static void test_json_aborted(void **state) {
  report_fixture_t *f = *state;
  f->res.aborted = strdup("watch: UNIMPLEMENTED: unknown service");
  f->res.interrupted = 1;
  char *j = render(lkv_bench_report_json, f);
  expect_in(j, "\"interrupted\":true,\"aborted\":\"watch: UNIMPLEMENTED: unknown service\"");
  free(j);
}

static void test_text(void **state) {
  report_fixture_t *f = *state;
  char *t = render(lkv_bench_report_text, f);
  expect_in(
      t,
      "workload range (serializable) against 127.0.0.1:2379 127.0.0.2:2380, closed loop, 1 conns, 4 clients");
  expect_in(t, "1000 requests ok, 2 failed, 1002 requests sent in 0.500 s");
  expect_in(t, "requests/s: 2000.0");
  expect_in(t, "latency ms: min 0.001  mean 0.500  p50 0.500  p90 0.900  p99 0.990  p99.9 0.999  max 1.000");
  expect_in(t, "error UNAVAILABLE: 2 (first: connect:");
  free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counts_and_first_messages),
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_outcome_names),
      cmocka_unit_test_setup_teardown(test_throughput, report_setup, report_teardown),
      cmocka_unit_test_setup_teardown(test_json, report_setup, report_teardown),
      cmocka_unit_test_setup_teardown(test_json_aborted, report_setup, report_teardown),
      cmocka_unit_test_setup_teardown(test_text, report_setup, report_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
