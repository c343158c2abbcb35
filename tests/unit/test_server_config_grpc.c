/* Tests for --max-concurrent-streams and the --grpc-keepalive-* flags: etcd's defaults, and the values
 * grpc-go takes when etcd passes it none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "config_testutil.h"

#define S_MS UINT64_C(1000)

static void test_defaults(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_int_equal(cfg.max_concurrent_streams, UINT32_MAX);
  assert_int_equal(cfg.grpc_keepalive_min_time_ms, 5 * S_MS);
  assert_int_equal(cfg.grpc_keepalive_interval_ms, 2 * 3600 * S_MS);
  assert_int_equal(cfg.grpc_keepalive_timeout_ms, 20 * S_MS);
  assert_int_equal(cfg.n_warnings, 0);
  lkv_config_free(&cfg);
}

static void test_given(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(parse(&cfg, err, sizeof(err), "--max-concurrent-streams=7", "--grpc-keepalive-min-time=1s",
                         "--grpc-keepalive-interval", "1m30s", "--grpc-keepalive-timeout=1500us", NULL),
                   0);
  assert_int_equal(cfg.max_concurrent_streams, 7);
  assert_int_equal(cfg.grpc_keepalive_min_time_ms, S_MS);
  assert_int_equal(cfg.grpc_keepalive_interval_ms, 90 * S_MS);
  assert_int_equal(cfg.grpc_keepalive_timeout_ms, 2); /* rounded up to whole milliseconds */
  assert_int_equal(cfg.n_warnings, 0);
  lkv_config_free(&cfg);
}

/* etcd passes grpc-go no option for times <= 0: grpc-go's own defaults hold, they do not turn anything off */
static void test_zero_means_grpc_defaults(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(parse(&cfg, err, sizeof(err), "--max-concurrent-streams=0", "--grpc-keepalive-min-time=0",
                         "--grpc-keepalive-interval=10s", "--grpc-keepalive-timeout=-1s", NULL),
                   0);
  assert_int_equal(cfg.max_concurrent_streams, 0);
  assert_int_equal(cfg.grpc_keepalive_min_time_ms, 5 * 60 * S_MS);
  assert_int_equal(cfg.grpc_keepalive_interval_ms, 2 * 3600 * S_MS); /* both, as etcd skips both */
  assert_int_equal(cfg.grpc_keepalive_timeout_ms, 20 * S_MS);
  lkv_config_free(&cfg);
}

static void test_refused_values(void **state) {
  (void)state;
  REJECT(
      "invalid value \"4294967296\" for flag -max-concurrent-streams: strconv.ParseUint: parsing "
      "\"4294967296\": value out of range",
      "--max-concurrent-streams=4294967296");
  REJECT("invalid value \"-1\" for flag -max-concurrent-streams: parse error", "--max-concurrent-streams=-1");
  REJECT("invalid value \"5x\" for flag -grpc-keepalive-timeout: parse error", "--grpc-keepalive-timeout=5x");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_given),
      cmocka_unit_test(test_zero_means_grpc_defaults),
      cmocka_unit_test(test_refused_values),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
