/* A small HTTP/1.1 server on its own libuv thread, for probes and scrapes (/metrics, /health). */
#ifndef LKV_TRANSPORT_HTTP_SERVER_H
#define LKV_TRANSPORT_HTTP_SERVER_H

#include <stddef.h>

#include "transport/tls.h"
#include "transport/transport.h"

/*
 * HTTP/1.1 (requests parsed by Debian's http-parser), in cleartext or TLS per listener, one thread, one libuv
 * loop for every listener and connection. It knows nothing of what it serves: each complete request goes to
 * the application's handle callback, on the server's thread, which fills in a response; the server writes it.
 * Requests on a connection are answered in order (keep-alive and pipelining as HTTP/1.1 has them;
 * "Connection: close" and HTTP/1.0 without keep-alive close after the answer).
 *
 * Answers the server gives by itself, closing the connection after them:
 *   - malformed HTTP: 400 "Bad Request";
 *   - a request line and headers above max_request_bytes: 431 "Request Header Fields Too Large";
 *   - a body above max_request_bytes: 413 "Request Entity Too Large" (bodies are otherwise read and ignored);
 *   - a request not complete within the head timeout (a slow or stalled client): closed without answer.
 * A TLS handshake not done within the head timeout is refused (logged) and the connection closed.
 * An idle keep-alive connection is closed after the idle timeout; beyond max_connections, new connections
 * are closed at once. A client that does not read its answers is closed once 1 MiB of them is queued.
 */

typedef struct lkv_http_server_s lkv_http_server_t;

/* One request. Pointers are valid during the handle callback only; the strings are not NUL-terminated. */
typedef struct lkv_http_request_s {
  const char *method; /* "GET", "HEAD", "POST", ... (NUL-terminated, static) */
  const char *path;   /* as sent, percent-encoding kept ("/health") */
  size_t path_len;
  const char *query; /* after '?', without it; "" when none */
  size_t query_len;
} lkv_http_request_t;

/* What the handler fills in. The server starts it as {500, NULL, NULL, 0, NULL}. */
typedef struct lkv_http_response_s {
  int status;               /* 200, 404, 503, ... */
  const char *content_type; /* static; NULL: no Content-Type header */
  char *body;               /* malloc'd, owned by the server from the callback's return; NULL with 0 */
  size_t body_len;
  const char *headers; /* static extra header lines, each ending in "\r\n" ("Allow: GET\r\n"), or NULL */
} lkv_http_response_t;

/* Fills *resp for req. Runs on the server's thread; it may block briefly (the server answers nothing else
 * meanwhile). For a HEAD request the server sends the headers only. */
typedef void (*lkv_http_handle_fn)(void *app, const lkv_http_request_t *req, lkv_http_response_t *resp);

typedef struct lkv_http_server_options_s {
  const lkv_listen_addr_t *addrs; /* numeric addresses to listen on (port 0: a free one) */
  size_t n_addrs;                 /* >= 1 */
  lkv_http_handle_fn handle;      /* required */
  void *app;
  size_t max_request_bytes; /* request line + headers, and separately the body; 0: 16 KiB */
  unsigned head_timeout_ms; /* a request must be complete this long after its first byte; 0: 10 s */
  unsigned idle_timeout_ms; /* keep-alive connections without a request are closed after it; 0: 60 s */
  unsigned max_connections; /* 0: 256 */
  lkv_tls_t *tls;           /* the context of the listeners marked in listen_tls (HTTP/1.1 in TLS, no ALPN
                             * needed); must outlive the server. NULL: every listener is cleartext */
  const int *listen_tls;    /* NULL, or n_addrs flags: addrs[i] accepts TLS only (https://); copied */
} lkv_http_server_options_t;

/* Binds every address, starts the thread and returns once it listens. Returns 0 and sets *out, or
 * LKV_EINVAL (no address, no handler, a host that is not a numeric address, a TLS listener without tls),
 * LKV_ENOMEM or a negative errno
 * (-EADDRINUSE); on failure nothing is left running. opts need not outlive the call. */
int lkv_http_server_start(lkv_http_server_t **out, const lkv_http_server_options_t *opts);

/* The port bound for opts->addrs[i], or -1 if i is out of range. */
int lkv_http_server_bound_port(const lkv_http_server_t *s, size_t i);

/* Stops listening, closes every connection (answers being written are dropped), joins the thread and frees
 * s. No handle callback runs after it returns. NULL is accepted. Not from the server's thread. */
void lkv_http_server_stop(lkv_http_server_t *s);

#endif
