/* Unit tests for Go duration parsing and the --experimental-watch-progress-notify-interval flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "server/config.h"
#include "server/config_duration.h"

static void test_parse(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int64_t ns;
  } ok[] = {
      {"0", 0},
      {"10m", 600000000000},
      {"10m0s", 600000000000},
      {"1h30m", 5400000000000},
      {"1.5s", 1500000000},
      {".5s", 500000000},
      {"100ms", 100000000},
      {"250us", 250000},
      {"250\xc2\xb5s", 250000},
      {"7ns", 7},
      {"-2s", -2000000000},
      {"+3ms", 3000000},
      {"2562047h47m16.854775807s", INT64_MAX},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    int64_t ns = -42;
    assert_int_equal(lkv__config_duration_parse(ok[i].text, &ns), 0);
    if (ns != ok[i].ns) fail_msg("%s: %lld, want %lld", ok[i].text, (long long)ns, (long long)ok[i].ns);
  }
  static const char *const bad[] = {
      "", "10", "m", "1x", "1.s.", "-", "s5", "2562047h47m16.854775808s", "9999999999h"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t ns = -42;
    if (lkv__config_duration_parse(bad[i], &ns) != LKV_EINVAL) fail_msg("%s accepted", bad[i]);
    assert_int_equal(ns, -42);
  }
}

static uint64_t parse_flag(const char *value, int *rc) {
  char arg[128], err[256];
  snprintf(arg, sizeof(arg), "--experimental-watch-progress-notify-interval=%s", value);
  char *argv[] = {"ledgerkv", arg, NULL};
  lkv_config_t cfg;
  *rc = lkv_config_parse(&cfg, 2, argv, err, sizeof(err));
  uint64_t ms = *rc == 0 ? cfg.watch_progress_notify_ms : 0;
  if (*rc == 0) lkv_config_free(&cfg);
  return ms;
}

static void test_flag(void **state) {
  (void)state;
  char err[256];
  char *argv[] = {"ledgerkv", NULL};
  lkv_config_t cfg;
  assert_int_equal(lkv_config_parse(&cfg, 1, argv, err, sizeof(err)), 0);
  assert_int_equal(cfg.watch_progress_notify_ms, 600000); /* etcd's 10 minutes */
  lkv_config_free(&cfg);
  int rc;
  assert_int_equal(parse_flag("300ms", &rc), 300);
  assert_int_equal(parse_flag("2m", &rc), 120000);
  assert_int_equal(parse_flag("1ns", &rc), 1);    /* rounded up; the hub raises it to its minimum */
  assert_int_equal(parse_flag("0", &rc), 600000); /* etcd keeps its default for <= 0 */
  assert_int_equal(parse_flag("-5s", &rc), 600000);
  parse_flag("ten minutes", &rc);
  assert_int_equal(rc, LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_flag),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
