/* Exchanges answered by a call, on either protocol: the route's messages delivered, each answer rendered,
 * the answer's end decided from the call's status. */
#include <stdlib.h>
#include <string.h>

#include "metrics/catalog.h"
#include "transport/exchange_internal.h"
#include "transport/grpc_frame.h"

void lkv__exchange_deliver(lkv_call_t *call, const lkv_transport_handler_t *handler, const void *route,
                           int streaming, const char *grpc_path, const uint8_t *const *msgs,
                           const size_t *lens, size_t n) {
  call->route = route;
  call->client_streaming = streaming != 0;
  if (!route) {
    lkv__call_answer_unknown(call, handler, grpc_path);
    return;
  }
  for (size_t i = 0; i < n && !call->answered; i++) {
    call->n_msgs++;
    call->owned = 1;
    lkv_metric_add(LKV_METRIC(client_grpc_received), 0, (double)lens[i]); /* as a gRPC call's */
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
}

int lkv__exchange_render(lkv_call_t *call, const lkv_http_call_codec_t *codec, lkv__chunk_t *chunk,
                         char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  int rc = codec->render(codec->arg, chunk->data + LKV__GRPC_PREFIX_LEN, chunk->len - LKV__GRPC_PREFIX_LEN,
                         out, out_len);
  free(chunk);
  if (rc == 0) return 0;
  lkv__call_answer(call, LKV_GRPC_INTERNAL, "cannot render the response as JSON");
  return -1;
}

int lkv__exchange_final(const lkv_call_t *call, const lkv_http_call_codec_t *codec, char **unary,
                        size_t unary_len, char **body, size_t *body_len) {
  int status = call->status, http = 200;
  *body = NULL;
  *body_len = 0;
  if (status != LKV_GRPC_OK || (!codec->stream && !*unary)) {
    char *message = call->message
                        ? lkv__grpc_percent_decode((const uint8_t *)call->message, strlen(call->message))
                        : NULL;
    if (status == LKV_GRPC_OK) status = LKV_GRPC_INTERNAL; /* a unary call must answer with a message */
    http = codec->fail(codec->arg, status, message ? message : "", body, body_len);
    free(message);
    if (http < 0) {
      http = 500;
      *body = NULL;
      *body_len = 0;
    }
  }
  if (!codec->stream && http == 200) {
    *body = *unary;
    *body_len = unary_len;
    *unary = NULL;
  }
  return http;
}
