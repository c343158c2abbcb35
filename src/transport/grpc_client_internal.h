/* Internal state of the gRPC client (grpc_client.h), shared by its loop, connection and stream files. */
#ifndef LKV_TRANSPORT_GRPC_CLIENT_INTERNAL_H
#define LKV_TRANSPORT_GRPC_CLIENT_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transport/grpc_client.h"
#include "transport/grpc_frame.h"

#define LKV__GC_READ_BUF (64 * 1024)

struct lkv_grpc_loop_s {
  uv_loop_t uv;
  uv_async_t wake;                    /* lkv_grpc_loop_stop from other threads */
  lkv_grpc_conn_t *conns;             /* connections the user has not closed yet */
  lkv_grpc_timer_t *timers;           /* every live timer, freed by lkv_grpc_loop_free */
  uint8_t read_buf[LKV__GC_READ_BUF]; /* shared by all reads: each read is consumed at once */
};

struct lkv_grpc_timer_s {
  uv_timer_t uv;
  lkv_grpc_loop_t *loop;
  lkv_grpc_timer_t *prev, *next;
  lkv_grpc_timer_cb cb;
  void *ud;
};

/* One framed request message (prefix + payload) waiting for nghttp2's data provider. */
typedef struct lkv__gc_chunk_s {
  struct lkv__gc_chunk_s *next;
  size_t len, off;
  uint8_t data[];
} lkv__gc_chunk_t;

struct lkv_grpc_stream_s {
  lkv_grpc_conn_t *conn;
  lkv_grpc_stream_t *prev, *next; /* conn->streams */
  int32_t id;
  lkv_grpc_stream_cbs_t cbs;
  void *ud;

  /* Request side. */
  lkv__gc_chunk_t *out_head, *out_tail;
  unsigned half_closed : 1; /* no more messages: END_STREAM after the queue */
  unsigned deferred : 1;    /* the data provider is parked (NGHTTP2_ERR_DEFERRED) */

  /* Response side. */
  lkv__grpc_deframer_t deframer;
  int http_status;    /* 0 until :status arrives */
  int grpc_status;    /* -1 until grpc-status arrives */
  char *grpc_message; /* decoded, or NULL */
  int local_status;   /* -1, or the status decided on this side (cancel, unreadable response) */
  const char *local_message;

  /* Unary calls: the single response message is kept until the status arrives. */
  lkv_grpc_unary_cb unary_cb;
  void *unary_ud;
  uint8_t *resp;
  size_t resp_len;
  unsigned n_resp;
};

struct lkv_grpc_conn_s {
  lkv_grpc_loop_t *loop;
  lkv_grpc_conn_t *prev, *next; /* loop->conns */
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_prepare_t flush; /* runs once before the loop blocks when output is pending */
  uv_write_t write_req;
  nghttp2_session *session; /* NULL once the connection ended */
  char *authority;
  lkv_grpc_connect_cb on_connect;
  void *ud;
  lkv_grpc_stream_t *streams;
  uint8_t *wbuf; /* bytes being written; one write in flight at a time */
  size_t wlen, wcap;
  int error;
  char error_text[128];
  int open_handles; /* libuv handles not yet closed; memory is freed at 0 after the user closed */
  int in_session;   /* inside nghttp2_session_mem_recv/mem_send: the session must not be deleted */
  unsigned connected : 1;
  unsigned writing : 1;
  unsigned flush_on : 1;
  unsigned user_closed : 1;
  unsigned close_pending : 1; /* closed by the user from inside a session call: finish afterwards */
};

/* Creates c->session with the stream callbacks (grpc_client_stream.c) and queues the client SETTINGS.
 * Returns 0 or LKV_ENOMEM. */
int lkv__gc_session_new(lkv_grpc_conn_t *c);

/* Schedules a flush of c's pending output before the loop next blocks. */
void lkv__gc_want_flush(lkv_grpc_conn_t *c);

/* Ends s with status and message without involving nghttp2 (its session is gone): unlinks s, calls its
 * completion callback and frees it. */
void lkv__gc_stream_abort(lkv_grpc_stream_t *s, int status, const char *message);

#endif
