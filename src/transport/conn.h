/* TCP connections: libuv reads and batched writes around one HTTP/2 session (h2_conn.h) or HTTP/1.1 one
 * (h1_conn.h), in TLS or not. */
#ifndef LKV_TRANSPORT_CONN_H
#define LKV_TRANSPORT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transport/h1_conn.h"
#include "transport/h2_conn.h"
#include "transport/loop.h"
#include "transport/tls_internal.h"

typedef struct lkv__conn_s {
  uv_tcp_t tcp;
  lkv__h2_conn_t h2;
  lkv__h1_conn_t *h1; /* the connection speaks HTTP/1.1: its first bytes were not HTTP/2's preface */
  int sniffed;        /* the protocol is decided (h1 or h2) */
  uint8_t sniff[24];  /* the first bytes, until they decide it */
  size_t sniff_len;
  lkv__loop_t *loop;
  struct lkv__conn_s *prev, *next;             /* loop->conns */
  struct lkv__conn_s *dirty_prev, *dirty_next; /* loop->dirty */
  int dirty;
  uv_write_t wreq;
  uint8_t *wbuf; /* bytes being written; one write in flight at a time */
  size_t wlen, wcap;
  int writing;
  int closing;
  lkv__tls_conn_t *tls; /* NULL on a cleartext listener */
  uint64_t accepted_ms; /* uv_now at accept: the TLS handshake's deadline counts from it */
  uint64_t linger_ms;   /* HTTP/1.1 done at this uv_now: write side shut, input dropped until closed; 0: not */
  uv_shutdown_t shut;
  char peer_host[48];   /* the client's numeric address once asked for (call_peer.c), "" before */
} lkv__conn_t;

/* Accepts one pending connection from server into a new conn on loop and starts reading; with tls (not
 * NULL) the connection speaks TLS with that context. Returns 0 or a negative libuv/LKV error (the pending
 * connection is then dropped by libuv or left for a retry). */
int lkv__conn_accept(lkv__loop_t *loop, uv_stream_t *server, lkv_tls_t *tls);

/* Writes everything the session has pending (up to a batch limit) in one uv_write, unless a write is still
 * in flight (its completion schedules the next flush). Closes the connection when the session is done. */
void lkv__conn_flush(lkv__conn_t *c);

/* Closes a TLS connection whose handshake has not finished within its deadline (a client that connects
 * and stalls must not hold a connection and a TLS session for ever), answers 408 to an HTTP/1.1
 * request that is not complete within its own (lkv__h1_conn_check_overdue), and closes an HTTP/1.1
 * connection that has lingered long enough. now: the loop's uv_now. */
void lkv__conn_check_handshake(lkv__conn_t *c, uint64_t now);

/* The client's numeric IP address (as lkv_call_peer_address gives it; call_peer.c), or NULL when unknown.
 * Owned by c. */
const char *lkv__conn_peer_address(lkv__conn_t *c);

/* Server keepalive of an HTTP/2 connection (h2_ping.h): pings it when idle, closes it when the ping goes
 * unanswered. now: the loop's uv_now. */
void lkv__conn_check_keepalive(lkv__conn_t *c, uint64_t now);

/* Starts a graceful shutdown of the connection (GOAWAY). */
void lkv__conn_shutdown(lkv__conn_t *c);

/* Closes now: detaches its calls (on_cancel), frees the session, and frees c once libuv has closed the
 * socket. Idempotent. */
void lkv__conn_close(lkv__conn_t *c);

#endif
