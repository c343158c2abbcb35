/* Internal to the HTTP/1.1 server: the server and connection layouts shared by http_server.c and http_conn.c.
 */
#ifndef LKV_TRANSPORT_HTTP_INTERNAL_H
#define LKV_TRANSPORT_HTTP_INTERNAL_H

#include <http_parser.h>
#include <stdint.h>
#include <uv.h>

#include "transport/http_server.h"
#include "transport/tls_internal.h"

typedef struct lkv__http_conn_s lkv__http_conn_t;

struct lkv__http_conn_s {
  uv_tcp_t tcp; /* tcp.data == this */
  lkv_http_server_t *srv;
  lkv__http_conn_t *prev, *next;
  http_parser parser; /* parser.data == this */
  char *url;          /* the request in progress' target, url_len bytes, at most max_request_bytes */
  size_t url_len, url_cap;
  size_t head_bytes, body_bytes;
  int refused;         /* status of the answer the server gives by itself (431, 413), or 0 */
  int in_request;      /* bytes of a request arrived, its answer not yet queued */
  uint64_t started_ms; /* when the request in progress began */
  uint64_t last_ms;    /* last bytes read or answer written */
  unsigned writing;    /* answers queued and not yet written */
  int close_after;     /* close once the queued answers are written */
  int closing;
  lkv__tls_conn_t *tls; /* the session of a TLS listener's connection, else NULL */
  uint64_t accepted_ms; /* the handshake must be done within the head timeout of it */
  int in_recv;          /* inside lkv__tls_conn_recv: answers are flushed when it returns */
  char rbuf[4096];
};

struct lkv_http_server_s {
  uv_loop_t loop;
  uv_async_t stop_async;
  uv_timer_t reaper;
  uv_thread_t thread;
  uv_tcp_t *listeners;
  int *ports;
  int *listen_tls; /* per listener: accepts TLS with opts.tls */
  size_t n_listeners;
  lkv_http_server_options_t opts; /* with defaults filled in; addrs not kept */
  lkv__http_conn_t *conns;
  unsigned n_conns;
};

/* The reason phrase of an HTTP status ("Not Found"), "Unknown" for one not listed. */
const char *lkv__http_reason(int status);

/* Writes an answer's status line and headers, up to the empty line, into buf (cap bytes): Content-Type
 * when content_type is not NULL, the header lines of headers and more_headers (each "Name: value\r\n", or
 * NULL), Content-Length (or "Transfer-Encoding: chunked" when content_length is -1) and connection (a
 * "Connection: ...\r\n" line or NULL). Returns the length, or -1 when it does not fit. */
int lkv__http_head(char *buf, size_t cap, int status, const char *content_type, const char *headers,
                   const char *more_headers, long long content_length, const char *connection);

/* The listeners' accept callback: a new connection, read from at once. */
void lkv__http_on_connection(uv_stream_t *listener, int status);

/* Closes c (idempotent); it is unlinked and freed once libuv is done with it. */
void lkv__http_conn_close(lkv__http_conn_t *c);

/* Closes connections whose request is overdue (head timeout) or that idled too long. */
void lkv__http_conn_reap(lkv_http_server_t *s);

#endif
