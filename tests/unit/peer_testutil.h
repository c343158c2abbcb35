/* Helpers for the peer transport tests: a sink that checks what arrives (and answers queries), nets on
 * loopback, raw sockets. */
#ifndef LKV_TESTS_PEER_TESTUTIL_H
#define LKV_TESTS_PEER_TESTUTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "transport/peer.h"

/* What one net received and saw. Messages are test messages (pt_msg): a sequence number and a pattern
 * derived from it, checked on arrival, so loss of order or bytes is caught where it happens. */
typedef struct {
  pthread_mutex_t mu;
  uint64_t msgs, bytes;
  uint64_t next_seq[16]; /* the sequence number expected next, per sender (indexed by its id % 16) */
  int order_errors;      /* a message arrived out of order or twice */
  int content_errors;    /* a message's bytes were not what was sent */
  uint64_t last_from;
  int ups, downs; /* on_peer_state events */
  int last_state; /* last on_peer_state up value, -1 none */
  int removed;    /* on_removed calls */
  /* Membership queries: set serve_queries before the net starts to give it on_query (pt_on_query), which
   * answers answer_len bytes of pt_answer_byte, or fails with answer_rv when that is not 0. */
  int serve_queries;
  size_t answer_len;
  int answer_rv;
  int queries; /* on_query calls */
  /* "Removed" refusals checked by the caller: set check_removals before the net starts to give it
   * on_removal_refused (pt_on_removal_refused), which counts them and keeps the last one's proof. */
  int check_removals;
  int refusals;
  uint64_t refused_by;
  uint8_t proof[LKV_PEER_MAX_PROOF];
  size_t proof_len;
} pt_sink_t;

static inline void pt_sink_init(pt_sink_t *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
  s->last_state = -1;
}

static inline uint8_t pt_byte(uint64_t seq, size_t i) {
  return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

/* A test message of len bytes (>= 8): seq (little-endian) then the pattern. Caller frees. */
static inline uint8_t *pt_msg(uint64_t seq, size_t len) {
  uint8_t *m = malloc(len);
  for (int i = 0; i < 8; i++) m[i] = (uint8_t)(seq >> (8 * i));
  for (size_t i = 8; i < len; i++) m[i] = pt_byte(seq, i);
  return m;
}

static inline void pt_on_message(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  pt_sink_t *s = arg;
  uint64_t seq = 0;
  int bad = len < 8;
  for (int i = 7; i >= 0 && !bad; i--) seq = (seq << 8) | data[i];
  for (size_t i = 8; i < len && !bad; i++) bad = data[i] != pt_byte(seq, i);
  pthread_mutex_lock(&s->mu);
  if (bad) s->content_errors++;
  if (!bad && seq != s->next_seq[from % 16]) s->order_errors++;
  s->next_seq[from % 16] = seq + 1;
  s->msgs++;
  s->bytes += len;
  s->last_from = from;
  pthread_mutex_unlock(&s->mu);
}

static inline void pt_on_state(void *arg, uint64_t peer, int up) {
  (void)peer;
  pt_sink_t *s = arg;
  pthread_mutex_lock(&s->mu);
  if (up)
    s->ups++;
  else
    s->downs++;
  s->last_state = up;
  pthread_mutex_unlock(&s->mu);
}

static inline void pt_on_removed(void *arg) {
  pt_sink_t *s = arg;
  pthread_mutex_lock(&s->mu);
  s->removed++;
  pthread_mutex_unlock(&s->mu);
}

static inline void pt_on_removal_refused(void *arg, uint64_t by, const uint8_t *proof, size_t len) {
  pt_sink_t *s = arg;
  pthread_mutex_lock(&s->mu);
  s->refusals++;
  s->refused_by = by;
  if (len && len <= sizeof(s->proof)) memcpy(s->proof, proof, len);
  s->proof_len = len;
  pthread_mutex_unlock(&s->mu);
}

static inline uint8_t pt_answer_byte(size_t i) {
  return (uint8_t)(i * 31 + (i >> 10) + 5);
}

static inline int pt_on_query(void *arg, uint8_t **blob, size_t *len) {
  pt_sink_t *s = arg;
  pthread_mutex_lock(&s->mu);
  s->queries++;
  size_t n = s->answer_len;
  int rv = s->answer_rv;
  pthread_mutex_unlock(&s->mu);
  if (rv != 0) return rv;
  uint8_t *b = n ? malloc(n) : NULL;
  if (n && !b) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) b[i] = pt_answer_byte(i);
  *blob = b;
  *len = n;
  return 0;
}

static inline uint64_t pt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits up to ms for expr (read under the sink's lock) to hold; evaluates to whether it did. */
#define PT_WAIT(s, expr, ms)                           \
  ({                                                   \
    uint64_t pt_deadline_ = pt_now_ms() + (ms);        \
    int pt_ok_ = 0;                                    \
    for (;;) {                                         \
      pthread_mutex_lock(&(s)->mu);                    \
      pt_ok_ = (expr);                                 \
      pthread_mutex_unlock(&(s)->mu);                  \
      if (pt_ok_ || pt_now_ms() > pt_deadline_) break; \
      usleep(2000);                                    \
    }                                                  \
    pt_ok_;                                            \
  })

/* Waits up to ms for net's count of messages handed to the kernel for peer `to` to reach n, then fills *st.
 * The count rises when the write completes on the net's loop, which may be after the receiver has them all. */
static inline int pt_wait_sent(lkv_peer_net_t *net, uint64_t to, uint64_t n, int ms, lkv_peer_stats_t *st) {
  uint64_t deadline = pt_now_ms() + (uint64_t)ms;
  for (;;) {
    if (lkv_peer_net_stats(net, to, st) != 0) return 0;
    if (st->msgs_sent >= n || pt_now_ms() > deadline) return st->msgs_sent == n;
    usleep(2000);
  }
}

/* Reads field of a sink under its lock. */
#define PT_GET(s, field)                    \
  ({                                        \
    pthread_mutex_lock(&(s)->mu);           \
    __typeof__((s)->field) v_ = (s)->field; \
    pthread_mutex_unlock(&(s)->mu);         \
    v_;                                     \
  })

/* Starts a net with member id, cluster id, listening on host:port (port 0: free), reporting to sink. */
static inline lkv_peer_net_t *pt_start_on(uint64_t id, uint64_t cluster, const char *host, int port,
                                          pt_sink_t *s, size_t max_queue, int *rv_out) {
  lkv_listen_addr_t a = {host, port};
  lkv_peer_net_options_t o = {.addrs = &a,
                              .n_addrs = 1,
                              .cluster_id = cluster,
                              .member_id = id,
                              .max_queue_bytes = max_queue,
                              .arg = s,
                              .on_message = pt_on_message,
                              .on_peer_state = pt_on_state,
                              .on_removed = pt_on_removed,
                              .on_removal_refused = s->check_removals ? pt_on_removal_refused : NULL,
                              .on_query = s->serve_queries ? pt_on_query : NULL};
  lkv_peer_net_t *n = NULL;
  int rv = lkv_peer_net_start(&n, &o);
  if (rv_out) *rv_out = rv;
  return rv == 0 ? n : NULL;
}

static inline lkv_peer_net_t *pt_start(uint64_t id, uint64_t cluster, int port, pt_sink_t *s,
                                       size_t max_queue) {
  int rv;
  lkv_peer_net_t *n = pt_start_on(id, cluster, "127.0.0.1", port, s, max_queue, &rv);
  if (!n) fprintf(stderr, "lkv_peer_net_start: %d\n", rv);
  return n;
}

/* A net on [::1], or the test is skipped (with the reason printed) when the machine has no IPv6 loopback.
 * Needs cmocka.h. */
static inline lkv_peer_net_t *pt_start_v6_or_skip(uint64_t id, uint64_t cluster, pt_sink_t *s) {
  int rv;
  lkv_peer_net_t *n = pt_start_on(id, cluster, "::1", 0, s, 0, &rv);
  if (!n) {
    printf("skipped: no IPv6 loopback here (binding [::1] failed: %s)\n", lkv_strerror(rv));
    skip();
  }
  return n;
}

/* Makes `to` (at host:port) a peer of n. */
static inline int pt_add_peer(lkv_peer_net_t *n, uint64_t to, const char *host, int port) {
  char url[128];
  snprintf(url, sizeof(url), "http://%s:%d", host, port);
  const char *urls[] = {url};
  return lkv_peer_net_set_peer(n, to, urls, 1);
}

/* Sends test messages [first, first+n) of len bytes from net to peer `to`; each must be accepted. Needs
 * cmocka.h. */
static inline void pt_send_range(lkv_peer_net_t *net, uint64_t to, uint64_t first, uint64_t n, size_t len) {
  for (uint64_t seq = first; seq < first + n; seq++) {
    uint8_t *m = pt_msg(seq, len);
    int rv = lkv_peer_net_send(net, to, m, len);
    free(m);
    if (rv != 0) fail_msg("send %llu: %d", (unsigned long long)seq, rv);
  }
}

/* Two nets on 127.0.0.1, member 1 (a, in cluster ca) and member 2 (b, in cluster cb), each with its sink. */
typedef struct {
  pt_sink_t sa, sb;
  lkv_peer_net_t *a, *b;
} pt_pair_t;

static inline void pt_pair_start(pt_pair_t *t, uint64_t ca, uint64_t cb) {
  pt_sink_init(&t->sa);
  pt_sink_init(&t->sb);
  t->a = pt_start(1, ca, 0, &t->sa, 0);
  t->b = pt_start(2, cb, 0, &t->sb, 0);
  assert_non_null(t->a);
  assert_non_null(t->b);
}

static inline void pt_stop_both(lkv_peer_net_t *a, lkv_peer_net_t *b) {
  lkv_peer_net_stop(a);
  lkv_peer_net_stop(b);
}

static inline void pt_pair_stop(pt_pair_t *t) {
  pt_stop_both(t->a, t->b);
}

/* Waits up to ms for the sink to have received n messages, and checks they came in order and intact. */
static inline void pt_expect(pt_sink_t *s, uint64_t n, int ms) {
  assert_true(PT_WAIT(s, s->msgs == n, ms));
  assert_int_equal(PT_GET(s, order_errors), 0);
  assert_int_equal(PT_GET(s, content_errors), 0);
}

/* A loopback port that was free a moment ago (bound and released). */
static inline int pt_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

/* A raw TCP client on 127.0.0.1:port, or -1. */
static inline int pt_raw_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Reads from fd until it has len bytes, EOF or ms pass. Returns the bytes read; *eof set on end of stream
 * (or a reset). */
static inline size_t pt_raw_read(int fd, uint8_t *buf, size_t len, int ms, int *eof) {
  size_t got = 0;
  uint64_t deadline = pt_now_ms() + (uint64_t)ms;
  *eof = 0;
  while (got < len) {
    uint64_t now = pt_now_ms();
    if (now >= deadline) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(deadline - now)) <= 0) break;
    ssize_t r = read(fd, buf + got, len - got);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      *eof = 1;
      break;
    }
    got += (size_t)r;
  }
  return got;
}

#endif
