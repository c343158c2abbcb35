/* Call objects (one per HTTP/2 stream): state, output queue and the lifetime rules of transport.h. */
#ifndef LKV_TRANSPORT_CALL_H
#define LKV_TRANSPORT_CALL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/grpc_frame.h"
#include "transport/transport.h"

struct lkv__loop_s;
struct lkv__h2_conn_s;
struct lkv__h1_conn_s;

/* Work handed to a loop thread through its queue (loop.h). Embedded in the object it concerns. */
typedef enum {
  LKV__POST_SEND,
  LKV__POST_FINISH,
  LKV__POST_STOP,
  LKV__POST_WAKE,
  LKV__POST_RUN
} lkv__post_kind_t;

typedef struct lkv__post_s {
  struct lkv__post_s *next;
  lkv__post_kind_t kind;
  lkv_call_t *call; /* NULL for LKV__POST_STOP and LKV__POST_WAKE */
} lkv__post_t;

/* One framed response message (prefix + payload). The same node travels through the loop queue (post) and
 * then sits in the call's output queue (post.next links both). */
typedef struct lkv__chunk_s {
  lkv__post_t post;
  size_t len; /* bytes in data */
  size_t off; /* bytes already handed to nghttp2 */
  uint8_t data[];
} lkv__chunk_t;

/*
 * A call is freed once (a) its stream is gone (closed, reset, connection lost) and (b) the application has
 * called lkv_call_finish, or never received the call at all (the transport answered it on its own).
 * Fields are touched only by the owning loop thread, except the atomics and finish_* (written by the
 * finishing thread before it posts finish_post).
 */
struct lkv_call_s {
  struct lkv__loop_s *loop;
  struct lkv__h2_conn_s *h2; /* NULL once the stream is gone */
  struct lkv__h1_conn_s *h1; /* instead of h2: an HTTP/1.1 exchange's call (exchange.h), NULL once over */
  lkv_call_t *prev, *next;   /* the connection's list of calls with a live stream */
  int32_t stream_id;
  const void *route;     /* NULL until the headers were accepted */
  uint64_t started_ns;   /* CLOCK_MONOTONIC when the stream (or exchange) began: on_finished's elapsed time */
  void *data;            /* lkv_call_set_data */
  struct lkv__h2x_s *gw; /* an HTTP/2 stream that is the gateway's (h2_gateway.h), else NULL */

  /* Request side (h2_conn.c). */
  lkv__grpc_deframer_t deframer;
  char *path;
  size_t path_len;
  char content_type[64]; /* truncated copy, for the error message only */
  char *metadata;        /* handler.metadata_keys found in the request: "name\0value\0" pairs, or NULL */
  size_t metadata_len;
  unsigned n_msgs;
  unsigned method_post : 1;
  unsigned content_type_ok : 1;
  unsigned encoding_set : 1; /* grpc-encoding other than identity */
  unsigned client_streaming : 1;

  /* Lifetime and answer state. */
  unsigned owned : 1;           /* the application received the call and owes lkv_call_finish */
  unsigned app_finished : 1;    /* lkv_call_finish was applied */
  unsigned answered : 1;        /* the final status is decided; status/message hold it */
  unsigned cancel_notified : 1; /* on_cancel ran */
  unsigned in_callback : 1;     /* inside on_cancel: the caller still uses the call, do not free it */
  unsigned headers_sent : 1;    /* response HEADERS (or the Trailers-Only answer) submitted */
  unsigned deferred : 1;        /* the data provider is parked (NGHTTP2_ERR_DEFERRED) */
  unsigned drain_armed : 1;     /* lkv_call_wake_when_drained: wake the loop at drain_below */
  int http_status;              /* 200, or 405/415 for requests that are not gRPC */
  int status;
  char *message; /* percent-encoded grpc-message, or NULL */

  lkv__chunk_t *out_head, *out_tail;
  size_t drain_below;

  /* Cross-thread finish (lkv_call_finish from a non-owner thread). */
  lkv__post_t finish_post;
  int finish_status;
  char *finish_message;

  /* Back-pressure and deadline (h2_flow.c, deadline.c); HTTP/2 calls only. */
  struct lkv__held_s *held_head, *held_tail; /* request messages waiting for the backlog to fall */
  lkv_call_t *wait_next;                     /* the connection's wait list */
  unsigned waiting : 1;                      /* in the wait list */
  unsigned half_close_held : 1;              /* END_STREAM arrived behind held messages */
  unsigned timeout_bad : 1;                  /* a malformed grpc-timeout: the stream is reset */
  size_t unconsumed;                /* DATA bytes received, not yet given back to the stream's window */
  uint64_t deadline_ns;             /* grpc-timeout: uv_hrtime() by which to answer; 0 for none */
  struct lkv__deadline_s *deadline; /* its timer, NULL for none */
  atomic_size_t floor;              /* lkv_call_pending_bytes' least value (congested connection) */

  atomic_size_t pending; /* bytes sent by the application and not yet taken by nghttp2 */
  atomic_int cancelled;  /* sends are dropped from now on */
  atomic_int posted;     /* posts queued for this call: owner-thread calls queue behind them to keep order */
};

/* Allocates a call for stream_id on h2, owned by loop. Returns NULL when out of memory. */
lkv_call_t *lkv__call_new(struct lkv__loop_s *loop, struct lkv__h2_conn_s *h2, int32_t stream_id);

/* Allocates the call of an HTTP/1.1 exchange on h1 (h1_call.c), owned by loop, accepting request messages
 * of max_recv bytes. Returns NULL when out of memory. */
lkv_call_t *lkv__call_new_h1(struct lkv__loop_s *loop, struct lkv__h1_conn_s *h1, size_t max_recv);

/* Removes the first queued response message (prefix included) and returns it (free() it), or NULL when
 * none is queued (loop thread, for HTTP/1.1 answers that render message by message). */
lkv__chunk_t *lkv__call_take_message(lkv_call_t *call);

/* The transport answers the call itself (protocol error, oversize, shutdown, or an empty client stream):
 * records status and message (a plain string, NULL for none; percent-encoded here), drops further
 * application output, and tells the application through on_cancel if it holds the call. Output already
 * queued is still sent before the trailers. No-op when the call is already answered or its stream gone. */
void lkv__call_answer(lkv_call_t *call, int status, const char *message);

/* Answers UNIMPLEMENTED for a path no route serves (lookup returned NULL), in grpc-go's words: "unknown
 * service S", or "unknown method M for service S" when handler->has_service(S) says S is served, or
 * "malformed method name: \"<path>\"" without a service part. */
void lkv__call_answer_unknown(lkv_call_t *call, const lkv_transport_handler_t *handler, const char *path);

/* The stream is gone (closed, reset or its connection lost): releases the output queue, notifies the
 * application (on_cancel) if it still owes a finish, and frees the call if nothing else holds it. */
void lkv__call_detach(lkv_call_t *call);

/* Copies up to cap queued output bytes into buf and returns how many (loop thread, from nghttp2's data
 * provider). */
size_t lkv__call_take_output(lkv_call_t *call, uint8_t *buf, size_t cap);

/* Runs handler->on_wake (through the loop's queue) if the call's drain notice is armed and its pending bytes
 * (lkv_call_pending_bytes) are down to its threshold: after bytes were taken or its connection unblocked. */
void lkv__call_drain_check(lkv_call_t *call);

/* Applies a post of kind SEND or FINISH on the owning loop thread. */
void lkv__call_apply_post(lkv__post_t *post);

#endif
