/* gRPC client connections: resolve, connect, read into the HTTP/2 session, batched writes, failure, close. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/grpc_client_internal.h"

/* One write carries at most this much; the rest stays queued in nghttp2 until the write completes. */
#define LKV__GC_WRITE_BATCH (1 << 20)

static void maybe_free(lkv_grpc_conn_t *c) {
  if (!c->user_closed || c->open_handles > 0) return;
  free(c->wbuf);
  free(c->authority);
  free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  lkv_grpc_conn_t *c = h->data;
  c->open_handles--;
  maybe_free(c);
}

/* Ends the connection: the session goes, every stream ends with status, the socket closes. The error code and
 * text are kept for lkv_grpc_conn_error. Never called from inside a session call (see in_session). */
static void teardown(lkv_grpc_conn_t *c, int err, int status, const char *text) {
  if (c->session) {
    c->error = err;
    snprintf(c->error_text, sizeof(c->error_text), "%s", text);
    /* Deleting the session calls no callbacks, so the streams are ended here, each exactly once. */
    nghttp2_session_del(c->session);
    c->session = NULL;
    while (c->streams) lkv__gc_stream_abort(c->streams, status, c->error_text);
  }
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->flush, on_handle_closed);
  }
}

static void fail(lkv_grpc_conn_t *c, int err, const char *what) {
  char text[128];
  snprintf(text, sizeof(text), "%s: %s", what,
           err == LKV_EPROTO ? "HTTP/2 protocol error" : uv_strerror(err));
  teardown(c, err, LKV_GRPC_UNAVAILABLE, text);
}

/* After a session call: a close requested from inside it is carried out now. Returns 1 if c is closed. */
static int leave_session(lkv_grpc_conn_t *c) {
  if (--c->in_session > 0 || !c->close_pending) return 0;
  teardown(c, LKV_ECANCELED, LKV_GRPC_CANCELLED, "connection closed by the client");
  maybe_free(c);
  return 1;
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status) {
  lkv_grpc_conn_t *c = req->data;
  c->writing = 0;
  c->wlen = 0;
  if (!c->session) return;
  if (status < 0) {
    fail(c, status, "write");
    return;
  }
  lkv__gc_want_flush(c); /* more may have queued up meanwhile */
}

static void on_flush(uv_prepare_t *h) {
  lkv_grpc_conn_t *c = h->data;
  uv_prepare_stop(h);
  c->flush_on = 0;
  if (!c->session || !c->connected || c->writing) return;
  int rv = 0;
  c->in_session++;
  while (c->wlen < LKV__GC_WRITE_BATCH) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->session, &data);
    if (n <= 0) {
      rv = n == 0 ? 0 : n == NGHTTP2_ERR_NOMEM ? LKV_ENOMEM : LKV_EPROTO;
      break;
    }
    if (c->wlen + (size_t)n > c->wcap) {
      size_t cap = c->wcap ? c->wcap * 2 : 16384;
      while (cap < c->wlen + (size_t)n) cap *= 2;
      uint8_t *nb = realloc(c->wbuf, cap);
      if (!nb) {
        rv = LKV_ENOMEM;
        break;
      }
      c->wbuf = nb;
      c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, data, (size_t)n);
    c->wlen += (size_t)n;
  }
  if (leave_session(c)) return;
  if (rv != 0) {
    fail(c, rv, "send");
    return;
  }
  if (c->wlen == 0) {
    if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) {
      teardown(c, LKV_ESTOPPED, LKV_GRPC_UNAVAILABLE, "connection closed by the server (GOAWAY)");
    }
    return;
  }
  uv_buf_t b = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
  c->write_req.data = c;
  if ((rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write)) != 0) {
    c->wlen = 0;
    fail(c, rv, "write");
    return;
  }
  c->writing = 1;
}

void lkv__gc_want_flush(lkv_grpc_conn_t *c) {
  if (c->flush_on || !c->session) return;
  c->flush_on = 1;
  uv_prepare_start(&c->flush, on_flush);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  lkv_grpc_conn_t *c = h->data;
  (void)suggested;
  buf->base = (char *)c->loop->read_buf;
  buf->len = sizeof(c->loop->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lkv_grpc_conn_t *c = s->data;
  if (!c->session) return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      teardown(c, -ECONNRESET, LKV_GRPC_UNAVAILABLE, "connection closed by the server");
    } else {
      fail(c, (int)nread, "read");
    }
    return;
  }
  if (nread == 0) return;
  c->in_session++;
  ssize_t n = nghttp2_session_mem_recv(c->session, (const uint8_t *)buf->base, (size_t)nread);
  if (leave_session(c)) return;
  if (n < 0) {
    fail(c, n == NGHTTP2_ERR_NOMEM ? LKV_ENOMEM : LKV_EPROTO, "receive");
    return;
  }
  lkv__gc_want_flush(c); /* acknowledgements and window updates */
}

static void on_connected(uv_connect_t *req, int status) {
  lkv_grpc_conn_t *c = req->data;
  if (c->user_closed) return; /* the user no longer wants to hear about it */
  if (status == 0 && c->session) {
    c->connected = 1;
    uv_tcp_nodelay(&c->tcp, 1);
    status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
  if (status != 0)
    fail(c, status, "connect");
  else
    lkv__gc_want_flush(c);
  if (c->on_connect) c->on_connect(c->ud, c, status);
}

/* ---- open / close ---- */

static int resolve(const char *host, int port, struct sockaddr_storage *addr) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
  char service[16];
  if (port <= 0 || port > 65535) return LKV_EINVAL;
  snprintf(service, sizeof(service), "%d", port);
  if (getaddrinfo(host, service, &hints, &res) != 0) return LKV_EINVAL;
  memcpy(addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

int lkv_grpc_conn_open(lkv_grpc_loop_t *loop, const char *host, int port, lkv_grpc_connect_cb on_connect,
                       void *ud, lkv_grpc_conn_t **out) {
  struct sockaddr_storage addr;
  int rv;
  if ((rv = resolve(host, port, &addr)) != 0) return rv;
  lkv_grpc_conn_t *c = calloc(1, sizeof(*c));
  if (!c) return LKV_ENOMEM;
  c->loop = loop;
  c->on_connect = on_connect;
  c->ud = ud;
  size_t alen = strlen(host) + 16;
  if (!(c->authority = malloc(alen))) goto err_after_alloc;
  snprintf(c->authority, alen, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
  if ((rv = lkv__gc_session_new(c)) != 0) goto err_after_authority;

  uv_tcp_init(&loop->uv, &c->tcp);
  uv_prepare_init(&loop->uv, &c->flush);
  c->tcp.data = c;
  c->flush.data = c;
  c->open_handles = 2;
  c->connect_req.data = c;
  if ((rv = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&addr, on_connected)) != 0) {
    goto err_after_handles;
  }
  c->next = loop->conns;
  if (loop->conns) loop->conns->prev = c;
  loop->conns = c;
  *out = c;
  return 0;

err_after_handles:
  /* Nothing was reported yet: close quietly and let the close callbacks free c. */
  nghttp2_session_del(c->session);
  c->session = NULL;
  c->user_closed = 1;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->flush, on_handle_closed);
  return rv;
err_after_authority:
  free(c->authority);
err_after_alloc:
  free(c);
  return rv ? rv : LKV_ENOMEM;
}

int lkv_grpc_conn_error(const lkv_grpc_conn_t *conn) {
  return conn->error;
}

const char *lkv_grpc_conn_error_text(const lkv_grpc_conn_t *conn) {
  return conn->error_text;
}

void lkv_grpc_conn_close(lkv_grpc_conn_t *c) {
  if (c->user_closed) return;
  c->user_closed = 1;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->loop->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->in_session > 0) {
    c->close_pending = 1; /* the session is in use further up the stack: leave_session finishes */
    return;
  }
  teardown(c, LKV_ECANCELED, LKV_GRPC_CANCELLED, "connection closed by the client");
  maybe_free(c);
}

const char *lkv_grpc_status_name(int status) {
  static const char *const names[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (status < 0 || status >= (int)(sizeof(names) / sizeof(names[0]))) return "UNKNOWN_STATUS";
  return names[status];
}
