/* HTTP/2 exchanges: non-gRPC streams gathered into requests for on_http, answered whole or by a call whose
 * rendered messages go out as DATA. */
#include "transport/h2_gateway.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "transport/conn.h"
#include "transport/exchange_internal.h"
#include "transport/h1_conn.h"
#include "transport/h2_common.h"
#include "transport/http_internal.h"

#define OUT_WINDOW (256 * 1024) /* rendered bytes waiting for the client before messages wait in the call */
#define MAX_HEADERS 24          /* header lines of an answer (the gateway sends a handful) */

struct lkv__h2x_s {
  lkv_http_exchange_t x; /* x.h2x == this */
  lkv_call_t *call;      /* the stream's call */
  char method[16], host[256], origin[256];
  char *target; /* a copy of :path, cut into path and query */
  uint8_t *body;
  size_t body_len, body_cap;
  int too_large, ran, head_only;
  char *extra_headers; /* lkv_http_exchange_set_headers */
  /* The answer. */
  int is_call; /* answered by a call through codec */
  lkv_http_call_codec_t codec;
  char *unary; /* a unary call's rendered message until its status is known */
  size_t unary_len;
  char *out; /* bytes for DATA frames, from out_off */
  size_t out_len, out_off, out_cap;
  int status;
  const char *content_type, *headers;
  int headers_sent, finished, deferred, filling;
};

static lkv__h2x_t *h2x_of(lkv_call_t *call) {
  if (!call->gw) call->gw = calloc(1, sizeof(*call->gw));
  return call->gw;
}

#define IS(s) (namelen == sizeof(s) - 1 && memcmp(name, s, namelen) == 0)

int lkv__h2x_header(lkv_call_t *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                    size_t valuelen) {
  int which = IS(":method") ? 1 : IS(":authority") || IS("host") ? 2 : IS("origin") ? 3 : 0;
  if (!which) return 0;
  lkv__h2x_t *x = h2x_of(call);
  if (!x) return LKV_ENOMEM;
  char *dst = which == 1 ? x->method : which == 2 ? x->host : x->origin;
  size_t cap = which == 1 ? sizeof(x->method) : sizeof(x->host);
  if (dst[0]) return 0; /* the first wins: :authority before host */
  size_t n = valuelen < cap - 1 ? valuelen : cap - 1;
  memcpy(dst, value, n);
  dst[n] = '\0';
  return 0;
}

int lkv__h2x_begin(lkv__h2_conn_t *h2, lkv_call_t *call, int grpc) {
  if (grpc || !h2->cfg->handler.on_http || !h2x_of(call)) {
    lkv__h2x_free(call->gw);
    call->gw = NULL;
    return 0;
  }
  call->gw->call = call;
  call->gw->x.h2x = call->gw;
  return 1;
}

void lkv__h2x_body(lkv_call_t *call, const uint8_t *data, size_t len) {
  lkv__h2x_t *x = call->gw;
  if (x->too_large) return;
  if (x->body_len + len > call->h2->cfg->max_recv_msg_bytes ||
      lkv_grow((void **)&x->body, &x->body_cap, x->body_len + len + 1, 1) != 0) {
    x->too_large = 1; /* answered 413 at the end, as HTTP/1.1's body limit */
    return;
  }
  memcpy(x->body + x->body_len, data, len);
  x->body_len += len;
}

static int append(lkv__h2x_t *x, const char *data, size_t len) {
  if (len == 0) return 0;
  if (x->out_off == x->out_len) x->out_off = x->out_len = 0;
  if (lkv_grow((void **)&x->out, &x->out_cap, x->out_len + len, 1) != 0) return LKV_ENOMEM;
  memcpy(x->out + x->out_len, data, len);
  x->out_len += len;
  return 0;
}

/* A call's queued messages rendered into out (up to a window), and once its status is known and every
 * message taken, the end of the answer. */
static void fill(lkv__h2x_t *x) {
  lkv_call_t *call = x->call;
  lkv__chunk_t *chunk;
  while (!x->finished && x->out_len - x->out_off < OUT_WINDOW && (chunk = lkv__call_take_message(call))) {
    char *text;
    size_t len;
    if (lkv__exchange_render(call, &x->codec, chunk, &text, &len) != 0) continue; /* answered INTERNAL */
    if (x->codec.stream) {
      if (append(x, text, len) != 0) lkv__call_answer(call, LKV_GRPC_RESOURCE_EXHAUSTED, "out of memory");
      free(text);
    } else {
      free(x->unary);
      x->unary = text;
      x->unary_len = len;
    }
  }
  if (x->finished || !call->answered || call->out_head) return;
  char *body;
  size_t len;
  int http = lkv__exchange_final(call, &x->codec, &x->unary, x->unary_len, &body, &len);
  if (!x->headers_sent) x->status = http; /* a stream already answered 200 keeps it: the text follows */
  append(x, body, len);
  free(body);
  x->finished = 1;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *ud) {
  (void)session, (void)stream_id, (void)ud;
  lkv__h2x_t *x = source->ptr;
  if (x->is_call && !x->filling) {
    x->filling = 1;
    fill(x);
    x->filling = 0;
  }
  size_t n = x->out_len - x->out_off < length ? x->out_len - x->out_off : length;
  memcpy(buf, x->out + x->out_off, n);
  x->out_off += n;
  if (x->out_off < x->out_len) return (ssize_t)n;
  if (x->finished) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
  }
  if (n) return (ssize_t)n;
  x->deferred = 1;
  return NGHTTP2_ERR_DEFERRED;
}

/* Header lines "Name: value\r\n" as HTTP/2 fields (names lower-cased into names, cap bytes). */
static size_t add_lines(nghttp2_nv *nva, size_t n, const char *lines, char *names, size_t *used, size_t cap) {
  for (const char *p = lines; p && *p && n < MAX_HEADERS;) {
    const char *colon = strchr(p, ':'), *end = strstr(p, "\r\n");
    if (!colon || !end || colon > end || *used + (size_t)(colon - p) > cap) break;
    char *name = names + *used;
    for (const char *c = p; c < colon; c++) names[(*used)++] = (char)tolower((unsigned char)*c);
    const char *v = colon + 1;
    while (v < end && *v == ' ') v++;
    nva[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)v, (size_t)(colon - p), (size_t)(end - v),
                            NGHTTP2_NV_FLAG_NONE};
    p = end + 2;
  }
  return n;
}

/* The answer's HEADERS (content_length -1: none) and, when a body follows, its data provider. */
static void submit(lkv__h2x_t *x, long long content_length) {
  lkv__h2_conn_t *h2 = x->call->h2;
  nghttp2_nv nva[MAX_HEADERS + 3];
  char status[8], clen[24], names[1024];
  size_t n = 0, used = 0;
  int sn = snprintf(status, sizeof(status), "%d", x->status);
  nva[n++] = (nghttp2_nv)LKV__NV(":status", status, (size_t)sn);
  if (x->content_type)
    nva[n++] = (nghttp2_nv)LKV__NV("content-type", x->content_type, strlen(x->content_type));
  n = add_lines(nva, n, x->extra_headers, names, &used, sizeof(names));
  n = add_lines(nva, n, x->headers, names, &used, sizeof(names));
  if (content_length >= 0) {
    int cn = snprintf(clen, sizeof(clen), "%lld", content_length);
    nva[n++] = (nghttp2_nv)LKV__NV("content-length", clen, (size_t)cn);
  }
  nghttp2_data_provider prd = {.source.ptr = x, .read_callback = read_body};
  int body = !x->head_only && !(x->finished && x->out_off == x->out_len);
  x->headers_sent = 1;
  if (nghttp2_submit_response(h2->session, x->call->stream_id, nva, n, body ? &prd : NULL) != 0)
    nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, x->call->stream_id, NGHTTP2_INTERNAL_ERROR);
  h2->want_flush(h2);
}

char **lkv__h2x_extra_headers(lkv__h2x_t *x) {
  return &x->extra_headers;
}

void lkv__h2x_reply(lkv__h2x_t *x, lkv_http_response_t *resp) {
  size_t len = resp->body_len;
  if (!x->call->h2 || x->headers_sent) { /* the stream is gone */
    free(resp->body);
    resp->body = NULL;
    return;
  }
  x->status = resp->status;
  x->content_type = resp->content_type;
  x->headers = resp->headers;
  x->finished = 1;
  free(x->out);
  x->out = resp->body;
  x->out_len = x->out_cap = len;
  x->out_off = 0;
  resp->body = NULL;
  submit(x, (long long)len);
}

int lkv__h2x_call(lkv__h2x_t *x, const char *grpc_path, const uint8_t *const *msgs, const size_t *lens,
                  size_t n, const lkv_http_call_codec_t *codec) {
  lkv_call_t *call = x->call;
  const lkv_transport_handler_t *handler = &call->h2->cfg->handler;
  int streaming = 0;
  if (x->x.answered) return LKV_EINVAL;
  const void *route = handler->lookup(handler->app, grpc_path, strlen(grpc_path), &streaming);
  if (route && !streaming && n != 1) return LKV_EINVAL;
  x->x.answered = 1;
  x->is_call = 1;
  x->status = 200; /* a stream's, once its first message goes out; fill decides a unary call's */
  x->codec = *codec;
  x->content_type = codec->content_type;
  x->headers = codec->headers;
  lkv__exchange_deliver(call, handler, route, streaming, grpc_path, msgs, lens, n);
  return 0;
}

void lkv__h2x_output(lkv_call_t *call) {
  lkv__h2x_t *x = call->gw;
  if (!x->is_call || !call->h2 || x->filling) return;
  x->filling = 1;
  fill(x);
  x->filling = 0;
  if (!x->headers_sent) {
    if (x->finished || (x->codec.stream && x->out_len > x->out_off))
      submit(x, x->codec.stream ? -1 : (long long)(x->out_len - x->out_off));
    return;
  }
  if (x->deferred) {
    x->deferred = 0;
    nghttp2_session_resume_data(call->h2->session, call->stream_id);
  }
  call->h2->want_flush(call->h2);
}

/* The method as a static string where it is a usual one (exchange.h promises static text). */
static const char *method_name(const char *m) {
  static const char *const known[] = {"GET",     "HEAD",  "POST",    "PUT",  "DELETE",
                                      "OPTIONS", "PATCH", "CONNECT", "TRACE"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strcmp(m, known[i]) == 0) return known[i];
  return "UNKNOWN";
}

void lkv__h2x_run(lkv__h2_conn_t *h2, lkv_call_t *call) {
  lkv__h2x_t *x = call->gw;
  if (x->ran) return;
  x->ran = 1;
  lkv__conn_t *c = (lkv__conn_t *)((char *)h2 - offsetof(lkv__conn_t, h2));
  if (x->too_large) {
    static const char text[] = "413 Request Entity Too Large"; /* as HTTP/1.1's answer */
    lkv_http_response_t r = {.status = 413, .content_type = "text/plain; charset=utf-8"};
    r.body = malloc(sizeof(text) - 1);
    if (r.body) memcpy(r.body, text, r.body_len = sizeof(text) - 1);
    x->x.answered = 1;
    lkv__h2x_reply(x, &r);
    return;
  }
  x->target = strdup(call->path ? call->path : "/");
  if (!x->target) {
    lkv_http_response_t r = {.status = 500};
    x->x.answered = 1;
    lkv__h2x_reply(x, &r);
    return;
  }
  char *hash = strchr(x->target, '#'), *q = strchr(x->target, '?');
  if (hash) *hash = '\0';
  if (q) *q++ = '\0';
  x->x.req = (lkv_http_exchange_request_t){.method = method_name(x->method),
                                           .path = x->target,
                                           .path_len = strlen(x->target),
                                           .query = q ? q : "",
                                           .query_len = q ? strlen(q) : 0,
                                           .host = x->host,
                                           .origin = x->origin,
                                           .body = x->body ? x->body : (const uint8_t *)"",
                                           .body_len = x->body_len,
                                           .tls = c->tls != NULL};
  x->head_only = strcmp(x->method, "HEAD") == 0;
  const lkv_transport_handler_t *handler = &h2->cfg->handler;
  handler->on_http(handler->http_app, &x->x);
  if (!x->x.answered) { /* the application must answer; an answer is owed all the same */
    lkv_http_response_t r = {.status = 500};
    x->x.answered = 1;
    lkv__h2x_reply(x, &r);
  }
}

void lkv__h2x_free(lkv__h2x_t *x) {
  if (!x) return;
  free(x->target);
  free(x->body);
  free(x->extra_headers);
  free(x->unary);
  free(x->out);
  free(x);
}
