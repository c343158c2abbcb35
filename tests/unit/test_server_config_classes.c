/* Tests for the classes of etcd 3.4's flags (src/server/config_etcd.c, config_cluster.c): implemented,
 * warned, refused, etcd's checks and messages; and that docs/compatibility.md lists the same classes. */
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
#include "server/config_etcd.h"

/* Parses, expects success, and returns the number of warnings; *first receives a copy of the first. */
static size_t accept_args(char *first, size_t len, ...) {
  lkv_config_t cfg;
  char err[512] = "";
  va_list ap;
  va_start(ap, len);
  int rc = parse_v(&cfg, err, sizeof(err), ap);
  va_end(ap);
  if (rc != 0) fail_msg("%d %s", rc, err);
  size_t n = cfg.n_warnings;
  snprintf(first, len, "%s", n > 0 ? cfg.warnings[0] : "");
  lkv_config_free(&cfg);
  return n;
}

static void test_implemented_flag_has_no_warning(void **state) {
  (void)state;
  char w[512];
  assert_int_equal(accept_args(w, sizeof(w), "--name", "a", "--max-txn-ops", "5", NULL), 0);
}

static void test_warned_flags(void **state) {
  (void)state;
  char w[512];
  assert_int_equal(accept_args(w, sizeof(w), "--max-wals", "10", NULL), 1);
  assert_string_equal(w,
                      "--max-wals=10 ignored: the Raft log's segments are removed once a checkpoint of the "
                      "store covers them (--snapshot-count)");
  assert_int_equal(accept_args(w, sizeof(w), "--snapshot-count", "10000", NULL), 0); /* implemented */
  assert_int_equal(accept_args(w, sizeof(w), "--debug", NULL), 1); /* a Go boolean alone means true */
  assert_string_equal(w,
                      "--debug=true ignored: ledgerkv logs one line per event to stderr; etcd's logger "
                      "settings do not apply");
  /* A flag given twice warns once, with its last value. */
  assert_int_equal(accept_args(w, sizeof(w), "--log-level", "info", "--log-level=debug", NULL), 1);
  assert_non_null(strstr(w, "--log-level=debug ignored"));
  REJECT("invalid value \"abc\" for flag -snapshot-count: parse error", "--snapshot-count",
         "abc");                                                                      /* etcd's */
  REJECT("invalid boolean value \"maybe\" for -debug: parse error", "--debug=maybe"); /* Go's words */
  REJECT("'false' is not a valid flag", "--pre-vote", "false"); /* Go: a boolean takes no separate value */
}

static void test_checked_flags(void **state) {
  (void)state;
  char w[512];
  assert_int_equal(accept_args(w, sizeof(w), "--enable-v2=false", NULL), 1);
  REJECT("--enable-v2: the v2 API is not implemented (ledgerkv serves etcd's v3 API only)", "--enable-v2");
  REJECT(
      "--initial-cluster-state=existing: --initial-cluster must also name members of the running cluster, "
      "whom this member asks for its identity",
      "--initial-cluster-state", "existing");
  REJECT("invalid value \"old\" for flag -initial-cluster-state: invalid value", "--initial-cluster-state",
         "old");
  REJECT("--proxy: the v2 proxy is not implemented", "--proxy", "on");
  REJECT("--discovery: discovery is not implemented: start the members with --initial-cluster", "--discovery",
         "https://discovery.etcd.io/x");
}

/* etcd's embed.Config.Validate messages for the Raft timing, word for word. */
static void test_timing_checks(void **state) {
  (void)state;
  char w[512];
  lkv_config_t cfg;
  char err[256];
  char *argv[] = {"ledgerkv", "--heartbeat-interval", "200", "--election-timeout", "2000", NULL};
  assert_int_equal(lkv_config_parse(&cfg, 5, argv, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_warnings, 0);
  assert_int_equal(cfg.cluster.heartbeat_ms, 200);
  assert_int_equal(cfg.cluster.election_ms, 2000);
  lkv_config_free(&cfg);
  (void)w;
  REJECT("--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]",
         "--heartbeat-interval", "300");
  REJECT("--heartbeat-interval must be >0 (set to 0ms)", "--heartbeat-interval", "0");
  REJECT("--election-timeout must be >0 (set to 0ms)", "--election-timeout", "0");
  REJECT("--election-timeout[60000ms] is too long, and should be set less than 50000ms", "--election-timeout",
         "60000");
}

/* A member of a three-member cluster: the members, ids and peer listeners are in cfg.cluster. */
static void test_multi_member_cluster(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[512] = "";
  char *argv[] = {"ledgerkv",
                  "--name",
                  "b",
                  "--initial-cluster",
                  "a=http://127.0.0.1:2380,b=http://127.0.0.1:2381,c=http://127.0.0.1:2382",
                  "--initial-advertise-peer-urls",
                  "http://127.0.0.1:2381",
                  "--listen-peer-urls",
                  "http://127.0.0.1:2381",
                  NULL};
  assert_int_equal(lkv_config_parse(&cfg, 9, argv, err, sizeof(err)), 0);
  assert_int_equal(cfg.cluster.initial.n_members, 3);
  const lkv_cluster_member_t *b = lkv_cluster_initial_find(&cfg.cluster.initial, "b");
  assert_non_null(b);
  assert_true(b->id != 0);
  assert_int_equal(cfg.cluster.member_id, b->id);
  assert_true(cfg.cluster.cluster_id != 0);
  assert_int_equal(cfg.cluster.n_listen_peer_urls, 1);
  assert_string_equal(cfg.cluster.listen_peer_urls[0].host, "127.0.0.1");
  assert_int_equal(cfg.cluster.listen_peer_urls[0].port, 2381);
  lkv_config_free(&cfg);
  /* https:// on the peer port needs a certificate (etcd's error), never serves in cleartext. */
  char *tls[] = {"ledgerkv",
                 "--name",
                 "b",
                 "--initial-cluster",
                 "a=http://127.0.0.1:2380,b=http://127.0.0.1:2381",
                 "--initial-advertise-peer-urls",
                 "http://127.0.0.1:2381",
                 "--listen-peer-urls",
                 "https://127.0.0.1:2381",
                 NULL};
  assert_int_equal(lkv_config_parse(&cfg, 9, tls, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err,
                      "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url "
                      "https://127.0.0.1:2381 with HTTPS scheme");
  char *tls_ok[] = {"ledgerkv",
                    "--name",
                    "b",
                    "--initial-cluster",
                    "a=https://127.0.0.1:2380,b=https://127.0.0.1:2381",
                    "--initial-advertise-peer-urls",
                    "https://127.0.0.1:2381",
                    "--listen-peer-urls",
                    "https://127.0.0.1:2381",
                    "--peer-cert-file=/p.pem",
                    "--peer-key-file=/p.key",
                    "--peer-trusted-ca-file=/ca.pem",
                    "--peer-client-cert-auth",
                    "--peer-cert-allowed-cn=member",
                    "--experimental-peer-skip-client-san-verification",
                    NULL};
  assert_int_equal(lkv_config_parse(&cfg, 15, tls_ok, err, sizeof(err)), 0);
  assert_int_equal(cfg.cluster.listen_peer_urls[0].tls, 1);
  assert_string_equal(cfg.peer_tls.cert_file, "/p.pem");
  assert_string_equal(cfg.peer_tls.allowed_cn, "member");
  assert_int_equal(cfg.peer_tls.client_cert_auth, 1);
  assert_int_equal(cfg.peer_tls.skip_san, 1);
  assert_null(cfg.client_tls.cert_file); /* the sides are apart */
  assert_int_equal(cfg.n_warnings, 0);
  lkv_config_free(&cfg);
}

/* Parses member b of a two-member cluster with one more flag (NULL: none), which must be accepted
 * without a warning; returns what the member is given of --force-new-cluster (*force) and
 * --strict-reconfig-check (*strict). */
static void member_flags(const char *flag, int *force, int *strict) {
  lkv_config_t cfg;
  char err[512] = "";
  int rc = parse(&cfg, err, sizeof(err), "--name", "b", "--initial-cluster",
                 "a=http://127.0.0.1:2380,b=http://127.0.0.1:2381", "--initial-advertise-peer-urls",
                 "http://127.0.0.1:2381", flag, NULL);
  if (rc != 0) fail_msg("%s: %s", flag ? flag : "(no flag)", err);
  assert_int_equal(cfg.n_warnings, 0);
  *force = cfg.cluster.force_new_cluster;
  *strict = cfg.cluster.strict_reconfig_check;
  lkv_config_free(&cfg);
}

/* --force-new-cluster reaches the member (raft_node.h), also on a one-member --initial-cluster. */
static void test_force_new_cluster(void **state) {
  (void)state;
  const char *values[] = {"--force-new-cluster", "--force-new-cluster=true", "--force-new-cluster=1",
                          "--force-new-cluster=false", "--force-new-cluster=F"};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    int force, strict;
    member_flags(values[i], &force, &strict);
    assert_true(force == (i < 3) && strict);
  }
  /* A single node is a one-member cluster (which may have grown since): the flag is taken, no warning. */
  char w[512];
  assert_int_equal(accept_args(w, sizeof(w), "--force-new-cluster", NULL), 0);
  assert_int_equal(accept_args(w, sizeof(w), "--force-new-cluster=false", NULL), 0);
}

/* --strict-reconfig-check (default true, as etcd) reaches the member (raft_node.h), without a warning. */
static void test_strict_reconfig_check(void **state) {
  (void)state;
  const char *values[] = {NULL, "--strict-reconfig-check", "--strict-reconfig-check=True",
                          "--strict-reconfig-check=false", "--strict-reconfig-check=0"};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    int force, strict;
    member_flags(values[i], &force, &strict);
    assert_true(strict == (i < 3) && !force);
  }
}

static void test_single_member_cluster(void **state) {
  (void)state;
  char w[512];
  /* The command line of a one-member etcd 3.4 cluster starts without a warning. */
  assert_int_equal(accept_args(w, sizeof(w), "--name", "a", "--initial-advertise-peer-urls",
                               "http://127.0.0.1:2380", "--listen-peer-urls", "http://127.0.0.1:2380",
                               "--initial-cluster", "a=http://127.0.0.1:2380", "--initial-cluster-token", "t",
                               "--initial-cluster-state", "new", NULL),
                   0);
  REJECT("couldn't find local name \"b\" in the initial cluster configuration", "--name", "b",
         "--initial-cluster", "a=http://127.0.0.1:2380");
  REJECT("couldn't find local name \"default\" in the initial cluster configuration", "--initial-cluster",
         "a=http://127.0.0.1:2380");
  /* etcd's advertiseMatchesCluster messages, as etcd 3.4.23 prints them for the same flags. */
  REJECT(
      "--initial-cluster has a=http://127.0.0.1:2380 but missing from --initial-advertise-peer-urls="
      "http://localhost:2380 (resolved urls: \"http://localhost:2380\" != \"http://127.0.0.1:2380\")",
      "--name", "a", "--initial-cluster", "a=http://127.0.0.1:2380");
  REJECT(
      "--initial-advertise-peer-urls has http://127.0.0.1:24805 but missing from --initial-cluster="
      "a=http://127.0.0.1:24804,a=http://127.0.0.1:24805",
      "--name", "a", "--initial-cluster", "a=http://127.0.0.1:24804", "--initial-advertise-peer-urls",
      "http://127.0.0.1:24804,http://127.0.0.1:24805");
  REJECT(
      "--initial-cluster has a=http://127.0.0.1:24807 but missing from --initial-advertise-peer-urls="
      "http://127.0.0.1:24806 (len([\"http://127.0.0.1:24806\"]) != len([\"http://127.0.0.1:24806\" "
      "\"http://127.0.0.1:24807\"]))",
      "--name", "a", "--initial-cluster", "a=http://127.0.0.1:24806,a=http://127.0.0.1:24807",
      "--initial-advertise-peer-urls", "http://127.0.0.1:24806");
  /* etcd's flag errors for peer URL lists */
  REJECT(
      "invalid value \"ftp://x:1\" for flag -listen-peer-urls: URL scheme must be http, https, unix, or "
      "unixs: ftp://x:1",
      "--listen-peer-urls", "ftp://x:1");
  REJECT(
      "invalid value \"http://x\" for flag -listen-peer-urls: URL address does not have the form "
      "\"host:port\": http://x",
      "--listen-peer-urls", "http://x");
}

/* --bcrypt-cost as etcd's: any uint parses, bcrypt's range 4..31 is used, other values fall back to 10. */
static void test_bcrypt_cost(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  char *args[][3] = {{"ledgerkv", "--bcrypt-cost", "12"},
                     {"ledgerkv", "--bcrypt-cost", "3"},
                     {"ledgerkv", "--bcrypt-cost", "32"}};
  const uint64_t want[] = {12, 10, 10};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(lkv_config_parse(&cfg, 3, args[i], err, sizeof(err)), 0);
    assert_int_equal(cfg.bcrypt_cost, want[i]);
    assert_int_equal(cfg.n_warnings, i == 0 ? 0 : 1);
    if (i) assert_non_null(strstr(cfg.warnings[0], "outside bcrypt's 4..31: using the default cost 10"));
    lkv_config_free(&cfg);
  }
  char *none[] = {"ledgerkv"};
  assert_int_equal(lkv_config_parse(&cfg, 1, none, err, sizeof(err)), 0);
  assert_int_equal(cfg.bcrypt_cost, 10);
  lkv_config_free(&cfg);
}

static void test_security_flags(void **state) {
  (void)state;
  char w[512];
  /* --auth-token-ttl is implemented: any value, no warning (0 is etcd's default, 300 s) */
  assert_int_equal(accept_args(w, sizeof(w), "--auth-token-ttl=60", NULL), 0);
  /* --host-whitelist and --cors are the gateway's access control, implemented: no warning; --cors takes
   * URLs (and "*") as etcd does */
  assert_int_equal(accept_args(w, sizeof(w), "--host-whitelist", "example.com,localhost", "--cors",
                               "http://a.example:8080,*", NULL),
                   0);
  REJECT("--cors: \"http://a.example\": URL address does not have the form \"host:port\"", "--cors",
         "http://a.example");
  /* --auth-token: simple or JWT tokens, etcd's options (the keys are read at start) */
  assert_int_equal(
      accept_args(w, sizeof(w), "--auth-token", "jwt,pub-key=a.pub,sign-method=RS256,ttl=10m", NULL), 0);
  assert_int_equal(accept_args(w, sizeof(w), "--auth-token", "jwt,sign-method=ES256,size=2", NULL), 1);
  assert_string_equal(w, "--auth-token: unknown JWT option \"size\" ignored");
  REJECT("--auth-token: unknown token type \"jws\": auth: invalid auth options", "--auth-token", "jws");
  REJECT("--auth-token: \"sign-method=RS512\": auth: invalid auth options", "--auth-token",
         "jwt,sign-method=RS256,sign-method=RS512");
  REJECT("--auth-token: \"ttl\": auth: invalid auth options", "--auth-token", "jwt,ttl");
  REJECT("--auth-token: \"ttl=5x\": auth: invalid auth options", "--auth-token", "jwt,ttl=5x");
  REJECT("AllowedCN and AllowedHostname are mutually exclusive (cn=\"a\", hostname=\"b\")",
         "--peer-cert-allowed-cn=a", "--peer-cert-allowed-hostname=b");
  REJECT(
      "--peer-auto-tls: etcd 3.4 ignores the peer certificate checks (--peer-client-cert-auth, "
      "--peer-trusted-ca-file, --peer-crl-file, the allowed names) with a self-signed certificate; refusing "
      "to start rather than serve without the client certificate checks you asked for",
      "--peer-auto-tls", "--peer-client-cert-auth");
  /* The client TLS flags are implemented: no warning, whatever their value. */
  assert_int_equal(
      accept_args(w, sizeof(w), "--listen-client-urls=https://127.0.0.1:2379", "--cert-file=/s.pem",
                  "--key-file=/s.key", "--client-cert-auth", "--trusted-ca-file=/ca.pem",
                  "--client-crl-file=/crl.pem", "--client-cert-allowed-hostname=c.example",
                  "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", NULL),
      0);
  REJECT("unexpected TLS cipher suite \"TLS_NOPE\"",
         "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NOPE");
  REJECT(
      "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url https://127.0.0.1:2380 "
      "with HTTPS scheme",
      "--listen-peer-urls=https://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=default=http://127.0.0.1:2380,b=http://127.0.0.1:2390");
  assert_int_equal(accept_args(w, sizeof(w), "--auth-token", "simple", NULL), 0); /* served: no warning */
}

/* Every flag of the table behaves as its class says. */
static void test_every_flag_by_class(void **state) {
  (void)state;
  size_t n;
  const lkv__etcd_flag_t *all = lkv__config_etcd_all(&n);
  /* etcd 3.4.23 --help's 80 flags, --config-file, --version, 4 unlisted flags and 13 ignored ones */
  assert_int_equal(n, 99);
  for (size_t i = 0; i < n; i++) {
    const lkv__etcd_flag_t *f = &all[i];
    if (f->cls == LKV__FLAG_IMPLEMENTED || f->cls == LKV__FLAG_CLUSTER) {
      assert_non_null(lkv__config_etcd_find(f->name, strlen(f->name)));
      continue; /* the cluster flags have tests of their own */
    }
    const char *value = f->kind == LKV__KIND_BOOL       ? "true"
                        : f->kind == LKV__KIND_DURATION ? "1s"
                        : f->kind == LKV__KIND_STRING   ? "http://127.0.0.1:9"
                                                        : "7";
    char arg[160], msg[256];
    snprintf(arg, sizeof(arg), "--%s=%s", f->name, value);
    int refused = lkv__config_etcd_judge(f, value, msg, sizeof(msg));
    lkv_config_t cfg;
    char err[512] = "";
    int rc = parse(&cfg, err, sizeof(err), arg, NULL);
    if (f->cls == LKV__FLAG_WARNED) {
      assert_int_equal(refused, 0);
      if (rc != 0) fail_msg("%s: %s", arg, err);
      assert_int_equal(cfg.n_warnings, 1);
      char ignored[128];
      snprintf(ignored, sizeof(ignored), "flag \"-%s\" is no longer supported - ignoring.", f->name);
      assert_string_equal(cfg.warnings[0], f->kind == LKV__KIND_IGNORED ? ignored : cfg.warnings[0]);
      if (f->kind != LKV__KIND_IGNORED) assert_non_null(strstr(cfg.warnings[0], arg));
      lkv_config_free(&cfg);
    } else if (f->cls == LKV__FLAG_REFUSED) {
      assert_int_equal(refused, 1);
      assert_int_equal(rc, LKV_EINVAL);
      char want[384];
      snprintf(want, sizeof(want), "--%s: %s", f->name, msg);
      assert_string_equal(err, want);
    } else { /* CHECKED: this value may be either; either way a message names the flag */
      if (rc == 0) {
        assert_non_null(strstr(cfg.warnings[0], f->name));
        lkv_config_free(&cfg);
      } else {
        assert_non_null(strstr(err, f->name));
      }
    }
  }
}

/* docs/compatibility.md has one table row per flag, naming its class: the two cannot drift apart. */
static void test_doc_lists_every_flag(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof(path), "%s", __FILE__); /* CMake compiles with the source's absolute path */
  char *slash = strstr(path, "/tests/unit/");
  assert_non_null(slash);
  snprintf(slash, sizeof(path) - (size_t)(slash - path), "/docs/compatibility.md");
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char line[4096];
  size_t n;
  const lkv__etcd_flag_t *all = lkv__config_etcd_all(&n);
  size_t rows = 0;
  int *seen = calloc(n, sizeof(int));
  assert_non_null(seen);
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "| `--", 5) != 0) continue;
    char *end = strchr(line + 5, '`');
    assert_non_null(end);
    const lkv__etcd_flag_t *e = lkv__config_etcd_find(line + 5, (size_t)(end - line - 5));
    if (e == NULL) fail_msg("docs/compatibility.md lists a flag etcd 3.4 does not have: %s", line);
    char cls[64];
    snprintf(cls, sizeof(cls), "| %s |", lkv__config_etcd_class_name(e->cls));
    if (strstr(end, cls) == NULL)
      fail_msg("docs/compatibility.md: --%s is %s in the code: %s", e->name, cls, line);
    seen[e - all]++;
    rows++;
  }
  fclose(f);
  for (size_t i = 0; i < n; i++)
    if (seen[i] != 1) fail_msg("docs/compatibility.md lists --%s %d times, not once", all[i].name, seen[i]);
  assert_int_equal(rows, n);
  free(seen);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_implemented_flag_has_no_warning),
      cmocka_unit_test(test_warned_flags),
      cmocka_unit_test(test_checked_flags),
      cmocka_unit_test(test_timing_checks),
      cmocka_unit_test(test_force_new_cluster),
      cmocka_unit_test(test_strict_reconfig_check),
      cmocka_unit_test(test_single_member_cluster),
      cmocka_unit_test(test_multi_member_cluster),
      cmocka_unit_test(test_security_flags),
      cmocka_unit_test(test_bcrypt_cost),
      cmocka_unit_test(test_every_flag_by_class),
      cmocka_unit_test(test_doc_lists_every_flag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
