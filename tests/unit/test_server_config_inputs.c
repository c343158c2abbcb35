/* Tests for etcd's order of start-up inputs (src/server/config_env.c, config_file.c): flags, ETCD_*
 * variables for the flags not given, or a --config-file alone; with etcd's messages. */
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

/* Whether some warning of cfg contains text. */
static int warned(const lkv_config_t *cfg, const char *text) {
  for (size_t i = 0; i < cfg->n_warnings; i++)
    if (strstr(cfg->warnings[i], text) != NULL) return 1;
  return 0;
}

/* Removes every ETCD_ variable the test runner may have, so that each test starts clean. */
static int clean_env(void **state) {
  (void)state;
  extern char **environ;
  for (int again = 1; again;) {
    again = 0;
    for (char **e = environ; *e != NULL; e++) {
      if (strncmp(*e, "ETCD_", 5) != 0) continue;
      char key[256];
      snprintf(key, sizeof(key), "%.*s", (int)(strcspn(*e, "=")), *e);
      unsetenv(key);
      again = 1;
      break;
    }
  }
  return 0;
}

/* Writes text to a new temporary file; returns its path (static buffer per slot). */
static const char *write_file(int slot, const char *text) {
  static char paths[4][64];
  snprintf(paths[slot], sizeof(paths[slot]), "/tmp/lkv-config-XXXXXX");
  int fd = mkstemp(paths[slot]);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return paths[slot];
}

static void test_env_sets_flags_not_given(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  setenv("ETCD_NAME", "fromenv", 1);
  setenv("ETCD_MAX_TXN_OPS", "7", 1);
  setenv("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:3379", 1);
  setenv("ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL", "2s", 1);
  setenv("ETCD_WORKER_THREADS", "3", 1); /* ledgerkv's own flags have variables too */
  setenv("ETCD_DATA_DIR", "", 1);        /* empty: skipped, and called unrecognized, as etcd 3.4 does */
  assert_int_equal(parse(&cfg, err, sizeof(err), "--max-request-bytes", "1000", NULL), 0);
  assert_string_equal(cfg.name, "fromenv");
  assert_string_equal(cfg.data_dir, "fromenv.ledgerkv");
  assert_int_equal(cfg.max_txn_ops, 7);
  assert_int_equal(cfg.max_request_bytes, 1000);
  assert_int_equal(cfg.listen_client_urls[0].port, 3379);
  assert_int_equal(cfg.watch_progress_notify_ms, 2000);
  assert_int_equal(cfg.worker_threads, 3);
  assert_int_equal(cfg.n_warnings, 1);
  assert_string_equal(cfg.warnings[0], "unrecognized environment variable ETCD_DATA_DIR=");
  lkv_config_free(&cfg);
}

static void test_default_without_flag_or_env(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_string_equal(cfg.name, "default");
  assert_int_equal(cfg.max_txn_ops, 128);
  lkv_config_free(&cfg);
}

/* etcd stops when a variable is shadowed by a flag given on the command line, even an empty one. */
static void test_env_shadowed_by_flag_is_an_error(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  setenv("ETCD_NAME", "x", 1);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--name", "y", NULL), LKV_EINVAL);
  assert_string_equal(err,
                      "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding "
                      "command-line flag (either unset environment variable or disable flag)");
  assert_null(cfg.name);
  setenv("ETCD_NAME", "", 1);
  assert_int_equal(parse(&cfg, err, sizeof(err), "-name=y", NULL), LKV_EINVAL);
  assert_non_null(strstr(err, "\"ETCD_NAME\" is shadowed"));
}

static void test_env_unrecognized_warns(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  setenv("ETCD_NO_SUCH_FLAG", "1", 1);
  setenv("ETCDCTL_API", "3", 1); /* not ETCD_: not etcd's business */
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_int_equal(cfg.n_warnings, 1);
  assert_string_equal(cfg.warnings[0], "unrecognized environment variable ETCD_NO_SUCH_FLAG=1");
  lkv_config_free(&cfg);
  unsetenv("ETCDCTL_API");
}

static void test_env_bad_values(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  setenv("ETCD_SNAPSHOT_COUNT", "abc", 1);
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), LKV_EINVAL);
  assert_string_equal(err, "invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error"); /* etcd's text */
  unsetenv("ETCD_SNAPSHOT_COUNT");
  setenv("ETCD_MAX_TXN_OPS", "x", 1);
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), LKV_EINVAL);
  assert_string_equal(err,
                      "invalid value \"x\" for ETCD_MAX_TXN_OPS: --max-txn-ops: invalid value \"x\": "
                      "expected an integer");
  unsetenv("ETCD_MAX_TXN_OPS");
  setenv("ETCD_AUTH_TOKEN", "jws", 1); /* a refused value is refused from the environment */
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), LKV_EINVAL);
  assert_string_equal(err,
                      "invalid value \"jws\" for ETCD_AUTH_TOKEN: --auth-token: unknown token type \"jws\": "
                      "auth: invalid auth options");
  unsetenv("ETCD_AUTH_TOKEN");
  setenv("ETCD_MAX_WALS", "10", 1); /* a warned one warns */
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_true(warned(&cfg, "--max-wals=10 ignored: "));
  unsetenv("ETCD_MAX_WALS");
  lkv_config_free(&cfg);
}

static void test_config_file(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  const char *path = write_file(0,
                                "# etcd's keys\n"
                                "name: infile\n"
                                "data-dir: /tmp/infile.d\n"
                                "listen-client-urls: http://127.0.0.1:4379\n"
                                "max-txn-ops: 64\n"
                                "quota-backend-bytes: 1048576\n"
                                "heartbeat-interval: 100\n"
                                "election-timeout: 1000\n"
                                "snapshot-count: 5000\n"
                                "max-wals: 7\n"
                                "log-outputs: [stderr]\n"
                                "enable-v2: false\n"
                                "experimental-watch-progress-notify-interval: 3000000000\n"
                                "initial-cluster: infile=http://127.0.0.1:4380\n"
                                "initial-advertise-peer-urls: http://127.0.0.1:4380\n"
                                "initial-cluster-state: new\n"
                                "client-transport-security:\n"
                                "  client-cert-auth: false\n"
                                "  cert-file: ''\n"
                                "unknown-key: 1\n");
  /* Flags and variables are ignored when a file is given (etcd: silently; we warn). */
  setenv("ETCD_MAX_REQUEST_BYTES", "99", 1);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", path, "--name", "ignored", NULL), 0);
  assert_string_equal(cfg.name, "infile");
  assert_string_equal(cfg.data_dir, "/tmp/infile.d");
  assert_int_equal(cfg.listen_client_urls[0].port, 4379);
  assert_int_equal(cfg.max_txn_ops, 64);
  assert_int_equal(cfg.max_request_bytes, 1572864);
  assert_int_equal(cfg.quota_backend_bytes, 1048576);
  assert_int_equal(cfg.watch_progress_notify_ms, 3000);
  assert_true(warned(&cfg, "command-line flags other than --config-file are ignored"));
  assert_true(warned(&cfg, "ETCD_* environment variables are ignored"));
  assert_true(warned(&cfg, "--max-wals=7 ignored"));
  assert_int_equal(cfg.cluster.snapshot_count, 5000);
  assert_true(warned(&cfg, "--log-outputs=stderr ignored"));
  assert_true(warned(&cfg, "unknown key unknown-key ignored"));
  lkv_config_free(&cfg);
  unsetenv("ETCD_MAX_REQUEST_BYTES");

  /* ETCD_CONFIG_FILE names the file when the flag does not. */
  setenv("ETCD_CONFIG_FILE", path, 1);
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_string_equal(cfg.name, "infile");
  assert_false(warned(&cfg, "ETCD_* environment variables are ignored"));
  lkv_config_free(&cfg);
  unsetenv("ETCD_CONFIG_FILE");
  unlink(path);
}

static void test_config_file_refusals_and_errors(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512];
  const char *tls = write_file(1,
                               "name: a\nclient-transport-security:\n  cert-file: /etc/server.crt\n"
                               "  key-file: /etc/server.key\n  client-cert-auth: true\n");
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", tls, NULL),
                   0); /* client TLS: implemented */
  assert_string_equal(cfg.client_tls.cert_file, "/etc/server.crt");
  assert_string_equal(cfg.client_tls.key_file, "/etc/server.key");
  assert_int_equal(cfg.client_tls.client_cert_auth, 1);
  lkv_config_free(&cfg);
  const char *peer =
      write_file(2, "peer-transport-security:\n  client-cert-auth: true\n  cert-file: /p.pem\n");
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", peer, NULL), 0); /* peer TLS too */
  assert_int_equal(cfg.peer_tls.client_cert_auth, 1);
  assert_string_equal(cfg.peer_tls.cert_file, "/p.pem");
  lkv_config_free(&cfg);
  /* A refused flag on the command line is not dropped silently because a file is given. */
  const char *ok = write_file(3, "name: a\n");
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", ok, "--auth-token=jws", NULL), LKV_EINVAL);
  assert_non_null(strstr(err, "--auth-token: unknown token type"));
  unlink(tls);
  unlink(peer);

  const char *bad = write_file(1, "name: [a\n");
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", bad, NULL), LKV_EINVAL);
  assert_non_null(strstr(err, bad));
  unlink(bad);
  const char *num = write_file(1, "max-txn-ops: lots\n");
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", num, NULL), LKV_EINVAL);
  char want[256];
  snprintf(want, sizeof(want), "config file %s: --max-txn-ops: invalid value \"lots\": expected an integer",
           num);
  assert_string_equal(err, want);
  unlink(num);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--config-file", "/nonexistent/etcd.yaml", NULL),
                   LKV_EINVAL);
  assert_string_equal(err, "open /nonexistent/etcd.yaml: no such file or directory"); /* Go's wording */
  unlink(ok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_env_sets_flags_not_given, clean_env),
      cmocka_unit_test_setup(test_default_without_flag_or_env, clean_env),
      cmocka_unit_test_setup(test_env_shadowed_by_flag_is_an_error, clean_env),
      cmocka_unit_test_setup(test_env_unrecognized_warns, clean_env),
      cmocka_unit_test_setup(test_env_bad_values, clean_env),
      cmocka_unit_test_setup(test_config_file, clean_env),
      cmocka_unit_test_setup(test_config_file_refusals_and_errors, clean_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
