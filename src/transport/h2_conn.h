/* nghttp2 glue: one HTTP/2 server session per connection, turning streams into gRPC calls. */
#ifndef LKV_TRANSPORT_H2_CONN_H
#define LKV_TRANSPORT_H2_CONN_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/call.h"
#include "transport/transport.h"

/* What every connection of a transport shares (read-only after start). */
typedef struct lkv__h2_config_s {
  lkv_transport_handler_t handler;
  size_t max_recv_msg_bytes;
  unsigned tick_ms;                /* handler.on_tick period, 0 for none */
  lkv_transport_gate_t gate;       /* loops pass it around each round when gate.enter is set */
  uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS, 0: not advertised */
  size_t stream_reply_bytes;       /* reply bounds (h2_flow.h), never 0 */
  size_t conn_reply_bytes;
  lkv_transport_keepalive_t keepalive; /* h2_ping.h */
} lkv__h2_config_t;

/*
 * Byte-oriented: the owner feeds received bytes with lkv__h2_conn_recv and pulls bytes to write with
 * lkv__h2_conn_send; this module does no I/O. Whenever new output becomes pending outside those two
 * functions (an application answer), it calls want_flush so that the owner schedules a send.
 */
typedef struct lkv__h2_conn_s {
  nghttp2_session *session;
  const lkv__h2_config_t *cfg;
  struct lkv__loop_s *loop;
  lkv_call_t *calls; /* calls whose stream is live */
  void (*want_flush)(struct lkv__h2_conn_s *h2);
  int going_away;      /* GOAWAY submitted: streams above goaway_last are refused */
  int32_t goaway_last; /* the last stream id that GOAWAY lets finish */

  /* Back-pressure (h2_flow.c). */
  size_t backlog;                    /* reply bytes queued on the calls and not yet taken by nghttp2 */
  int blocked;                       /* backlog went over cfg->conn_reply_bytes, not yet down to half */
  int resume_wanted;                 /* held requests may run now: done after the send loop */
  lkv_call_t *wait_head, *wait_tail; /* calls holding request messages, oldest first */
  size_t conn_unconsumed; /* DATA bytes received while blocked, not yet given back to the client's window */

  /* Keepalive (h2_ping.c); times are the loop's uv_now. */
  uint64_t last_read_ms;  /* bytes last arrived */
  uint64_t ping_sent_ms;  /* our keepalive PING went out (ping_out) */
  uint64_t last_ping_ms;  /* the client's previous PING arrived (pinged) */
  int ping_out;           /* our PING is unanswered: nothing was read since */
  int pinged;             /* the client sent a PING before */
  int ping_strikes;       /* grpc-go's policy count */
  int reset_strikes;      /* we sent HEADERS or DATA since the client's last PING */
  int close_after_goaway; /* too many pings: closes once the GOAWAY is written */
  size_t n_streams;       /* calls with a live stream */
} lkv__h2_conn_t;

/* Creates the server session and queues our SETTINGS (large receive windows). cfg and loop must outlive h2.
 * Returns 0, or LKV_ENOMEM (h2 is then untouched and needs no free). */
int lkv__h2_conn_init(lkv__h2_conn_t *h2, const lkv__h2_config_t *cfg, struct lkv__loop_s *loop,
                      void (*want_flush)(lkv__h2_conn_t *h2));

/* Detaches every call (on_cancel for those the application still holds) and deletes the session. Must not
 * run inside a callback of this session. */
void lkv__h2_conn_free(lkv__h2_conn_t *h2);

/* Processes len received bytes (handler callbacks run from here). Returns 0, or LKV_EPROTO when the
 * connection must be dropped at once (bad client preface such as HTTP/1.1 or garbage, flooding), or
 * LKV_ENOMEM. Protocol errors that nghttp2 answers with GOAWAY return 0: lkv__h2_conn_done turns true once
 * that GOAWAY has been sent. */
int lkv__h2_conn_recv(lkv__h2_conn_t *h2, const uint8_t *data, size_t len);

/* Appends pending output to *buf (realloc.d as needed; *len and *cap updated) until nothing is pending or
 * *len reaches limit. Returns 0, or LKV_ENOMEM or LKV_EPROTO (drop the connection). */
int lkv__h2_conn_send(lkv__h2_conn_t *h2, uint8_t **buf, size_t *len, size_t *cap, size_t limit);

/* 1 when the session neither wants to read nor to write: the connection can be closed. */
int lkv__h2_conn_done(lkv__h2_conn_t *h2);

/* Graceful shutdown: queues GOAWAY (streams already started still complete) and ends client-streaming calls
 * with UNAVAILABLE, since they would otherwise hold the connection open until the grace period ends. */
void lkv__h2_conn_shutdown(lkv__h2_conn_t *h2);

/* The client half-closed call's stream (after the messages held for it ran, h2_flow.h): checks the message
 * count of a unary call, ends a client stream that sent nothing, or tells the application. */
void lkv__h2_end_of_stream(lkv__h2_conn_t *h2, lkv_call_t *call);

/* The call has new output or a final status: submits response headers, resumes the data provider or sends
 * a Trailers-Only answer as needed, then asks for a flush. No-op once the stream is gone. */
void lkv__h2_call_output(lkv_call_t *call);

#endif
