/* lkv_peer_query against real nets on loopback: answers, URLs in turn, refusals, time-outs, the wire, and
 * that a query is never a member's connection. */
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
#include "transport/peer_frame.h"

#define CLUSTER 0xc1c2c3c4c5c6c7c8ull
#define MEMBER 7
#define PREFIX "could not retrieve cluster information from the given URLs ("

/* A net of member MEMBER on 127.0.0.1 whose on_query answers n pattern bytes. */
static lkv_peer_net_t *answering(pt_sink_t *s, size_t n) {
  pt_sink_init(s);
  s->serve_queries = 1;
  s->answer_len = n;
  lkv_peer_net_t *net = pt_start(MEMBER, CLUSTER, 0, s, 0);
  assert_non_null(net);
  return net;
}

static void url_of(char *out, size_t cap, const char *host, int port) {
  snprintf(out, cap, "http://%s:%d", host, port);
}

/* Queries urls and expects the answer of a net answering n pattern bytes. */
static void expect_answer(const char *const *urls, size_t n_urls, unsigned timeout_ms, size_t n) {
  uint64_t cid = 0;
  uint8_t *blob = NULL;
  size_t len = 1;
  char err[512] = "untouched";
  int rv = lkv_peer_query(urls, n_urls, timeout_ms, NULL, &cid, &blob, &len, err, sizeof(err));
  if (rv != 0) fail_msg("lkv_peer_query: %d: %s", rv, err);
  assert_string_equal(err, "untouched"); /* written on failure only */
  assert_true(cid == CLUSTER);
  assert_non_null(blob);
  assert_int_equal(len, n);
  for (size_t i = 0; i < n; i++)
    if (blob[i] != pt_answer_byte(i)) fail_msg("byte %zu of the answer differs", i);
  free(blob);
}

/* Queries urls, expects no answer (LKV_EIO) and untouched outputs, and returns the message in err. */
static void expect_failure(const char *const *urls, size_t n_urls, unsigned timeout_ms, char *err,
                           size_t cap) {
  uint64_t cid = 99;
  uint8_t sentinel, *blob = &sentinel;
  size_t len = 77;
  assert_int_equal(lkv_peer_query(urls, n_urls, timeout_ms, NULL, &cid, &blob, &len, err, cap), LKV_EIO);
  assert_true(cid == 99 && blob == &sentinel && len == 77);
  assert_memory_equal(err, PREFIX, strlen(PREFIX));
  assert_int_equal(err[strlen(err) - 1], ')');
}

static void expect_in(const char *err, const char *part) {
  if (!strstr(err, part)) fail_msg("\"%s\" not in \"%s\"", part, err);
}

static void test_answer(void **state) {
  (void)state;
  pt_sink_t s;
  lkv_peer_net_t *net = answering(&s, 100000); /* larger than a first read: the answer comes in pieces */
  char url[64];
  url_of(url, sizeof(url), "127.0.0.1", lkv_peer_net_bound_port(net, 0));
  const char *urls[] = {url};
  expect_answer(urls, 1, 0, 100000);
  assert_int_equal(PT_GET(&s, queries), 1);

  /* An empty answer, and one of exactly the limit. */
  pthread_mutex_lock(&s.mu);
  s.answer_len = 0;
  pthread_mutex_unlock(&s.mu);
  expect_answer(urls, 1, 0, 0);
  pthread_mutex_lock(&s.mu);
  s.answer_len = LKV_PEER_MAX_QUERY_BLOB;
  pthread_mutex_unlock(&s.mu);
  expect_answer(urls, 1, 5000, LKV_PEER_MAX_QUERY_BLOB);
  assert_int_equal(PT_GET(&s, queries), 3);

  /* Queries left no trace of a member: no peer entry, no state change, no message. */
  assert_int_equal(lkv_peer_net_stats_all(net, NULL, 0), 0);
  assert_int_equal(PT_GET(&s, ups) + PT_GET(&s, downs), 0);
  assert_int_equal(PT_GET(&s, msgs), 0);

  /* And the net still serves a member as before. */
  pt_sink_t s8;
  pt_sink_init(&s8);
  lkv_peer_net_t *m8 = pt_start(8, CLUSTER, 0, &s8, 0);
  assert_non_null(m8);
  assert_int_equal(pt_add_peer(m8, MEMBER, "127.0.0.1", lkv_peer_net_bound_port(net, 0)), 0);
  pt_send_range(m8, MEMBER, 0, 20, 64);
  pt_expect(&s, 20, 3000);
  assert_int_equal(lkv_peer_net_stats_all(net, NULL, 0), 1);
  pt_stop_both(m8, net);
}

/* A dead URL and an https:// one are skipped; a host name is resolved ("localhost": perhaps ::1 first,
 * where nobody listens, then 127.0.0.1). */
static void test_dead_then_live(void **state) {
  (void)state;
  pt_sink_t s;
  lkv_peer_net_t *net = answering(&s, 300);
  int port = lkv_peer_net_bound_port(net, 0);
  char dead[64], tls[64], live[64];
  url_of(dead, sizeof(dead), "127.0.0.1", pt_free_port());
  snprintf(tls, sizeof(tls), "https://127.0.0.1:%d", port);
  url_of(live, sizeof(live), "localhost", port);
  const char *urls[] = {dead, tls, live};
  expect_answer(urls, 3, 0, 300);
  assert_int_equal(PT_GET(&s, queries), 1);
  lkv_peer_net_stop(net);
}

static void test_ipv6_literal(void **state) {
  (void)state;
  pt_sink_t s;
  pt_sink_init(&s);
  s.serve_queries = 1;
  s.answer_len = 12;
  lkv_peer_net_t *net = pt_start_v6_or_skip(MEMBER, CLUSTER, &s);
  char url[64];
  url_of(url, sizeof(url), "[::1]", lkv_peer_net_bound_port(net, 0));
  const char *urls[] = {url};
  expect_answer(urls, 1, 0, 12);
  lkv_peer_net_stop(net);
}

/* Nothing answers: etcd's message, then what each URL gave. */
static void test_all_dead(void **state) {
  (void)state;
  char a[64], b[64], want[128], err[1024];
  url_of(a, sizeof(a), "127.0.0.1", pt_free_port());
  url_of(b, sizeof(b), "127.0.0.1", pt_free_port());
  const char *urls[] = {a, "https://127.0.0.1:2380", b, "ftp://x"};
  expect_failure(urls, 4, 0, err, sizeof(err));
  snprintf(want, sizeof(want), "%s: Connection refused; https://", a);
  expect_in(err, want);
  expect_in(
      err,
      "https://127.0.0.1:2380: https:// needs the peer TLS flags (--peer-cert-file and --peer-key-file, "
      "or --peer-auto-tls); ");
  snprintf(want, sizeof(want), "; %s: Connection refused; ", b);
  expect_in(err, want);
  expect_in(err, "ftp://x: not a peer URL (http://host:port))");

  /* A short err is cut, still terminated; no err at all is fine. */
  char small[16];
  uint64_t cid;
  uint8_t *blob;
  size_t len;
  assert_int_equal(lkv_peer_query(urls, 1, 0, NULL, &cid, &blob, &len, small, sizeof(small)), LKV_EIO);
  assert_int_equal(strlen(small), sizeof(small) - 1);
  assert_memory_equal(small, PREFIX, sizeof(small) - 1);
  assert_int_equal(lkv_peer_query(urls, 1, 0, NULL, &cid, &blob, &len, NULL, 0), LKV_EIO);
  /* Arguments. */
  assert_int_equal(lkv_peer_query(NULL, 1, 0, NULL, &cid, &blob, &len, err, sizeof(err)), LKV_EINVAL);
  assert_int_equal(lkv_peer_query(urls, 0, 0, NULL, &cid, &blob, &len, err, sizeof(err)), LKV_EINVAL);
  assert_int_equal(lkv_peer_query(urls, 1, 0, NULL, &cid, NULL, &len, err, sizeof(err)), LKV_EINVAL);
}

/* A member that cannot answer says why; the next URL is tried. */
static void test_refused(void **state) {
  (void)state;
  pt_sink_t s0, s1, s2;
  pt_sink_init(&s0); /* no on_query */
  lkv_peer_net_t *none = pt_start(MEMBER, CLUSTER, 0, &s0, 0);
  assert_non_null(none);
  lkv_peer_net_t *failing = answering(&s1, 10);
  s1.answer_rv = LKV_ENOMEM;
  lkv_peer_net_t *huge = answering(&s2, LKV_PEER_MAX_QUERY_BLOB + 1);
  char u0[64], u1[64], u2[64], err[1024];
  url_of(u0, sizeof(u0), "127.0.0.1", lkv_peer_net_bound_port(none, 0));
  url_of(u1, sizeof(u1), "127.0.0.1", lkv_peer_net_bound_port(failing, 0));
  url_of(u2, sizeof(u2), "127.0.0.1", lkv_peer_net_bound_port(huge, 0));
  const char *urls[] = {u0, u1, u2};
  expect_failure(urls, 3, 0, err, sizeof(err));
  char want[256];
  snprintf(want, sizeof(want), "%s: refused: this member does not answer membership queries; ", u0);
  expect_in(err, want);
  snprintf(want, sizeof(want), "%s: refused: membership query failed: out of memory; ", u1);
  expect_in(err, want);
  snprintf(want, sizeof(want), "%s: refused: membership query failed: answer of %u bytes (limit %u))", u2,
           LKV_PEER_MAX_QUERY_BLOB + 1, LKV_PEER_MAX_QUERY_BLOB);
  expect_in(err, want);
  assert_int_equal(PT_GET(&s1, queries), 1);
  assert_int_equal(PT_GET(&s2, queries), 1);

  /* A refusal is skipped for a member that answers. */
  pthread_mutex_lock(&s1.mu);
  s1.answer_rv = 0;
  pthread_mutex_unlock(&s1.mu);
  const char *then[] = {u0, u1};
  expect_answer(then, 2, 0, 10);
  assert_int_equal(lkv_peer_net_stats_all(none, NULL, 0), 0);
  pt_stop_both(none, failing);
  lkv_peer_net_stop(huge);
}

/* A listener that never answers (the kernel completes the connection; nobody accepts it). */
static int silent_listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(fd, 8), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static void test_timeout(void **state) {
  (void)state;
  int port, fd = silent_listener(&port);
  char silent[64], err[512];
  url_of(silent, sizeof(silent), "127.0.0.1", port);
  const char *urls[] = {silent};
  uint64_t t0 = pt_now_ms();
  expect_failure(urls, 1, 300, err, sizeof(err));
  uint64_t took = pt_now_ms() - t0;
  assert_true(took >= 290 && took < 2000);
  expect_in(err, ": no answer in time)");

  pt_sink_t s;
  lkv_peer_net_t *net = answering(&s, 5);
  char live[64];
  url_of(live, sizeof(live), "127.0.0.1", lkv_peer_net_bound_port(net, 0));
  const char *then[] = {silent, live};
  t0 = pt_now_ms();
  expect_answer(then, 2, 300, 5);
  assert_true(pt_now_ms() - t0 >= 290);
  lkv_peer_net_stop(net);
  close(fd);
}

/* Sends a query hello of version v on a raw connection and reads the whole answer into buf. */
static size_t raw_query(int port, uint8_t v, uint8_t *buf, size_t cap, int *fd_out) {
  int fd = pt_raw_connect(port);
  assert_true(fd >= 0);
  lkv__peer_hello_t h = {.version = v, .query = 1};
  uint8_t hello[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, hello);
  assert_int_equal(write(fd, hello, sizeof(hello)), sizeof(hello));
  int eof = 0;
  size_t got = 0;
  while (!eof && got < cap) got += pt_raw_read(fd, buf + got, cap - got, 3000, &eof);
  *fd_out = fd;
  return got;
}

/* The wire as peer.h describes it: an OK reply with the acceptor's ids, one frame, then the close; a
 * newer version's query refused as a member's hello would be. */
static void test_wire(void **state) {
  (void)state;
  pt_sink_t s;
  lkv_peer_net_t *net = answering(&s, 33);
  int port = lkv_peer_net_bound_port(net, 0), fd;
  uint8_t buf[2048];
  size_t got = raw_query(port, LKV_PEER_PROTOCOL_VERSION, buf, sizeof(buf), &fd);
  close(fd);
  assert_int_equal(got, LKV__PEER_REPLY_HEAD + LKV__PEER_FRAME_HEAD + 33); /* and then end of stream */
  lkv__peer_reply_t r;
  const uint8_t *blob;
  size_t blob_len, used;
  assert_int_equal(lkv__peer_answer_decode(buf, got, LKV_PEER_MAX_QUERY_BLOB, &r, &blob, &blob_len, &used),
                   0);
  assert_int_equal(r.status, LKV__PEER_OK);
  assert_int_equal(r.version, LKV_PEER_PROTOCOL_VERSION);
  assert_true(r.cluster_id == CLUSTER && r.member_id == MEMBER);
  assert_int_equal(blob_len, 33);
  assert_int_equal(blob[32], pt_answer_byte(32));

  got = raw_query(port, LKV_PEER_PROTOCOL_VERSION + 1, buf, sizeof(buf), &fd);
  close(fd);
  assert_int_equal(lkv__peer_answer_decode(buf, got, LKV_PEER_MAX_QUERY_BLOB, &r, &blob, &blob_len, &used),
                   0);
  assert_int_equal(used, got);
  assert_int_equal(r.status, LKV__PEER_UNSUPPORTED_VERSION);
  assert_null(blob);
  assert_int_equal(PT_GET(&s, queries), 1);
  lkv_peer_net_stop(net);
}

/* A querier that does not read its answer does not hold the connection (nor the blob) until stop: the
 * acceptor abandons it after its hello deadline (5 s). (On kernels that apply TCP_USER_TIMEOUT to
 * zero-window probes the 5 s user timeout of peer sockets ends it too.) */
static void test_unread_answer(void **state) {
  (void)state;
  pt_sink_t s;
  lkv_peer_net_t *net = answering(&s, LKV_PEER_MAX_QUERY_BLOB);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int small = 2048; /* a small window, so the answer cannot all sit in the kernel */
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)lkv_peer_net_bound_port(net, 0));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  lkv__peer_hello_t h = {.version = LKV_PEER_PROTOCOL_VERSION, .query = 1};
  uint8_t hello[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, hello);
  assert_int_equal(write(fd, hello, sizeof(hello)), sizeof(hello));
  assert_true(PT_WAIT(&s, s.queries == 1, 3000));
  sleep(7);
  size_t cap = LKV_PEER_MAX_QUERY_BLOB + 64, got = 0;
  uint8_t *buf = malloc(cap);
  int eof = 0;
  uint64_t t0 = pt_now_ms();
  while (!eof && got < cap && pt_now_ms() - t0 < 3000)
    got += pt_raw_read(fd, buf + got, cap - got, 500, &eof);
  assert_true(eof);
  assert_true(got < LKV__PEER_REPLY_HEAD + LKV__PEER_FRAME_HEAD + LKV_PEER_MAX_QUERY_BLOB);
  free(buf);
  close(fd);
  lkv_peer_net_stop(net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answer),       cmocka_unit_test(test_dead_then_live),
      cmocka_unit_test(test_ipv6_literal), cmocka_unit_test(test_all_dead),
      cmocka_unit_test(test_refused),      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_wire),         cmocka_unit_test(test_unread_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
