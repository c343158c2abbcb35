/* HTTP/1.1 on the client port: requests through http-parser into exchanges, whole answers, the output. */
#include "transport/h1_conn.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/grow.h"
#include "transport/h2_gateway.h"
#include "transport/http_internal.h"
#include "transport/loop.h"

#define MAX_HEAD_BYTES (16 * 1024) /* request line and headers, as the metrics listener allows */
#define MAX_BACKLOG (64 * 1024)    /* bytes a client may send ahead while its answer is pending */

int lkv__h1_out(lkv__h1_conn_t *h1, const void *data, size_t len) {
  if (lkv_grow((void **)&h1->out, &h1->out_cap, h1->out_len + len, 1) != 0) return LKV_ENOMEM;
  memcpy(h1->out + h1->out_len, data, len);
  h1->out_len += len;
  return 0;
}

static const char *connection_header(const lkv__h1_conn_t *h1) {
  if (!h1->keep_alive) return "Connection: close\r\n";
  return h1->parser.http_major == 1 && h1->parser.http_minor == 0 ? "Connection: keep-alive\r\n" : NULL;
}

void lkv__h1_exchange_done(lkv__h1_conn_t *h1) {
  h1->busy = 0;
  h1->x.answered = 1;
  free(h1->extra_headers);
  h1->extra_headers = NULL;
  if (!h1->keep_alive || h1->shutting_down) h1->close_after = 1;
  h1->want_flush(h1);
}

int lkv__h1_head(lkv__h1_conn_t *h1, int status, const char *content_type, const char *headers,
                 long long content_length) {
  char head[2048];
  int n = lkv__http_head(head, sizeof(head), status, content_type, h1->extra_headers, headers, content_length,
                         connection_header(h1));
  return n < 0 ? LKV_ENOMEM : lkv__h1_out(h1, head, (size_t)n);
}

void lkv__h1_answer(lkv__h1_conn_t *h1, int status, const char *content_type, const char *headers, char *body,
                    size_t body_len) {
  if (lkv__h1_head(h1, status, content_type, headers, (long long)body_len) != 0 ||
      (!h1->head_only && body_len && lkv__h1_out(h1, body, body_len) != 0))
    h1->keep_alive = 0; /* the answer is cut: closing tells the client */
  free(body);
  lkv__h1_exchange_done(h1);
}

/* An answer the transport gives by itself (400, 413, 431): text as Go's net/http words it, then close. */
static void refuse(lkv__h1_conn_t *h1, int status) {
  char text[64];
  size_t n = (size_t)snprintf(text, sizeof(text), "%d %s", status, lkv__http_reason(status));
  char *body = malloc(n);
  if (body) memcpy(body, text, n);
  h1->keep_alive = 0;
  h1->busy = 1;
  lkv__h1_answer(h1, status, "text/plain; charset=utf-8", NULL, body, body ? n : 0);
}

/* ---- the exchange API ---- */

const lkv_http_exchange_request_t *lkv_http_exchange_request(const lkv_http_exchange_t *x) {
  return &x->req;
}

int lkv_http_exchange_set_headers(lkv_http_exchange_t *x, const char *lines) {
  char *copy = strdup(lines);
  if (!copy) return LKV_ENOMEM;
  char **slot = x->h2x ? lkv__h2x_extra_headers(x->h2x) : &x->h1->extra_headers;
  free(*slot);
  *slot = copy;
  return 0;
}

void lkv_http_exchange_reply(lkv_http_exchange_t *x, lkv_http_response_t *resp) {
  if (x->h2x && !x->answered) {
    x->answered = 1;
    lkv__h2x_reply(x->h2x, resp);
    return;
  }
  if (x->answered) {
    free(resp->body);
    return;
  }
  x->answered = 1;
  lkv__h1_answer(x->h1, resp->status, resp->content_type, resp->headers, resp->body, resp->body_len);
  resp->body = NULL;
}

/* ---- parsing ---- */

static int on_message_begin(http_parser *p) {
  lkv__h1_conn_t *h1 = p->data;
  h1->url_len = h1->head_bytes = h1->body_len = 0;
  h1->host[0] = h1->origin[0] = h1->expect[0] = '\0';
  h1->header = h1->in_name = 0;
  h1->metadata_len = 0;
  h1->in_request = 1;
  h1->started_ms = uv_now(&h1->loop->uv);
  return 0;
}

static int count_head(lkv__h1_conn_t *h1, size_t len) {
  h1->head_bytes += len;
  if (h1->head_bytes <= MAX_HEAD_BYTES) return 0;
  h1->refused = 431;
  return 1;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  lkv__h1_conn_t *h1 = p->data;
  if (count_head(h1, len) || lkv_grow((void **)&h1->url, &h1->url_cap, h1->url_len + len + 1, 1) != 0)
    return 1;
  memcpy(h1->url + h1->url_len, at, len);
  h1->url_len += len;
  h1->url[h1->url_len] = '\0';
  return 0;
}

static int meta_add(lkv__h1_conn_t *h1, const char *data, size_t len) {
  if (lkv_grow((void **)&h1->metadata, &h1->metadata_cap, h1->metadata_len + len, 1) != 0) return 1;
  memcpy(h1->metadata + h1->metadata_len, data, len);
  h1->metadata_len += len;
  return 0;
}

/* The metadata key a header carries as grpc-gateway forwards headers ("Authorization", and
 * "Grpc-Metadata-<key>" as <key>), if the application asked for it (the first value only), else NULL. */
static const char *wanted_key(const lkv__h1_conn_t *h1, const char *name, size_t len) {
  static const char prefix[] = "grpc-metadata-";
  size_t k = sizeof(prefix) - 1;
  if (len > k && strncasecmp(name, prefix, k) == 0)
    name += k, len -= k;
  else if (!(len == 13 && strncasecmp(name, "authorization", 13) == 0))
    return NULL;
  for (const char *const *key = h1->cfg->handler.metadata_keys; key && *key; key++) {
    if (strlen(*key) != len || strncasecmp(*key, name, len) != 0) continue;
    for (size_t off = 0; off < h1->metadata_len;) { /* complete name, value pairs */
      const char *n = h1->metadata + off, *v = n + strlen(n) + 1;
      if (strcmp(n, *key) == 0) return NULL;
      off = (size_t)(v + strlen(v) + 1 - h1->metadata);
    }
    return *key;
  }
  return NULL;
}

/* A header name may arrive in pieces (split across reads): it is gathered, and known once its value begins.
 */
static int on_header_field(http_parser *p, const char *at, size_t len) {
  lkv__h1_conn_t *h1 = p->data;
  if (!h1->in_name) {
    if (h1->header == 4 && meta_add(h1, "", 1) != 0) return 1; /* ends the previous value */
    h1->header = 0;
    h1->in_name = 1;
    h1->hname_len = 0;
  }
  size_t k = len < sizeof(h1->hname) - h1->hname_len ? len : sizeof(h1->hname) - h1->hname_len;
  memcpy(h1->hname + h1->hname_len, at, k);
  h1->hname_len += k;
  return count_head(h1, len);
}

/* Which header the value belongs to (h1->header), from its whole name. */
static int name_done(lkv__h1_conn_t *h1) {
  const char *n = h1->hname;
  size_t len = h1->hname_len;
  const char *key = len < sizeof(h1->hname) ? wanted_key(h1, n, len) : NULL;
  h1->in_name = 0;
  h1->header = len == 4 && strncasecmp(n, "host", 4) == 0     ? 1
               : len == 6 && strncasecmp(n, "origin", 6) == 0 ? 2
               : len == 6 && strncasecmp(n, "expect", 6) == 0 ? 3
               : key                                          ? 4
                                                              : 0;
  return key ? meta_add(h1, key, strlen(key) + 1) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  lkv__h1_conn_t *h1 = p->data;
  if (h1->in_name && name_done(h1) != 0) return 1;
  if (h1->header == 4 && meta_add(h1, at, len) != 0) return 1;
  char *dst = h1->header == 1 ? h1->host : h1->header == 2 ? h1->origin : h1->header == 3 ? h1->expect : NULL;
  if (dst) {
    size_t have = strlen(dst), cap = (h1->header == 3 ? sizeof(h1->expect) : sizeof(h1->host)) - 1;
    size_t k = len < cap - have ? len : cap - have;
    memcpy(dst + have, at, k);
    dst[have + k] = '\0';
  }
  return count_head(h1, len);
}

/* A client that waits for "100 Continue" before its body (curl does for bodies above 1 KiB) gets it at
 * once, as Go's server sends it when the handler reads the body; one that will be refused does not. Errors
 * return -1 here: 1 would tell http-parser that the request has no body. */
static int on_headers_complete(http_parser *p) {
  lkv__h1_conn_t *h1 = p->data;
  if (h1->in_name && name_done(h1) != 0) return -1; /* a last header without a value */
  if (h1->header == 4 && meta_add(h1, "", 1) != 0) return -1;
  h1->header = 0;
  /* A body declared above the limit is refused now rather than once that much of it arrived (a client
   * announcing a huge body would otherwise hold the connection until the request timeout). */
  if (p->content_length != ULLONG_MAX && p->content_length > h1->cfg->max_recv_msg_bytes) {
    h1->refused = 413;
    return -1;
  }
  static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
  if (strcasecmp(h1->expect, "100-continue") != 0 || p->content_length > h1->cfg->max_recv_msg_bytes)
    return 0;
  if (lkv__h1_out(h1, go_on, sizeof(go_on) - 1) != 0) return -1;
  h1->want_flush(h1);
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  lkv__h1_conn_t *h1 = p->data;
  if (h1->body_len + len > h1->cfg->max_recv_msg_bytes) {
    h1->refused = 413;
    return 1;
  }
  if (lkv_grow((void **)&h1->body, &h1->body_cap, h1->body_len + len + 1, 1) != 0) return 1;
  memcpy(h1->body + h1->body_len, at, len);
  h1->body_len += len;
  return 0;
}

/* A whole request: hand it to the application, and pause until it is answered. */
static int on_message_complete(http_parser *p) {
  lkv__h1_conn_t *h1 = p->data;
  struct http_parser_url u;
  http_parser_url_init(&u);
  h1->in_request = 0;
  h1->busy = 1;
  h1->x = (lkv_http_exchange_t){.h1 = h1};
  h1->keep_alive = http_should_keep_alive(p) && !p->upgrade;
  h1->head_only = p->method == HTTP_HEAD;
  http_parser_pause(p, 1);
  if (!h1->url || http_parser_parse_url(h1->url, h1->url_len, p->method == HTTP_CONNECT, &u) != 0 ||
      !(u.field_set & (1 << UF_PATH))) {
    refuse(h1, 400);
    return 0;
  }
  lkv_http_exchange_request_t *r = &h1->x.req;
  *r = (lkv_http_exchange_request_t){.method = http_method_str((enum http_method)p->method),
                                     .path = h1->url + u.field_data[UF_PATH].off,
                                     .path_len = u.field_data[UF_PATH].len,
                                     .query = "",
                                     .host = h1->host,
                                     .origin = h1->origin,
                                     .body = h1->body ? h1->body : (const uint8_t *)"",
                                     .body_len = h1->body_len,
                                     .tls = h1->tls};
  if (u.field_set & (1 << UF_QUERY)) {
    r->query = h1->url + u.field_data[UF_QUERY].off;
    r->query_len = u.field_data[UF_QUERY].len;
    h1->url[u.field_data[UF_QUERY].off + r->query_len] = '\0'; /* a fragment after it is dropped */
  }
  h1->url[u.field_data[UF_PATH].off + r->path_len] = '\0'; /* the query follows a '?' it overwrites */
  const lkv_transport_handler_t *handler = &h1->cfg->handler;
  handler->on_http(handler->http_app, &h1->x);
  if (!h1->x.answered) { /* the application must answer; an answer is owed all the same */
    h1->x.answered = 1;
    lkv__h1_answer(h1, 500, NULL, NULL, NULL, 0);
  }
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Parses data until it is used up or a request is being answered; what is left waits in `in`. */
static int feed(lkv__h1_conn_t *h1, const uint8_t *data, size_t len) {
  while (len > 0 && !h1->busy && !h1->close_after) {
    size_t n = http_parser_execute(&h1->parser, &settings, (const char *)data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&h1->parser);
    if (e == HPE_PAUSED) {
      http_parser_pause(&h1->parser, 0);
    } else if (e != HPE_OK) {
      refuse(h1, h1->refused ? h1->refused : 400);
      return 0;
    }
    data += n;
    len -= n;
  }
  if (len == 0 || h1->close_after) return 0;
  if (h1->in_len + len > MAX_BACKLOG) return LKV_EPROTO;
  if (lkv_grow((void **)&h1->in, &h1->in_cap, h1->in_len + len, 1) != 0) return LKV_ENOMEM;
  memcpy(h1->in + h1->in_len, data, len);
  h1->in_len += len;
  return 0;
}

int lkv__h1_conn_recv(lkv__h1_conn_t *h1, const uint8_t *data, size_t len) {
  if (h1->busy || h1->in_len) { /* in order: behind what already waits */
    if (h1->in_len + len > MAX_BACKLOG) return LKV_EPROTO;
    if (lkv_grow((void **)&h1->in, &h1->in_cap, h1->in_len + len, 1) != 0) return LKV_ENOMEM;
    memcpy(h1->in + h1->in_len, data, len);
    h1->in_len += len;
    return 0;
  }
  return feed(h1, data, len);
}

/* ---- the connection ---- */

void lkv__h1_conn_init(lkv__h1_conn_t *h1, const lkv__h2_config_t *cfg, struct lkv__loop_s *loop, int tls,
                       void (*want_flush)(lkv__h1_conn_t *h1), void *owner) {
  memset(h1, 0, sizeof(*h1));
  h1->cfg = cfg;
  h1->loop = loop;
  h1->tls = tls;
  h1->want_flush = want_flush;
  h1->owner = owner;
  http_parser_init(&h1->parser, HTTP_REQUEST);
  h1->parser.data = h1;
}

void lkv__h1_conn_free(lkv__h1_conn_t *h1) {
  if (h1->call) lkv__call_detach(h1->call);
  free(h1->url);
  free(h1->body);
  free(h1->in);
  free(h1->out);
  free(h1->extra_headers);
  free(h1->unary_body);
  free(h1->metadata);
}

int lkv__h1_conn_send(lkv__h1_conn_t *h1, uint8_t **buf, size_t *len, size_t *cap, size_t limit) {
  for (;;) {
    lkv__h1_call_pump(h1);
    if (!h1->busy && h1->in_len && !h1->close_after) { /* the next request, already here */
      uint8_t *in = h1->in;
      size_t n = h1->in_len;
      h1->in = NULL;
      h1->in_len = h1->in_cap = 0;
      int rc = feed(h1, in, n);
      free(in);
      if (rc != 0) return rc;
      continue;
    }
    break;
  }
  if (h1->out_len == 0 || *len >= limit) return 0;
  size_t k = h1->out_len < limit - *len ? h1->out_len : limit - *len;
  if (lkv_grow((void **)buf, cap, *len + k, 1) != 0) return LKV_ENOMEM;
  memcpy(*buf + *len, h1->out, k);
  *len += k;
  memmove(h1->out, h1->out + k, h1->out_len - k);
  h1->out_len -= k;
  if (h1->out_len) h1->want_flush(h1); /* the rest after this write */
  return 0;
}

int lkv__h1_conn_check_overdue(lkv__h1_conn_t *h1, uint64_t now) {
  if (!h1->in_request || h1->busy || h1->close_after || now - h1->started_ms <= LKV__H1_REQUEST_MS) return 0;
  h1->in_request = 0;
  refuse(h1, 408); /* Go's words for it; nothing more is read */
  return 1;
}

int lkv__h1_conn_done(const lkv__h1_conn_t *h1) {
  return h1->close_after && !h1->busy && h1->out_len == 0;
}

void lkv__h1_conn_shutdown(lkv__h1_conn_t *h1) {
  h1->shutting_down = 1;
  if (!h1->busy) h1->close_after = 1;
  if (h1->call && h1->codec.stream)
    lkv__call_answer(h1->call, LKV_GRPC_UNAVAILABLE, "server is shutting down");
  h1->want_flush(h1);
}
