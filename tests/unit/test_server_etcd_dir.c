/* Unit tests for telling an etcd data dir from a ledgerkv one (server/etcd_dir.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "server/etcd_dir.h"

static char g_dir[64];

static void path(char *out, size_t n, const char *rel) {
  snprintf(out, n, "%s/%s", g_dir, rel);
}

static void mkdirs(const char *rel) {
  char p[256];
  path(p, sizeof(p), rel);
  assert_int_equal(lkv_fs_mkdirs(p, 0700), 0);
}

static void touch(const char *rel) {
  char p[256];
  path(p, sizeof(p), rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof(g_dir), "/tmp/lkv-etcd-dir-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int check(char *err, size_t n) {
  err[0] = '\0';
  return lkv__server_etcd_dir_check(g_dir, err, n);
}

static void test_new_dirs(void **state) {
  (void)state;
  char err[512];
  assert_int_equal(check(err, sizeof(err)), 0); /* empty */
  assert_int_equal(lkv__server_etcd_dir_check("/nonexistent/lkv-etcd-dir", err, sizeof(err)), 0);
  mkdirs("member/wal");
  touch("member/wal/0.tmp");                /* etcd's preallocated temp file alone is no WAL */
  touch("member/wal/0000000000000001.wal"); /* ledgerkv's segment naming */
  mkdirs("member/snap");
  touch("member/snap/0000000000000002-0000000000000003.snap");
  assert_int_equal(check(err, sizeof(err)), 0);
}

static void test_etcd_wal(void **state) {
  (void)state;
  char err[512];
  mkdirs("member/wal");
  touch("member/wal/0000000000000000-0000000000000000.wal");
  assert_int_equal(check(err, sizeof(err)), LKV_EUNSUPPORTED);
  assert_non_null(
      strstr(err, "holds an etcd data directory (member/wal/0000000000000000-0000000000000000.wal)"));
  assert_non_null(strstr(err, "etcdctl snapshot save"));
  assert_non_null(strstr(err, "restore it with `ledgerkv snapshot restore`"));
  assert_int_equal(lkv__server_etcd_dir_check(g_dir, NULL, 0), LKV_EUNSUPPORTED); /* no message wanted */
}

static void test_etcd_snap_db(void **state) {
  (void)state;
  char err[512];
  mkdirs("member/snap");
  touch("member/snap/db");
  assert_int_equal(check(err, sizeof(err)), LKV_EUNSUPPORTED);
  assert_non_null(strstr(err, "(member/snap/db)"));
  mkdirs("member/wal");
  touch("member/wal/0000000000000000-0000000000000000.wal");
  assert_int_equal(check(err, sizeof(err)), LKV_EUNSUPPORTED);
  assert_non_null(strstr(err, "(member/snap/db, member/wal/0000000000000000-0000000000000000.wal)"));
}

/* A ledgerkv store is ledgerkv's whatever else lies beside it. */
static void test_ours_wins(void **state) {
  (void)state;
  char err[512];
  mkdirs("member/snap");
  touch("member/snap/db");
  mkdirs("member/db");
  assert_int_equal(check(err, sizeof(err)), 0);
  char p[256];
  path(p, sizeof(p), "member/db");
  assert_int_equal(rmdir(p), 0);
  mkdirs("ledger");
  assert_int_equal(check(err, sizeof(err)), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_new_dirs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_etcd_wal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_etcd_snap_db, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ours_wins, setup, teardown),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
