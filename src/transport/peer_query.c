/* lkv_peer_query: a joining member asks running members for the cluster id and member list (blocking). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/grow.h"
#include "transport/peer.h"
#include "transport/peer_frame.h"
#include "transport/tls_internal.h"

/* It runs once, on the main thread, before any loop exists: plain blocking steps bounded by poll are
 * simpler than a libuv loop and need no thread. */

/* What the attempts so far gave, for the message when none answers. */
typedef struct {
  char *buf;
  size_t cap, len;
} why_t;

static void why_add(why_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_add(why_t *w, const char *fmt, ...) {
  if (!w->buf || w->len + 1 >= w->cap) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
  va_end(ap);
  if (k > 0) w->len = w->len + (size_t)k < w->cap ? w->len + (size_t)k : w->cap - 1;
}

/* Waits until fd is ready for events or the deadline (monotonic ms) passes. Returns 0 or a negative errno
 * (-ETIMEDOUT). */
static int wait_fd(int fd, short events, uint64_t deadline) {
  for (;;) {
    uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
    if (now >= deadline) return -ETIMEDOUT;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r > 0) return 0;
    if (r == 0) return -ETIMEDOUT;
    if (errno != EINTR) return -errno;
  }
}

/* A non-blocking socket connected to sa, or a negative errno. */
static int connect_to(const struct sockaddr_storage *sa, uint64_t deadline) {
  socklen_t sl = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int rv = 0;
  if (connect(fd, (const struct sockaddr *)sa, sl) != 0) {
    if (errno != EINPROGRESS) {
      rv = -errno;
    } else if ((rv = wait_fd(fd, POLLOUT, deadline)) == 0) {
      int soerr = 0;
      socklen_t l = sizeof(soerr);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) != 0) soerr = errno;
      rv = -soerr;
    }
  }
  if (rv != 0) {
    close(fd);
    return rv;
  }
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static int send_all(int fd, const uint8_t *b, size_t n, uint64_t deadline) {
  while (n) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL); /* a closed peer must not kill the process with SIGPIPE */
    if (k > 0) {
      b += k;
      n -= (size_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    int rv = wait_fd(fd, POLLOUT, deadline);
    if (rv != 0) return rv;
  }
  return 0;
}

/* Bytes received from fd, waiting until the deadline: > 0, 0 at the end of the stream, or a negative
 * errno (-ETIMEDOUT). */
static ssize_t recv_some(int fd, uint8_t *b, size_t cap, uint64_t deadline) {
  for (;;) {
    ssize_t k = recv(fd, b, cap, 0);
    if (k >= 0) return k;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    int rv = wait_fd(fd, POLLIN, deadline);
    if (rv != 0) return rv;
  }
}

/* The query's connection: the socket, and over it a TLS session for an https:// URL (its decrypted bytes
 * wait in plain until read). */
typedef struct stream_s {
  int fd;
  lkv__tls_conn_t *tls;
  uint8_t *out; /* ciphertext to send */
  size_t out_len, out_cap;
  uint8_t *plain;
  size_t plain_len, plain_off, plain_cap;
} stream_t;

static int keep_plain(void *arg, const uint8_t *data, size_t len) {
  stream_t *st = arg;
  void *p = st->plain;
  if (lkv_grow(&p, &st->plain_cap, st->plain_len + len, 1) != 0) return LKV_ENOMEM;
  st->plain = p;
  memcpy(st->plain + st->plain_len, data, len);
  st->plain_len += len;
  return 0;
}

/* Sends what the session has to send (handshake records, encrypted bytes). */
static int tls_flush(stream_t *st, uint64_t deadline) {
  st->out_len = 0;
  int rv = lkv__tls_conn_send(st->tls, NULL, NULL, &st->out, &st->out_len, &st->out_cap, 0);
  return rv != 0 ? rv : send_all(st->fd, st->out, st->out_len, deadline);
}

/* Receives ciphertext once and decrypts it. Returns 0, or the end of the stream (LKV_EPROTO), or an
 * error. */
static int tls_pull(stream_t *st, uint64_t deadline) {
  uint8_t buf[16384];
  ssize_t k = recv_some(st->fd, buf, sizeof(buf), deadline);
  if (k <= 0) return k == 0 ? LKV_EPROTO : (int)k;
  int rv = lkv__tls_conn_recv(st->tls, buf, (size_t)k, buf, sizeof(buf), keep_plain, st);
  int fv = tls_flush(st, deadline); /* the handshake's next records, or an alert */
  return rv != 0 ? rv : fv;
}

static int stream_send(stream_t *st, const uint8_t *b, size_t n, uint64_t deadline) {
  if (!st->tls) return send_all(st->fd, b, n, deadline);
  int rv = lkv__tls_conn_write(st->tls, b, n);
  return rv != 0 ? rv : tls_flush(st, deadline);
}

/* Like recv_some, through the session when there is one. */
static ssize_t stream_recv(stream_t *st, uint8_t *b, size_t cap, uint64_t deadline) {
  if (!st->tls) return recv_some(st->fd, b, cap, deadline);
  while (st->plain_off == st->plain_len) {
    st->plain_off = st->plain_len = 0;
    int rv = tls_pull(st, deadline);
    if (rv == LKV_EPROTO && !lkv__tls_conn_failed(st->tls)) return 0;
    if (rv != 0) return rv;
  }
  size_t k = st->plain_len - st->plain_off < cap ? st->plain_len - st->plain_off : cap;
  memcpy(b, st->plain + st->plain_off, k);
  st->plain_off += k;
  return (ssize_t)k;
}

/* Dials the session over st->fd; the handshake is done before the deadline or it failed (logged). */
static int stream_tls(stream_t *st, lkv_tls_t *tls, const char *host, const struct sockaddr_storage *sa,
                      uint64_t deadline) {
  int rv = lkv__tls_conn_new(tls, (const struct sockaddr *)sa, host, &st->tls);
  if (rv != 0) return rv;
  rv = tls_flush(st, deadline); /* the ClientHello */
  while (rv == 0 && !lkv__tls_conn_ready(st->tls)) rv = tls_pull(st, deadline);
  return rv;
}

static void stream_close(stream_t *st) {
  lkv__tls_conn_free(st->tls);
  free(st->out);
  free(st->plain);
  close(st->fd);
}

/* One attempt's result. */
typedef struct {
  uint64_t cluster_id;
  uint8_t *blob;
  size_t len;
} answer_t;

/* Reads the answer to our query from fd. Returns 0 (*a filled, a->blob malloc'd), LKV_EPERM (the member
 * refused: why says how), a negative errno or LKV_EPROTO / LKV_EMSGSIZE / LKV_ENOMEM; why says what. */
static int read_answer(stream_t *st, uint64_t deadline, answer_t *a, why_t *why) {
  size_t cap = LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT + LKV__PEER_FRAME_HEAD, len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return LKV_ENOMEM;
  int rv;
  for (;;) {
    lkv__peer_reply_t r;
    const uint8_t *blob;
    size_t blob_len, need;
    rv = lkv__peer_answer_decode(buf, len, LKV_PEER_MAX_QUERY_BLOB, &r, &blob, &blob_len, &need);
    if (rv == 0 && r.status != LKV__PEER_OK) {
      why_add(why, "refused: %.*s", (int)r.text_len, r.text);
      rv = LKV_EPERM;
      break;
    }
    if (rv == 0) {
      /* Moved to the front: the caller gets a buffer of its own, not one with the headers before it. */
      memmove(buf, blob, blob_len);
      uint8_t *b = realloc(buf, blob_len ? blob_len : 1);
      a->blob = b ? b : buf;
      a->len = blob_len;
      a->cluster_id = r.cluster_id;
      return 0;
    }
    if (rv == LKV_EMSGSIZE) {
      why_add(why, "answer above the %u-byte limit", (unsigned)LKV_PEER_MAX_QUERY_BLOB);
      break;
    }
    if (rv != LKV_EAGAIN) {
      why_add(why, "not a ledgerkv peer answer");
      break;
    }
    if (need > cap) { /* the blob's size is known and bounded by now: grow to it at once */
      uint8_t *b = realloc(buf, need);
      if (!b) {
        rv = LKV_ENOMEM;
        break;
      }
      buf = b;
      cap = need;
    }
    ssize_t k = stream_recv(st, buf + len, cap - len, deadline);
    if (k > 0) {
      len += (size_t)k;
      continue;
    }
    if (k == 0) {
      /* A member of this version always answers: silence means another program, or an older ledgerkv. */
      why_add(why, "closed without answering (not a ledgerkv member that answers membership queries)");
      rv = LKV_EPROTO;
      break;
    }
    rv = (int)k;
    why_add(why, "%s",
            rv == -ETIMEDOUT       ? "no answer in time"
            : rv < 0 && rv > -4096 ? strerror(-rv)
                                   : lkv_strerror(rv));
    break;
  }
  free(buf);
  return rv;
}

/* Queries one address: connect, hello, answer, all before the deadline. */
/* Queries one address of u: connect (and a TLS handshake for https://), hello, answer, all before the
 * deadline. */
static int query_addr(const lkv__peer_url_t *u, const struct sockaddr_storage *sa, lkv_tls_t *tls,
                      unsigned timeout_ms, answer_t *a, why_t *why) {
  uint64_t deadline = lkv_clock_ms(CLOCK_MONOTONIC) + timeout_ms;
  stream_t st = {.fd = connect_to(sa, deadline)};
  if (st.fd < 0) {
    why_add(why, "%s", st.fd == -ETIMEDOUT ? "no connection in time" : strerror(-st.fd));
    return st.fd;
  }
  int rv = u->tls ? stream_tls(&st, tls, u->host, sa, deadline) : 0;
  if (rv != 0) {
    why_add(why, "TLS handshake failed (%s)", rv == -ETIMEDOUT ? "not done in time" : "see the log line");
    stream_close(&st);
    return rv == LKV_ENOMEM ? rv : LKV_EPROTO;
  }
  uint8_t hello[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_t h = {.version = LKV_PEER_PROTOCOL_VERSION, .query = 1};
  lkv__peer_hello_encode(&h, hello);
  rv = stream_send(&st, hello, sizeof(hello), deadline);
  if (rv != 0)
    why_add(why, "query not sent (%s)", strerror(-rv));
  else
    rv = read_answer(&st, deadline, a, why);
  stream_close(&st);
  return rv;
}

/* The addresses of u (a literal, or its name resolved now). Returns how many, or 0 with why written. */
static size_t addresses(const lkv__peer_url_t *u, struct sockaddr_storage *out, why_t *why) {
  if (u->family != AF_UNSPEC) {
    lkv__peer_sockaddr(&out[0], u->family, u->addr, u->port);
    return 1;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rv = getaddrinfo(u->host, NULL, &hints, &res);
  if (rv != 0) {
    why_add(why, "cannot resolve %s (%s)", u->host, gai_strerror(rv));
    return 0;
  }
  size_t n = lkv__peer_addrinfo_take(res, u->port, out, LKV__PEER_MAX_ADDRS);
  freeaddrinfo(res);
  if (n == 0) why_add(why, "%s has no IPv4 or IPv6 address", u->host);
  return n;
}

/* Tries one URL: each of its addresses in turn. Returns 0 (answered), LKV_ENOMEM, or another negative code
 * (this URL failed; why says how). */
static int query_url(const char *url, lkv_tls_t *tls, unsigned timeout_ms, answer_t *a, why_t *why) {
  lkv__peer_url_t u;
  int rv = lkv__peer_url_parse(url, &u);
  if (rv == 0 && u.tls && !tls) {
    why_add(why,
            "https:// needs the peer TLS flags (--peer-cert-file and --peer-key-file, or --peer-auto-tls)");
    return LKV_EUNSUPPORTED;
  }
  if (rv != 0) {
    why_add(why, "not a peer URL (http://host:port)");
    return rv;
  }
  struct sockaddr_storage addrs[LKV__PEER_MAX_ADDRS];
  size_t n = addresses(&u, addrs, why);
  if (n == 0) return LKV_ENOENT;
  for (size_t i = 0; i < n; i++) {
    if (n > 1) {
      char host[INET6_ADDRSTRLEN] = "?";
      const void *ip = addrs[i].ss_family == AF_INET
                           ? (const void *)&((struct sockaddr_in *)&addrs[i])->sin_addr
                           : (const void *)&((struct sockaddr_in6 *)&addrs[i])->sin6_addr;
      inet_ntop(addrs[i].ss_family, ip, host, sizeof(host));
      why_add(why, "%s%s: ", i ? ", " : "", host);
    }
    rv = query_addr(&u, &addrs[i], tls, timeout_ms, a, why);
    if (rv == 0 || rv == LKV_ENOMEM) return rv;
  }
  return rv;
}

int lkv_peer_query(const char *const *urls, size_t n_urls, unsigned timeout_ms, lkv_tls_t *tls,
                   uint64_t *cluster_id, uint8_t **blob, size_t *len, char *err, size_t errlen) {
  if (!urls || n_urls == 0 || !cluster_id || !blob || !len) {
    if (err && errlen) snprintf(err, errlen, "lkv_peer_query: no URLs, or no place for the answer");
    return LKV_EINVAL;
  }
  if (timeout_ms == 0) timeout_ms = LKV_PEER_DIAL_TIMEOUT_MS;
  /* Written to err only on failure: a caller's buffer is not scribbled on when the query works. */
  char text[4096];
  why_t why = {text, sizeof(text), 0};
  text[0] = '\0';
  why_add(&why, "could not retrieve cluster information from the given URLs (");
  for (size_t i = 0; i < n_urls; i++) {
    answer_t a = {0, NULL, 0};
    why_add(&why, "%s%s: ", i ? "; " : "", urls[i] ? urls[i] : "(null)");
    int rv = query_url(urls[i], tls, timeout_ms, &a, &why);
    if (rv == 0) {
      *cluster_id = a.cluster_id;
      *blob = a.blob;
      *len = a.len;
      return 0;
    }
    if (rv == LKV_ENOMEM) {
      if (err && errlen) snprintf(err, errlen, "lkv_peer_query: %s", lkv_strerror(rv));
      return rv;
    }
  }
  why_add(&why, ")");
  if (err && errlen) snprintf(err, errlen, "%s", text);
  return LKV_EIO;
}
