/* etcd's JSON gateway (grpc-gateway as etcd 3.4 serves it) on the client port's HTTP/1.1 side. */
#ifndef LKV_GATEWAY_GATEWAY_H
#define LKV_GATEWAY_GATEWAY_H

#include <stddef.h>

#include "transport/exchange.h"
#include "transport/http_server.h"

/*
 * Serves every HTTP/1.1 request of the client port (handler.on_http):
 *   - POST /v3/<service>/<method> (and /v3beta/...): the JSON body (one object, or several in a row for
 *     the streaming routes) becomes the request message(s) of the gRPC route (json_pb.h), which the
 *     transport hands to the same handlers as gRPC calls; the answer is the response as JSON, chunked
 *     {"result":...} lines for streams (watch, keepalive, snapshot, observe), and errors as grpc-gateway
 *     writes them: {"error":..,"message":..,"code":N} with the HTTP status of the gRPC code; a body that is
 *     not JSON of the request type is 400 / code 3. An unknown /v3/ path is 404 "Not Found", a known one
 *     with another method than POST 405 "Method Not Allowed" (grpc-gateway's mux);
 *   - with web_view, /ui/... is the live web view (web_view.c, docs/web-view.md);
 *   - any other path goes to the `other` handler (/health, /version, /metrics);
 *   - first of all, as etcd's access controller: a cleartext request whose Host is not in the host
 *     whitelist is refused (421, etcd's text); every answer carries etcd's CORS headers when the origin is
 *     allowed; OPTIONS is answered 200 with them.
 */

typedef struct lkv_gateway_s lkv_gateway_t;

typedef struct lkv_gateway_options_s {
  lkv_http_handle_fn other; /* paths outside /v3/: required */
  void *other_app;
  const char *const *cors; /* --cors: allowed origins; "*" or none: any origin */
  size_t n_cors;
  const char *const *hosts; /* --host-whitelist: host names accepted over cleartext; "*" or none: any */
  size_t n_hosts;
  int web_view; /* --enable-web-view: serve the page at /ui/ and its events */
} lkv_gateway_options_t;

/* Creates the gateway (the lists are copied). Returns 0 and sets *out, or LKV_EINVAL (no `other`) or
 * LKV_ENOMEM. */
int lkv_gateway_new(lkv_gateway_t **out, const lkv_gateway_options_t *opts);

/* Frees g once the transport that used it has stopped. NULL is accepted. */
void lkv_gateway_free(lkv_gateway_t *g);

/* The transport's on_http (http_app = the gateway). */
void lkv_gateway_on_http(void *gateway, lkv_http_exchange_t *x);

#endif
