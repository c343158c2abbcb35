/* HTTP/1.1 sessions on the client port: requests parsed into exchanges, answers and calls' output out. */
#ifndef LKV_TRANSPORT_H1_CONN_H
#define LKV_TRANSPORT_H1_CONN_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/exchange.h"
#include "transport/h2_conn.h"

/* The exchange of the request being answered (one at a time per connection), or of an HTTP/2 stream. */
struct lkv_http_exchange_s {
  struct lkv__h1_conn_s *h1;
  struct lkv__h2x_s *h2x; /* instead of h1: an HTTP/2 stream's exchange (h2_gateway.h) */
  lkv_http_exchange_request_t req;
  int answered;
};

/*
 * Byte-oriented like h2_conn.h: the owner feeds received bytes with lkv__h1_conn_recv and pulls bytes to
 * write with lkv__h1_conn_send; this module does no I/O. want_flush asks the owner for a send.
 */
typedef struct lkv__h1_conn_s {
  const lkv__h2_config_t *cfg;
  struct lkv__loop_s *loop;
  void (*want_flush)(struct lkv__h1_conn_s *h1);
  void *owner; /* the connection, for want_flush */
  http_parser parser;
  int tls;

  /* The request being read. */
  char *url;
  size_t url_len, url_cap;
  char host[256], origin[256], expect[16];
  char hname[64]; /* the header name being read (it may come in pieces); longer ones are none of ours */
  size_t hname_len;
  int in_name; /* pieces of a header name are arriving (a value ends it) */
  int header;  /* the header whose value is being read: 1 Host, 2 Origin, 3 Expect, 4 metadata, 0 another */
  char *metadata; /* handler.metadata_keys found, as grpc-gateway forwards them: "name\0value\0" pairs */
  size_t metadata_len, metadata_cap;
  size_t head_bytes; /* request line and headers so far */
  uint8_t *body;
  size_t body_len, body_cap;
  int refused;         /* the transport's own answer (413, 431), or 0 */
  int in_request;      /* bytes of a request arrived, not all of it yet */
  uint64_t started_ms; /* when its first bytes did (the loop's clock) */
  int keep_alive;      /* of the request being answered */
  int head_only;       /* HEAD */

  /* The exchange being answered; bytes read meanwhile wait in `in`. */
  lkv_http_exchange_t x;
  int busy;
  uint8_t *in;
  size_t in_len, in_cap;
  char *extra_headers; /* lkv_http_exchange_set_headers */

  /* Its call, when answered by one (h1_call.c). */
  lkv_call_t *call;
  lkv_http_call_codec_t codec;
  int chunked_started; /* the chunked answer's head went out */
  char *unary_body;    /* a unary call's rendered message, until its status is known */
  size_t unary_len;

  /* Bytes to write. */
  uint8_t *out;
  size_t out_len, out_cap;
  int close_after; /* close once out is written and no exchange is open */
  int shutting_down;
} lkv__h1_conn_t;

/* Prepares h1 (allocates nothing). cfg and loop must outlive it; owner is the connection. */
void lkv__h1_conn_init(lkv__h1_conn_t *h1, const lkv__h2_config_t *cfg, struct lkv__loop_s *loop, int tls,
                       void (*want_flush)(lkv__h1_conn_t *h1), void *owner);

/* Detaches the open call (on_cancel if the application holds it) and frees the buffers. */
void lkv__h1_conn_free(lkv__h1_conn_t *h1);

/* Processes received bytes (on_http runs from here). Returns 0, or LKV_ENOMEM / LKV_EPROTO (drop the
 * connection: out of memory, or a client that keeps sending while its answer is pending). */
int lkv__h1_conn_recv(lkv__h1_conn_t *h1, const uint8_t *data, size_t len);

/* Appends pending output to *buf (grown as needed) until nothing is pending or *len reaches limit; moves
 * the open call's output into the answer and starts the next request once an answer is complete. Returns 0
 * or LKV_ENOMEM. */
int lkv__h1_conn_send(lkv__h1_conn_t *h1, uint8_t **buf, size_t *len, size_t *cap, size_t limit);

/* 1 when the connection is to be closed now (everything written and nothing more will be). */
int lkv__h1_conn_done(const lkv__h1_conn_t *h1);

/* A request begun more than LKV__H1_REQUEST_MS before now (the loop's clock) and still not complete (a
 * slow or stalled client) is answered 408 and the connection closes after it. Returns 1 when it was. */
#define LKV__H1_REQUEST_MS 10000
int lkv__h1_conn_check_overdue(lkv__h1_conn_t *h1, uint64_t now);

/* Graceful shutdown: a streaming call is ended (UNAVAILABLE "server is shutting down"); the connection
 * closes once the answer in progress is written. */
void lkv__h1_conn_shutdown(lkv__h1_conn_t *h1);

/* Appends len bytes to the output. Returns 0 or LKV_ENOMEM. */
int lkv__h1_out(lkv__h1_conn_t *h1, const void *data, size_t len);

/* Appends an answer's head (extra headers of the exchange, then headers; content_length -1: chunked).
 * Returns 0 or LKV_ENOMEM (or a head too long). */
int lkv__h1_head(lkv__h1_conn_t *h1, int status, const char *content_type, const char *headers,
                 long long content_length);

/* Writes a whole answer (head, then body unless HEAD) and ends the exchange. Takes body. */
void lkv__h1_answer(lkv__h1_conn_t *h1, int status, const char *content_type, const char *headers, char *body,
                    size_t body_len);

/* The exchange is complete: the next request may be read (or the connection closes). */
void lkv__h1_exchange_done(lkv__h1_conn_t *h1);

/* The call's side of h1 (h1_call.c): moves the open call's output into the answer while the output holds
 * less than a window, and the final status once it is known. */
void lkv__h1_call_pump(lkv__h1_conn_t *h1);

/* The call has new output or a final status (call.c): asks the owner for a flush. */
void lkv__h1_call_output(lkv_call_t *call);

#endif
