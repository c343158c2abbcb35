/* HTTP/1.1 requests on the client port (exchanges): what the application sees and how it answers them. */
#ifndef LKV_TRANSPORT_EXCHANGE_H
#define LKV_TRANSPORT_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "transport/http_server.h"
#include "transport/transport.h"

/*
 * A connection on the client port whose first bytes are not HTTP/2's preface speaks HTTP/1.1 (Debian's
 * http-parser). Each complete request becomes an *exchange* handed to handler.on_http on the connection's
 * loop thread; the application answers it before on_http returns, in one of two ways:
 *   - lkv_http_exchange_reply: a whole answer (health, errors, CORS preflight);
 *   - lkv_http_exchange_call: the request becomes a call of a gRPC route, exactly as if it had come over
 *     HTTP/2 (handler.lookup, on_message, on_half_close, on_cancel, lkv_call_send/finish all as
 *     transport.h says; lkv_call_metadata gives the handler.metadata_keys that grpc-gateway would forward:
 *     "Authorization" as "authorization", "Grpc-Metadata-<key>" as <key>), with the application's codec
 * turning the call's messages and status into the HTTP answer: one body (Content-Length) for a unary route,
 * or with codec.stream one chunk per message (Transfer-Encoding: chunked) until the call ends. Requests on a
 * connection are answered in order: the next one is read once the previous answer is complete. The transport
 * answers by itself, closing after it: malformed HTTP 400, a request line and headers above 16 KiB 431, a
 * body above max_recv_msg_bytes 413. A client that does not read its answers holds at most about 256 KiB of
 * them: a streaming call's further messages wait in the call (its lkv_call_pending_bytes grows, which is what
 * streams use for back-pressure).
 */

typedef struct lkv_http_exchange_s lkv_http_exchange_t;

/* The request. Strings are NUL-terminated; everything is valid until the exchange is answered. */
typedef struct lkv_http_exchange_request_s {
  const char *method; /* "GET", "POST", "OPTIONS", ... (static) */
  const char *path;   /* as sent, percent-encoding kept */
  size_t path_len;
  const char *query; /* after '?', without it; "" when none */
  size_t query_len;
  const char *host;   /* the Host header, "" when absent */
  const char *origin; /* the Origin header, "" when absent */
  const uint8_t *body;
  size_t body_len;
  int tls; /* the connection is TLS */
} lkv_http_exchange_request_t;

/* How a call's output becomes the HTTP answer. The functions run on the loop thread. */
typedef struct lkv_http_call_codec_s {
  const void *arg;          /* passed back to render and fail */
  int stream;               /* 1: chunked, one chunk per message; 0: the one message is the body */
  const char *content_type; /* static */
  const char *headers;      /* static extra header lines ("Name: value\r\n"...), or NULL */
  /* One response message (protobuf bytes) -> its HTTP bytes. Returns 0 and sets *out (malloc'd, taken) and
   * *out_len, or a negative code: the call is then answered INTERNAL. */
  int (*render)(const void *arg, const uint8_t *msg, size_t len, char **out, size_t *out_len);
  /* The call ended with grpc_status (not OK; message: plain text, "" for none): sets *out / *out_len (the
   * body of a unary answer, or the last chunk of a stream) and returns the HTTP status. Returns a negative
   * code when out of memory (the answer is then a bare 500). */
  int (*fail)(const void *arg, int grpc_status, const char *message, char **out, size_t *out_len);
} lkv_http_call_codec_t;

/* The request of x. Loop thread, inside on_http. */
const lkv_http_exchange_request_t *lkv_http_exchange_request(const lkv_http_exchange_t *x);

/* Header lines ("Name: value\r\n"...) sent with whatever answer x gets (CORS). Copied; a later call
 * replaces them. Returns 0 or LKV_ENOMEM. */
int lkv_http_exchange_set_headers(lkv_http_exchange_t *x, const char *lines);

/* Answers x with resp (takes resp->body; its headers and content_type must be static). For HEAD the body
 * is left out. */
void lkv_http_exchange_reply(lkv_http_exchange_t *x, lkv_http_response_t *resp);

/* Answers x by a call of the gRPC route grpc_path (NUL-terminated): delivers the n request messages
 * (msgs[i], lens[i] bytes, copied as needed), then for a client-streaming route half-closes the call (the
 * request body is all there is). codec is copied; what it points to must stay valid until the transport
 * stops. A path no route serves is answered UNIMPLEMENTED through codec.fail. Returns 0, or LKV_EINVAL (a
 * unary route with n != 1: nothing is sent; answer x otherwise) or LKV_ENOMEM (idem). */
int lkv_http_exchange_call(lkv_http_exchange_t *x, const char *grpc_path, const uint8_t *const *msgs,
                           const size_t *lens, size_t n, const lkv_http_call_codec_t *codec);

#endif
