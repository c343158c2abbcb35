/* nghttp2 server sessions: request validation, dispatch to the handler, responses, trailers, windows. */
#include "transport/h2_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "metrics/catalog.h"
#include "transport/deadline.h"
#include "transport/h2_common.h"
#include "transport/h2_flow.h"
#include "transport/h2_gateway.h"
#include "transport/h2_ping.h"
#include "transport/loop.h"

static lkv_call_t *stream_call(nghttp2_session *session, int32_t stream_id) {
  return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int is_grpc_content_type(const uint8_t *v, size_t len) {
  static const char base[] = "application/grpc";
  size_t n = sizeof(base) - 1;
  if (len < n || memcmp(v, base, n) != 0) return 0;
  return len == n || v[n] == '+' || v[n] == ';'; /* "application/grpcfoo" is not gRPC */
}

/* ---- response side ---- */

static int submit_trailers(lkv_call_t *call) {
  char code[16];
  int n = snprintf(code, sizeof(code), "%d", call->status);
  nghttp2_nv nva[] = {LKV__NV("grpc-status", code, (size_t)n),
                      LKV__NV("grpc-message", call->message, call->message ? strlen(call->message) : 0)};
  return nghttp2_submit_trailer(call->h2->session, call->stream_id, nva, call->message ? 2 : 1);
}

static int submit_trailers_only(lkv_call_t *call) {
  char code[16], http[8];
  int n = snprintf(code, sizeof(code), "%d", call->status);
  int h = snprintf(http, sizeof(http), "%d", call->http_status);
  nghttp2_nv nva[] = {LKV__NV(":status", http, (size_t)h), LKV__NV("content-type", "application/grpc", 16),
                      LKV__NV("grpc-status", code, (size_t)n),
                      LKV__NV("grpc-message", call->message, call->message ? strlen(call->message) : 0)};
  return nghttp2_submit_response(call->h2->session, call->stream_id, nva, call->message ? 4 : 3, NULL);
}

/* nghttp2 pulls DATA payload from the call's output queue; once the queue is empty and the status known,
 * the trailers follow (NO_END_STREAM: the trailers HEADERS frame carries END_STREAM). */
static ssize_t read_output(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                           uint32_t *flags, nghttp2_data_source *source, void *ud) {
  (void)session, (void)stream_id, (void)ud;
  lkv_call_t *call = source->ptr;
  size_t n = lkv__call_take_output(call, buf, length);
  if (call->out_head) return (ssize_t)n;
  if (call->answered) {
    if (submit_trailers(call) != 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return (ssize_t)n;
  }
  if (n > 0) return (ssize_t)n;
  call->deferred = 1;
  return NGHTTP2_ERR_DEFERRED;
}

void lkv__h2_call_output(lkv_call_t *call) {
  lkv__h2_conn_t *h2 = call->h2;
  int rv = 0;
  if (!h2) return;
  if (call->gw) { /* the gateway's: rendered by its codec */
    lkv__h2x_output(call);
    return;
  }
  if (!call->headers_sent) {
    if (call->answered) {
      rv = submit_trailers_only(call);
    } else if (call->out_head) {
      nghttp2_nv nva[] = {LKV__NV(":status", "200", 3), LKV__NV("content-type", "application/grpc", 16)};
      nghttp2_data_provider prd = {.source.ptr = call, .read_callback = read_output};
      rv = nghttp2_submit_response(h2->session, call->stream_id, nva, 2, &prd);
    } else {
      return;
    }
    call->headers_sent = 1;
  } else if (call->deferred) {
    call->deferred = 0;
    rv = nghttp2_session_resume_data(h2->session, call->stream_id);
  }
  if (rv != 0) {
    nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_INTERNAL_ERROR);
  }
  h2->want_flush(h2);
}

/* ---- request side ---- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  lkv__h2_conn_t *h2 = ud;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (h2->going_away && frame->hd.stream_id > h2->goaway_last) {
    /* Opened after our GOAWAY was submitted but before it left: the GOAWAY tells the client this stream
     * was not processed (it retries it elsewhere), so it must not be; REFUSED_STREAM says the same. */
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  lkv_call_t *call = lkv__call_new(h2->loop, h2, frame->hd.stream_id);
  if (!call) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* nghttp2 resets the stream */
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
  lkv__flow_attach(call);
  return 0;
}

/* Whether the application asked for this header (handler.metadata_keys; nghttp2 gives lower-case names). */
static int wanted_metadata(const lkv__h2_conn_t *h2, const uint8_t *name, size_t namelen) {
  const char *const *k = h2->cfg->handler.metadata_keys;
  for (; k && *k; k++)
    if (strlen(*k) == namelen && memcmp(*k, name, namelen) == 0) return 1;
  return 0;
}

/* Appends "name\0value\0" to the call's metadata (values never contain NUL: nghttp2 refuses them). Only
 * the first value of a name is kept, so a client repeating a header cannot grow it. */
static int keep_metadata(lkv_call_t *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                         size_t valuelen) {
  for (size_t off = 0; off < call->metadata_len;) {
    const char *n = call->metadata + off, *v = n + strlen(n) + 1;
    if (strlen(n) == namelen && memcmp(n, name, namelen) == 0) return 0;
    off = (size_t)(v + strlen(v) + 1 - call->metadata);
  }
  size_t add = namelen + valuelen + 2;
  char *m = realloc(call->metadata, call->metadata_len + add);
  if (!m) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  memcpy(m + call->metadata_len, name, namelen);
  m[call->metadata_len + namelen] = '\0';
  memcpy(m + call->metadata_len + namelen + 1, value, valuelen);
  m[call->metadata_len + add - 1] = '\0';
  call->metadata = m;
  call->metadata_len += add;
  return 0;
}

#define LKV__NAME_IS(s) (namelen == sizeof(s) - 1 && memcmp(name, s, namelen) == 0)

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud) {
  (void)flags;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  lkv_call_t *call = stream_call(session, frame->hd.stream_id);
  if (!call) return 0;
  if (lkv__h2x_header(call, name, namelen, value, valuelen) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (LKV__NAME_IS(":method")) {
    call->method_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
  } else if (LKV__NAME_IS(":path")) {
    char *path = malloc(valuelen + 1);
    if (!path) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    memcpy(path, value, valuelen);
    path[valuelen] = '\0';
    free(call->path);
    call->path = path;
    call->path_len = valuelen;
  } else if (LKV__NAME_IS("content-type")) {
    size_t n = valuelen < sizeof(call->content_type) - 1 ? valuelen : sizeof(call->content_type) - 1;
    memcpy(call->content_type, value, n);
    call->content_type[n] = '\0';
    call->content_type_ok = is_grpc_content_type(value, valuelen);
  } else if (LKV__NAME_IS("grpc-encoding")) {
    call->encoding_set = !(valuelen == 8 && memcmp(value, "identity", 8) == 0);
  } else if (LKV__NAME_IS("grpc-timeout")) {
    uint64_t ns;
    if (lkv__deadline_parse(value, valuelen, &ns) == 0)
      lkv__deadline_set(call, ns);
    else
      call->timeout_bad = 1;
  } else if (wanted_metadata(ud, name, namelen)) {
    return keep_metadata(call, name, namelen, value, valuelen);
  } else if (namelen > 14 && memcmp(name, "grpc-metadata-", 14) == 0 &&
             wanted_metadata(ud, name + 14, namelen - 14)) {
    return keep_metadata(call, name + 14, namelen - 14, value, valuelen); /* grpc-gateway's forwarding */
  }
  return 0;
}

/* The request headers are complete: refuse what is not gRPC (as grpc-go does: 415 for the content-type,
 * 405 for the method, each with grpc-status INTERNAL) and resolve the route. */
static void start_call(lkv__h2_conn_t *h2, lkv_call_t *call) {
  char msg[160];
  if (lkv__h2x_begin(h2, call, call->content_type_ok)) return; /* not gRPC: the gateway's (h2_gateway.h) */
  if (call->timeout_bad) { /* grpc-go: "malformed time-out", the stream reset */
    nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  if (!call->content_type_ok) {
    call->http_status = 415;
    snprintf(msg, sizeof(msg), "invalid gRPC request content-type \"%s\"", call->content_type);
    lkv__call_answer(call, LKV_GRPC_INTERNAL, msg);
    return;
  }
  if (!call->method_post) {
    call->http_status = 405;
    lkv__call_answer(call, LKV_GRPC_INTERNAL, "invalid gRPC request method: must be POST");
    return;
  }
  int streaming = 0;
  const char *path = call->path ? call->path : "";
  const void *route = h2->cfg->handler.lookup(h2->cfg->handler.app, path, call->path_len, &streaming);
  if (!route) {
    lkv__call_answer_unknown(call, &h2->cfg->handler, path);
    return;
  }
  call->route = route;
  call->client_streaming = streaming != 0;
  if (call->deadline_ns) lkv__deadline_start(call); /* without a timer, still checked before each message */
}

/* Unary calls must have had exactly one message by now; a client stream that never sent a message was never
 * shown to the application, so the transport ends it with OK itself. */
void lkv__h2_end_of_stream(lkv__h2_conn_t *h2, lkv_call_t *call) {
  if (call->gw && !call->route) {
    lkv__h2x_run(h2, call);
    return;
  }
  if (call->answered || !call->route || lkv__flow_half_close(call)) return;
  if (lkv__grpc_deframer_partial(&call->deframer)) {
    lkv__call_answer(call, LKV_GRPC_INTERNAL, "grpc: request stream ended inside a message");
  } else if (!call->client_streaming) {
    if (call->n_msgs == 0) {
      lkv__call_answer(call, LKV_GRPC_INTERNAL, "grpc: unary call without a request message");
    }
  } else if (!call->owned) {
    lkv__call_answer(call, LKV_GRPC_OK, NULL);
  } else if (h2->cfg->handler.on_half_close) {
    h2->cfg->handler.on_half_close(h2->cfg->handler.app, call->route, call);
  }
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  lkv__h2_conn_t *h2 = ud;
  if (frame->hd.type == NGHTTP2_PING) lkv__ping_received(h2, frame->hd.flags & NGHTTP2_FLAG_ACK);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  lkv_call_t *call = stream_call(session, frame->hd.stream_id);
  if (!call) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) start_call(h2, call);
  if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) lkv__h2_end_of_stream(h2, call);
  return 0;
}

/* Deframer callback: one complete request message. Returns 1 to stop once the call is answered. */
static int deliver(void *ud, const uint8_t *msg, size_t len) {
  lkv_call_t *call = ud;
  if (!call->client_streaming && call->n_msgs > 0) {
    lkv__call_answer(call, LKV_GRPC_INTERNAL, "grpc: unary call with more than one request message");
    return 1;
  }
  call->n_msgs++;
  lkv_metric_add(LKV_METRIC(client_grpc_received), 0, (double)len); /* etcd's codec counts messages */
  lkv__flow_message(call, msg, len);
  return call->answered ? 1 : 0;
}

/* grpc-go's answer to a message above its receive limit, word for word. */
static void answer_too_large(lkv_call_t *call, size_t max) {
  char msg[96];
  snprintf(msg, sizeof(msg), "grpc: received message larger than max (%zu vs. %zu)",
           lkv__grpc_deframer_announced(&call->deframer), max);
  lkv__call_answer(call, LKV_GRPC_RESOURCE_EXHAUSTED, msg);
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *ud) {
  lkv__h2_conn_t *h2 = ud;
  (void)flags;
  lkv_call_t *call = stream_call(session, stream_id);
  if (call && call->gw && !call->route) { /* an exchange's request body */
    lkv__h2x_body(call, data, len);
    lkv__flow_received(h2, stream_id, call, len);
    return 0;
  }
  if (!call || call->answered || !call->route) { /* answered: the rest of the body is ignored */
    lkv__flow_received(h2, stream_id, call, len);
    return 0;
  }
  switch (lkv__grpc_deframer_feed(&call->deframer, data, len, deliver, call)) {
    case LKV_EMSGSIZE:
      answer_too_large(call, h2->cfg->max_recv_msg_bytes);
      break;
    case LKV_EUNSUPPORTED: /* the statuses grpc-go gives for a compressed message it cannot read */
      if (call->encoding_set) {
        lkv__call_answer(call, LKV_GRPC_UNIMPLEMENTED,
                         "grpc: Decompressor is not installed for grpc-encoding");
      } else {
        lkv__call_answer(call, LKV_GRPC_INTERNAL,
                         "grpc: compressed flag set with identity or empty encoding");
      }
      break;
    case LKV_EPROTO:
      lkv__call_answer(call, LKV_GRPC_INTERNAL, "grpc: received unexpected payload format");
      break;
    case LKV_ENOMEM:
      lkv__call_answer(call, LKV_GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
      break;
    default:
      break;
  }
  if (call->answered) lkv__grpc_deframer_free(&call->deframer);
  lkv__flow_received(h2, stream_id, call, len); /* after the feed: it may have held messages */
  return 0;
}

/* gRPC servers end a stream the client has not half-closed with RST_STREAM(NO_ERROR) after the trailers,
 * so that the client stops sending (an oversized upload, a stream answered early). */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  if (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) lkv__ping_data_sent(ud);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *ud) {
  (void)error_code, (void)ud;
  lkv_call_t *call = stream_call(session, stream_id);
  if (call) lkv__call_detach(call);
  return 0;
}

/* ---- session ---- */

int lkv__h2_conn_init(lkv__h2_conn_t *h2, const lkv__h2_config_t *cfg, struct lkv__loop_s *loop,
                      void (*want_flush)(lkv__h2_conn_t *h2)) {
  nghttp2_session_callbacks *cbs;
  nghttp2_session *session;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return LKV_ENOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  /* nghttp2's HTTP checks refuse an :authority that is a whole URL ("http://host:port"), which etcdctl 3.4
   * sends when it dials the client URLs of MemberList (endpoint status --cluster), and grpc-go accepts; the
   * gRPC rules that matter (POST, a path, the content-type) are checked when the headers end. */
  nghttp2_option *opt;
  if (nghttp2_option_new(&opt) != 0) goto err_after_callbacks;
  nghttp2_option_set_no_http_messaging(opt, 1);
  nghttp2_option_set_no_auto_window_update(opt, 1); /* h2_flow.c gives back what it no longer holds */
  int rv = nghttp2_session_server_new2(&session, cbs, h2, opt);
  nghttp2_option_del(opt);
  if (rv != 0) goto err_after_callbacks;

  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, LKV__H2_STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams}};
  size_t n_settings = cfg->max_concurrent_streams ? 2 : 1; /* grpc-go advertises no limit for 0 */
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, n_settings) != 0 ||
      nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, LKV__H2_CONN_WINDOW) != 0) {
    goto err_after_session;
  }
  nghttp2_session_callbacks_del(cbs);
  memset(h2, 0, sizeof(*h2));
  h2->session = session;
  h2->cfg = cfg;
  h2->loop = loop;
  h2->want_flush = want_flush;
  h2->last_read_ms = uv_now(&loop->uv);
  return 0;

err_after_session:
  nghttp2_session_del(session);
err_after_callbacks:
  nghttp2_session_callbacks_del(cbs);
  return LKV_ENOMEM;
}

void lkv__h2_conn_free(lkv__h2_conn_t *h2) {
  while (h2->calls) lkv__call_detach(h2->calls);
  nghttp2_session_del(h2->session);
  h2->session = NULL;
}

int lkv__h2_conn_recv(lkv__h2_conn_t *h2, const uint8_t *data, size_t len) {
  h2->last_read_ms = uv_now(&h2->loop->uv); /* any bytes answer our keepalive PING, as in grpc-go */
  ssize_t n = nghttp2_session_mem_recv(h2->session, data, len);
  if (n == NGHTTP2_ERR_NOMEM) return LKV_ENOMEM;
  return n < 0 ? LKV_EPROTO : 0;
}

/* Appends what nghttp2 has to send to *buf until nothing is left or *len reaches limit. */
static int send_pending(lkv__h2_conn_t *h2, uint8_t **buf, size_t *len, size_t *cap, size_t limit) {
  while (*len < limit) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(h2->session, &data);
    if (n == NGHTTP2_ERR_NOMEM) return LKV_ENOMEM;
    if (n < 0) return LKV_EPROTO;
    if (n == 0) break;
    if (*len + (size_t)n > *cap) {
      size_t ncap = *cap ? *cap * 2 : 16384;
      while (ncap < *len + (size_t)n) ncap *= 2;
      uint8_t *nb = realloc(*buf, ncap);
      if (!nb) return LKV_ENOMEM;
      *buf = nb;
      *cap = ncap;
    }
    memcpy(*buf + *len, data, (size_t)n);
    *len += (size_t)n;
  }
  return 0;
}

int lkv__h2_conn_send(lkv__h2_conn_t *h2, uint8_t **buf, size_t *len, size_t *cap, size_t limit) {
  for (;;) {
    int rv = send_pending(h2, buf, len, cap, limit);
    if (rv != 0 || !h2->resume_wanted || *len >= limit) return rv;
    lkv__flow_resume(h2); /* replies were taken: held requests may run, and their answers go out too */
  }
}

int lkv__h2_conn_done(lkv__h2_conn_t *h2) {
  if (h2->close_after_goaway && !nghttp2_session_want_write(h2->session)) return 1;
  return !nghttp2_session_want_read(h2->session) && !nghttp2_session_want_write(h2->session);
}

void lkv__h2_conn_shutdown(lkv__h2_conn_t *h2) {
  int32_t last = nghttp2_session_get_last_proc_stream_id(h2->session);
  nghttp2_submit_goaway(h2->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
  h2->going_away = 1;
  h2->goaway_last = last;
  for (lkv_call_t *call = h2->calls; call; call = call->next) {
    if (call->client_streaming) lkv__call_answer(call, LKV_GRPC_UNAVAILABLE, "server is shutting down");
  }
  h2->want_flush(h2);
}
