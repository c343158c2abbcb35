/* One HTTP/1.1 connection: bytes through http-parser (after the TLS session on a TLS listener), each
 * complete request to the handler, answers out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "transport/http_internal.h"

#define MAX_QUEUED_BYTES (1024 * 1024) /* answers a client leaves unread before it is dropped */

typedef struct answer_s {
  uv_write_t req;
  lkv__http_conn_t *conn;
  size_t len;
  char data[];
} answer_t;

/* ---- closing ---- */

static void on_closed(uv_handle_t *h) {
  lkv__http_conn_t *c = h->data;
  lkv_http_server_t *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  lkv__tls_conn_free(c->tls);
  free(c->url);
  free(c);
}

void lkv__http_conn_close(lkv__http_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_closed); /* writes in flight end with UV_ECANCELED first */
}

void lkv__http_conn_reap(lkv_http_server_t *s) {
  uint64_t now = uv_now(&s->loop);
  for (lkv__http_conn_t *c = s->conns; c; c = c->next) {
    if (c->in_request && now - c->started_ms > s->opts.head_timeout_ms) lkv__http_conn_close(c);
    if (!c->in_request && !c->writing && now - c->last_ms > s->opts.idle_timeout_ms) lkv__http_conn_close(c);
    if (c->tls && !lkv__tls_conn_ready(c->tls) && !lkv__tls_conn_failed(c->tls) &&
        now - c->accepted_ms > s->opts.head_timeout_ms) {
      lkv__tls_conn_expire(c->tls, s->opts.head_timeout_ms);
      lkv__http_conn_close(c);
    }
  }
}

/* ---- answers ---- */

static void on_written(uv_write_t *req, int status) {
  answer_t *a = req->data;
  lkv__http_conn_t *c = a->conn;
  free(a);
  c->writing--;
  c->last_ms = uv_now(c->tcp.loop);
  if (status < 0 || (c->close_after && c->writing == 0)) lkv__http_conn_close(c);
}

/* Queues len bytes (copied) for the socket. Returns 0, or -1 once c is closing. */
static int write_raw(lkv__http_conn_t *c, const char *data, size_t len) {
  answer_t *a = malloc(sizeof(*a) + len);
  if (!a) {
    lkv__http_conn_close(c);
    return -1;
  }
  memcpy(a->data, data, len);
  a->conn = c;
  a->len = len;
  a->req.data = a;
  uv_buf_t b = uv_buf_init(a->data, (unsigned)a->len);
  if (uv_write(&a->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(a);
    lkv__http_conn_close(c);
    return -1;
  }
  c->writing++;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_QUEUED_BYTES) lkv__http_conn_close(c);
  return c->closing ? -1 : 0;
}

/* Closes c once what is queued is written. */
static void close_when_written(lkv__http_conn_t *c) {
  if (c->writing)
    c->close_after = 1;
  else
    lkv__http_conn_close(c);
}

/* TLS: writes what the session has to send (handshake records, alerts, encrypted answers); a failed
 * session is closed once its alert is out. */
static void flush_tls(lkv__http_conn_t *c) {
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = lkv__tls_conn_send(c->tls, NULL, NULL, &buf, &len, &cap, 0);
  if (rc == 0 && len > 0) rc = write_raw(c, (const char *)buf, len);
  free(buf);
  if (!c->closing && (rc != 0 || lkv__tls_conn_failed(c->tls))) close_when_written(c);
}

/* Queues the answer; body is freed here. close: say so and close once it is written. */
static void answer(lkv__http_conn_t *c, const lkv_http_response_t *r, int head_only, int close) {
  char head[512];
  int keep_alive_10 = !close && c->parser.http_major == 1 && c->parser.http_minor == 0;
  int n =
      lkv__http_head(head, sizeof(head), r->status, r->content_type, r->headers, NULL, (long long)r->body_len,
                     close           ? "Connection: close\r\n"
                     : keep_alive_10 ? "Connection: keep-alive\r\n"
                                     : NULL);
  size_t body = head_only ? 0 : r->body_len;
  char *out = n > 0 ? malloc((size_t)n + body) : NULL;
  if (!out) {
    free(r->body);
    lkv__http_conn_close(c);
    return;
  }
  memcpy(out, head, (size_t)n);
  if (body) memcpy(out + n, r->body, body);
  free(r->body);
  if (close) c->close_after = 1;
  if (!c->tls) {
    write_raw(c, out, (size_t)n + body);
  } else if (lkv__tls_conn_write(c->tls, (const uint8_t *)out, (size_t)n + body) == 0) {
    if (!c->in_recv) flush_tls(c); /* else on_read flushes once the session has handed over every record */
  } else {
    lkv__http_conn_close(c);
  }
  free(out);
}

/* An answer the server gives by itself (400, 413, 431): text as Go's net/http words it, then close. */
static void refuse(lkv__http_conn_t *c, int status) {
  lkv_http_response_t r = {.status = status, .content_type = "text/plain; charset=utf-8"};
  char text[64];
  int n = snprintf(text, sizeof(text), "%d %s", status, lkv__http_reason(status));
  r.body = malloc((size_t)n);
  if (r.body) {
    memcpy(r.body, text, (size_t)n);
    r.body_len = (size_t)n;
  }
  answer(c, &r, 0, 1);
}

/* ---- requests ---- */

static int on_message_begin(http_parser *p) {
  lkv__http_conn_t *c = p->data;
  c->url_len = c->head_bytes = c->body_bytes = 0;
  if (!c->in_request) c->started_ms = uv_now(c->tcp.loop);
  c->in_request = 1;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  lkv__http_conn_t *c = p->data;
  if (c->url_len + len > c->srv->opts.max_request_bytes) {
    c->refused = 431; /* Go says 431 for an over-long request line too */
    return 1;
  }
  if (lkv_grow((void **)&c->url, &c->url_cap, c->url_len + len, 1) != 0) return 1;
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  return 0;
}

static int on_header(http_parser *p, const char *at, size_t len) {
  lkv__http_conn_t *c = p->data;
  (void)at;
  c->head_bytes += len;
  if (c->url_len + c->head_bytes > c->srv->opts.max_request_bytes) {
    c->refused = 431;
    return 1;
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  lkv__http_conn_t *c = p->data;
  (void)at;
  c->body_bytes += len;
  if (c->body_bytes > c->srv->opts.max_request_bytes) {
    c->refused = 413;
    return 1;
  }
  return 0;
}

static int on_message_complete(http_parser *p) {
  lkv__http_conn_t *c = p->data;
  lkv_http_server_t *s = c->srv;
  c->in_request = 0;
  struct http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(c->url, c->url_len, p->method == HTTP_CONNECT, &u) != 0 ||
      !(u.field_set & (1 << UF_PATH))) {
    refuse(c, 400);
    http_parser_pause(p, 1);
    return 0;
  }
  lkv_http_request_t req = {.method = http_method_str((enum http_method)p->method),
                            .path = c->url + u.field_data[UF_PATH].off,
                            .path_len = u.field_data[UF_PATH].len,
                            .query = "",
                            .query_len = 0};
  if (u.field_set & (1 << UF_QUERY)) {
    req.query = c->url + u.field_data[UF_QUERY].off;
    req.query_len = u.field_data[UF_QUERY].len;
  }
  lkv_http_response_t r = {.status = 500};
  s->opts.handle(s->opts.app, &req, &r);
  int keep = http_should_keep_alive(p) && !p->upgrade;
  answer(c, &r, p->method == HTTP_HEAD, !keep);
  if (!keep) http_parser_pause(p, 1); /* nothing after this request is read */
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header,
    .on_header_value = on_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  lkv__http_conn_t *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

/* Runs the parser over plaintext; returns 0, or -1 once reading has stopped (a refusal or an answer that
 * closes is queued). */
static int feed(lkv__http_conn_t *c, const char *data, size_t len) {
  if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) return -1;
  http_parser_execute(&c->parser, &settings, data, len);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (e == HPE_OK) return 0;
  uv_read_stop((uv_stream_t *)&c->tcp);
  if (e != HPE_PAUSED) refuse(c, c->refused ? c->refused : 400);
  return -1;
}

/* The TLS session's plaintext (lkv__tls_consume_fn). */
static int feed_tls(void *arg, const uint8_t *data, size_t len) {
  return feed(arg, (const char *)data, len) == 0 ? 0 : LKV_EPROTO;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  lkv__http_conn_t *c = st->data;
  (void)buf;
  if (n == 0 || c->closing) return;
  if (n < 0) { /* end of stream or error: finish writing what is queued, then close */
    uv_read_stop(st);
    if (c->writing && n == UV_EOF)
      c->close_after = 1;
    else
      lkv__http_conn_close(c);
    return;
  }
  c->last_ms = uv_now(st->loop);
  if (!c->tls) {
    feed(c, c->rbuf, (size_t)n);
    return;
  }
  /* The plaintext is decrypted into rbuf, which the ciphertext has left by then. */
  c->in_recv = 1;
  int rc = lkv__tls_conn_recv(c->tls, (const uint8_t *)c->rbuf, (size_t)n, (uint8_t *)c->rbuf,
                              sizeof(c->rbuf), feed_tls, c);
  c->in_recv = 0;
  if (c->closing) return;
  flush_tls(c);
  if (rc != 0 && !c->closing) { /* a refused handshake, close_notify, or the parser stopped */
    uv_read_stop(st);
    close_when_written(c);
  }
}

/* A TLS session for c; the client's address names it in log lines. */
static int start_tls(lkv__http_conn_t *c, lkv_tls_t *tls) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int known = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0;
  return lkv__tls_conn_new(tls, known ? (struct sockaddr *)&ss : NULL, NULL, &c->tls);
}

void lkv__http_on_connection(uv_stream_t *listener, int status) {
  lkv_http_server_t *s = listener->loop->data;
  if (status < 0) return;
  lkv__http_conn_t *c = calloc(1, sizeof(*c));
  if (!c || uv_tcp_init(listener->loop, &c->tcp) != 0) {
    free(c);
    return; /* the connection stays in the backlog until memory returns */
  }
  c->tcp.data = c;
  c->srv = s;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  c->last_ms = c->accepted_ms = uv_now(listener->loop);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  int tls = s->listen_tls[(uv_tcp_t *)listener - s->listeners];
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || s->n_conns > s->opts.max_connections ||
      (tls && start_tls(c, s->opts.tls) != 0) ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    lkv__http_conn_close(c);
}
