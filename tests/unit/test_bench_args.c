/* Tests for `ledgerkv bench` argument parsing (bench/args.h): defaults, flags, endpoints, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "bench/args.h"
#include "common/error.h"

#define ARGV(...) ((char *[]){__VA_ARGS__})
#define PARSE(cfg, err, ...)                                                                           \
  lkv_bench_args_parse(cfg, (int)(sizeof(ARGV(__VA_ARGS__)) / sizeof(char *)), ARGV(__VA_ARGS__), err, \
                       sizeof(err))

static void test_defaults(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  assert_int_equal(PARSE(&cfg, err, "put"), 0);
  assert_int_equal(cfg.workload, LKV_BENCH_PUT);
  assert_int_equal(cfg.n_endpoints, 1);
  assert_string_equal(cfg.endpoints[0].host, "127.0.0.1");
  assert_int_equal(cfg.endpoints[0].port, 2379);
  assert_int_equal(cfg.conns, 1);
  assert_int_equal(cfg.clients, 1);
  assert_int_equal(cfg.threads, 1);
  assert_int_equal(cfg.total, 10000); /* neither --total nor --duration */
  assert_int_equal(cfg.duration_ms, 0);
  assert_true(cfg.rate == 0);
  assert_int_equal(cfg.key_size, 8);
  assert_int_equal(cfg.val_size, 8);
  assert_int_equal(cfg.key_space, 100000);
  assert_int_equal(cfg.sequential_keys, 0);
  assert_int_equal(cfg.serializable, 0);
  assert_int_equal(cfg.progress, 1);
  assert_int_equal(cfg.json, 0);
  lkv_bench_args_free(&cfg);
}

static void test_every_flag(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  assert_int_equal(PARSE(&cfg, err, "range", "--endpoints", "http://10.0.0.1:2379,[::1]:23790,localhost:1/",
                         "--conns=8", "--clients", "64", "--threads=2", "--total", "5000", "--duration=1.5s",
                         "--rate", "2500.5", "--key-size", "12", "--val-size=256", "--key-space", "1000000",
                         "--sequential-keys", "--consistency=s", "--rw-ratio", "0.25", "--txn-ops", "3",
                         "--watchers", "100", "--lease-ttl", "60", "--json", "--no-progress"),
                   0);
  assert_int_equal(cfg.workload, LKV_BENCH_RANGE);
  assert_int_equal(cfg.n_endpoints, 3);
  assert_string_equal(cfg.endpoints[0].host, "10.0.0.1");
  assert_int_equal(cfg.endpoints[0].port, 2379);
  assert_string_equal(cfg.endpoints[1].host, "::1");
  assert_int_equal(cfg.endpoints[1].port, 23790);
  assert_string_equal(cfg.endpoints[2].host, "localhost");
  assert_int_equal(cfg.endpoints[2].port, 1);
  assert_int_equal(cfg.conns, 8);
  assert_int_equal(cfg.clients, 64);
  assert_int_equal(cfg.threads, 2);
  assert_int_equal(cfg.total, 5000);
  assert_int_equal(cfg.duration_ms, 1500);
  assert_true(cfg.rate == 2500.5);
  assert_int_equal(cfg.key_size, 12);
  assert_int_equal(cfg.val_size, 256);
  assert_int_equal(cfg.key_space, 1000000);
  assert_int_equal(cfg.sequential_keys, 1);
  assert_int_equal(cfg.serializable, 1);
  assert_true(cfg.rw_ratio == 0.25);
  assert_int_equal(cfg.txn_ops, 3);
  assert_int_equal(cfg.watchers, 100);
  assert_int_equal(cfg.lease_ttl, 60);
  assert_int_equal(cfg.json, 1);
  assert_int_equal(cfg.progress, 0);
  lkv_bench_args_free(&cfg);
}

static void test_workloads(void **state) {
  (void)state;
  static const char *names[] = {"put",   "range",           "txn-put", "txn-mixed",
                                "watch", "lease-keepalive", "receipt", "verify"};
  for (int w = 0; w < 8; w++) {
    lkv_bench_config_t cfg;
    char err[256];
    assert_int_equal(PARSE(&cfg, err, (char *)names[w]), 0);
    assert_int_equal(cfg.workload, w);
    assert_string_equal(lkv_bench_workload_name(cfg.workload), names[w]);
    lkv_bench_args_free(&cfg);
  }
}

static void test_duration_only(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  assert_int_equal(PARSE(&cfg, err, "put", "--duration", "2m"), 0);
  assert_int_equal(cfg.duration_ms, 120000);
  assert_int_equal(cfg.total, 0); /* until the duration ends */
  lkv_bench_args_free(&cfg);
  assert_int_equal(PARSE(&cfg, err, "range", "--consistency", "linearizable"), 0);
  assert_int_equal(cfg.serializable, 0);
  assert_int_equal(cfg.range_keys, 1);
  lkv_bench_args_free(&cfg);
  assert_int_equal(PARSE(&cfg, err, "range", "--range-keys", "500", "--key-space", "1000"), 0);
  assert_int_equal(cfg.range_keys, 500);
  lkv_bench_args_free(&cfg);
}

static void test_parse_duration(void **state) {
  (void)state;
  uint64_t ms;
  assert_int_equal(lkv_bench_parse_duration("10", &ms), 0);
  assert_int_equal(ms, 10000);
  assert_int_equal(lkv_bench_parse_duration("250ms", &ms), 0);
  assert_int_equal(ms, 250);
  assert_int_equal(lkv_bench_parse_duration("0.5s", &ms), 0);
  assert_int_equal(ms, 500);
  assert_int_equal(lkv_bench_parse_duration("1h", &ms), 0);
  assert_int_equal(ms, 3600000);
  assert_int_equal(lkv_bench_parse_duration("", &ms), LKV_EINVAL);
  assert_int_equal(lkv_bench_parse_duration("-1s", &ms), LKV_EINVAL);
  assert_int_equal(lkv_bench_parse_duration("5d", &ms), LKV_EINVAL);
  assert_int_equal(lkv_bench_parse_duration("5 s", &ms), LKV_EINVAL);
  assert_int_equal(lkv_bench_parse_duration("nan", &ms), LKV_EINVAL);
  assert_int_equal(lkv_bench_parse_duration("1e30h", &ms), LKV_EINVAL);
}

/* Each bad command line fails with LKV_EINVAL and a message naming the problem. */
static void expect_error(int rv, const char *err, const char *needle) {
  assert_int_equal(rv, LKV_EINVAL);
  if (!strstr(err, needle)) fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_errors(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  expect_error(lkv_bench_args_parse(&cfg, 0, ARGV(NULL), err, sizeof(err)), err, "missing workload");
  expect_error(PARSE(&cfg, err, "get"), err, "unknown workload \"get\"");
  expect_error(PARSE(&cfg, err, "put", "--cons", "2"), err, "unknown flag \"--cons\"");
  expect_error(PARSE(&cfg, err, "put", "conns"), err, "unexpected argument");
  expect_error(PARSE(&cfg, err, "put", "--conns"), err, "--conns needs a value");
  expect_error(PARSE(&cfg, err, "put", "--json=1"), err, "--json takes no value");
  expect_error(PARSE(&cfg, err, "put", "--conns", "0"), err, "out of range");
  expect_error(PARSE(&cfg, err, "put", "--clients", "2.5"), err, "not a whole number");
  expect_error(PARSE(&cfg, err, "put", "--total", "lots"), err, "not a number");
  expect_error(PARSE(&cfg, err, "put", "--rate", "-5"), err, "out of range");
  expect_error(PARSE(&cfg, err, "put", "--duration", "soon"), err, "not a duration");
  expect_error(PARSE(&cfg, err, "range", "--consistency", "strong"), err, "--consistency");
  expect_error(PARSE(&cfg, err, "put", "--threads", "2"), err, "must not exceed --conns");
  expect_error(PARSE(&cfg, err, "put", "--threads", "2", "--conns", "2"), err, "must not exceed --clients");
  expect_error(PARSE(&cfg, err, "put", "--key-size", "3", "--key-space", "10000"), err, "needs 4 digits");
  expect_error(PARSE(&cfg, err, "txn-put", "--txn-ops", "5", "--key-space", "4"), err, "--txn-ops");
  expect_error(PARSE(&cfg, err, "watch", "--val-size", "4"), err, "at least 8");
  expect_error(PARSE(&cfg, err, "range", "--range-keys", "1000", "--key-space", "1000"), err, "--range-keys");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", "https://127.0.0.1:2379"), err, "only http://");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", "127.0.0.1"), err, "expected host:port");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", "127.0.0.1:0"), err, "port in 1..65535");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", "127.0.0.1:99999"), err, "port in 1..65535");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", ":2379"), err, "port in 1..65535");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", "[::1:2379"), err, "expected [address]:port");
  expect_error(PARSE(&cfg, err, "put", "--endpoints", ","), err, "no endpoint");
  /* A failure after valid endpoints frees them (checked by the sanitizer build). */
  expect_error(PARSE(&cfg, err, "put", "--endpoints", "127.0.0.1:1", "--bogus"), err, "--bogus");
}

/* receipt takes every flag, open loop included; verify keeps its receipts bounded and refuses what cannot
 * apply to an offline, single-key check. */
static void test_ledger_workloads(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  assert_int_equal(PARSE(&cfg, err, "receipt", "--endpoints", "127.0.0.1:1,127.0.0.2:2", "--rate", "500",
                         "--conns", "2", "--clients", "8", "--threads", "2", "--duration", "3s"),
                   0);
  assert_int_equal(cfg.workload, LKV_BENCH_RECEIPT);
  assert_true(cfg.rate == 500);
  assert_int_equal(cfg.n_endpoints, 2);
  lkv_bench_args_free(&cfg);
  assert_int_equal(PARSE(&cfg, err, "verify", "--threads", "2", "--conns", "2", "--clients", "2"), 0);
  assert_int_equal(cfg.workload, LKV_BENCH_VERIFY);
  assert_int_equal(cfg.key_space, LKV_BENCH_VERIFY_MAX_RECEIPTS); /* the default 100000, lowered */
  assert_int_equal(cfg.total, 10000);
  lkv_bench_args_free(&cfg);
  assert_int_equal(PARSE(&cfg, err, "verify", "--key-space", "64", "--duration", "1s"), 0);
  assert_int_equal(cfg.key_space, 64);
  assert_int_equal(cfg.total, 0);
  lkv_bench_args_free(&cfg);
  expect_error(PARSE(&cfg, err, "verify", "--rate", "100"), err, "--rate does not apply");
  expect_error(PARSE(&cfg, err, "verify", "--endpoints", "127.0.0.1:1,127.0.0.1:2"), err, "one endpoint");
}

/* Key-size limits follow the key space: 10 keys fit in 1 digit, 11 do not. */
static void test_key_size_edges(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  assert_int_equal(PARSE(&cfg, err, "put", "--key-size", "1", "--key-space", "10"), 0);
  lkv_bench_args_free(&cfg);
  expect_error(PARSE(&cfg, err, "put", "--key-size", "1", "--key-space", "11"), err, "needs 2 digits");
}

static void test_help(void **state) {
  (void)state;
  lkv_bench_config_t cfg;
  char err[256];
  assert_int_equal(PARSE(&cfg, err, "--help"), LKV_BENCH_ARGS_HELP);
  assert_int_equal(PARSE(&cfg, err, "put", "--endpoints", "127.0.0.1:1", "-h"), LKV_BENCH_ARGS_HELP);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),         cmocka_unit_test(test_every_flag),
      cmocka_unit_test(test_workloads),        cmocka_unit_test(test_duration_only),
      cmocka_unit_test(test_parse_duration),   cmocka_unit_test(test_errors),
      cmocka_unit_test(test_key_size_edges),   cmocka_unit_test(test_help),
      cmocka_unit_test(test_ledger_workloads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
