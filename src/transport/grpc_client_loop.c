/* The gRPC client's event loop and timers: run, cross-thread stop, teardown. */
#include <stdlib.h>

#include "common/error.h"
#include "transport/grpc_client_internal.h"

static void on_wake(uv_async_t *h) {
  uv_stop(h->loop);
}

int lkv_grpc_loop_new(lkv_grpc_loop_t **out) {
  int rv;
  lkv_grpc_loop_t *loop = calloc(1, sizeof(*loop));
  if (!loop) return LKV_ENOMEM;
  if ((rv = uv_loop_init(&loop->uv)) != 0) goto err_after_alloc;
  if ((rv = uv_async_init(&loop->uv, &loop->wake, on_wake)) != 0) goto err_after_loop;
  /* The wake handle alone must not keep lkv_grpc_loop_run from returning when there is nothing to do. */
  uv_unref((uv_handle_t *)&loop->wake);
  loop->uv.data = loop;
  *out = loop;
  return 0;

err_after_loop:
  uv_loop_close(&loop->uv);
err_after_alloc:
  free(loop);
  return rv;
}

int lkv_grpc_loop_run(lkv_grpc_loop_t *loop) {
  uv_run(&loop->uv, UV_RUN_DEFAULT);
  return 0;
}

void lkv_grpc_loop_stop(lkv_grpc_loop_t *loop) {
  uv_async_send(&loop->wake);
}

static void free_timer_handle(uv_handle_t *h) {
  free(h->data);
}

void lkv_grpc_loop_free(lkv_grpc_loop_t *loop) {
  while (loop->conns) lkv_grpc_conn_close(loop->conns);
  while (loop->timers) lkv_grpc_timer_free(loop->timers);
  uv_close((uv_handle_t *)&loop->wake, NULL);
  /* Let every close callback run (sockets, timers, the wake handle) before the loop goes away. */
  while (uv_loop_close(&loop->uv) == UV_EBUSY) uv_run(&loop->uv, UV_RUN_DEFAULT);
  free(loop);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *h) {
  lkv_grpc_timer_t *t = h->data;
  t->cb(t->ud);
}

int lkv_grpc_timer_new(lkv_grpc_loop_t *loop, lkv_grpc_timer_cb cb, void *ud, lkv_grpc_timer_t **out) {
  lkv_grpc_timer_t *t = calloc(1, sizeof(*t));
  if (!t) return LKV_ENOMEM;
  uv_timer_init(&loop->uv, &t->uv); /* cannot fail for a valid loop */
  t->uv.data = t;
  t->loop = loop;
  t->cb = cb;
  t->ud = ud;
  t->next = loop->timers;
  if (loop->timers) loop->timers->prev = t;
  loop->timers = t;
  *out = t;
  return 0;
}

void lkv_grpc_timer_start(lkv_grpc_timer_t *t, uint64_t timeout_ms, uint64_t repeat_ms) {
  uv_timer_start(&t->uv, on_timer, timeout_ms, repeat_ms);
}

void lkv_grpc_timer_stop(lkv_grpc_timer_t *t) {
  uv_timer_stop(&t->uv);
}

void lkv_grpc_timer_free(lkv_grpc_timer_t *t) {
  lkv_grpc_loop_t *loop = t->loop;
  if (t->prev)
    t->prev->next = t->next;
  else
    loop->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  uv_timer_stop(&t->uv);
  uv_close((uv_handle_t *)&t->uv, free_timer_handle);
}
