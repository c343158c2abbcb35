/* gRPC client streams on nghttp2: requests, message queues, response headers/trailers, status, unary calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/grpc_client_internal.h"
#include "transport/h2_common.h"

static lkv_grpc_stream_t *stream_of(nghttp2_session *session, int32_t id) {
  return nghttp2_session_get_stream_user_data(session, id);
}

static void stream_free(lkv_grpc_stream_t *s) {
  lkv__gc_chunk_t *ch = s->out_head;
  while (ch) {
    lkv__gc_chunk_t *next = ch->next;
    free(ch);
    ch = next;
  }
  lkv__grpc_deframer_free(&s->deframer);
  free(s->grpc_message);
  free(s->resp);
  free(s);
}

static void unlink_stream(lkv_grpc_stream_t *s) {
  lkv_grpc_conn_t *c = s->conn;
  if (s->prev)
    s->prev->next = s->next;
  else
    c->streams = s->next;
  if (s->next) s->next->prev = s->prev;
}

/* Runs the stream's completion callback once and frees it. For unary calls the single message rule is
 * checked here, once the status is known. */
static void complete(lkv_grpc_stream_t *s, int status, const char *message) {
  if (s->unary_cb) {
    if (status == LKV_GRPC_OK && s->n_resp != 1) {
      status = LKV_GRPC_INTERNAL;
      message = s->n_resp == 0 ? "grpc: unary response without a message"
                               : "grpc: unary response with more "
                                 "than one message";
    }
    s->unary_cb(s->unary_ud, status, message, status == LKV_GRPC_OK ? s->resp : NULL,
                status == LKV_GRPC_OK ? s->resp_len : 0);
  } else {
    s->cbs.on_close(s->ud, s, status, message);
  }
  stream_free(s);
}

void lkv__gc_stream_abort(lkv_grpc_stream_t *s, int status, const char *message) {
  unlink_stream(s);
  complete(s, status, message);
}

/* ---- status ---- */

/* The status grpc-go's client derives from an HTTP status when no grpc-status came. */
static int status_from_http(int http) {
  switch (http) {
    case 400:
      return LKV_GRPC_INTERNAL;
    case 401:
      return LKV_GRPC_UNAUTHENTICATED;
    case 403:
      return LKV_GRPC_PERMISSION_DENIED;
    case 404:
      return LKV_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return LKV_GRPC_UNAVAILABLE;
    default:
      return LKV_GRPC_UNKNOWN;
  }
}

/* ---- nghttp2 callbacks ---- */

#define LKV__NAME_IS(s) (namelen == sizeof(s) - 1 && memcmp(name, s, namelen) == 0)

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud) {
  (void)flags, (void)ud;
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  lkv_grpc_stream_t *s = stream_of(session, frame->hd.stream_id);
  if (!s) return 0;
  if (LKV__NAME_IS(":status")) {
    int http = 0;
    for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9'; i++)
      http = http * 10 + value[i] - '0';
    s->http_status = http;
  } else if (LKV__NAME_IS("grpc-status")) {
    int st = 0;
    for (size_t i = 0; i < valuelen && i < 4 && value[i] >= '0' && value[i] <= '9'; i++)
      st = st * 10 + value[i] - '0';
    s->grpc_status = st;
  } else if (LKV__NAME_IS("grpc-message")) {
    free(s->grpc_message);
    if (!(s->grpc_message = lkv__grpc_percent_decode(value, valuelen))) return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

/* Decides the stream's status on this side and resets it; the status is reported when the stream closes. */
static void fail_stream(lkv_grpc_stream_t *s, int status, const char *message) {
  if (s->local_status >= 0) return;
  s->local_status = status;
  s->local_message = message;
  if (s->conn->session) {
    nghttp2_submit_rst_stream(s->conn->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    lkv__gc_want_flush(s->conn);
  }
}

/* Deframer callback: one response message. Returns 1 to stop delivering once the stream was failed. */
static int deliver(void *ud, const uint8_t *msg, size_t len) {
  lkv_grpc_stream_t *s = ud;
  if (s->unary_cb) {
    if (s->n_resp++ == 0) {
      if (len > 0 && !(s->resp = malloc(len))) {
        fail_stream(s, LKV_GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
        return 1;
      }
      if (len > 0) memcpy(s->resp, msg, len);
      s->resp_len = len;
    }
  } else if (s->cbs.on_message) {
    s->cbs.on_message(s->ud, s, msg, len);
  }
  return s->local_status >= 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *ud) {
  (void)flags, (void)ud;
  lkv_grpc_stream_t *s = stream_of(session, stream_id);
  if (!s || s->local_status >= 0) return 0;
  switch (lkv__grpc_deframer_feed(&s->deframer, data, len, deliver, s)) {
    case LKV_EMSGSIZE:
      fail_stream(s, LKV_GRPC_RESOURCE_EXHAUSTED, "grpc: received message larger than max");
      break;
    case LKV_EUNSUPPORTED:
      fail_stream(s, LKV_GRPC_INTERNAL, "grpc: compressed response (only identity encoding is supported)");
      break;
    case LKV_EPROTO:
      fail_stream(s, LKV_GRPC_INTERNAL, "grpc: received unexpected payload format");
      break;
    case LKV_ENOMEM:
      fail_stream(s, LKV_GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
      break;
    default:
      break;
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *ud) {
  (void)ud;
  lkv_grpc_stream_t *s = stream_of(session, stream_id);
  char text[96];
  if (!s) return 0;
  nghttp2_session_set_stream_user_data(session, stream_id, NULL);
  unlink_stream(s);
  if (s->local_status >= 0) {
    complete(s, s->local_status, s->local_message);
  } else if (s->grpc_status >= 0) {
    if (s->grpc_status == LKV_GRPC_OK && lkv__grpc_deframer_partial(&s->deframer)) {
      complete(s, LKV_GRPC_INTERNAL, "grpc: response stream ended inside a message");
    } else {
      complete(s, s->grpc_status, s->grpc_message ? s->grpc_message : "");
    }
  } else if (error_code == NGHTTP2_REFUSED_STREAM) {
    complete(s, LKV_GRPC_UNAVAILABLE, "stream refused by the server");
  } else if (error_code == NGHTTP2_CANCEL) {
    complete(s, LKV_GRPC_CANCELLED, "stream cancelled by the server");
  } else if (error_code != NGHTTP2_NO_ERROR) {
    snprintf(text, sizeof(text), "stream reset by the server (HTTP/2 error %u)", error_code);
    complete(s, LKV_GRPC_INTERNAL, text);
  } else if (s->http_status != 200) {
    snprintf(text, sizeof(text), "unexpected HTTP status %d without grpc-status", s->http_status);
    complete(s, status_from_http(s->http_status), text);
  } else {
    complete(s, LKV_GRPC_INTERNAL, "server closed the stream without sending trailers");
  }
  return 0;
}

/* Data provider: hands queued request bytes to nghttp2; parks when the queue is empty and the stream is
 * still open for sending. */
static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *ud) {
  (void)session, (void)stream_id, (void)ud;
  lkv_grpc_stream_t *s = source->ptr;
  size_t n = 0;
  while (s->out_head && n < length) {
    lkv__gc_chunk_t *ch = s->out_head;
    size_t k = ch->len - ch->off;
    if (k > length - n) k = length - n;
    memcpy(buf + n, ch->data + ch->off, k);
    n += k;
    ch->off += k;
    if (ch->off == ch->len) {
      s->out_head = ch->next;
      if (!s->out_head) s->out_tail = NULL;
      free(ch);
    }
  }
  if (s->out_head) return (ssize_t)n;
  if (s->half_closed) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
  }
  if (n > 0) return (ssize_t)n;
  s->deferred = 1;
  return NGHTTP2_ERR_DEFERRED;
}

int lkv__gc_session_new(lkv_grpc_conn_t *c) {
  nghttp2_session_callbacks *cbs;
  nghttp2_session *session;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return LKV_ENOMEM;
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  if (nghttp2_session_client_new(&session, cbs, c) != 0) goto err_after_callbacks;
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, LKV__H2_STREAM_WINDOW}};
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 2) != 0 ||
      nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, LKV__H2_CONN_WINDOW) != 0) {
    goto err_after_session;
  }
  nghttp2_session_callbacks_del(cbs);
  c->session = session;
  return 0;

err_after_session:
  nghttp2_session_del(session);
err_after_callbacks:
  nghttp2_session_callbacks_del(cbs);
  return LKV_ENOMEM;
}

/* ---- streams ---- */

static int open_stream(lkv_grpc_conn_t *c, const char *path, lkv_grpc_stream_t **out) {
  if (c->error) return c->error;
  lkv_grpc_stream_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->conn = c;
  s->grpc_status = -1;
  s->local_status = -1;
  lkv__grpc_deframer_init(&s->deframer, LKV_GRPC_CLIENT_MAX_MSG);
  nghttp2_nv nva[] = {LKV__NV(":method", "POST", 4),
                      LKV__NV(":scheme", "http", 4),
                      LKV__NV(":path", path, strlen(path)),
                      LKV__NV(":authority", c->authority, strlen(c->authority)),
                      LKV__NV("content-type", "application/grpc", 16),
                      LKV__NV("te", "trailers", 8),
                      LKV__NV("user-agent", "ledgerkv-grpc-client", 20)};
  nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
  int32_t id = nghttp2_submit_request(c->session, NULL, nva, sizeof(nva) / sizeof(nva[0]), &prd, s);
  if (id < 0) {
    free(s);
    return id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? LKV_EAGAIN : LKV_ENOMEM;
  }
  s->id = id;
  s->next = c->streams;
  if (c->streams) c->streams->prev = s;
  c->streams = s;
  lkv__gc_want_flush(c);
  *out = s;
  return 0;
}

int lkv_grpc_stream_open(lkv_grpc_conn_t *conn, const char *path, const lkv_grpc_stream_cbs_t *cbs, void *ud,
                         lkv_grpc_stream_t **out) {
  if (!cbs || !cbs->on_close) return LKV_EINVAL;
  lkv_grpc_stream_t *s;
  int rv = open_stream(conn, path, &s);
  if (rv != 0) return rv;
  s->cbs = *cbs;
  s->ud = ud;
  *out = s;
  return 0;
}

/* A framed copy of msg, ready for the data provider. NULL when out of memory. */
static lkv__gc_chunk_t *make_chunk(const uint8_t *msg, size_t len) {
  lkv__gc_chunk_t *ch = malloc(sizeof(*ch) + LKV__GRPC_PREFIX_LEN + len);
  if (!ch) return NULL;
  ch->next = NULL;
  ch->off = 0;
  ch->len = LKV__GRPC_PREFIX_LEN + len;
  lkv__grpc_frame_prefix(ch->data, (uint32_t)len);
  if (len > 0) memcpy(ch->data + LKV__GRPC_PREFIX_LEN, msg, len);
  return ch;
}

int lkv_grpc_stream_send(lkv_grpc_stream_t *s, const uint8_t *msg, size_t len) {
  lkv_grpc_conn_t *c = s->conn;
  if (c->error) return c->error;
  if (s->half_closed || len > UINT32_MAX) return LKV_EINVAL;
  if (s->local_status >= 0) return LKV_ECANCELED;
  lkv__gc_chunk_t *ch = make_chunk(msg, len);
  if (!ch) return LKV_ENOMEM;
  if (s->out_tail)
    s->out_tail->next = ch;
  else
    s->out_head = ch;
  s->out_tail = ch;
  if (s->deferred) {
    s->deferred = 0;
    nghttp2_session_resume_data(c->session, s->id);
  }
  lkv__gc_want_flush(c);
  return 0;
}

void lkv_grpc_stream_close_send(lkv_grpc_stream_t *s) {
  lkv_grpc_conn_t *c = s->conn;
  if (s->half_closed || !c->session) return;
  s->half_closed = 1;
  if (s->deferred) {
    s->deferred = 0;
    nghttp2_session_resume_data(c->session, s->id);
  }
  lkv__gc_want_flush(c);
}

void lkv_grpc_stream_cancel(lkv_grpc_stream_t *s) {
  fail_stream(s, LKV_GRPC_CANCELLED, "cancelled by the client");
}

int lkv_grpc_unary(lkv_grpc_conn_t *conn, const char *path, const uint8_t *req, size_t len,
                   lkv_grpc_unary_cb cb, void *ud) {
  lkv_grpc_stream_t *s;
  if (!cb || len > UINT32_MAX) return LKV_EINVAL;
  if (conn->error) return conn->error;
  /* The message is framed before the stream exists, so that nothing needs withdrawing if that fails. */
  lkv__gc_chunk_t *ch = make_chunk(req, len);
  if (!ch) return LKV_ENOMEM;
  int rv = open_stream(conn, path, &s);
  if (rv != 0) {
    free(ch);
    return rv;
  }
  s->out_head = s->out_tail = ch;
  s->half_closed = 1;
  s->unary_cb = cb;
  s->unary_ud = ud;
  return 0;
}
