/* lkv_transport_start/stop: binds every address on every loop, starts and stops the loop threads. */
#include "transport/transport.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/h2_conn.h"
#include "transport/listener.h"
#include "transport/loop.h"

struct lkv_transport_s {
  lkv__h2_config_t cfg;
  int *ports; /* bound port per listen address */
  size_t n_addrs;
  lkv__loop_t *loops;
  int n_loops;
};

static int valid_options(const lkv_transport_options_t *opts, const lkv_transport_handler_t *handler) {
  if (!opts || !handler || !handler->lookup || !handler->on_message) return 0;
  if (opts->n_loops < 1 || opts->n_addrs < 1 || !opts->addrs || opts->max_recv_msg_bytes == 0) return 0;
  for (size_t i = 0; i < opts->n_addrs; i++) {
    if (!opts->addrs[i].host) return 0;
  }
  return 1;
}

/* Every loop listens on every address; the first bind of an address settles its port (port 0 picks one)
 * and the other loops join that port through SO_REUSEPORT, once the port is known to be no one else's. */
static int listen_all(lkv_transport_t *t, const lkv_transport_options_t *opts) {
  for (size_t a = 0; a < opts->n_addrs; a++) {
    t->ports[a] = opts->addrs[a].port;
    int rv = lkv__listener_probe(opts->addrs[a].host, t->ports[a]);
    if (rv != 0) return rv;
    for (int i = 0; i < t->n_loops; i++) {
      int rv = lkv__loop_listen(&t->loops[i], opts->addrs[a].host, t->ports[a],
                                opts->tls ? opts->tls[a] : NULL, &t->ports[a]);
      if (rv != 0) return rv;
    }
  }
  return 0;
}

static void free_transport(lkv_transport_t *t) {
  free(t->ports);
  free(t->loops);
  free(t);
}

int lkv_transport_start(lkv_transport_t **out, const lkv_transport_options_t *opts,
                        const lkv_transport_handler_t *handler) {
  int rv = LKV_ENOMEM;
  int inited = 0, started = 0;
  if (!out || !valid_options(opts, handler)) return LKV_EINVAL;
  lkv_transport_t *t = calloc(1, sizeof(*t));
  if (!t) return LKV_ENOMEM;
  t->cfg.handler = *handler;
  t->cfg.max_recv_msg_bytes = opts->max_recv_msg_bytes;
  t->cfg.tick_ms = opts->tick_ms;
  t->cfg.gate = opts->gate;
  t->cfg.max_concurrent_streams = opts->max_concurrent_streams;
  t->cfg.stream_reply_bytes =
      opts->stream_reply_bytes ? opts->stream_reply_bytes : LKV_TRANSPORT_STREAM_REPLY_BYTES;
  t->cfg.conn_reply_bytes = opts->conn_reply_bytes ? opts->conn_reply_bytes : LKV_TRANSPORT_CONN_REPLY_BYTES;
  t->cfg.keepalive = opts->keepalive;
  t->n_addrs = opts->n_addrs;
  t->n_loops = opts->n_loops;
  t->ports = calloc(opts->n_addrs, sizeof(*t->ports));
  t->loops = calloc((size_t)opts->n_loops, sizeof(*t->loops));
  if (!t->ports || !t->loops) goto err_after_alloc;

  for (; inited < t->n_loops; inited++) {
    if ((rv = lkv__loop_init(&t->loops[inited], inited, &t->cfg, t->n_addrs)) != 0) goto err_after_init;
  }
  if ((rv = listen_all(t, opts)) != 0) goto err_after_init;
  for (; started < t->n_loops; started++) {
    if ((rv = lkv__loop_start(&t->loops[started])) != 0) goto err_after_start;
  }
  *out = t;
  return 0;

err_after_start:
  for (int i = 0; i < started; i++) lkv__loop_request_stop(&t->loops[i], 0);
  for (int i = 0; i < started; i++) lkv__loop_join(&t->loops[i]);
err_after_init:
  for (int i = started; i < inited; i++) lkv__loop_destroy(&t->loops[i]);
err_after_alloc:
  free_transport(t);
  return rv;
}

int lkv_transport_bound_port(const lkv_transport_t *t, size_t i) {
  return i < t->n_addrs ? t->ports[i] : -1;
}

int lkv_transport_wake(lkv_transport_t *t, int loop_index) {
  if (loop_index < 0 || loop_index >= t->n_loops) return LKV_EINVAL;
  lkv__loop_wake(&t->loops[loop_index]);
  return 0;
}

void lkv_transport_stop(lkv_transport_t *t, int grace_ms) {
  /* Ask every loop first so that their grace periods run concurrently. */
  for (int i = 0; i < t->n_loops; i++) lkv__loop_request_stop(&t->loops[i], grace_ms);
  for (int i = 0; i < t->n_loops; i++) lkv__loop_join(&t->loops[i]);
  free_transport(t);
}
