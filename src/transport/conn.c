/* TCP connections: accept, read into the HTTP/2 or HTTP/1.1 session (through a TLS session or not), batched
 * writes, close. */
#include "transport/conn.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/h2_ping.h"

/* One write carries at most this much (more stays queued in nghttp2 until the write completes), which bounds
 * the bytes a slow reader makes us hold. */
#define LKV__CONN_BATCH (1 << 20)
/* A write buffer larger than this is released after use rather than kept for the connection's lifetime. */
#define LKV__CONN_KEEP_WBUF (256 * 1024)
/* A TLS handshake takes a few round trips; one not done by then is refused (grpc-go, behind etcd, allows
 * 120 s; a stalled client should not hold a session that long). */
#define LKV__CONN_HANDSHAKE_MS 10000
/* How long a finished HTTP/1.1 connection drops what the client still sends before it closes (Go's server
 * waits 500 ms); checked with the handshakes, so 0.5 to 1.5 s. */
#define LKV__CONN_LINGER_MS 500

static lkv__conn_t *conn_of(lkv__h2_conn_t *h2) {
  return (lkv__conn_t *)((char *)h2 - offsetof(lkv__conn_t, h2));
}

static void want_flush(lkv__h2_conn_t *h2) {
  lkv__conn_t *c = conn_of(h2);
  if (!c->closing) lkv__loop_want_flush(c->loop, c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lkv__conn_t *c = h->data;
  (void)suggested;
  buf->base = (char *)c->loop->read_buf;
  buf->len = sizeof(c->loop->read_buf);
}

static void want_flush_h1(lkv__h1_conn_t *h1) {
  lkv__conn_t *c = h1->owner;
  if (!c->closing) lkv__loop_want_flush(c->loop, c);
}

/* Every HTTP/2 client opens with this preface; anything else is served as HTTP/1.1 (etcd's gateway). */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(h2_preface) - 1)

static int to_h1(lkv__conn_t *c) {
  if (!c->loop->cfg->handler.on_http) return LKV_EPROTO; /* not HTTP/2 and nobody serves HTTP/1.1 */
  c->h1 = malloc(sizeof(*c->h1));
  if (!c->h1) return LKV_ENOMEM;
  lkv__h1_conn_init(c->h1, c->loop->cfg, c->loop, c->tls != NULL, want_flush_h1, c);
  lkv__h2_conn_free(&c->h2); /* its SETTINGS never left: nothing is sent before the protocol is known */
  return 0;
}

/* Received plaintext: the first bytes decide the protocol (kept until they do), then go to its session. */
static int recv_plain(void *arg, const uint8_t *data, size_t len) {
  lkv__conn_t *c = arg;
  if (c->sniffed) return c->h1 ? lkv__h1_conn_recv(c->h1, data, len) : lkv__h2_conn_recv(&c->h2, data, len);
  size_t take = len < PREFACE_LEN - c->sniff_len ? len : PREFACE_LEN - c->sniff_len;
  memcpy(c->sniff + c->sniff_len, data, take);
  c->sniff_len += take;
  int h2 = memcmp(c->sniff, h2_preface, c->sniff_len) == 0;
  if (h2 && c->sniff_len < PREFACE_LEN) return 0; /* so far it could still be the preface */
  c->sniffed = 1;
  int rv = h2 ? 0 : to_h1(c);
  if (rv == 0) rv = recv_plain(c, c->sniff, c->sniff_len);
  if (rv == 0 && len > take) rv = recv_plain(c, data + take, len - take);
  return rv;
}

static int send_plain(void *arg, uint8_t **buf, size_t *len, size_t *cap, size_t limit) {
  lkv__conn_t *c = arg;
  if (!c->sniffed) return 0;
  return c->h1 ? lkv__h1_conn_send(c->h1, buf, len, cap, limit)
               : lkv__h2_conn_send(&c->h2, buf, len, cap, limit);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lkv__conn_t *c = s->data;
  if (nread < 0) {
    lkv__conn_close(c); /* EOF or a socket error: the peer is gone */
    return;
  }
  if (nread == 0 || c->closing || c->linger_ms) return; /* lingering: dropped */
  const uint8_t *data = (const uint8_t *)buf->base;
  /* TLS decrypts into the loop's read buffer, which the ciphertext has left by then. */
  int rv = c->tls ? lkv__tls_conn_recv(c->tls, data, (size_t)nread, c->loop->read_buf,
                                       sizeof(c->loop->read_buf), recv_plain, c)
                  : recv_plain(c, data, (size_t)nread);
  if (rv != 0 && !(c->tls && lkv__tls_conn_failed(c->tls))) {
    lkv__conn_close(c); /* a bad HTTP/2 preface, or fatal: nothing useful to say to this peer */
    return;
  }
  if (rv != 0) uv_read_stop(s); /* a refused handshake: its alert goes out, then the flush closes */
  lkv__loop_want_flush(c->loop, c);
}

static void on_write(uv_write_t *req, int status) {
  lkv__conn_t *c = req->data;
  c->writing = 0;
  c->wlen = 0;
  if (c->wcap > LKV__CONN_KEEP_WBUF) {
    free(c->wbuf);
    c->wbuf = NULL;
    c->wcap = 0;
  }
  if (c->closing) return;
  if (status < 0) {
    lkv__conn_close(c);
    return;
  }
  lkv__loop_want_flush(c->loop, c); /* more may have queued up meanwhile; also re-checks "done" */
}

static void on_shut(uv_shutdown_t *req, int status) {
  lkv__conn_t *c = req->data;
  if (status < 0 && !c->closing) lkv__conn_close(c);
}

/* An HTTP/1.1 connection closes after an answer that says so (a refusal, Connection: close). Closed at
 * once with input unread, the kernel would reset it, and a client still sending (a body above the limit)
 * could lose the answer. As Go's server does, the write side is shut (the client reads the answer, then
 * EOF) and what still comes is dropped until the client closes or LKV__CONN_LINGER_MS passed. */
static void linger(lkv__conn_t *c) {
  c->linger_ms = uv_now(&c->loop->uv) + 1; /* never 0 */
  c->shut.data = c;
  if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shut) != 0) lkv__conn_close(c);
}

void lkv__conn_flush(lkv__conn_t *c) {
  if (c->closing || c->writing || c->linger_ms) return;
  int rv = c->tls ? lkv__tls_conn_send(c->tls, send_plain, c, &c->wbuf, &c->wlen, &c->wcap, LKV__CONN_BATCH)
                  : send_plain(c, &c->wbuf, &c->wlen, &c->wcap, LKV__CONN_BATCH);
  if (rv != 0) {
    lkv__conn_close(c);
    return;
  }
  if (c->wlen == 0) {
    int done = c->h1 ? lkv__h1_conn_done(c->h1) : c->sniffed && lkv__h2_conn_done(&c->h2);
    if (c->tls && lkv__tls_conn_failed(c->tls))
      lkv__conn_close(c);
    else if (done && c->h1 && !c->loop->stopping) /* a stop does not wait for lingering */
      linger(c);
    else if (done)
      lkv__conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    lkv__conn_close(c);
    return;
  }
  c->writing = 1;
}

void lkv__conn_check_handshake(lkv__conn_t *c, uint64_t now) {
  if (!c->closing && c->linger_ms) {
    if (now - c->linger_ms + 1 >= LKV__CONN_LINGER_MS) lkv__conn_close(c);
    return;
  }
  if (!c->closing && c->h1) {
    lkv__h1_conn_check_overdue(c->h1, now);
    return;
  }
  if (c->closing || !c->tls || lkv__tls_conn_ready(c->tls) || lkv__tls_conn_failed(c->tls) ||
      now - c->accepted_ms < LKV__CONN_HANDSHAKE_MS)
    return;
  lkv__tls_conn_expire(c->tls, LKV__CONN_HANDSHAKE_MS);
  lkv__conn_close(c);
}

void lkv__conn_check_keepalive(lkv__conn_t *c, uint64_t now) {
  if (c->closing || !c->sniffed || c->h1) return;
  if (!lkv__ping_keepalive(&c->h2, now)) return;
  const char *from = lkv__conn_peer_address(c);
  fprintf(stderr,
          "ledgerkv: closing the client connection from %s: no answer to the keepalive ping within %llu ms\n",
          from ? from : "an unknown address", (unsigned long long)c->loop->cfg->keepalive.timeout_ms);
  lkv__conn_close(c); /* half-open: grpc-go closes without GOAWAY */
}

void lkv__conn_shutdown(lkv__conn_t *c) {
  if (c->closing) return;
  if (!c->sniffed || c->linger_ms)
    lkv__conn_close(c); /* no request yet, or done */
  else if (c->h1)
    lkv__h1_conn_shutdown(c->h1);
  else
    lkv__h2_conn_shutdown(&c->h2);
}

static void on_closed(uv_handle_t *h) {
  lkv__conn_t *c = h->data;
  lkv__loop_conn_removed(c->loop, c);
  lkv__tls_conn_free(c->tls);
  free(c->wbuf);
  free(c);
}

void lkv__conn_close(lkv__conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  lkv__loop_unschedule(c->loop, c);
  lkv__h2_conn_free(&c->h2); /* on_cancel for open calls; a pending write is cancelled by uv_close */
  if (c->h1) {
    lkv__h1_conn_free(c->h1);
    free(c->h1);
    c->h1 = NULL;
  }
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void free_handle(uv_handle_t *h) {
  lkv__conn_t *c = h->data;
  lkv__tls_conn_free(c->tls);
  free(c);
}

/* A TLS session for c; the client's address names it in log lines. */
static int start_tls(lkv__conn_t *c, lkv_tls_t *tls) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int known = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0;
  return lkv__tls_conn_new(tls, known ? (struct sockaddr *)&ss : NULL, NULL, &c->tls);
}

int lkv__conn_accept(lkv__loop_t *loop, uv_stream_t *server, lkv_tls_t *tls) {
  int rv;
  lkv__conn_t *c = calloc(1, sizeof(*c));
  if (!c) return LKV_ENOMEM;
  c->loop = loop;
  c->accepted_ms = uv_now(&loop->uv);
  if ((rv = uv_tcp_init(&loop->uv, &c->tcp)) != 0) goto err_after_alloc;
  c->tcp.data = c;
  if ((rv = uv_accept(server, (uv_stream_t *)&c->tcp)) != 0) goto err_after_tcp;
  uv_tcp_nodelay(&c->tcp, 1);
  if (tls != NULL && (rv = start_tls(c, tls)) != 0) goto err_after_tcp;
  if ((rv = lkv__h2_conn_init(&c->h2, loop->cfg, loop, want_flush)) != 0) goto err_after_tcp;
  lkv__loop_conn_added(loop, c);
  if ((rv = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) != 0) {
    lkv__conn_close(c);
    return rv;
  }
  return 0; /* our SETTINGS go out once the first bytes tell HTTP/2 */

err_after_tcp:
  uv_close((uv_handle_t *)&c->tcp, free_handle);
  return rv;
err_after_alloc:
  free(c);
  return rv;
}
