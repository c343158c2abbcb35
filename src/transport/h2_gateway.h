/* HTTP/2 streams that are not gRPC: the application's exchanges (exchange.h) on HTTP/2, as on HTTP/1.1. */
#ifndef LKV_TRANSPORT_H2_GATEWAY_H
#define LKV_TRANSPORT_H2_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "transport/call.h"
#include "transport/exchange.h"
#include "transport/h2_conn.h"

/*
 * etcd serves its JSON gateway on the client port over HTTP/2 as well (h2c with prior knowledge, and TLS
 * with ALPN h2): a request whose content-type is not application/grpc is the gateway's. Here such a stream
 * (when the handler has on_http) becomes an exchange: its method, path and query, :authority (or Host),
 * Origin and body (up to max_recv_msg_bytes, else 413) are gathered until the client ends the stream, then
 * handed to handler.on_http on the loop thread. Answers: lkv_http_exchange_reply sends HEADERS (:status,
 * content-type, the extra headers with lower-case names, content-length) and the body; lkv_http_exchange_call
 * makes the stream's own call a call of the route, whose messages the codec renders into DATA frames (a
 * unary call's answer once its status is known; a stream's at once, each message as it comes, the codec's
 * failure text after them), back-pressured as on HTTP/1.1: at most a window of rendered bytes waits for the
 * client, further messages wait in the call. Metadata as grpc-gateway forwards it: "authorization", and
 * "grpc-metadata-<key>" as <key> (h2_conn.c keeps both in the call's metadata). Every function runs on the
 * connection's loop thread.
 */

typedef struct lkv__h2x_s lkv__h2x_t;

/* A request header of call's stream (any stream: whether it is gRPC is known only when the headers end):
 * keeps :method, :authority, host and origin for an exchange. Returns 0 or LKV_ENOMEM. */
int lkv__h2x_header(lkv_call_t *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                    size_t valuelen);

/* The headers ended. Returns 1 when the stream is an exchange (grpc: its content-type is not gRPC's and
 * the handler serves HTTP), 0 when it is a gRPC call (what lkv__h2x_header kept is dropped). */
int lkv__h2x_begin(lkv__h2_conn_t *h2, lkv_call_t *call, int grpc);

/* Request body bytes of an exchange's stream. */
void lkv__h2x_body(lkv_call_t *call, const uint8_t *data, size_t len);

/* The client ended an exchange's stream: on_http runs (once). */
void lkv__h2x_run(lkv__h2_conn_t *h2, lkv_call_t *call);

/* The exchange API on HTTP/2 (exchange.h's functions branch here). */
char **lkv__h2x_extra_headers(lkv__h2x_t *x);
void lkv__h2x_reply(lkv__h2x_t *x, lkv_http_response_t *resp);
int lkv__h2x_call(lkv__h2x_t *x, const char *grpc_path, const uint8_t *const *msgs, const size_t *lens,
                  size_t n, const lkv_http_call_codec_t *codec);

/* An exchange's call has new output or a final status (lkv__h2_call_output branches here). */
void lkv__h2x_output(lkv_call_t *call);

/* Frees what call->gw holds (the call is being freed). NULL is accepted. */
void lkv__h2x_free(lkv__h2x_t *x);

#endif
