/* gRPC client over cleartext HTTP/2 (h2c, prior knowledge) on a libuv loop: unary calls and bidi streams. */
#ifndef LKV_TRANSPORT_GRPC_CLIENT_H
#define LKV_TRANSPORT_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

/*
 * The client knows HTTP/2 and gRPC framing, nothing about etcd: requests and responses are opaque message
 * bytes. A *loop* is one event loop, driven by the thread that calls lkv_grpc_loop_run; a *connection*
 * carries many concurrent *streams* (one per call); *timers* let the loop's owner schedule its own work.
 *
 * Threading: everything except lkv_grpc_loop_stop must be called on the thread that runs the loop (or,
 * before the loop first runs, on the thread that will run it). Callbacks run on that thread.
 *
 * Callback contract: a function that takes a callback and fails never calls it. Every stream that was
 * opened successfully gets exactly one on_close (unary calls: exactly one completion callback), whatever
 * happens: normal end, server error, reset, lost connection or lkv_grpc_conn_close.
 *
 * Statuses given to callbacks are gRPC status codes (lkv_grpc_status_t). Failures that happen on this side
 * map to the codes grpc-go's client uses: a lost or refused connection is UNAVAILABLE, a stream cancelled by
 * lkv_grpc_stream_cancel or lkv_grpc_conn_close is CANCELLED, an unreadable response is INTERNAL.
 */

typedef struct lkv_grpc_loop_s lkv_grpc_loop_t;
typedef struct lkv_grpc_timer_s lkv_grpc_timer_t;
typedef struct lkv_grpc_conn_s lkv_grpc_conn_t;
typedef struct lkv_grpc_stream_s lkv_grpc_stream_t;

/* Largest response message accepted; a larger one ends its stream with RESOURCE_EXHAUSTED. */
#define LKV_GRPC_CLIENT_MAX_MSG (64u << 20)

/* ---- loop ---- */

/* Creates a loop. Returns 0 and sets *out, or LKV_ENOMEM / a negative errno code. */
int lkv_grpc_loop_new(lkv_grpc_loop_t **out);

/* Runs callbacks until lkv_grpc_loop_stop is called or nothing is left to wait for (no connection open, no
 * timer running). May be called again afterwards. Returns 0. */
int lkv_grpc_loop_run(lkv_grpc_loop_t *loop);

/* Makes lkv_grpc_loop_run return soon (after the current iteration); a stop requested while the loop is not
 * running ends its next run at once. The only function callable from any thread. */
void lkv_grpc_loop_stop(lkv_grpc_loop_t *loop);

/* Closes every connection still open (their streams get on_close with CANCELLED, as with
 * lkv_grpc_conn_close), frees every timer and releases the loop. Not from inside a callback. */
void lkv_grpc_loop_free(lkv_grpc_loop_t *loop);

/* ---- timers ---- */

typedef void (*lkv_grpc_timer_cb)(void *ud);

/* Creates a stopped timer on loop that calls cb(ud) when it fires. Returns 0 and sets *out, or LKV_ENOMEM.
 * The timer belongs to the loop: lkv_grpc_loop_free frees it if lkv_grpc_timer_free did not. */
int lkv_grpc_timer_new(lkv_grpc_loop_t *loop, lkv_grpc_timer_cb cb, void *ud, lkv_grpc_timer_t **out);

/* (Re)starts t: first call after timeout_ms, then every repeat_ms (0: once). Millisecond resolution. */
void lkv_grpc_timer_start(lkv_grpc_timer_t *t, uint64_t timeout_ms, uint64_t repeat_ms);

/* Stops t; it may be started again. */
void lkv_grpc_timer_stop(lkv_grpc_timer_t *t);

/* Stops and frees t (also from its own callback). t is invalid afterwards. */
void lkv_grpc_timer_free(lkv_grpc_timer_t *t);

/* ---- connections ---- */

/* Called once the TCP connection is established (status 0) or could not be (negative errno code, e.g.
 * -ECONNREFUSED). Not called when the connection is closed by lkv_grpc_conn_close before that. */
typedef void (*lkv_grpc_connect_cb)(void *ud, lkv_grpc_conn_t *conn, int status);

/* Starts connecting to host:port (host: numeric IPv4/IPv6 address or a name, resolved here, blocking) and
 * queues the HTTP/2 preface. Streams may be opened at once; they are sent when the connection is up.
 * on_connect may be NULL. Returns 0 and sets *out, or LKV_EINVAL (host not resolvable, port out of range),
 * LKV_ENOMEM, or a negative errno code from the socket layer; on failure on_connect is never called.
 * The connection must be released with lkv_grpc_conn_close (or lkv_grpc_loop_free), even after it failed. */
int lkv_grpc_conn_open(lkv_grpc_loop_t *loop, const char *host, int port, lkv_grpc_connect_cb on_connect,
                       void *ud, lkv_grpc_conn_t **out);

/* 0 while the connection is usable, else the negative code of why it ended (-ECONNREFUSED, -ECONNRESET,
 * LKV_EPROTO for an HTTP/2 error, LKV_ESTOPPED when the server sent GOAWAY and finished, LKV_ECANCELED
 * after lkv_grpc_conn_close). Once non-zero, opening a stream on it fails with this code. */
int lkv_grpc_conn_error(const lkv_grpc_conn_t *conn);

/* A short human-readable description of why the connection ended ("" while it is usable). Valid until the
 * connection is closed. */
const char *lkv_grpc_conn_error_text(const lkv_grpc_conn_t *conn);

/* Closes the connection: every open stream gets on_close with CANCELLED ("connection closed by the client"),
 * then the memory is released once the socket is closed. When called from a callback of one of this
 * connection's streams, those on_close calls run right after that callback returns instead of before this
 * function returns. conn is invalid afterwards. */
void lkv_grpc_conn_close(lkv_grpc_conn_t *conn);

/* ---- streams ---- */

typedef struct lkv_grpc_stream_cbs_s {
  /* One response message (without the 5-byte prefix); msg is valid only during the call. May be NULL. */
  void (*on_message)(void *ud, lkv_grpc_stream_t *s, const uint8_t *msg, size_t len);
  /* The stream ended with a gRPC status; message is the decoded grpc-message or "" (valid only during the
   * call). Called exactly once; s is freed right after it returns. */
  void (*on_close)(void *ud, lkv_grpc_stream_t *s, int status, const char *message);
} lkv_grpc_stream_cbs_t;

/* Opens a stream for the gRPC method path ("/etcdserverpb.Watch/Watch"). cbs is copied; cbs->on_close is
 * required. Returns 0 and sets *out, or the connection's error (lkv_grpc_conn_error), LKV_EINVAL (no
 * on_close), LKV_ENOMEM, or LKV_EAGAIN when the connection has used up its stream ids (open a new one).
 * *out stays valid until on_close returns. */
int lkv_grpc_stream_open(lkv_grpc_conn_t *conn, const char *path, const lkv_grpc_stream_cbs_t *cbs, void *ud,
                         lkv_grpc_stream_t **out);

/* Queues one request message on s (msg is copied; the 5-byte prefix is added here). Returns 0, LKV_EINVAL
 * after lkv_grpc_stream_close_send or when len exceeds 4 GiB, LKV_ECANCELED after lkv_grpc_stream_cancel,
 * LKV_ENOMEM, or the connection's error. */
int lkv_grpc_stream_send(lkv_grpc_stream_t *s, const uint8_t *msg, size_t len);

/* Half-closes s: no more request messages (END_STREAM follows the queued ones). Idempotent. */
void lkv_grpc_stream_close_send(lkv_grpc_stream_t *s);

/* Resets s (RST_STREAM CANCEL). on_close follows later from the loop with CANCELLED. Idempotent. */
void lkv_grpc_stream_cancel(lkv_grpc_stream_t *s);

/* ---- unary calls ---- */

/* Completion of a unary call: the gRPC status, the decoded grpc-message ("" if none) and, when status is OK,
 * the single response message (resp may be NULL when len is 0). All valid only during the call. */
typedef void (*lkv_grpc_unary_cb)(void *ud, int status, const char *message, const uint8_t *resp, size_t len);

/* Sends one request message on a new stream and calls cb once the call ends. A response without exactly one
 * message ends with INTERNAL. Returns 0, or what lkv_grpc_stream_open / lkv_grpc_stream_send return (cb is
 * then never called). */
int lkv_grpc_unary(lkv_grpc_conn_t *conn, const char *path, const uint8_t *req, size_t len,
                   lkv_grpc_unary_cb cb, void *ud);

/* ---- status names ---- */

/* The canonical upper-case name of a gRPC status code ("UNIMPLEMENTED"), or "UNKNOWN_STATUS" for codes
 * outside 0..16. Never NULL; static storage. */
const char *lkv_grpc_status_name(int status);

#endif
