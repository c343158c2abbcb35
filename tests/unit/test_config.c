/* Tests for the command line (src/server/config.c): defaults, flag syntax, URL lists and every rejection. */
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
#include "server/version.h"

/* stdout redirected into a temporary file, so that --help and --version output can be checked. */
typedef struct capture_s {
  int saved;
  FILE *tmp;
} capture_t;

static void capture_begin(capture_t *c) {
  fflush(stdout);
  c->saved = dup(STDOUT_FILENO);
  c->tmp = tmpfile();
  assert_non_null(c->tmp);
  assert_int_not_equal(dup2(fileno(c->tmp), STDOUT_FILENO), -1);
}

static char *capture_end(capture_t *c) {
  fflush(stdout);
  dup2(c->saved, STDOUT_FILENO);
  close(c->saved);
  long len = ftell(c->tmp);
  char *text = calloc(1, (size_t)len + 1);
  assert_non_null(text);
  rewind(c->tmp);
  assert_int_equal(fread(text, 1, (size_t)len, c->tmp), (size_t)len);
  fclose(c->tmp);
  return text;
}

static void test_defaults(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_string_equal(cfg.name, "default");
  assert_string_equal(cfg.data_dir, "default.ledgerkv");
  assert_int_equal(cfg.n_listen_client_urls, 1);
  assert_string_equal(cfg.listen_client_urls[0].url, "http://127.0.0.1:2379");
  assert_string_equal(cfg.listen_client_urls[0].host, "127.0.0.1");
  assert_int_equal(cfg.listen_client_urls[0].port, 2379);
  assert_int_equal(cfg.n_advertise_client_urls, 1);
  assert_string_equal(cfg.advertise_client_urls[0].url, "http://127.0.0.1:2379");
  assert_ptr_not_equal(cfg.advertise_client_urls[0].url, cfg.listen_client_urls[0].url);
  assert_int_equal(cfg.max_request_bytes, 1572864);
  assert_int_equal(cfg.max_txn_ops, 128);
  assert_int_equal(cfg.quota_backend_bytes, (int64_t)2 * 1024 * 1024 * 1024);
  assert_int_equal(cfg.worker_threads, 0);
  lkv_config_free(&cfg);
  assert_null(cfg.name);
  lkv_config_free(&cfg); /* freeing twice is harmless */
  lkv_config_free(NULL);
}

/* Parses one flag in the four spellings Go accepts and returns the config of the last one. */
static void parse_all_forms(lkv_config_t *cfg, const char *flag, const char *value) {
  char a[4][128];
  snprintf(a[0], sizeof(a[0]), "--%s", flag);
  snprintf(a[1], sizeof(a[1]), "--%s=%s", flag, value);
  snprintf(a[2], sizeof(a[2]), "-%s", flag);
  snprintf(a[3], sizeof(a[3]), "-%s=%s", flag, value);
  char v[128];
  snprintf(v, sizeof(v), "%s", value);
  char err[256];
  lkv_config_t prev = {0};
  for (int form = 0; form < 4; form++) {
    int rc = form % 2 == 0 ? parse(cfg, err, sizeof(err), a[form], v, NULL)
                           : parse(cfg, err, sizeof(err), a[form], NULL);
    if (rc != 0) fail_msg("%s: %d %s", a[form], rc, err);
    if (form > 0) {
      /* Every spelling gives the same result. */
      assert_string_equal(cfg->name, prev.name);
      assert_string_equal(cfg->data_dir, prev.data_dir);
      assert_string_equal(cfg->listen_client_urls[0].url, prev.listen_client_urls[0].url);
      assert_string_equal(cfg->advertise_client_urls[0].url, prev.advertise_client_urls[0].url);
      assert_int_equal(cfg->max_request_bytes, prev.max_request_bytes);
      assert_int_equal(cfg->max_txn_ops, prev.max_txn_ops);
      assert_int_equal(cfg->quota_backend_bytes, prev.quota_backend_bytes);
      assert_int_equal(cfg->worker_threads, prev.worker_threads);
      lkv_config_free(&prev);
    }
    if (form < 3) prev = *cfg;
  }
}

static void test_each_flag_in_every_form(void **state) {
  (void)state;
  lkv_config_t cfg;
  parse_all_forms(&cfg, "name", "node1");
  assert_string_equal(cfg.name, "node1");
  assert_string_equal(cfg.data_dir, "node1.ledgerkv"); /* the default follows the name */
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "data-dir", "/var/lib/lkv");
  assert_string_equal(cfg.data_dir, "/var/lib/lkv");
  assert_string_equal(cfg.wal_dir, "/var/lib/lkv/member/wal"); /* the default follows the data dir */
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "wal-dir", "/ssd/wal");
  assert_string_equal(cfg.wal_dir, "/ssd/wal");
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "listen-client-urls", "http://0.0.0.0:12379");
  assert_string_equal(cfg.listen_client_urls[0].host, "0.0.0.0");
  assert_int_equal(cfg.listen_client_urls[0].port, 12379);
  assert_string_equal(cfg.advertise_client_urls[0].url, "http://0.0.0.0:12379");
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "advertise-client-urls", "http://node1.example:2379");
  assert_string_equal(cfg.advertise_client_urls[0].host, "node1.example");
  assert_string_equal(cfg.listen_client_urls[0].url, "http://127.0.0.1:2379");
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "max-request-bytes", "10485760");
  assert_int_equal(cfg.max_request_bytes, 10485760);
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "max-txn-ops", "1024");
  assert_int_equal(cfg.max_txn_ops, 1024);
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "quota-backend-bytes", "8589934592");
  assert_int_equal(cfg.quota_backend_bytes, 8589934592LL);
  lkv_config_free(&cfg);

  parse_all_forms(&cfg, "worker-threads", "3");
  assert_int_equal(cfg.worker_threads, 3);
  lkv_config_free(&cfg);
}

static void test_combined_and_repeated_flags(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(
      parse(&cfg, err, sizeof(err), "--name", "a", "-name=b", "--data-dir=", "--quota-backend-bytes", "0",
            "--max-txn-ops=7", "--max-txn-ops", "9", "--worker-threads=1024", "--version=false", "--", NULL),
      0);
  assert_string_equal(cfg.name, "b");              /* the last occurrence wins */
  assert_string_equal(cfg.data_dir, "b.ledgerkv"); /* an empty --data-dir means the default */
  assert_int_equal(cfg.quota_backend_bytes, LKV_CONFIG_DEFAULT_QUOTA_BYTES);
  assert_int_equal(cfg.max_txn_ops, 9);
  assert_int_equal(cfg.worker_threads, 1024);
  lkv_config_free(&cfg);

  /* A value that starts with a dash is still the value of the flag before it. */
  assert_int_equal(parse(&cfg, err, sizeof(err), "--name", "-x", "--max-request-bytes", "4294967295", NULL),
                   0);
  assert_string_equal(cfg.name, "-x");
  assert_int_equal(cfg.max_request_bytes, 4294967295u);
  lkv_config_free(&cfg);
}

static void test_url_lists(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(
      parse(&cfg, err, sizeof(err), "--listen-client-urls",
            "http://127.0.0.1:2379, http://[::1]:2380 ,HTTP://localhost:2381,http://[::]:0", NULL),
      0);
  assert_int_equal(cfg.n_listen_client_urls, 4);
  assert_string_equal(cfg.listen_client_urls[0].host, "127.0.0.1");
  assert_string_equal(cfg.listen_client_urls[1].url, "http://[::1]:2380");
  assert_string_equal(cfg.listen_client_urls[1].host, "::1");
  assert_int_equal(cfg.listen_client_urls[1].port, 2380);
  assert_string_equal(cfg.listen_client_urls[2].url, "HTTP://localhost:2381");
  assert_string_equal(cfg.listen_client_urls[2].host, "127.0.0.1");
  assert_string_equal(cfg.listen_client_urls[3].host, "::");
  assert_int_equal(cfg.listen_client_urls[3].port, 0);
  /* Advertise defaults to a copy of the listen URLs, port 0 included (the server fills in the bound port). */
  assert_int_equal(cfg.n_advertise_client_urls, 4);
  assert_string_equal(cfg.advertise_client_urls[1].host, "::1");
  assert_int_equal(cfg.advertise_client_urls[3].port, 0);
  lkv_config_free(&cfg);

  /* localhost and 127.0.0.1 are one address: bound once. */
  assert_int_equal(parse(&cfg, err, sizeof(err), "--listen-client-urls",
                         "http://localhost:2379,http://127.0.0.1:2379,http://127.0.0.1:2379", NULL),
                   0);
  assert_int_equal(cfg.n_listen_client_urls, 1);
  assert_string_equal(cfg.listen_client_urls[0].url, "http://localhost:2379");
  lkv_config_free(&cfg);

  assert_int_equal(
      parse(&cfg, err, sizeof(err), "--listen-client-urls=http://1.2.3.4:1",
            "--advertise-client-urls=http://node-1.svc_local:2379,http://[2001:db8::1]:2379", NULL),
      0);
  assert_int_equal(cfg.n_advertise_client_urls, 2);
  assert_string_equal(cfg.advertise_client_urls[0].host, "node-1.svc_local");
  assert_string_equal(cfg.advertise_client_urls[1].host, "2001:db8::1");
  assert_int_equal(cfg.advertise_client_urls[1].port, 2379);
  lkv_config_free(&cfg);
}

static void test_rejects_flag_syntax(void **state) {
  (void)state;
  REJECT("flag provided but not defined: --bogus", "--bogus");
  REJECT("flag provided but not defined: -bogus", "-bogus=1");
  /* an etcd 3.5 flag, unknown to etcd 3.4 */
  REJECT("flag provided but not defined: --experimental-max-learners", "--name", "x",
         "--experimental-max-learners", "2");
  REJECT("flag needs an argument: --name", "--name");
  REJECT("flag needs an argument: -max-txn-ops", "-max-txn-ops");
  REJECT("'serve' is not a valid flag", "serve");
  REJECT("'-' is not a valid flag", "-");
  REJECT("'extra' is not a valid flag", "--name", "a", "--", "extra");
  REJECT("'false' is not a valid flag", "--version", "false");
  REJECT("bad flag syntax: ---name", "---name");
  REJECT("bad flag syntax: -=x", "-=x");
  REJECT("bad flag syntax: --=x", "--=x");
  REJECT("--name: must not be empty", "--name=");
  REJECT("--version: invalid value \"maybe\": expected true or false", "--version=maybe");
}

static void test_rejects_numbers(void **state) {
  (void)state;
  REJECT("--max-txn-ops: invalid value \"abc\": expected an integer", "--max-txn-ops=abc");
  REJECT("--max-txn-ops: invalid value \"1k\": expected an integer", "--max-txn-ops", "1k");
  REJECT("--max-txn-ops: invalid value \"+5\": expected an integer", "--max-txn-ops", "+5");
  REJECT("--max-txn-ops: invalid value \" 5\": expected an integer", "--max-txn-ops", " 5");
  REJECT("--max-txn-ops: invalid value \"1.5\": expected an integer", "--max-txn-ops", "1.5");
  REJECT("--max-txn-ops: invalid value \"\": expected an integer", "--max-txn-ops=");
  REJECT("--max-txn-ops: invalid value \"-1\": must not be negative", "--max-txn-ops=-1");
  REJECT("--max-txn-ops: invalid value \"0\": must be at least 1", "--max-txn-ops=0");
  REJECT("--max-txn-ops: invalid value \"4294967296\": must be at most 4294967295",
         "--max-txn-ops=4294967296");
  REJECT("--max-request-bytes: invalid value \"0\": must be at least 1", "--max-request-bytes", "0");
  REJECT("--max-request-bytes: invalid value \"99999999999999999999999\": must be at most 4294967295",
         "--max-request-bytes", "99999999999999999999999");
  REJECT("--quota-backend-bytes: invalid value \"-5\": must not be negative", "--quota-backend-bytes", "-5");
  REJECT("--quota-backend-bytes: invalid value \"9223372036854775808\": must be at most 9223372036854775807",
         "--quota-backend-bytes=9223372036854775808");
  REJECT("--worker-threads: invalid value \"1025\": must be at most 1024", "-worker-threads", "1025");
  REJECT("--worker-threads: invalid value \"two\": expected an integer", "-worker-threads=two");
}

static void test_rejects_urls(void **state) {
  (void)state;
  REJECT(
      "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with "
      "HTTPS "
      "scheme",
      "--listen-client-urls=https://127.0.0.1:2379");
  REJECT("KeyFile and CertFile must both be present[key: , cert: /s.pem]", "--cert-file=/s.pem",
         "--listen-client-urls=https://127.0.0.1:2379");
  REJECT("--listen-client-urls: \"unixs://x:1\": unix sockets not supported",
         "--listen-client-urls=unixs://x:1");
  REJECT("--listen-client-urls: \"unix://localhost:2379\": unix sockets not supported",
         "--listen-client-urls=http://127.0.0.1:2379,unix://localhost:2379");
  REJECT("--listen-client-urls: \"ftp://1.2.3.4:21\": URL scheme must be http or https",
         "--listen-client-urls=ftp://1.2.3.4:21");
  REJECT("--listen-client-urls: \"127.0.0.1:2379\": URL must have the form http(s)://host:port",
         "--listen-client-urls=127.0.0.1:2379");
  REJECT("--listen-client-urls: \"http://127.0.0.1:2379/\": URL must not contain a path",
         "--listen-client-urls=http://127.0.0.1:2379/");
  REJECT("--listen-client-urls: \"http://127.0.0.1:2379?a=b\": URL must not contain a path",
         "--listen-client-urls=http://127.0.0.1:2379?a=b");
  REJECT("--listen-client-urls: \"http://u@127.0.0.1:2379\": URL must not contain user information",
         "--listen-client-urls=http://u@127.0.0.1:2379");
  REJECT("--listen-client-urls: \"http://127.0.0.1\": URL address does not have the form \"host:port\"",
         "--listen-client-urls=http://127.0.0.1");
  REJECT("--listen-client-urls: \"http://::1:2379\": URL address does not have the form \"host:port\"",
         "--listen-client-urls=http://::1:2379");
  REJECT("--listen-client-urls: \"http://[::1]\": URL address does not have the form \"host:port\"",
         "--listen-client-urls=http://[::1]");
  REJECT("--listen-client-urls: \"http://[::1:2379\": URL address does not have the form \"host:port\"",
         "--listen-client-urls=http://[::1:2379");
  REJECT("--listen-client-urls: \"http://127.0.0.1:\": port must be a number from 0 to 65535",
         "--listen-client-urls=http://127.0.0.1:");
  REJECT("--listen-client-urls: \"http://127.0.0.1:65536\": port must be a number from 0 to 65535",
         "--listen-client-urls=http://127.0.0.1:65536");
  REJECT("--listen-client-urls: \"http://127.0.0.1:http\": port must be a number from 0 to 65535",
         "--listen-client-urls=http://127.0.0.1:http");
  static const char *const not_numeric[] = {"http://example.com:2379", "http://[1.2.3.4]:2379",
                                            "http://[fe80::1%eth0]:2379", "http://:2379",
                                            "http://1.2.3:2379"};
  for (size_t i = 0; i < sizeof(not_numeric) / sizeof(not_numeric[0]); i++) {
    char want[256];
    snprintf(want, sizeof(want),
             "--listen-client-urls: \"%s\": expected a numeric IPv4 address, a bracketed IPv6 address or "
             "localhost for binding",
             not_numeric[i]);
    REJECT(want, "--listen-client-urls", not_numeric[i]);
  }
  REJECT("--listen-client-urls: \"\": no URLs given", "--listen-client-urls=");
  REJECT("--listen-client-urls: \"  \": no URLs given", "--listen-client-urls", "  ");
  REJECT("--listen-client-urls: \"http://127.0.0.1:1,,http://127.0.0.1:2\": empty URL in the list",
         "--listen-client-urls", "http://127.0.0.1:1,,http://127.0.0.1:2");
  REJECT("--listen-client-urls: \"http://127.0.0.1:1,\": empty URL in the list", "--listen-client-urls",
         "http://127.0.0.1:1,");

  REJECT("--advertise-client-urls: \"\": no URLs given", "--advertise-client-urls=");
  REJECT("--advertise-client-urls: \"http://:2379\": unexpected empty host",
         "--advertise-client-urls=http://:2379");
  REJECT("--advertise-client-urls: \"http://node1:0\": port 0 cannot be advertised",
         "--advertise-client-urls=http://node1:0");
  REJECT("--advertise-client-urls: \"http://no de:1\": invalid host",
         "--advertise-client-urls=http://no de:1");
  REJECT("--advertise-client-urls: \"http://[nope]:1\": invalid host",
         "--advertise-client-urls=http://[nope]:1");
}

/* https:// URLs: listen ones need a certificate (or --auto-tls), advertised ones are taken as they are. */
static void test_https_urls(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(
      parse(&cfg, err, sizeof(err), "--listen-client-urls=https://127.0.0.1:2379,http://127.0.0.1:2380",
            "--cert-file", "/s.pem", "--key-file", "/s.key", "--advertise-client-urls=https://node1:2379",
            NULL),
      0);
  assert_int_equal(cfg.n_listen_client_urls, 2);
  assert_int_equal(cfg.listen_client_urls[0].tls, 1);
  assert_int_equal(cfg.listen_client_urls[1].tls, 0);
  assert_int_equal(cfg.advertise_client_urls[0].tls, 1);
  assert_string_equal(cfg.client_tls.cert_file, "/s.pem");
  assert_string_equal(cfg.client_tls.key_file, "/s.key");
  assert_null(cfg.client_tls.trusted_ca_file);
  assert_int_equal(cfg.client_tls.auto_tls, 0);
  lkv_config_free(&cfg);
  assert_int_equal(
      parse(&cfg, err, sizeof(err), "--listen-client-urls=https://127.0.0.1:2379", "--auto-tls", NULL), 0);
  assert_int_equal(cfg.client_tls.auto_tls, 1);
  lkv_config_free(&cfg);
}

static void test_error_buffer_may_be_small_or_absent(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[8];
  assert_int_equal(parse(&cfg, NULL, 0, "--bogus", NULL), LKV_EINVAL);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--listen-client-urls=https://127.0.0.1:2379", NULL),
                   LKV_EINVAL);
  assert_string_equal(err, "TLS key"); /* truncated, still terminated */
}

static void test_ledger_flags(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_int_equal(cfg.ledger, 1);
  assert_int_equal(cfg.ledger_sign_ms, 100);
  lkv_config_free(&cfg);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--ledger=false", "--ledger-sign-interval", "20ms", NULL),
                   0);
  assert_int_equal(cfg.ledger, 0);
  assert_int_equal(cfg.ledger_sign_ms, 20);
  lkv_config_free(&cfg);
  assert_int_equal(
      parse(&cfg, err, sizeof(err), "--ledger=0", "--ledger", "-ledger-sign-interval=1.5s", NULL), 0);
  assert_int_equal(cfg.ledger, 1); /* alone, a boolean flag means true */
  assert_int_equal(cfg.ledger_sign_ms, 1500);
  lkv_config_free(&cfg);
  REJECT("--ledger: invalid value \"maybe\": expected true or false", "--ledger=maybe");
  REJECT("--ledger-sign-interval: invalid value \"0s\": expected a duration from 1ms to 1m, such as 100ms",
         "--ledger-sign-interval", "0s");
  REJECT("--ledger-sign-interval: invalid value \"2m\": expected a duration from 1ms to 1m, such as 100ms",
         "--ledger-sign-interval=2m");
  assert_int_equal(parse(&cfg, err, sizeof(err), NULL), 0);
  assert_int_equal(cfg.ledger_checkpoint_s, 300);
  lkv_config_free(&cfg);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--ledger-checkpoint-interval=90s", NULL), 0);
  assert_int_equal(cfg.ledger_checkpoint_s, 90);
  lkv_config_free(&cfg);
  assert_int_equal(parse(&cfg, err, sizeof(err), "--ledger-checkpoint-interval", "0", NULL), 0);
  assert_int_equal(cfg.ledger_checkpoint_s, 0);
  lkv_config_free(&cfg);
  REJECT(
      "--ledger-checkpoint-interval: invalid value \"500ms\": expected 0 or a duration from 1s to 24h, "
      "such as 5m",
      "--ledger-checkpoint-interval=500ms");
  REJECT(
      "--ledger-checkpoint-interval: invalid value \"25h\": expected 0 or a duration from 1s to 24h, "
      "such as 5m",
      "--ledger-checkpoint-interval=25h");
}

static void test_help(void **state) {
  (void)state;
  static const char *const spellings[] = {"--help", "-h", "-help", "--h", "--help=1"};
  for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
    lkv_config_t cfg;
    char err[256];
    capture_t c;
    capture_begin(&c);
    /* Help is acted on when reached, before the bad flag after it (as Go's flag package does). */
    int rc = parse(&cfg, err, sizeof(err), "--name", "x", spellings[i], "--bogus", NULL);
    char *out = capture_end(&c);
    assert_int_equal(rc, LKV_CONFIG_PRINTED);
    assert_null(cfg.name);
    assert_non_null(strstr(out, "Usage:"));
    assert_non_null(strstr(out, "  --listen-client-urls 'http://127.0.0.1:2379'\n"));
    assert_non_null(strstr(out, "  --max-request-bytes '1572864'\n"));
    assert_non_null(strstr(out, "  --worker-threads '0'\n"));
    assert_non_null(strstr(out, "  --version\n"));
    free(out);
  }
  REJECT("flag provided but not defined: --bogus", "--bogus", "--help");

  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  lkv_config_usage(f);
  fclose(f);
  assert_non_null(strstr(text, "  --name 'default'\n      Human-readable name for this member.\n"));
  free(text);
}

static void test_version(void **state) {
  (void)state;
  lkv_config_t cfg;
  char err[256];
  capture_t c;
  capture_begin(&c);
  int rc = parse(&cfg, err, sizeof(err), "--version", "--name=x", NULL);
  char *out = capture_end(&c);
  assert_int_equal(rc, LKV_CONFIG_PRINTED);
  assert_null(cfg.name);
  assert_string_equal(out,
                      "ledgerkv Version: 0.1.0\netcd API Version: 3.4\netcd Compatible Version: 3.4.31\n");
  free(out);

  capture_begin(&c);
  rc = parse(&cfg, err, sizeof(err), "-version=T", NULL);
  out = capture_end(&c);
  assert_int_equal(rc, LKV_CONFIG_PRINTED);
  assert_non_null(strstr(out, "ledgerkv Version: " LKV_VERSION "\n"));
  free(out);

  /* An invalid command line is an error even with --version. */
  REJECT("flag provided but not defined: --bogus", "--version", "--bogus");
  /* --version=false does not print. */
  assert_int_equal(parse(&cfg, err, sizeof(err), "--version=false", NULL), 0);
  lkv_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_each_flag_in_every_form),
      cmocka_unit_test(test_combined_and_repeated_flags),
      cmocka_unit_test(test_url_lists),
      cmocka_unit_test(test_rejects_flag_syntax),
      cmocka_unit_test(test_rejects_numbers),
      cmocka_unit_test(test_rejects_urls),
      cmocka_unit_test(test_https_urls),
      cmocka_unit_test(test_error_buffer_may_be_small_or_absent),
      cmocka_unit_test(test_ledger_flags),
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
