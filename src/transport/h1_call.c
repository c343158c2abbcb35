/* HTTP/1.1 exchanges answered by a call: messages delivered to the route, its output through the codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "metrics/catalog.h"
#include "transport/call.h"
#include "transport/h1_conn.h"

/* Output held for a slow client before the call's further messages are left waiting in the call. */
#define OUT_WINDOW (256 * 1024)

void lkv__h1_call_output(lkv_call_t *call) {
  if (call->h1) call->h1->want_flush(call->h1);
}

int lkv_http_exchange_call(lkv_http_exchange_t *x, const char *grpc_path, const uint8_t *const *msgs,
                           const size_t *lens, size_t n, const lkv_http_call_codec_t *codec) {
  lkv__h1_conn_t *h1 = x->h1;
  const lkv_transport_handler_t *handler = &h1->cfg->handler;
  int streaming = 0;
  if (x->answered) return LKV_EINVAL;
  const void *route = handler->lookup(handler->app, grpc_path, strlen(grpc_path), &streaming);
  if (route && !streaming && n != 1) return LKV_EINVAL;
  lkv_call_t *call = lkv__call_new_h1(h1->loop, h1, h1->cfg->max_recv_msg_bytes);
  if (!call) return LKV_ENOMEM;
  if (h1->metadata_len && (call->metadata = malloc(h1->metadata_len)) != NULL) {
    memcpy(call->metadata, h1->metadata, h1->metadata_len);
    call->metadata_len = h1->metadata_len;
  }
  x->answered = 1;
  h1->call = call;
  h1->codec = *codec;
  h1->chunked_started = 0;
  call->route = route;
  call->client_streaming = streaming != 0;
  if (!route) {
    lkv__call_answer_unknown(call, handler, grpc_path);
    return 0;
  }
  for (size_t i = 0; i < n && !call->answered; i++) {
    call->n_msgs++;
    call->owned = 1;
    lkv_metric_add(LKV_METRIC(client_grpc_received), 0, (double)lens[i]); /* as over HTTP/2 */
    handler->on_message(handler->app, route, call, msgs[i], lens[i]);
  }
  /* The request body is all the client sends: a client stream half-closes after it (as grpc-gateway's
   * CloseSend at the body's end). */
  if (streaming && !call->answered) {
    if (!call->owned)
      lkv__call_answer(call, LKV_GRPC_OK, NULL);
    else if (handler->on_half_close)
      handler->on_half_close(handler->app, route, call);
  }
  return 0;
}

/* One chunk of a chunked answer (the head first if it has not gone out). */
static int out_chunk(lkv__h1_conn_t *h1, int status, const char *data, size_t len) {
  char size[24];
  int n = snprintf(size, sizeof(size), "%zx\r\n", len);
  if (!h1->chunked_started) {
    h1->chunked_started = 1;
    if (lkv__h1_head(h1, status, h1->codec.content_type, h1->codec.headers, -1) != 0) return LKV_ENOMEM;
  }
  if (len == 0) return 0;
  if (lkv__h1_out(h1, size, (size_t)n) != 0 || lkv__h1_out(h1, data, len) != 0 ||
      lkv__h1_out(h1, "\r\n", 2) != 0)
    return LKV_ENOMEM;
  return 0;
}

/* The call's messages, rendered, into the answer. */
static void take_messages(lkv__h1_conn_t *h1, lkv_call_t *call) {
  lkv__chunk_t *chunk;
  while (h1->out_len < OUT_WINDOW && (chunk = lkv__call_take_message(call)) != NULL) {
    char *text = NULL;
    size_t text_len = 0;
    int rc = h1->codec.render(h1->codec.arg, chunk->data + LKV__GRPC_PREFIX_LEN,
                              chunk->len - LKV__GRPC_PREFIX_LEN, &text, &text_len);
    free(chunk);
    if (rc != 0) {
      lkv__call_answer(call, LKV_GRPC_INTERNAL, "cannot render the response as JSON");
      return;
    }
    if (h1->codec.stream) {
      if (out_chunk(h1, 200, text, text_len) != 0) h1->keep_alive = 0;
      free(text);
    } else {
      free(h1->unary_body);
      h1->unary_body = text;
      h1->unary_len = text_len;
    }
  }
}

/* The call's status is known and its messages taken: the end of the answer. */
static void finish_answer(lkv__h1_conn_t *h1, lkv_call_t *call) {
  int status = call->status;
  char *message =
      call->message ? lkv__grpc_percent_decode((const uint8_t *)call->message, strlen(call->message)) : NULL;
  char *body = NULL;
  size_t body_len = 0;
  int http = 200;
  if (status != LKV_GRPC_OK || (!h1->codec.stream && !h1->unary_body)) {
    if (status == LKV_GRPC_OK) status = LKV_GRPC_INTERNAL; /* a unary call must answer with a message */
    http = h1->codec.fail(h1->codec.arg, status, message ? message : "", &body, &body_len);
    if (http < 0) {
      http = 500;
      body = NULL;
      body_len = 0;
    }
  }
  free(message);
  if (!h1->codec.stream) {
    if (http == 200) {
      body = h1->unary_body;
      body_len = h1->unary_len;
      h1->unary_body = NULL;
    }
    lkv__h1_answer(h1, http, h1->codec.content_type, h1->codec.headers, body, body_len);
    return;
  }
  if (out_chunk(h1, http, body, body_len) != 0 || lkv__h1_out(h1, "0\r\n\r\n", 5) != 0) h1->keep_alive = 0;
  free(body);
  lkv__h1_exchange_done(h1);
}

void lkv__h1_call_pump(lkv__h1_conn_t *h1) {
  lkv_call_t *call = h1->call;
  if (!call) return;
  take_messages(h1, call);
  if (!call->answered || call->out_head) return;
  finish_answer(h1, call);
  free(h1->unary_body);
  h1->unary_body = NULL;
  h1->call = NULL;
  lkv__call_detach(call); /* the stream is over: the call is freed once the application finished it */
}
