/* The HTTP/1.1 server's thread: its loop, listeners, the reaper timer, start and stop. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/http_internal.h"
#include "transport/listener.h"

#define DEFAULT_MAX_REQUEST_BYTES (16 * 1024)
#define DEFAULT_HEAD_TIMEOUT_MS 10000
#define DEFAULT_IDLE_TIMEOUT_MS 60000
#define DEFAULT_MAX_CONNECTIONS 256
#define REAP_PERIOD_MS 1000

static void on_reap(uv_timer_t *t) {
  lkv__http_conn_reap(t->data);
}

static void close_all(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h)) return;
  if (h->type == UV_TCP && h->data) /* a connection (listeners carry no data) */
    lkv__http_conn_close(h->data);
  else
    uv_close(h, NULL);
}

static void on_stop(uv_async_t *a) {
  uv_walk(a->loop, close_all, NULL);
}

static void run(void *arg) {
  lkv_http_server_t *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* Runs the loop until every handle closed, then closes it (start-up failures and stop). */
static void finish_loop(lkv_http_server_t *s) {
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  free(s->listeners);
  free(s->ports);
  free(s->listen_tls);
  free(s);
}

int lkv_http_server_start(lkv_http_server_t **out, const lkv_http_server_options_t *opts) {
  if (!opts || !opts->handle || !opts->addrs || opts->n_addrs == 0) return LKV_EINVAL;
  lkv_http_server_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->opts = *opts;
  s->opts.addrs = NULL;
  if (!s->opts.max_request_bytes) s->opts.max_request_bytes = DEFAULT_MAX_REQUEST_BYTES;
  if (!s->opts.head_timeout_ms) s->opts.head_timeout_ms = DEFAULT_HEAD_TIMEOUT_MS;
  if (!s->opts.idle_timeout_ms) s->opts.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
  if (!s->opts.max_connections) s->opts.max_connections = DEFAULT_MAX_CONNECTIONS;
  s->listeners = calloc(opts->n_addrs, sizeof(*s->listeners));
  s->ports = calloc(opts->n_addrs, sizeof(*s->ports));
  s->listen_tls = calloc(opts->n_addrs, sizeof(*s->listen_tls));
  s->opts.listen_tls = NULL;
  int rc = LKV_ENOMEM;
  if (!s->listeners || !s->ports || !s->listen_tls) goto err_after_alloc;
  for (size_t i = 0; opts->listen_tls && i < opts->n_addrs; i++) {
    s->listen_tls[i] = opts->listen_tls[i] != 0;
    rc = s->listen_tls[i] && !opts->tls ? LKV_EINVAL : rc;
  }
  if (rc == LKV_EINVAL) goto err_after_alloc;
  if ((rc = uv_loop_init(&s->loop)) != 0) goto err_after_alloc;
  s->loop.data = s;                                 /* the accept callback's way back */
  uv_async_init(&s->loop, &s->stop_async, on_stop); /* cannot fail on Linux once the loop exists */
  uv_timer_init(&s->loop, &s->reaper);
  s->reaper.data = s;
  uv_timer_start(&s->reaper, on_reap, REAP_PERIOD_MS, REAP_PERIOD_MS);
  for (size_t i = 0; i < opts->n_addrs; i++) {
    rc = lkv__listener_probe(opts->addrs[i].host, opts->addrs[i].port);
    if (rc == 0)
      rc = lkv__listener_open(&s->loop, &s->listeners[i], opts->addrs[i].host, opts->addrs[i].port,
                              lkv__http_on_connection, &s->ports[i]);
    if (rc != 0) goto err_after_loop;
    s->listeners[i].data = NULL;
    s->n_listeners++;
  }
  if ((rc = uv_thread_create(&s->thread, run, s)) != 0) goto err_after_loop;
  *out = s;
  return 0;

err_after_loop:
  on_stop(&s->stop_async); /* closes every handle, the failed listener's too */
  finish_loop(s);
  return rc;
err_after_alloc:
  free(s->listeners);
  free(s->ports);
  free(s->listen_tls);
  free(s);
  return rc;
}

int lkv_http_server_bound_port(const lkv_http_server_t *s, size_t i) {
  return i < s->n_listeners ? s->ports[i] : -1;
}

void lkv_http_server_stop(lkv_http_server_t *s) {
  if (!s) return;
  uv_async_send(&s->stop_async);
  uv_thread_join(&s->thread);
  finish_loop(s);
}
