/* HTTP/1.1 exchanges answered by a call: its output through the codec, chunked for streams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/call.h"
#include "transport/exchange_internal.h"
#include "transport/h1_conn.h"
#include "transport/h2_gateway.h"

/* Output held for a slow client before the call's further messages are left waiting in the call. */
#define OUT_WINDOW (256 * 1024)

void lkv__h1_call_output(lkv_call_t *call) {
  if (call->h1) call->h1->want_flush(call->h1);
}

int lkv_http_exchange_call(lkv_http_exchange_t *x, const char *grpc_path, const uint8_t *const *msgs,
                           const size_t *lens, size_t n, const lkv_http_call_codec_t *codec) {
  if (x->h2x) return lkv__h2x_call(x->h2x, grpc_path, msgs, lens, n, codec);
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
  lkv__exchange_deliver(call, handler, route, streaming, grpc_path, msgs, lens, n);
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
    char *text;
    size_t text_len;
    if (lkv__exchange_render(call, &h1->codec, chunk, &text, &text_len) != 0) return;
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
  char *body;
  size_t body_len;
  int http = lkv__exchange_final(call, &h1->codec, &h1->unary_body, h1->unary_len, &body, &body_len);
  if (!h1->codec.stream) {
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
