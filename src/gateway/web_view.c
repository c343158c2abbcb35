/* The live web view (--enable-web-view): the page at /ui/, its server-sent events fed by a Watch call,
 * and the Ledger service's read routes the page uses (docs/web-view.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "gateway/internal.h"

/* ---- /ui/events: a watch of a prefix as server-sent events ---- */

/* One WatchResponse -> "data: <its JSON>\n\n". */
static int render_event(const void *arg, const uint8_t *msg, size_t len, char **out, size_t *out_len) {
  (void)arg;
  return lkv__gateway_render_framed(&etcdserverpb__watch_response__descriptor, msg, len, "data: ", "\n\n",
                                    out, out_len);
}

/* The watch ended with an error: an "error" event holding grpc-gateway's error body. */
static int fail_event(const void *arg, int grpc_code, const char *message, char **out, size_t *out_len) {
  (void)arg;
  char *body;
  size_t n;
  int rc = lkv__gateway_error_body(grpc_code, message, &body, &n);
  if (rc != 0) return rc;
  size_t cap = n + 32;
  char *ev = malloc(cap);
  if (ev) *out_len = (size_t)snprintf(ev, cap, "event: error\ndata: %s\n\n", body);
  free(body);
  if (!ev) return LKV_ENOMEM;
  *out = ev;
  return lkv__gateway_http_status(grpc_code);
}

static const lkv_http_call_codec_t event_codec = {.stream = 1,
                                                  .content_type = "text/event-stream",
                                                  .headers = "Cache-Control: no-cache\r\n",
                                                  .render = render_event,
                                                  .fail = fail_event};

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* The value of parameter name in the query, percent- and '+'-decoded into out (cap bytes; *n its length).
 * Returns 1 when present, 0 when absent, LKV_EINVAL when malformed or longer than cap. */
static int query_param(const char *q, size_t qlen, const char *name, uint8_t *out, size_t cap, size_t *n) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < qlen;) {
    size_t end = i;
    while (end < qlen && q[end] != '&') end++;
    if (end - i > nl && memcmp(q + i, name, nl) == 0 && q[i + nl] == '=') {
      size_t k = 0;
      for (size_t j = i + nl + 1; j < end; j++) {
        int c = (unsigned char)q[j];
        if (c == '%') {
          int hi = j + 2 < end ? hexval(q[j + 1]) : -1, lo = hi >= 0 ? hexval(q[j + 2]) : -1;
          if (lo < 0) return LKV_EINVAL;
          c = hi * 16 + lo;
          j += 2;
        } else if (c == '+') {
          c = ' ';
        }
        if (k == cap) return LKV_EINVAL;
        out[k++] = (uint8_t)c;
      }
      *n = k;
      return 1;
    }
    i = end + 1;
  }
  return 0;
}

/* The end of a prefix's range as clientv3's GetPrefixRangeEnd: the last byte below 0xff raised by one,
 * what follows it dropped; "\0" (to the end of the keyspace) when there is none. */
static size_t prefix_end(const uint8_t *p, size_t n, uint8_t *end) {
  for (size_t i = n; i-- > 0;) {
    if (p[i] < 0xff) {
      memcpy(end, p, i);
      end[i] = (uint8_t)(p[i] + 1);
      return i + 1;
    }
  }
  end[0] = 0;
  return 1;
}

static void serve_events(lkv_http_exchange_t *x) {
  const lkv_http_exchange_request_t *req = lkv_http_exchange_request(x);
  uint8_t prefix[1024], end[1024], rev[24];
  size_t plen = 0, rlen = 0;
  int has_p = query_param(req->query, req->query_len, "prefix", prefix, sizeof(prefix), &plen);
  int has_r = query_param(req->query, req->query_len, "start_revision", rev, sizeof(rev) - 1, &rlen);
  char *stop = NULL;
  long long start = 0;
  if (has_r == 1) {
    rev[rlen] = '\0';
    start = strtoll((const char *)rev, &stop, 10);
  }
  if (has_p < 0 || has_r < 0 || (has_r == 1 && (rlen == 0 || *stop != '\0' || start < 0))) {
    lkv__gateway_text_answer(x, 400, "bad prefix or start_revision\n");
    return;
  }
  Etcdserverpb__WatchCreateRequest create = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
  static uint8_t zero = 0;
  create.key.data = plen ? prefix : &zero; /* the empty prefix: every key, from "\0" */
  create.key.len = plen ? plen : 1;
  create.range_end.data = end;
  create.range_end.len = prefix_end(prefix, plen, end);
  create.start_revision = start;
  Etcdserverpb__WatchRequest wr = ETCDSERVERPB__WATCH_REQUEST__INIT;
  wr.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
  wr.create_request = &create;
  size_t len = etcdserverpb__watch_request__get_packed_size(&wr);
  uint8_t *msg = malloc(len);
  if (!msg) {
    lkv__gateway_text_answer(x, 500, "out of memory\n");
    return;
  }
  etcdserverpb__watch_request__pack(&wr, msg);
  const uint8_t *msgs[1] = {msg};
  if (lkv_http_exchange_call(x, "/etcdserverpb.Watch/Watch", msgs, &len, 1, &event_codec) != 0)
    lkv__gateway_text_answer(x, 500, "out of memory\n");
  free(msg);
}

/* ---- the page ---- */

static void serve_page(lkv_http_exchange_t *x) {
  lkv_http_response_t r = {
      .status = 200,
      .content_type = "text/html; charset=utf-8",
      /* the page loads nothing from elsewhere and may not be framed by another site */
      .headers =
          "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; style-src "
          "'unsafe-inline'; frame-ancestors 'none'\r\nX-Content-Type-Options: nosniff\r\nCache-Control: "
          "no-cache\r\n"};
  r.body = malloc(lkv__web_ui_html_len);
  if (!r.body) {
    lkv__gateway_text_answer(x, 500, "out of memory\n");
    return;
  }
  memcpy(r.body, lkv__web_ui_html, lkv__web_ui_html_len);
  r.body_len = lkv__web_ui_html_len;
  lkv_http_exchange_reply(x, &r);
}

void lkv__web_view_serve(lkv_http_exchange_t *x, const char *rest) {
  const char *method = lkv_http_exchange_request(x)->method;
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  if (strcmp(rest, "") == 0 || strcmp(rest, "index.html") == 0 || strcmp(rest, "events") == 0) {
    if (!get || (rest[0] == 'e' && strcmp(method, "GET") != 0)) /* a stream has no HEAD */
      lkv__gateway_text_answer(x, 405, "Method Not Allowed\n");
    else if (rest[0] == 'e')
      serve_events(x);
    else
      serve_page(x);
    return;
  }
  if (strncmp(rest, "api/ledger/", 11) == 0) /* the gateway's /v3/ledger/ routes, for the page */
    lkv__gateway_serve_route(x, rest + 4);
  else
    lkv__gateway_text_answer(x, 404, "Not Found\n");
}
