/* Peer transport between real nets on loopback: order, volume, large messages, queueing, reconnects, DNS,
 * IPv6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <netdb.h>

#include "common/clock.h"
#include "common/error.h"
#include "peer_testutil.h"

#define CLUSTER 0xc1u

/* Ten thousand small messages and a few multi-megabyte ones each way, interleaved, from two threads. */
typedef struct {
  lkv_peer_net_t *net;
  uint64_t to;
} sender_t;

#define SMALL 10000
#define BIG_LEN ((size_t)3 << 20)

static void *send_mix(void *arg) {
  sender_t *s = arg;
  uint64_t seq = 0;
  pt_send_range(s->net, s->to, seq, SMALL / 2, 40), seq += SMALL / 2;
  pt_send_range(s->net, s->to, seq, 1, BIG_LEN), seq += 1;
  pt_send_range(s->net, s->to, seq, SMALL / 2, 100), seq += SMALL / 2;
  pt_send_range(s->net, s->to, seq, 2, BIG_LEN + 12345), seq += 2;
  pt_send_range(s->net, s->to, seq, 1, 8); /* the shortest test message */
  return NULL;
}

static void test_both_ways(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  assert_int_equal(pt_add_peer(t.a, 2, "127.0.0.1", lkv_peer_net_bound_port(t.b, 0)), 0);
  assert_int_equal(pt_add_peer(t.b, 1, "127.0.0.1", lkv_peer_net_bound_port(t.a, 0)), 0);
  assert_int_equal(lkv_peer_net_bound_port(t.a, 1), -1);

  sender_t ta = {t.a, 2}, tb = {t.b, 1};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, send_mix, &ta);
  pthread_create(&t2, NULL, send_mix, &tb);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  const uint64_t total = SMALL + 4;
  assert_true(PT_WAIT(&t.sb, t.sb.msgs == total, 8000));
  assert_true(PT_WAIT(&t.sa, t.sa.msgs == total, 8000));
  assert_int_equal(PT_GET(&t.sb, order_errors), 0);
  assert_int_equal(PT_GET(&t.sb, content_errors), 0);
  assert_int_equal(PT_GET(&t.sa, order_errors), 0);
  assert_int_equal(PT_GET(&t.sa, content_errors), 0);
  assert_int_equal(PT_GET(&t.sb, last_from), 1);
  assert_int_equal(PT_GET(&t.sa, last_from), 2);
  assert_true(PT_GET(&t.sa, ups) == 1 && PT_GET(&t.sb, ups) == 1);

  lkv_peer_stats_t st;
  assert_true(pt_wait_sent(t.a, 2, total, 3000, &st));
  assert_int_equal(st.msgs_dropped, 0);
  assert_int_equal(st.queued_bytes, 0);
  assert_int_equal(st.connected, 1);
  assert_true(st.writes < total); /* at least some frames went out together */
  assert_int_equal(lkv_peer_net_stats(t.b, 1, &st), 0);
  assert_int_equal(st.msgs_received, total);
  assert_int_equal(st.bytes_received, PT_GET(&t.sb, bytes));
  assert_int_equal(lkv_peer_net_stats(t.a, 99, &st), LKV_ENOENT);
  lkv_peer_stats_t all[4];
  assert_int_equal(lkv_peer_net_stats_all(t.a, all, 4), 1);
  assert_int_equal(all[0].id, 2);
  pt_pair_stop(&t);
}

/* A peer that starts later gets what was queued meanwhile, in few writes; on_peer_state says down, then up.
 */
static void test_peer_starts_later(void **state) {
  (void)state;
  pt_sink_t sa, sb;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  int port = pt_free_port();
  assert_true(port > 0);
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 0);
  assert_non_null(a);
  assert_int_equal(pt_add_peer(a, 2, "127.0.0.1", port), 0);
  pt_send_range(a, 2, 0, 10000, 64);
  assert_true(PT_WAIT(&sa, sa.downs == 1, 3000));
  assert_int_equal(PT_GET(&sa, last_state), 0);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.queued_bytes, 10000 * 64);
  assert_int_equal(st.connected, 0);
  assert_true(st.dial_failures >= 1);

  lkv_peer_net_t *b = pt_start(2, CLUSTER, port, &sb, 0);
  assert_non_null(b);
  pt_expect(&sb, 10000, 5000);
  assert_true(PT_WAIT(&sa, sa.ups == 1, 1000));
  assert_int_equal(PT_GET(&sa, downs), 1); /* reported once however many retries failed */
  assert_true(pt_wait_sent(a, 2, 10000, 3000, &st));
  /* Coalesced: batches of up to 1024 frames, not one write per message. */
  assert_true(st.writes <= 20);
  pt_stop_both(a, b);
}

/* Beyond max_queue_bytes: LKV_EAGAIN and a drop counted; what was accepted still arrives. */
static void test_queue_bound(void **state) {
  (void)state;
  pt_sink_t sa, sb;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  int port = pt_free_port();
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 100000);
  assert_non_null(a);
  assert_int_equal(pt_add_peer(a, 2, "127.0.0.1", port), 0);
  pt_send_range(a, 2, 0, 100, 1000);
  uint8_t *m = pt_msg(100, 1000);
  assert_int_equal(lkv_peer_net_send(a, 2, m, 1000), LKV_EAGAIN);
  assert_int_equal(lkv_peer_net_send(a, 2, m, 1), LKV_EAGAIN);
  free(m);
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.msgs_dropped, 2);
  assert_int_equal(st.queued_bytes, 100000);

  lkv_peer_net_t *b = pt_start(2, CLUSTER, port, &sb, 0);
  assert_non_null(b);
  pt_expect(&sb, 100, 5000);
  assert_true(pt_wait_sent(a, 2, 100, 3000, &st)); /* the queue empties as the writes complete */
  /* Drained: room again. */
  pt_send_range(a, 2, 100, 50, 1000);
  pt_expect(&sb, 150, 3000);
  pt_stop_both(a, b);
}

/* The receiver stops and restarts on the same port: the sender reconnects; what it sent while the peer was
 * down (after it noticed) arrives at the new one. */
static void test_reconnect_after_restart(void **state) {
  (void)state;
  pt_sink_t sa, sb, sb2;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  pt_sink_init(&sb2);
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 0), *b = pt_start(2, CLUSTER, 0, &sb, 0);
  assert_non_null(a);
  assert_non_null(b);
  int port = lkv_peer_net_bound_port(b, 0);
  assert_int_equal(pt_add_peer(a, 2, "127.0.0.1", port), 0);
  pt_send_range(a, 2, 0, 100, 200);
  assert_true(PT_WAIT(&sb, sb.msgs == 100, 3000));
  assert_true(PT_WAIT(&sa, sa.ups == 1, 1000));
  /* Up since the first connection (etcd's ActiveSince), and that time is forgotten when it breaks. */
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  uint64_t first_up = st.up_since_ms;
  assert_true(first_up != 0 && first_up <= lkv_clock_ms(CLOCK_MONOTONIC));

  lkv_peer_net_stop(b);
  assert_true(PT_WAIT(&sa, sa.downs == 1, 3000));
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.up_since_ms, 0);
  pt_send_range(a, 2, 0, 500, 200); /* the new member expects sequence numbers from 0 again */

  uint64_t restarted = lkv_clock_ms(CLOCK_MONOTONIC);
  b = pt_start(2, CLUSTER, port, &sb2, 0);
  assert_non_null(b);
  pt_expect(&sb2, 500, 5000);
  assert_true(PT_WAIT(&sa, sa.ups == 2, 1000));
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.connected, 1);
  assert_true(st.up_since_ms >= restarted && st.up_since_ms > first_up);
  pt_stop_both(a, b);
}

/* A host name is resolved when dialing ("localhost": maybe ::1 first, where nobody listens, then 127.0.0.1).
 */
static void test_localhost_name(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  assert_int_equal(pt_add_peer(t.a, 2, "localhost", lkv_peer_net_bound_port(t.b, 0)), 0);
  pt_send_range(t.a, 2, 0, 1000, 300);
  pt_expect(&t.sb, 1000, 5000);
  pt_pair_stop(&t);
}

/* A peer's URLs are dialed in turn: a dead first URL costs one failed attempt, then the second one works. */
static void test_urls_in_turn(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  char dead[64], good[64];
  snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", pt_free_port());
  snprintf(good, sizeof(good), "http://127.0.0.1:%d/", lkv_peer_net_bound_port(t.b, 0));
  const char *urls[] = {dead, good};
  assert_int_equal(lkv_peer_net_set_peer(t.a, 2, urls, 2), 0);
  pt_send_range(t.a, 2, 0, 100, 50);
  assert_true(PT_WAIT(&t.sb, t.sb.msgs == 100, 5000));
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(t.a, 2, &st), 0);
  assert_int_equal(st.dial_failures, 1);
  assert_int_equal(st.dials, 2);
  pt_pair_stop(&t);
}

/* A bracketed IPv6 literal, when the machine has IPv6 loopback. */
static void test_ipv6_literal(void **state) {
  (void)state;
  pt_sink_t sa, sb;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  lkv_peer_net_t *b = pt_start_v6_or_skip(2, CLUSTER, &sb);
  lkv_peer_net_t *a = pt_start_v6_or_skip(1, CLUSTER, &sa);
  assert_int_equal(pt_add_peer(a, 2, "[::1]", lkv_peer_net_bound_port(b, 0)), 0);
  pt_send_range(a, 2, 0, 1000, 300);
  pt_expect(&sb, 1000, 5000);
  pt_stop_both(a, b);
}

/* When "localhost" has both an IPv4 and an IPv6 address, a peer listening on ::1 alone is still reached:
 * every address of a name is tried in turn (whichever comes first). */
static void test_localhost_every_address(void **state) {
  (void)state;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  int v4 = 0, v6 = 0;
  if (getaddrinfo("localhost", NULL, &hints, &res) == 0) {
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      v4 |= ai->ai_family == AF_INET;
      v6 |= ai->ai_family == AF_INET6;
    }
    freeaddrinfo(res);
  }
  if (!v4 || !v6) {
    printf("skipped: localhost does not resolve to both 127.0.0.1 and ::1 here\n");
    skip();
  }
  pt_sink_t sa, sb;
  pt_sink_init(&sa);
  pt_sink_init(&sb);
  lkv_peer_net_t *b = pt_start_v6_or_skip(2, CLUSTER, &sb);
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 0);
  assert_non_null(a);
  assert_int_equal(pt_add_peer(a, 2, "localhost", lkv_peer_net_bound_port(b, 0)), 0);
  pt_send_range(a, 2, 0, 100, 30);
  assert_true(PT_WAIT(&sb, sb.msgs == 100, 5000));
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.dial_failures, 0); /* one attempt, two addresses */
  pt_stop_both(a, b);
}

/* A name that does not resolve is a failed dial (reported down); URLs replaced meanwhile are used from the
 * next attempt. */
static void test_unresolvable_then_replaced(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  const char *bad[] = {"http://no-such-member.invalid:2380"}; /* RFC 6761: never resolves */
  assert_int_equal(lkv_peer_net_set_peer(t.a, 2, bad, 1), 0);
  pt_send_range(t.a, 2, 0, 10, 30);
  if (!PT_WAIT(&t.sa, t.sa.downs == 1, 8000)) {
    pt_pair_stop(&t); /* also covers stopping while a resolution is pending */
    printf("skipped: the resolver did not answer for a .invalid name within 8 s\n");
    skip();
  }
  assert_int_equal(pt_add_peer(t.a, 2, "127.0.0.1", lkv_peer_net_bound_port(t.b, 0)), 0);
  pt_expect(&t.sb, 10, 5000);
  assert_int_equal(PT_GET(&t.sa, ups), 1);
  pt_pair_stop(&t);
}

/* Stopping with megabytes queued and in flight on both sides frees everything (the ASan build checks). */
static void test_stop_midway(void **state) {
  (void)state;
  pt_pair_t t;
  pt_pair_start(&t, CLUSTER, CLUSTER);
  assert_int_equal(pt_add_peer(t.a, 2, "127.0.0.1", lkv_peer_net_bound_port(t.b, 0)), 0);
  assert_int_equal(pt_add_peer(t.b, 1, "127.0.0.1", lkv_peer_net_bound_port(t.a, 0)), 0);
  pt_send_range(t.a, 2, 0, 20, BIG_LEN);
  pt_send_range(t.b, 1, 0, 20, BIG_LEN);
  assert_true(PT_WAIT(&t.sb, t.sb.msgs >= 1, 5000));
  lkv_peer_net_stop(t.b); /* while a still writes to it */
  lkv_peer_net_stop(t.a);
  assert_int_equal(PT_GET(&t.sb, order_errors), 0);
  assert_int_equal(PT_GET(&t.sb, content_errors), 0);
}

/* The API's refusals. */
static void test_api_errors(void **state) {
  (void)state;
  pt_sink_t sa;
  pt_sink_init(&sa);
  lkv_peer_net_t *a = pt_start(1, CLUSTER, 0, &sa, 0);
  assert_non_null(a);
  const char *tls[] = {"https://127.0.0.1:2380"};
  assert_int_equal(lkv_peer_net_set_peer(a, 2, tls, 1), LKV_EINVAL); /* no TLS context: never in clear */
  const char *bad[] = {"http://127.0.0.1"};
  assert_int_equal(lkv_peer_net_set_peer(a, 2, bad, 1), LKV_EINVAL);
  const char *good[] = {"http://127.0.0.1:9", "http://[::1]:9"};
  assert_int_equal(lkv_peer_net_set_peer(a, 1, good, 2), LKV_EINVAL); /* ourselves */
  assert_int_equal(lkv_peer_net_set_peer(a, 0, good, 2), LKV_EINVAL);
  assert_int_equal(lkv_peer_net_set_peer(a, 2, good, 0), LKV_EINVAL);
  uint8_t byte = 0;
  assert_int_equal(lkv_peer_net_send(a, 2, &byte, 1), LKV_ENOENT); /* https was refused: not a peer */
  assert_int_equal(lkv_peer_net_set_peer(a, 2, good, 2), 0);
  assert_int_equal(lkv_peer_net_send(a, 2, &byte, 1), 0);
  assert_int_equal(lkv_peer_net_send(a, 2, &byte, (size_t)LKV_PEER_MAX_FRAME + 1), LKV_EMSGSIZE);
  assert_int_equal(lkv_peer_net_remove_peer(a, 2), 0);
  assert_int_equal(lkv_peer_net_send(a, 2, &byte, 1), LKV_ENOENT);
  assert_int_equal(lkv_peer_net_set_peer(a, 2, good, 2), LKV_EPERM); /* ids are never reused */
  lkv_peer_stats_t st;
  assert_int_equal(lkv_peer_net_stats(a, 2, &st), 0);
  assert_int_equal(st.removed, 1);
  assert_int_equal(st.msgs_dropped, 1); /* the queued byte, discarded by the removal */
  assert_int_equal(st.queued_bytes, 0);
  assert_int_equal(lkv_peer_net_remove_peer(a, 1), LKV_EINVAL);

  lkv_listen_addr_t name = {"localhost", 0};
  lkv_peer_net_options_t o = {.addrs = &name,
                              .n_addrs = 1,
                              .cluster_id = CLUSTER,
                              .member_id = 3,
                              .arg = &sa,
                              .on_message = pt_on_message};
  lkv_peer_net_t *x = NULL;
  assert_int_equal(lkv_peer_net_start(&x, &o), LKV_EINVAL); /* listen hosts are numeric */
  lkv_listen_addr_t taken = {"127.0.0.1", lkv_peer_net_bound_port(a, 0)};
  o.addrs = &taken;
  assert_int_equal(lkv_peer_net_start(&x, &o), -EADDRINUSE);
  o.member_id = 0;
  assert_int_equal(lkv_peer_net_start(&x, &o), LKV_EINVAL);
  assert_null(x);
  lkv_peer_net_stop(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_both_ways),
      cmocka_unit_test(test_peer_starts_later),
      cmocka_unit_test(test_queue_bound),
      cmocka_unit_test(test_reconnect_after_restart),
      cmocka_unit_test(test_urls_in_turn),
      cmocka_unit_test(test_localhost_name),
      cmocka_unit_test(test_ipv6_literal),
      cmocka_unit_test(test_localhost_every_address),
      cmocka_unit_test(test_unresolvable_then_replaced),
      cmocka_unit_test(test_stop_midway),
      cmocka_unit_test(test_api_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
