/* Unit tests for --ledger-retention: all, a number of records, a size with a unit, the default, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "config_testutil.h"

static void expect(const char *value, uint64_t records, uint64_t bytes) {
  lkv_config_t cfg;
  char err[256] = "";
  assert_int_equal(parse(&cfg, err, sizeof(err), "--ledger-retention", value, NULL), 0);
  assert_int_equal(cfg.ledger_retention_records, records);
  assert_int_equal(cfg.ledger_retention_bytes, bytes);
  lkv_config_free(&cfg);
}

static void test_values(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256] = "";
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_int_equal(cfg.ledger_retention_records, 0); /* the default: 4 GiB of ledger.log */
  assert_int_equal(cfg.ledger_retention_bytes, UINT64_C(4) << 30);
  lkv_config_free(&cfg);
  expect("all", 0, 0);
  expect("1000000", 1000000, 0);
  expect("1", 1, 0);
  expect("512MiB", 0, UINT64_C(512) << 20);
  expect("2GB", 0, 2000000000);
  expect("10TiB", 0, UINT64_C(10) << 40);
  expect("100B", 0, 100);
}

static void test_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "", "0", "-5", "none", "4G", "4 GiB", "GiB", "0GiB", "99999999999999999999", "20000000TiB"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char want[256], arg[64];
    snprintf(
        want, sizeof(want),
        "--ledger-retention: invalid value \"%s\": expected all, a number of records (1000000) or a size "
        "(4GiB)",
        bad[i]);
    snprintf(arg, sizeof(arg), "--ledger-retention=%s", bad[i]);
    REJECT(want, arg);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
