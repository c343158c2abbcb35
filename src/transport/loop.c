/* Loop threads: the libuv loop, the queue other threads post to, once-per-iteration flushing, shutdown. */
#include "transport/loop.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/conn.h"
#include "transport/listener.h"

static _Thread_local const lkv__loop_t *current_loop;

int lkv__loop_is_current(const lkv__loop_t *loop) {
  return current_loop == loop;
}

/* ---- exit ---- */

static void maybe_exit(lkv__loop_t *loop) {
  if (!loop->stopping || loop->exiting || loop->n_conns > 0 || loop->n_calls > 0) return;
  loop->exiting = 1;
  /* No call is left, so nobody may post any more; the flag only guards against misuse. */
  uv_mutex_lock(&loop->mu);
  loop->async_closed = 1;
  uv_mutex_unlock(&loop->mu);
  uv_close((uv_handle_t *)&loop->async, NULL);
  uv_close((uv_handle_t *)&loop->flush, NULL);
  uv_close((uv_handle_t *)&loop->grace, NULL);
  uv_close((uv_handle_t *)&loop->tick, NULL);
  uv_close((uv_handle_t *)&loop->handshakes, NULL);
  uv_close((uv_handle_t *)&loop->keepalive, NULL);
  /* uv_run returns once these closes complete: the listeners were closed when the stop began. */
}

void lkv__loop_call_added(lkv__loop_t *loop) {
  loop->n_calls++;
}

void lkv__loop_call_freed(lkv__loop_t *loop) {
  loop->n_calls--;
  maybe_exit(loop);
}

void lkv__loop_conn_added(lkv__loop_t *loop, lkv__conn_t *conn) {
  conn->prev = NULL;
  conn->next = loop->conns;
  if (loop->conns) loop->conns->prev = conn;
  loop->conns = conn;
  loop->n_conns++;
}

void lkv__loop_conn_removed(lkv__loop_t *loop, lkv__conn_t *conn) {
  if (conn->prev)
    conn->prev->next = conn->next;
  else
    loop->conns = conn->next;
  if (conn->next) conn->next->prev = conn->prev;
  loop->n_conns--;
  maybe_exit(loop);
}

/* ---- flushing ---- */

void lkv__loop_want_flush(lkv__loop_t *loop, lkv__conn_t *conn) {
  if (conn->dirty) return;
  conn->dirty = 1;
  conn->dirty_prev = NULL;
  conn->dirty_next = loop->dirty;
  if (loop->dirty) loop->dirty->dirty_prev = conn;
  loop->dirty = conn;
}

void lkv__loop_unschedule(lkv__loop_t *loop, lkv__conn_t *conn) {
  if (!conn->dirty) return;
  if (conn->dirty_prev)
    conn->dirty_prev->dirty_next = conn->dirty_next;
  else
    loop->dirty = conn->dirty_next;
  if (conn->dirty_next) conn->dirty_next->dirty_prev = conn->dirty_prev;
  conn->dirty = 0;
}

/* Writes what every connection has queued, one write per connection. */
static void flush_dirty(lkv__loop_t *loop) {
  while (loop->dirty) {
    lkv__conn_t *conn = loop->dirty;
    lkv__loop_unschedule(loop, conn);
    lkv__conn_flush(conn);
  }
}

/* Runs just before the loop blocks in poll: everything the iteration's reads, posts and timers produced
 * leaves in one write per connection. */
static void on_prepare(uv_prepare_t *h) {
  flush_dirty(h->data);
}

/* ---- posts and stop ---- */

void lkv__loop_post(lkv__loop_t *loop, lkv__post_t *post) {
  post->next = NULL;
  uv_mutex_lock(&loop->mu);
  if (loop->posts_tail)
    loop->posts_tail->next = post;
  else
    loop->posts_head = post;
  loop->posts_tail = post;
  /* Inside the lock: the loop closes the handle under the same lock, so a send never races the close. */
  if (!loop->async_closed) uv_async_send(&loop->async);
  uv_mutex_unlock(&loop->mu);
}

static void on_grace_expired(uv_timer_t *h) {
  lkv__loop_t *loop = h->data;
  for (lkv__conn_t *conn = loop->conns; conn; conn = conn->next) lkv__conn_close(conn);
}

static void begin_stop(lkv__loop_t *loop) {
  loop->stopping = 1;
  uv_timer_stop(&loop->tick);
  uv_timer_stop(&loop->handshakes); /* the grace period bounds every connection now */
  uv_timer_stop(&loop->keepalive);
  for (size_t i = 0; i < loop->n_listeners; i++) uv_close((uv_handle_t *)&loop->listeners[i], NULL);
  for (lkv__conn_t *conn = loop->conns; conn; conn = conn->next) lkv__conn_shutdown(conn);
  uv_timer_start(&loop->grace, on_grace_expired, (uint64_t)(loop->grace_ms > 0 ? loop->grace_ms : 0), 0);
  maybe_exit(loop);
}

void lkv__loop_wake(lkv__loop_t *loop) {
  if (atomic_exchange(&loop->wake_pending, 1)) return;
  loop->wake_post.kind = LKV__POST_WAKE;
  loop->wake_post.call = NULL;
  lkv__loop_post(loop, &loop->wake_post);
}

static void run_wake(lkv__loop_t *loop) {
  /* Cleared first: a wake made while on_wake runs must run it again. */
  atomic_store(&loop->wake_pending, 0);
  const lkv_transport_handler_t *handler = &loop->cfg->handler;
  if (handler->on_wake) handler->on_wake(handler->app, loop->index);
}

static void on_tick(uv_timer_t *h) {
  lkv__loop_t *loop = h->data;
  loop->cfg->handler.on_tick(loop->cfg->handler.app, loop->index);
}

static void on_async(uv_async_t *h) {
  lkv__loop_t *loop = h->data;
  uv_mutex_lock(&loop->mu);
  lkv__post_t *post = loop->posts_head;
  loop->posts_head = loop->posts_tail = NULL;
  uv_mutex_unlock(&loop->mu);
  while (post) {
    lkv__post_t *next = post->next; /* a SEND node is relinked into the call's output queue */
    if (post->kind == LKV__POST_STOP)
      begin_stop(loop);
    else if (post->kind == LKV__POST_WAKE)
      run_wake(loop);
    else
      lkv__call_apply_post(post);
    post = next;
  }
}

void lkv__loop_request_stop(lkv__loop_t *loop, int grace_ms) {
  loop->grace_ms = grace_ms; /* published to the loop thread by the queue's mutex */
  loop->stop_post.kind = LKV__POST_STOP;
  loop->stop_post.call = NULL;
  lkv__loop_post(loop, &loop->stop_post);
}

/* ---- life cycle ---- */

static void on_handshakes(uv_timer_t *h) {
  lkv__loop_t *loop = h->data;
  uint64_t now = uv_now(&loop->uv);
  /* Closing only unlinks a connection later (on_closed): the walk stays valid. */
  for (lkv__conn_t *conn = loop->conns; conn; conn = conn->next) lkv__conn_check_handshake(conn, now);
}

static void on_keepalive(uv_timer_t *h) {
  lkv__loop_t *loop = h->data;
  uint64_t now = uv_now(&loop->uv);
  for (lkv__conn_t *conn = loop->conns; conn; conn = conn->next) lkv__conn_check_keepalive(conn, now);
}

/* How often keepalive looks at the connections: a quarter of the shorter of its two times, 10 ms to 1 s. */
static uint64_t keepalive_period(const lkv_transport_keepalive_t *ka) {
  uint64_t t = (ka->interval_ms < ka->timeout_ms ? ka->interval_ms : ka->timeout_ms) / 4;
  return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

static void on_connection(uv_stream_t *server, int status) {
  lkv__loop_t *loop = server->data;
  if (status < 0 || loop->stopping) return;
  lkv__conn_accept(loop, server, loop->listener_tls[(uv_tcp_t *)server - loop->listeners]);
}

int lkv__loop_init(lkv__loop_t *loop, int index, const lkv__h2_config_t *cfg, size_t n_listeners) {
  int rv;
  memset(loop, 0, sizeof(*loop));
  loop->index = index;
  loop->cfg = cfg;
  loop->listeners = calloc(n_listeners ? n_listeners : 1, sizeof(*loop->listeners));
  loop->listener_tls = calloc(n_listeners ? n_listeners : 1, sizeof(*loop->listener_tls));
  if (!loop->listeners || !loop->listener_tls) {
    rv = LKV_ENOMEM;
    goto err_after_alloc;
  }
  if ((rv = uv_loop_init(&loop->uv)) != 0) goto err_after_alloc;
  if ((rv = uv_mutex_init(&loop->mu)) != 0) goto err_after_loop;
  if ((rv = uv_async_init(&loop->uv, &loop->async, on_async)) != 0) goto err_after_mutex;
  loop->async.data = loop;
  uv_prepare_init(&loop->uv, &loop->flush);
  loop->flush.data = loop;
  uv_prepare_start(&loop->flush, on_prepare);
  uv_timer_init(&loop->uv, &loop->grace);
  loop->grace.data = loop;
  uv_timer_init(&loop->uv, &loop->tick);
  loop->tick.data = loop;
  uv_timer_init(&loop->uv, &loop->handshakes);
  loop->handshakes.data = loop;
  uv_timer_init(&loop->uv, &loop->keepalive);
  loop->keepalive.data = loop;
  if (cfg->keepalive.interval_ms && cfg->keepalive.timeout_ms) {
    uint64_t period = keepalive_period(&cfg->keepalive);
    uv_timer_start(&loop->keepalive, on_keepalive, period, period);
  }
  atomic_init(&loop->wake_pending, 0);
  if (cfg->tick_ms > 0 && cfg->handler.on_tick)
    uv_timer_start(&loop->tick, on_tick, cfg->tick_ms, cfg->tick_ms);
  return 0;

err_after_mutex:
  uv_mutex_destroy(&loop->mu);
err_after_loop:
  uv_loop_close(&loop->uv);
err_after_alloc:
  free(loop->listeners);
  free(loop->listener_tls);
  return rv;
}

int lkv__loop_listen(lkv__loop_t *loop, const char *host, int port, lkv_tls_t *tls, int *bound_port) {
  uv_tcp_t *tcp = &loop->listeners[loop->n_listeners];
  int rv = lkv__listener_open(&loop->uv, tcp, host, port, on_connection, bound_port);
  if (rv != 0) return rv;
  tcp->data = loop;
  loop->listener_tls[loop->n_listeners] = tls;
  if ((tls || loop->cfg->handler.on_http) && !uv_is_active((uv_handle_t *)&loop->handshakes))
    uv_timer_start(&loop->handshakes, on_handshakes, 1000, 1000);
  loop->n_listeners++;
  return 0;
}

/* Runs the loop in gated rounds: wait for work outside the gate (a parked thread holds no CPU place),
 * then pass the gate, handle everything that is ready in one non-blocking pass and write the answers it
 * produced before leaving. (libuv's prepare handle would write them only at the start of the next pass,
 * so with threads taking turns at the gate every answer waited for another thread's round: 12-25 % less
 * throughput in a 1-CPU cgroup, bench/pool's busy setting.) */
static void run_gated(lkv__loop_t *loop) {
  const lkv_transport_gate_t *gate = &loop->cfg->gate;
  int fd = uv_backend_fd(&loop->uv);
  for (;;) {
    if (!loop->dirty) {
      struct pollfd wait = {.fd = fd, .events = POLLIN};
      poll(&wait, 1, uv_backend_timeout(&loop->uv));
    }
    int entered = gate->enter(gate->arg);
    int alive = uv_run(&loop->uv, UV_RUN_NOWAIT);
    flush_dirty(loop);
    gate->leave(gate->arg, entered);
    if (!alive) return;
  }
}

static void loop_main(void *arg) {
  lkv__loop_t *loop = arg;
  sigset_t pipe;
  /* A write to a peer that has gone raises SIGPIPE in the writing thread; blocked here, the write fails
   * with EPIPE instead, whatever the host process does with the signal. */
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, NULL);
  current_loop = loop;
  if (loop->cfg->gate.enter)
    run_gated(loop);
  else
    uv_run(&loop->uv, UV_RUN_DEFAULT);
  current_loop = NULL;
}

int lkv__loop_start(lkv__loop_t *loop) {
  return uv_thread_create(&loop->thread, loop_main, loop);
}

static void release(lkv__loop_t *loop) {
  uv_loop_close(&loop->uv);
  uv_mutex_destroy(&loop->mu);
  free(loop->listeners);
  free(loop->listener_tls);
}

void lkv__loop_destroy(lkv__loop_t *loop) {
  for (size_t i = 0; i < loop->n_listeners; i++) uv_close((uv_handle_t *)&loop->listeners[i], NULL);
  uv_close((uv_handle_t *)&loop->async, NULL);
  uv_close((uv_handle_t *)&loop->flush, NULL);
  uv_close((uv_handle_t *)&loop->grace, NULL);
  uv_close((uv_handle_t *)&loop->tick, NULL);
  uv_close((uv_handle_t *)&loop->handshakes, NULL);
  uv_close((uv_handle_t *)&loop->keepalive, NULL);
  uv_run(&loop->uv, UV_RUN_DEFAULT); /* completes the closes, including a failed listener's */
  release(loop);
}

void lkv__loop_join(lkv__loop_t *loop) {
  uv_thread_join(&loop->thread);
  release(loop);
}
