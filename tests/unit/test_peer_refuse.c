/* Peer transport refusals on loopback: cluster id, removed member, wrong recipient, versions, garbage
 * clients. */
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

#define CLUSTER 0xc1u

static uint64_t dial_failures(lkv_peer_net_t *n, uint64_t id) {
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(n, id, &st), 0);
  return st.dial_failures;
}

/* Waits up to ms for our dials to peer id to have failed at least k times. */
static int wait_failures(lkv_peer_net_t *n, uint64_t id, uint64_t k, int ms) {
  uint64_t deadline = pt_now_ms() + (uint64_t)ms;
  while (dial_failures(n, id) < k) {
    if (pt_now_ms() > deadline) return 0;
    usleep(5000);
  }
  return 1;
}

static void test_cluster_id_mismatch(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER + 1);
  assert_int_equal(pt_add_peer(t.a, 2, "127.0.0.1", lkv_peer_net_bound_port(t.b, 0)), 0);
  pt_send_range(t.a, 2, 0, 10, 64);
  /* Refused again and again (the dialer keeps retrying), logged once; nothing delivered. */
  assert_true(wait_failures(t.a, 2, 3, 5000));
  assert_int_equal(PT_GET(&t.sb, msgs), 0);
  assert_int_equal(PT_GET(&t.sa, ups), 0);
  assert_int_equal(PT_GET(&t.sa, downs), 1);
  assert_int_equal(PT_GET(&t.sa, removed), 0);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(t.a, 2, &st), 0);
  assert_int_equal(st.queued_bytes, 640); /* still queued: a refusal is not a delivery */
  assert_int_equal(lkv_peer_net_stats(t.b, 1, &st), LKV_ENOENT);
  pt_pair_stop(&t);
}

static void test_removed_member(void **state) {
  (void)state;
  pt_sink_t sa, sb, sa2;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  pt_sink_init(&sa2);
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 0), *b = pt_start(2, CLUSTER, 0, &sb, 0);
  assert_non_null(a);
  assert_non_null(b);
  int port_b = lkv_peer_net_bound_port(b, 0);
  assert_int_equal(pt_add_peer(a, 2, "127.0.0.1", port_b), 0);
  assert_int_equal(pt_add_peer(b, 1, "127.0.0.1", lkv_peer_net_bound_port(a, 0)), 0);
  pt_send_range(a, 2, 0, 50, 64);
  pt_send_range(b, 1, 0, 50, 64);
  assert_true(PT_WAIT(&sb, sb.msgs == 50, 3000));
  assert_true(PT_WAIT(&sa, sa.msgs == 50, 3000));

  /* b removes a: a's connection is closed, its redial is refused as removed, and a learns it. */
  assert_int_equal(lkv_peer_net_remove_peer(b, 1), 0);
  assert_true(PT_WAIT(&sa, sa.removed == 1, 3000));
  uint8_t byte = 0;
  assert_int_equal(lkv_peer_net_send(a, 2, &byte, 1), LKV_EPERM);
  assert_int_equal(lkv_peer_net_send(b, 1, &byte, 1), LKV_ENOENT);
  assert_int_equal(PT_GET(&sb, msgs), 50);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(b, 1, &st), 0);
  assert_int_equal(st.removed, 1);
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.connected, 0);

  /* The removed member restarted (same id): refused at once, on_removed again, nothing delivered. */
  lkv_peer_net_stop(a);
  a = pt_start(1, CLUSTER, 0, &sa2, 0);
  assert_non_null(a);
  assert_int_equal(pt_add_peer(a, 2, "127.0.0.1", port_b), 0);
  pt_send_range(a, 2, 0, 5, 64);
  assert_true(PT_WAIT(&sa2, sa2.removed == 1, 3000));
  usleep(200000);
  assert_int_equal(PT_GET(&sa2, removed), 1); /* once */
  assert_int_equal(PT_GET(&sb, msgs), 50);
  assert_int_equal(dial_failures(a, 2), 1); /* no retry after "removed" */
  pt_stop_both(a, b);
}

static void test_wrong_recipient(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  /* a believes member 3 lives at b's address. */
  assert_int_equal(pt_add_peer(t.a, 3, "127.0.0.1", lkv_peer_net_bound_port(t.b, 0)), 0);
  pt_send_range(t.a, 3, 0, 10, 64);
  assert_true(wait_failures(t.a, 3, 2, 5000));
  assert_int_equal(PT_GET(&t.sb, msgs), 0);
  assert_int_equal(PT_GET(&t.sa, removed), 0);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(t.b, 1, &st), LKV_ENOENT); /* no entry for a refused sender */
  pt_pair_stop(&t);
}

/* A raw client's hello to member `to` of cluster `cluster`, from `from`. */
static int raw_hello(int port, uint64_t cluster, uint64_t from, uint64_t to, uint8_t version) {
  int fd = pt_raw_connect(port);
  assert_true(fd >= 0);
  lkv__peer_hello_t h = {.version = version, .cluster_id = cluster, .from = from, .to = to};
  uint8_t buf[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, buf);
  assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
  return fd;
}

/* Reads a whole reply from fd into r (text in buf). */
static void raw_reply(int fd, uint8_t *buf, size_t cap, lkv__peer_reply_t *r) {
  int eof;
  size_t got = pt_raw_read(fd, buf, LKV__PEER_REPLY_HEAD, 3000, &eof);
  assert_int_equal(got, LKV__PEER_REPLY_HEAD);
  size_t text = (size_t)buf[2] | (size_t)buf[3] << 8, used;
  assert_true(LKV__PEER_REPLY_HEAD + text <= cap);
  if (text) assert_int_equal(pt_raw_read(fd, buf + got, text, 3000, &eof), text);
  assert_int_equal(lkv__peer_reply_decode(buf, LKV__PEER_REPLY_HEAD + text, r, &used), 0);
}

/* Whether the server closes fd within ms. */
static int closed_by_server(int fd, int ms) {
  uint8_t junk[256];
  int eof = 0;
  uint64_t deadline = pt_now_ms() + (uint64_t)ms;
  while (!eof && pt_now_ms() < deadline) pt_raw_read(fd, junk, sizeof(junk), 100, &eof);
  return eof;
}

/* A refusal carrying the removal (status 6): a dialer that checks removals gets it and keeps dialing (the
 * refusal comes again), then the plain refusal once the proof is taken away; a dialer that does not (Raft
 * mode) stops on it as on status 2; a raw client reads the bytes as the reply's text. */
static void test_removed_with_proof(void **state) {
  (void)state;
  static const uint8_t proof[] = "a signed removal, opaque to the net";
  pt_sink_t sa, sb, sc;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  pt_sink_init(&sc);
  sa.check_removals = 1;
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 0), *b = pt_start(2, CLUSTER, 0, &sb, 0);
  assert_non_null(a);
  assert_non_null(b);
  int port_b = lkv_peer_net_bound_port(b, 0);
  uint8_t big[LKV_PEER_MAX_PROOF + 1] = {0};
  assert_int_equal(lkv_peer_net_remove_peer_proven(b, 1, big, sizeof(big)), LKV_EINVAL);
  assert_int_equal(lkv_peer_net_remove_peer_proven(b, 1, proof, sizeof(proof)), 0);
  assert_int_equal(pt_add_peer(a, 2, "127.0.0.1", port_b), 0);
  pt_send_range(a, 2, 0, 5, 64);
  assert_true(PT_WAIT(&sa, sa.refusals >= 3, 5000)); /* refused again and again: it keeps dialing */
  assert_int_equal(PT_GET(&sa, removed), 0);
  assert_int_equal(PT_GET(&sa, refused_by), 2);
  pthread_mutex_lock(&sa.mu);
  assert_int_equal(sa.proof_len, sizeof(proof));
  assert_memory_equal(sa.proof, proof, sizeof(proof));
  pthread_mutex_unlock(&sa.mu);
  uint8_t byte = 0;
  assert_int_equal(lkv_peer_net_send(a, 2, &byte, 1), 0); /* not stopped: still queued for b */
  assert_int_equal(PT_GET(&sb, msgs), 0);

  /* Removed again without proof: the plain refusal, handed over with none. */
  assert_int_equal(lkv_peer_net_remove_peer(b, 1), 0);
  int k = PT_GET(&sa, refusals);
  assert_true(PT_WAIT(&sa, sa.refusals > k + 1 && sa.proof_len == 0, 5000));
  assert_int_equal(PT_GET(&sa, removed), 0);

  /* A raw client sees status 6 with the bytes as its text. */
  assert_int_equal(lkv_peer_net_remove_peer_proven(b, 3, proof, sizeof(proof)), 0);
  int fd = raw_hello(port_b, CLUSTER, 3, 2, LKV_PEER_PROTOCOL_VERSION);
  uint8_t buf[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  lkv__peer_reply_t r;
  raw_reply(fd, buf, sizeof(buf), &r);
  assert_int_equal(r.status, LKV__PEER_REMOVED_PROOF);
  assert_int_equal(r.text_len, sizeof(proof));
  assert_memory_equal(r.text, proof, sizeof(proof));
  close(fd);

  /* A dialer that does not check (Raft mode) stops on it, once. */
  lkv_peer_net_t *c = pt_start(3, CLUSTER, 0, &sc, 0);
  assert_non_null(c);
  assert_int_equal(pt_add_peer(c, 2, "127.0.0.1", port_b), 0);
  assert_true(PT_WAIT(&sc, sc.removed == 1, 3000));
  assert_int_equal(lkv_peer_net_send(c, 2, &byte, 1), LKV_EPERM);
  lkv_peer_net_stop(c);
  pt_stop_both(a, b);
}

static void test_newer_version(void **state) {
  (void)state;
  pt_sink_t sb;
  pt_sink_init(&sb);
  lkv_peer_net_t *b = pt_start(2, CLUSTER, 0, &sb, 0);
  assert_non_null(b);
  int fd = raw_hello(lkv_peer_net_bound_port(b, 0), CLUSTER, 1, 2, 2);
  uint8_t buf[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  lkv__peer_reply_t r;
  raw_reply(fd, buf, sizeof(buf), &r);
  assert_int_equal(r.status, LKV__PEER_UNSUPPORTED_VERSION);
  assert_int_equal(r.version, LKV_PEER_PROTOCOL_VERSION);
  assert_int_equal(r.member_id, 2);
  const char *want = "unsupported peer protocol version 2";
  assert_int_equal(r.text_len, strlen(want));
  assert_memory_equal(r.text, want, r.text_len);
  assert_true(closed_by_server(fd, 2000));
  close(fd);
  lkv_peer_net_stop(b);
}

/* Junk, an oversized frame and a silent client are disconnected; a good peer keeps working meanwhile;
 * frames written in pieces (and one larger than the resting receive buffer) arrive whole. */
static void test_garbage_clients(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  int port = lkv_peer_net_bound_port(t.b, 0);
  assert_int_equal(pt_add_peer(t.a, 2, "127.0.0.1", port), 0);
  pt_send_range(t.a, 2, 0, 100, 64);
  assert_true(PT_WAIT(&t.sb, t.sb.msgs == 100, 3000));

  int silent = pt_raw_connect(port);
  assert_true(silent >= 0);
  uint64_t silent_since = pt_now_ms();

  int junk = pt_raw_connect(port);
  assert_true(junk >= 0);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(write(junk, http, strlen(http)), strlen(http));
  assert_true(closed_by_server(junk, 2000));
  close(junk);

  uint8_t buf[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  lkv__peer_reply_t r;
  int huge = raw_hello(port, CLUSTER, 7, 2, 1);
  raw_reply(huge, buf, sizeof(buf), &r);
  assert_int_equal(r.status, LKV__PEER_OK);
  assert_int_equal(r.member_id, 2);
  uint8_t head[4];
  lkv__peer_frame_head(0xffffffffu, head);
  assert_int_equal(write(huge, head, 4), 4);
  assert_true(closed_by_server(huge, 2000));
  close(huge);

  /* A raw sender from member 8: a small frame byte by byte, then 200 000 bytes in uneven pieces. */
  int slow = raw_hello(port, CLUSTER, 8, 2, 1);
  raw_reply(slow, buf, sizeof(buf), &r);
  assert_int_equal(r.status, LKV__PEER_OK);
  uint8_t *m0 = pt_msg(0, 20), *m1 = pt_msg(1, 200000);
  lkv__peer_frame_head(20, head);
  assert_int_equal(write(slow, head, 4), 4);
  for (size_t i = 0; i < 20; i++) {
    assert_int_equal(write(slow, m0 + i, 1), 1);
    usleep(1000);
  }
  lkv__peer_frame_head(200000, head);
  assert_int_equal(write(slow, head, 4), 4);
  for (size_t off = 0; off < 200000;) {
    size_t k = 200000 - off < 7777 ? 200000 - off : 7777;
    assert_int_equal(write(slow, m1 + off, k), (ssize_t)k);
    off += k;
  }
  free(m0);
  free(m1);

  /* The good peer never noticed. */
  pt_send_range(t.a, 2, 100, 100, 64);
  pt_expect(&t.sb, 202, 3000);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(t.b, 8, &st), 0);
  assert_int_equal(st.msgs_received, 2);
  assert_int_equal(st.bytes_received, 200020);

  /* The newest connection from a member wins: a second hello from 8 closes the first. */
  int again = raw_hello(port, CLUSTER, 8, 2, 1);
  raw_reply(again, buf, sizeof(buf), &r);
  assert_int_equal(r.status, LKV__PEER_OK);
  assert_true(closed_by_server(slow, 2000));
  close(slow);
  close(again);

  /* The silent client is closed once its hello is overdue (5 s, checked every second). */
  assert_true(closed_by_server(silent, 8000));
  assert_true(pt_now_ms() - silent_since >= 4500);
  close(silent);
  pt_send_range(t.a, 2, 200, 10, 64);
  assert_true(PT_WAIT(&t.sb, t.sb.msgs == 212, 3000));
  pt_pair_stop(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cluster_id_mismatch), cmocka_unit_test(test_removed_member),
      cmocka_unit_test(test_removed_with_proof),  cmocka_unit_test(test_wrong_recipient),
      cmocka_unit_test(test_newer_version),       cmocka_unit_test(test_garbage_clients),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
