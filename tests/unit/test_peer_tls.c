/* Peer transport over TLS between real nets on loopback: small and multi-megabyte messages both ways in
 * order, a server whose certificate the dialer does not trust, and a client certificate refused by the
 * acceptor. Certificates are made by the test (lkv_tls_self_cert, and OpenSSL for a client-auth one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "peer_testutil.h"
#include "transport/tls.h"

#define CLUSTER 0xc1u

typedef struct {
  char dir[64];
  char cert[256], key[256];   /* a self-signed certificate for 127.0.0.1 (serverAuth only, as etcd's) */
  char cert2[256], key2[256]; /* another one */
} certs_t;

static void make_certs(certs_t *c) {
  char err[256], sub[96];
  const char *hosts[] = {"127.0.0.1"};
  snprintf(c->dir, sizeof(c->dir), "/tmp/lkv-peer-tls-XXXXXX");
  assert_non_null(mkdtemp(c->dir));
  snprintf(sub, sizeof(sub), "%s/a", c->dir);
  assert_int_equal(lkv_tls_self_cert(sub, hosts, 1, c->cert, c->key, sizeof(c->cert), err, sizeof(err)), 0);
  snprintf(sub, sizeof(sub), "%s/b", c->dir);
  assert_int_equal(lkv_tls_self_cert(sub, hosts, 1, c->cert2, c->key2, sizeof(c->cert2), err, sizeof(err)),
                   0);
}

static void remove_certs(certs_t *c) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
  assert_int_equal(system(cmd), 0);
}

static lkv_tls_t *context(const lkv_tls_options_t *o) {
  lkv_tls_t *t = NULL;
  char err[256];
  if (lkv_tls_new(&t, o, err, sizeof(err)) != 0) fail_msg("lkv_tls_new: %s", err);
  return t;
}

/* A net listening on 127.0.0.1 in TLS with tls. */
static lkv_peer_net_t *start_tls(uint64_t id, pt_sink_t *s, lkv_tls_t *tls) {
  lkv_listen_addr_t a = {"127.0.0.1", 0};
  int tls_flag = 1;
  lkv_peer_net_options_t o = {.addrs = &a,
                              .n_addrs = 1,
                              .tls = tls,
                              .listen_tls = &tls_flag,
                              .cluster_id = CLUSTER,
                              .member_id = id,
                              .arg = s,
                              .on_message = pt_on_message,
                              .on_peer_state = pt_on_state,
                              .on_removed = pt_on_removed};
  lkv_peer_net_t *n = NULL;
  assert_int_equal(lkv_peer_net_start(&n, &o), 0);
  return n;
}

static int add_https_peer(lkv_peer_net_t *n, uint64_t to, int port) {
  char url[64];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
  const char *urls[] = {url};
  return lkv_peer_net_set_peer(n, to, urls, 1);
}

/* Both ways, small and large messages (many TLS records each), in order and intact. */
static void test_tls_both_ways(void **state) {
  (void)state;
  certs_t c;
  make_certs(&c);
  lkv_tls_options_t o = {.cert_file = c.cert, .key_file = c.key, .self_signed = 1};
  lkv_tls_t *tls = context(&o);
  pt_sink_t sa, sb;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  lkv_peer_net_t *a = start_tls(1, &sa, tls), *b = start_tls(2, &sb, tls);
  assert_int_equal(add_https_peer(a, 2, lkv_peer_net_bound_port(b, 0)), 0);
  assert_int_equal(add_https_peer(b, 1, lkv_peer_net_bound_port(a, 0)), 0);
  pt_send_range(a, 2, 0, 500, 100);
  pt_send_range(a, 2, 500, 2, (size_t)3 << 20);
  pt_send_range(a, 2, 502, 500, 40);
  pt_send_range(b, 1, 0, 300, 1000);
  pt_expect(&sb, 1002, 10000);
  pt_expect(&sa, 300, 10000);
  assert_int_equal(PT_GET(&sa, ups), 1);
  assert_int_equal(PT_GET(&sb, ups), 1);
  pt_stop_both(a, b);
  lkv_tls_free(tls);
  remove_certs(&c);
}

/* Member 1 (options oa) dials member 2 (ob), which must fail: nothing is delivered, member 2 is reported
 * down and the dial counted as failed. */
static void expect_refused(const lkv_tls_options_t *oa, const lkv_tls_options_t *ob) {
  lkv_tls_t *ta = context(oa), *tb = context(ob);
  pt_sink_t sa, sb;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  lkv_peer_net_t *a = start_tls(1, &sa, ta), *b = start_tls(2, &sb, tb);
  assert_int_equal(add_https_peer(a, 2, lkv_peer_net_bound_port(b, 0)), 0);
  pt_send_range(a, 2, 0, 3, 100);
  assert_true(PT_WAIT(&sa, sa.downs >= 1, 5000));
  assert_int_equal(PT_GET(&sa, ups), 0);
  assert_int_equal(PT_GET(&sb, msgs), 0);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_true(st.dial_failures >= 1);
  pt_stop_both(a, b);
  lkv_tls_free(ta);
  lkv_tls_free(tb);
}

/* A dialer that trusts only the other certificate refuses the server. A net without a TLS context refuses
 * https:// URLs. */
static void test_tls_untrusted_server(void **state) {
  (void)state;
  certs_t c;
  make_certs(&c);
  lkv_tls_options_t oa = {.cert_file = c.cert, .key_file = c.key, .trusted_ca_file = c.cert2};
  lkv_tls_options_t ob = {.cert_file = c.cert, .key_file = c.key, .self_signed = 1};
  expect_refused(&oa, &ob);
  pt_sink_t sc;
  pt_sink_init(&sc);
  lkv_peer_net_t *plain = pt_start(3, CLUSTER, 0, &sc, 0);
  assert_int_equal(add_https_peer(plain, 2, 2380), LKV_EINVAL);
  lkv_peer_net_stop(plain);
  remove_certs(&c);
}

/* An acceptor that requires client certificates refuses etcd's self-signed one: it lacks the clientAuth
 * usage. */
static void test_tls_client_certificate_refused(void **state) {
  (void)state;
  certs_t c;
  make_certs(&c);
  lkv_tls_options_t oa = {.cert_file = c.cert, .key_file = c.key, .self_signed = 1};
  lkv_tls_options_t ob = {
      .cert_file = c.cert, .key_file = c.key, .trusted_ca_file = c.cert, .client_cert_auth = 1};
  expect_refused(&oa, &ob);
  remove_certs(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_both_ways),
      cmocka_unit_test(test_tls_untrusted_server),
      cmocka_unit_test(test_tls_client_certificate_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
