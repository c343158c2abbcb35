/* Back-pressure on HTTP/2 connections: reply bytes bounded per stream and per connection, request messages
 * held while over them, the client's flow-control windows given back only for what runs. */
#ifndef LKV_TRANSPORT_H2_FLOW_H
#define LKV_TRANSPORT_H2_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "transport/call.h"
#include "transport/h2_conn.h"

/*
 * A connection's backlog is the reply bytes queued on its calls and not yet taken by nghttp2 (which takes
 * them only within the client's windows, and a write at a time). Above cfg->conn_reply_bytes the connection
 * is *blocked* until the backlog falls to half of it; a stream is over its bound while its own queued bytes
 * exceed cfg->stream_reply_bytes. A request message that arrives for a blocked connection, a stream over its
 * bound, or a stream that already holds messages is held (copied) instead of run; held messages run in
 * arrival order, oldest call first, once the bounds allow. While a call holds messages, the DATA bytes
 * received on its stream are not given back to the stream's window, and while the connection is blocked,
 * not to the connection's (automatic WINDOW_UPDATE is off): what a client can make us hold is bounded by the
 * windows we advertise, and a stream held alone does not shrink the window of the others. Every function
 * runs on the connection's loop thread.
 */

/* One held request message (without its gRPC prefix). */
typedef struct lkv__held_s {
  struct lkv__held_s *next;
  size_t len;
  uint8_t data[];
} lkv__held_t;

/* A new call on h2 (its stream just opened): counts it and marks it congested if h2 is blocked. */
void lkv__flow_attach(lkv_call_t *call);

/* The call's stream is gone (call->h2 still set): drops its held messages, gives back the bytes they held,
 * stops its deadline and leaves the wait list. */
void lkv__flow_detach(lkv_call_t *call);

/* A complete request message for call (the transport's checks passed): handed to on_message now, or held
 * (see above). A held message that cannot be copied answers the call RESOURCE_EXHAUSTED. */
void lkv__flow_message(lkv_call_t *call, const uint8_t *msg, size_t len);

/* The client half-closed call's stream. Returns 1 when messages are held: the half-close is then handled
 * (lkv__h2_end_of_stream) after the last of them ran; 0 when it must be handled now. */
int lkv__flow_half_close(lkv_call_t *call);

/* len DATA bytes arrived for stream_id on h2 (call: its call, or NULL when it has none): given back to the
 * stream's window unless the call holds messages, and to the connection's unless it is blocked. Call after
 * the call consumed them. */
void lkv__flow_received(lkv__h2_conn_t *h2, int32_t stream_id, lkv_call_t *call, size_t len);

/* Reply bytes: n queued on call (lkv_call_send applied), and n taken by nghttp2 or dropped. A connection
 * crossing its bound blocks or unblocks here. */
void lkv__flow_queued(lkv_call_t *call, size_t n);
void lkv__flow_taken(lkv_call_t *call, size_t n);

/* Runs the held messages the bounds now allow and gives back the bytes no longer held; lkv__h2_conn_send
 * calls it when h2->resume_wanted is set (outside nghttp2's callbacks). */
void lkv__flow_resume(lkv__h2_conn_t *h2);

#endif
