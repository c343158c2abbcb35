/* Internal to the transport: what HTTP/1.1 (h1_call.c) and HTTP/2 (h2_gateway.c) exchanges answered by a
 * call share: the request's messages handed to the route, the answer's end decided from the call's status. */
#ifndef LKV_TRANSPORT_EXCHANGE_INTERNAL_H
#define LKV_TRANSPORT_EXCHANGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "transport/call.h"
#include "transport/exchange.h"

/* Makes call (new, or the HTTP/2 stream's own) a call of route (streaming: clients stream; NULL: no route
 * serves grpc_path, answered UNIMPLEMENTED) and hands it the n request messages, then half-closes a client
 * stream, as lkv_http_exchange_call says. Loop thread. */
void lkv__exchange_deliver(lkv_call_t *call, const lkv_transport_handler_t *handler, const void *route,
                           int streaming, const char *grpc_path, const uint8_t *const *msgs,
                           const size_t *lens, size_t n);

/* Renders one response message (a chunk the call queued, prefix included; freed here) through codec into
 * *out / *out_len (malloc'd). Returns 0, or answers the call INTERNAL and returns -1. */
int lkv__exchange_render(lkv_call_t *call, const lkv_http_call_codec_t *codec, lkv__chunk_t *chunk,
                         char **out, size_t *out_len);

/* The end of an answer once call's status is known and its messages were taken: the HTTP status and the
 * body to send (for a unary call, *unary: its rendered message, taken when the answer is 200; for a stream,
 * what goes after its messages, empty when it ended OK). *body is malloc'd or NULL. */
int lkv__exchange_final(const lkv_call_t *call, const lkv_http_call_codec_t *codec, char **unary,
                        size_t unary_len, char **body, size_t *body_len);

#endif
