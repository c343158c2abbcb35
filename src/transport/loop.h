/* Loop threads: one libuv loop per thread, its work queue for other threads, write batching, shutdown. */
#ifndef LKV_TRANSPORT_LOOP_H
#define LKV_TRANSPORT_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "transport/call.h"
#include "transport/h2_conn.h"
#include "transport/tls.h"

#define LKV__LOOP_READ_BUF (64 * 1024)

struct lkv__conn_s;

typedef struct lkv__loop_s {
  uv_loop_t uv;
  uv_thread_t thread;
  int index;
  const lkv__h2_config_t *cfg;

  uv_async_t async; /* wakes the loop for posts */
  uv_mutex_t mu;    /* guards posts_* and async_closed */
  lkv__post_t *posts_head, *posts_tail;
  int async_closed;
  uv_prepare_t flush;      /* writes what the iteration produced, once per connection */
  uv_timer_t grace;        /* shutdown deadline */
  uv_timer_t tick;         /* handler.on_tick, when configured */
  uv_timer_t handshakes;   /* with a TLS listener or HTTP/1.1 served: ends overdue handshakes and requests */
  uv_timer_t keepalive;    /* with server keepalive configured: pings idle connections, reaps dead ones */
  atomic_int wake_pending; /* wake_post is queued and on_wake has not started yet */
  lkv__post_t wake_post;
  uv_tcp_t *listeners;      /* one per listen address */
  lkv_tls_t **listener_tls; /* the TLS context of each listener, NULL for cleartext */
  size_t n_listeners;

  struct lkv__conn_s *conns; /* every open connection */
  struct lkv__conn_s *dirty; /* connections with output to flush */
  size_t n_conns;
  size_t n_calls;
  int stopping;
  int exiting;
  int grace_ms;
  lkv__post_t stop_post;
  uint8_t read_buf[LKV__LOOP_READ_BUF]; /* shared by the loop's reads: each read is consumed at once */
} lkv__loop_t;

/* Initialises loop (libuv loop, handles, queue) with room for n_listeners listeners; cfg must outlive it.
 * Returns 0 or a negative LKV_E* / errno code; on failure nothing needs cleaning. */
int lkv__loop_init(lkv__loop_t *loop, int index, const lkv__h2_config_t *cfg, size_t n_listeners);

/* Starts the loop thread. Returns 0 or a negative errno code (the loop is then still only initialised). */
int lkv__loop_start(lkv__loop_t *loop);

/* Releases a loop whose thread never started (closes its handles and listeners). */
void lkv__loop_destroy(lkv__loop_t *loop);

/* Opens a listener for host:port on the loop (before lkv__loop_start); see lkv__listener_open. Its
 * connections speak TLS with tls unless it is NULL. */
int lkv__loop_listen(lkv__loop_t *loop, const char *host, int port, lkv_tls_t *tls, int *bound_port);

/* Asks a started loop to shut down within grace_ms (see lkv_transport_stop). Any thread but the loop's. */
void lkv__loop_request_stop(lkv__loop_t *loop, int grace_ms);

/* Waits for a loop asked to stop to finish, then releases it. Not from a loop thread. */
void lkv__loop_join(lkv__loop_t *loop);

/* Queues post for the loop thread and wakes it. Any thread. */
void lkv__loop_post(lkv__loop_t *loop, lkv__post_t *post);

/* Queues the loop's wake post unless one is pending (lkv_transport_wake). Any thread. */
void lkv__loop_wake(lkv__loop_t *loop);

/* 1 when the caller runs on loop's thread. */
int lkv__loop_is_current(const lkv__loop_t *loop);

/* Schedules conn for a flush before the loop next sleeps (loop thread). */
void lkv__loop_want_flush(lkv__loop_t *loop, struct lkv__conn_s *conn);

/* Removes conn from the flush schedule (it is closing). */
void lkv__loop_unschedule(lkv__loop_t *loop, struct lkv__conn_s *conn);

/* Bookkeeping of the loop's calls and connections: a stopping loop exits once both are gone. */
void lkv__loop_call_added(lkv__loop_t *loop);
void lkv__loop_call_freed(lkv__loop_t *loop);
void lkv__loop_conn_added(lkv__loop_t *loop, struct lkv__conn_s *conn);
void lkv__loop_conn_removed(lkv__loop_t *loop, struct lkv__conn_s *conn);

#endif
