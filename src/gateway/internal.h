/* Internal to the gateway module: what its files share. */
#ifndef LKV_GATEWAY_INTERNAL_H
#define LKV_GATEWAY_INTERNAL_H

#include <stddef.h>

#include "gateway/json_pb.h"
#include "transport/exchange.h"

/* One gateway route: its path under /v3/, the gRPC method it calls, the message types, chunked or not. */
typedef struct lkv__gateway_route_s {
  const char *http; /* "kv/range" */
  const char *grpc; /* "/etcdserverpb.KV/Range" */
  const ProtobufCMessageDescriptor *req, *resp;
  int stream; /* the response is a stream: chunked {"result":...} lines */
  int bidi;   /* the request is a stream too: the body may hold several objects, or none */
} lkv__gateway_route_t;

/* The HTTP status grpc-gateway gives a gRPC code (HTTPStatusFromCode). */
int lkv__gateway_http_status(int grpc_code);

/* grpc-gateway's error body {"error":message,"message":message,"code":grpc_code}. Returns 0 and sets *out
 * (malloc'd) and *out_len, or LKV_ENOMEM. */
int lkv__gateway_error_body(int grpc_code, const char *message, char **out, size_t *out_len);

/* Message msg (len bytes of type desc) as JSON between head and tail (a stream's chunk, an event). Returns 0
 * and sets *out (malloc'd, NUL-terminated) and *out_len, or lkv_json_pb_render's errors. */
int lkv__gateway_render_framed(const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len,
                               const char *head, const char *tail, char **out, size_t *out_len);

/* The codec that answers route r's calls (answer.c). */
void lkv__gateway_codec(const lkv__gateway_route_t *r, lkv_http_call_codec_t *c);

/* Answers x with text (text/plain) and the given HTTP status (gateway.c). */
void lkv__gateway_text_answer(lkv_http_exchange_t *x, int status, const char *text);

/* Answers x by the gateway route whose path under /v3/ is rest ("kv/range"): its call, 405 for a method
 * other than POST, 404 when no route has that path (gateway.c). */
void lkv__gateway_serve_route(lkv_http_exchange_t *x, const char *rest);

/* The live web view's requests under /ui/ (rest: the path after it): the page, its events, the Ledger
 * reads (web_view.c). */
void lkv__web_view_serve(lkv_http_exchange_t *x, const char *rest);

/* web/ui.html, embedded at build time (the generated web_ui.c). */
extern const unsigned char lkv__web_ui_html[];
extern const size_t lkv__web_ui_html_len;

/* The bytes one value of a field of type t takes in a protobuf-c message (an element of a repeated field). */
size_t lkv__json_pb_elem_size(ProtobufCType t);

#endif
