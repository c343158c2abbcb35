/* Tests of the rate limit flags and --rate-limit-file (src/server/config_rate_limit.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "config_testutil.h"
#include "server/config.h"
#include "server/config_rate_limit.h"

static char path[64];

/* Writes text to a fresh temporary file (path). */
static void write_file(const char *text) {
  snprintf(path, sizeof(path), "/tmp/lkv-rl-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static void test_defaults_and_flags(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512] = "";
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_int_equal(cfg.rate_limit.requests, 0);
  assert_int_equal(cfg.rate_limit.bytes, 0);
  assert_int_equal(cfg.rate_limit.by, LKV_RATELIMIT_BY_USER);
  assert_string_equal(cfg.rate_limit.exempt, "LeaseKeepAlive");
  assert_int_equal(cfg.rate_limit.max_identities, 10000);
  assert_null(cfg.rate_limit.file);
  lkv_config_free(&cfg);
  setenv("ETCD_RATE_LIMIT_BYTES", "4096", 1); /* ledgerkv's own flags have variables too */
  assert_int_equal(parse(&cfg, err, sizeof(err), "--rate-limit-requests=5", "--rate-limit-burst", "9",
                         "--rate-limit-by=cn", "--rate-limit-exempt=LeaseKeepAlive,/etcdserverpb.KV/Range",
                         "--rate-limit-max-identities=3", NULL),
                   0);
  unsetenv("ETCD_RATE_LIMIT_BYTES");
  lkv_ratelimit_policy_t p;
  lkv_config_rate_limit_policy(&cfg.rate_limit, &p);
  assert_int_equal(p.requests, 5);
  assert_int_equal(p.burst, 9);
  assert_int_equal(p.bytes, 4096);
  assert_int_equal(p.by, LKV_RATELIMIT_BY_CN);
  assert_string_equal(p.exempt, "LeaseKeepAlive,/etcdserverpb.KV/Range");
  assert_int_equal(p.max_identities, 3);
  lkv_config_free(&cfg);
}

static void test_bad_flags(void **state) {
  (void)state;
  REJECT("--rate-limit-by: invalid value \"ip\": expected user, cn or address", "--rate-limit-by=ip");
  REJECT(
      "--rate-limit-exempt: rate limit exempt list: \"Lease KeepAlive\" is not a gRPC method (Method or "
      "package.Service/Method)",
      "--rate-limit-exempt=Lease KeepAlive");
  REJECT("--rate-limit-max-identities: invalid value \"0\": must be at least 1",
         "--rate-limit-max-identities=0");
  REJECT("--rate-limit-requests: invalid value \"-1\": must not be negative", "--rate-limit-requests=-1");
}

/* The file's keys over the flags; keys it leaves out keep the flags' values. */
static void test_file_over_flags(void **state) {
  (void)state;
  write_file("rate-limit-requests: 100\nrate-limit-by: address\nrate-limit-exempt: [Watch, a.B/C]\n");
  lkv_config_t cfg;
  char err[512] = "";
  assert_int_equal(parse(&cfg, err, sizeof(err), "--rate-limit-requests=1", "--rate-limit-bytes=50",
                         "--rate-limit-file", path, NULL),
                   0);
  lkv_config_rate_limit_t rl = {0};
  assert_int_equal(lkv_config_rate_limit_load(&cfg, &rl, err, sizeof(err)), 0);
  assert_int_equal(rl.requests, 100);
  assert_int_equal(rl.bytes, 50);
  assert_int_equal(rl.by, LKV_RATELIMIT_BY_ADDRESS);
  assert_string_equal(rl.exempt, "Watch,a.B/C");
  assert_int_equal(cfg.rate_limit.requests, 1); /* the flags are left as they were */
  lkv_config_rate_limit_free(&rl);
  unlink(path);
  lkv_config_free(&cfg);
}

/* A file that does not parse, names another setting or misspells one is refused with its reason. */
static void test_bad_files(void **state) {
  (void)state;
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"rate-limit-requests: many\n", "--rate-limit-requests: invalid value \"many\": expected an integer"},
      {"rate-limit-bytez: 1\n", "unknown key rate-limit-bytez"},
      {"name: other\n", "name is not a rate limit setting"},
      {"rate-limit-file: /x\n", "rate-limit-file is not a rate limit setting"},
      {"rate-limit-by: [a\n", "line"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    write_file(cases[i].text);
    lkv_config_t cfg;
    char err[512] = "";
    assert_int_equal(parse(&cfg, err, sizeof(err), "--rate-limit-file", path, NULL), 0);
    lkv_config_rate_limit_t rl = {0};
    assert_int_equal(lkv_config_rate_limit_load(&cfg, &rl, err, sizeof(err)), LKV_EINVAL);
    if (!strstr(err, cases[i].want)) fail_msg("%s: %s", cases[i].text, err);
    assert_null(rl.exempt);
    unlink(path);
    lkv_config_free(&cfg);
  }
  lkv_config_t cfg;
  char err[512] = "";
  assert_int_equal(parse(&cfg, err, sizeof(err), "--rate-limit-file", "/nonexistent/limits.yaml", NULL), 0);
  lkv_config_rate_limit_t rl = {0};
  assert_int_equal(lkv_config_rate_limit_load(&cfg, &rl, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "open /nonexistent/limits.yaml: no such file or directory");
  lkv_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_and_flags),
      cmocka_unit_test(test_bad_flags),
      cmocka_unit_test(test_file_over_flags),
      cmocka_unit_test(test_bad_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
