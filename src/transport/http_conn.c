/* One HTTP/1.1 connection: bytes through http-parser, each complete request to the handler, answers out. */
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
  answer_t *a = n > 0 ? malloc(sizeof(*a) + (size_t)n + body) : NULL;
  if (!a) {
    free(r->body);
    lkv__http_conn_close(c);
    return;
  }
  memcpy(a->data, head, (size_t)n);
  if (body) memcpy(a->data + n, r->body, body);
  free(r->body);
  a->conn = c;
  a->len = (size_t)n + body;
  a->req.data = a;
  uv_buf_t b = uv_buf_init(a->data, (unsigned)a->len);
  if (close) c->close_after = 1;
  if (uv_write(&a->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(a);
    lkv__http_conn_close(c);
    return;
  }
  c->writing++;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_QUEUED_BYTES) lkv__http_conn_close(c);
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
  http_parser_execute(&c->parser, &settings, c->rbuf, (size_t)n);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (e == HPE_OK) return;
  uv_read_stop(st);
  if (e != HPE_PAUSED) refuse(c, c->refused ? c->refused : 400);
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
  c->last_ms = uv_now(listener->loop);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || s->n_conns > s->opts.max_connections ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    lkv__http_conn_close(c);
}
