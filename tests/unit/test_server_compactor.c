/* Tests for auto-compaction: the two flags read as etcd 3.4 reads them (config_compaction.c; from flags,
 * ETCD_* variables and a config file) and etcd's schedule of both modes (compactor_policy.c), on a
 * simulated clock. */
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
#include "server/compactor_policy.h"
#include "server/config.h"

/* Parses "ledgerkv" and the arguments in ap (NULL-terminated), expects success without warnings. */
static lkv_config_t accept_v(va_list ap) {
  lkv_config_t cfg;
  char err[512] = "";
  int rc = parse_v(&cfg, err, sizeof(err), ap);
  if (rc != 0) fail_msg("%d %s", rc, err);
  assert_int_equal(cfg.n_warnings, 0);
  return cfg;
}

/* Expects the arguments (NULL-terminated) to parse into auto-compaction's mode and retention. */
static void expect(lkv_compaction_mode_t mode, int64_t retention, ...) {
  va_list ap;
  va_start(ap, retention);
  lkv_config_t cfg = accept_v(ap);
  va_end(ap);
  assert_int_equal(cfg.auto_compaction_mode, mode);
  assert_int_equal(cfg.auto_compaction_retention, retention);
  lkv_config_free(&cfg);
}

/* Parses the arguments (NULL-terminated) and returns revision mode's interval. */
static uint64_t check_ms(int unused, ...) {
  va_list ap;
  va_start(ap, unused);
  lkv_config_t cfg = accept_v(ap);
  va_end(ap);
  uint64_t ms = cfg.auto_compaction_check_ms;
  lkv_config_free(&cfg);
  return ms;
}

static void test_flags(void **state) {
  (void)state;
  expect(LKV_COMPACTION_OFF, 0, "--name", "a", NULL); /* retention 0 by default */
  assert_int_equal(check_ms(0, "--name", "a", NULL), 5 * 60 * 1000);
  /* periodic (the default mode): a bare number is hours, else a Go duration */
  expect(LKV_COMPACTION_PERIODIC, 3600000, "--auto-compaction-retention", "1", NULL);
  expect(LKV_COMPACTION_PERIODIC, 72 * 3600000LL, "--auto-compaction-retention=72", NULL);
  expect(LKV_COMPACTION_PERIODIC, 300000, "--auto-compaction-retention", "5m", NULL);
  expect(LKV_COMPACTION_PERIODIC, 1500, "--auto-compaction-mode", "periodic", "--auto-compaction-retention",
         "1.5s", NULL);
  expect(LKV_COMPACTION_OFF, 0, "--auto-compaction-retention", "0h", NULL);
  expect(LKV_COMPACTION_OFF, 0, "--auto-compaction-retention", "0", "--auto-compaction-mode", "revision",
         NULL);
  /* revision: a count; a duration counts its nanoseconds, as etcd's parser does */
  expect(LKV_COMPACTION_REVISION, 1000, "--auto-compaction-mode=revision", "--auto-compaction-retention=1000",
         NULL);
  expect(LKV_COMPACTION_REVISION, 2000, "--auto-compaction-mode=revision", "--auto-compaction-retention=2us",
         NULL);
  /* an empty mode: a number means nothing (etcd computes 0), a duration fails at etcd's start */
  expect(LKV_COMPACTION_OFF, 0, "--auto-compaction-mode=", "--auto-compaction-retention=5", NULL);
  REJECT("unsupported compaction mode ", "--auto-compaction-mode=", "--auto-compaction-retention=5m");
  REJECT("unknown auto-compaction-mode \"daily\"", "--auto-compaction-mode", "daily");
  REJECT("error parsing CompactionRetention: time: invalid duration \"-1\"", "--auto-compaction-retention",
         "-1");
  REJECT("error parsing CompactionRetention: time: invalid duration \"1d\"", "--auto-compaction-retention",
         "1d");
  REJECT("--auto-compaction-retention: invalid value \"-5m\": must not be negative",
         "--auto-compaction-retention", "-5m");
  assert_int_equal(check_ms(0, "--auto-compaction-revision-interval", "250ms", NULL), 250);
  REJECT(
      "--auto-compaction-revision-interval: invalid value \"0\": expected a duration of at least 1ms, "
      "such as 5m",
      "--auto-compaction-revision-interval", "0");
}

/* The same from ETCD_* variables, as etcd reads its flags from the environment. */
static void test_environment(void **state) {
  (void)state;
  setenv("ETCD_AUTO_COMPACTION_MODE", "revision", 1);
  setenv("ETCD_AUTO_COMPACTION_RETENTION", "10", 1);
  expect(LKV_COMPACTION_REVISION, 10, "--name", "a", NULL);
  unsetenv("ETCD_AUTO_COMPACTION_MODE");
  unsetenv("ETCD_AUTO_COMPACTION_RETENTION");
}

/* And from a --config-file, etcd's YAML keys. */
static void test_config_file(void **state) {
  (void)state;
  char path[] = "/tmp/lkv-compactor-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char yaml[] = "name: a\nauto-compaction-mode: revision\nauto-compaction-retention: \"500\"\n";
  assert_int_equal(write(fd, yaml, sizeof(yaml) - 1), (ssize_t)(sizeof(yaml) - 1));
  close(fd);
  expect(LKV_COMPACTION_REVISION, 500, "--config-file", path, NULL);
  unlink(path);
}

/* Periodic, one hour: ticks every 6 minutes; nothing in the first hour; then the revision of an hour
 * ago, and again every hour after a success; a failure is retried at the next tick. */
static void test_periodic_hour(void **state) {
  (void)state;
  lkv__compactor_policy_t p;
  const uint64_t tick = 6 * 60 * 1000;
  assert_int_equal(lkv__compactor_policy_init(&p, LKV_COMPACTION_PERIODIC, 3600000, 0, 0, 100), 0);
  assert_int_equal(p.interval_ms, tick);
  int64_t rev = 100;
  uint64_t now = 0;
  for (int i = 1; i < 10; i++) /* 54 minutes */
    assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, rev += 10, 0), 0);
  /* 60 minutes: the revision recorded at start, 100 */
  assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, rev += 10, 0), 100);
  /* failed: tried again at the next tick, with the same oldest revision (the window holds 11) */
  lkv__compactor_policy_done(&p, now, 100, 0);
  assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, rev += 10, 0), 100);
  lkv__compactor_policy_done(&p, now, 100, 1);
  for (int i = 1; i < 10; i++) assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, rev += 10, 0), 0);
  /* an hour after the success: the oldest of the window, seen 66 minutes ago */
  assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, rev += 10, 0), 200);
  lkv__compactor_policy_free(&p);
}

/* Periodic beyond an hour: the window is the whole period, compactions come hourly after the first. */
static void test_periodic_long_and_paused(void **state) {
  (void)state;
  lkv__compactor_policy_t p;
  const uint64_t tick = 6 * 60 * 1000;
  assert_int_equal(lkv__compactor_policy_init(&p, LKV_COMPACTION_PERIODIC, 3 * 3600000, 0, 0, 1), 0);
  assert_int_equal(p.interval_ms, tick);
  assert_int_equal(p.cap, 31);
  uint64_t now = 0;
  int64_t rev = 1, got = 0;
  /* paused (not the leader) for the first three hours: nothing, but revisions are recorded */
  for (int i = 1; i <= 30; i++) assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, ++rev, 1), 0);
  got = lkv__compactor_policy_tick(&p, now += tick, ++rev, 0); /* leads now: due since an hour */
  assert_int_equal(got, 1);                                    /* the revision of three hours ago */
  lkv__compactor_policy_done(&p, now, got, 1);
  for (int i = 1; i < 10; i++) assert_int_equal(lkv__compactor_policy_tick(&p, now += tick, ++rev, 0), 0);
  got = lkv__compactor_policy_tick(&p, now += tick, ++rev, 0); /* an hour later */
  assert_int_equal(got, rev - 31);                             /* still three hours back */
  lkv__compactor_policy_free(&p);
}

/* Revision mode: current minus retention, not twice the same, not <= 0, not while paused. */
static void test_revision(void **state) {
  (void)state;
  lkv__compactor_policy_t p;
  assert_int_equal(lkv__compactor_policy_init(&p, LKV_COMPACTION_REVISION, 100, 5000, 0, 1), 0);
  assert_int_equal(p.interval_ms, 5000);
  assert_int_equal(lkv__compactor_policy_tick(&p, 5000, 50, 0), 0);
  assert_int_equal(lkv__compactor_policy_tick(&p, 10000, 100, 0), 0);
  assert_int_equal(lkv__compactor_policy_tick(&p, 15000, 350, 1), 0);
  assert_int_equal(lkv__compactor_policy_tick(&p, 20000, 350, 0), 250);
  lkv__compactor_policy_done(&p, 20000, 250, 0);
  assert_int_equal(lkv__compactor_policy_tick(&p, 25000, 350, 0), 250); /* failed: again */
  lkv__compactor_policy_done(&p, 25000, 250, 1);
  assert_int_equal(lkv__compactor_policy_tick(&p, 30000, 350, 0), 0); /* no write since */
  assert_int_equal(lkv__compactor_policy_tick(&p, 35000, 351, 0), 251);
  lkv__compactor_policy_free(&p);
  assert_int_equal(lkv__compactor_policy_init(&p, LKV_COMPACTION_REVISION, 0, 5000, 0, 1), LKV_EINVAL);
  assert_int_equal(lkv__compactor_policy_init(&p, LKV_COMPACTION_OFF, 10, 5000, 0, 1), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_environment),
      cmocka_unit_test(test_config_file),
      cmocka_unit_test(test_periodic_hour),
      cmocka_unit_test(test_periodic_long_and_paused),
      cmocka_unit_test(test_revision),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
