/* The peer net: start (bind, thread), the cross-thread API (send, set_peer, remove_peer, stats), stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/peer_internal.h"

/* ---- peer entries and queues ---- */

lkv__peer_t *lkv__peer_find(lkv_peer_net_t *n, uint64_t id, int create) {
  for (lkv__peer_t *p = n->peers; p; p = p->next)
    if (p->id == id) return p;
  if (!create) return NULL;
  lkv__peer_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->net = n;
  p->id = id;
  p->st.id = id;
  p->reported = -1;
  p->last_logged = -1;
  p->backoff_ms = LKV_PEER_BACKOFF_MIN_MS;
  /* Pushed at the head: the loop walks the list from a head it read under the lock, and an entry's next
   * never changes afterwards, so it needs no lock to walk. */
  p->next = n->peers;
  n->peers = p;
  n->n_peers++;
  return p;
}

void lkv__peer_msgq_free(lkv__peer_msgq_t *q) {
  lkv__peer_msg_t *m = q->head;
  while (m) {
    lkv__peer_msg_t *next = m->next;
    free(m);
    m = next;
  }
  q->head = q->tail = NULL;
  q->n = 0;
}

void lkv__peer_report(lkv__peer_t *p, int up) {
  lkv_peer_net_t *n = p->net;
  if (n->loop_stopping || p->reported == up) return;
  p->reported = up;
  if (n->opts.on_peer_state) n->opts.on_peer_state(n->opts.arg, p->id, up);
}

/* ---- the loop ---- */

static void begin_stop(lkv_peer_net_t *n) {
  if (n->loop_stopping) return;
  n->loop_stopping = 1;
  for (size_t i = 0; i < n->n_listeners; i++) uv_close((uv_handle_t *)&n->listeners[i], NULL);
  uv_close((uv_handle_t *)&n->async, NULL);
  uv_close((uv_handle_t *)&n->tick, NULL);
  /* No insertion happens any more (the API refuses once stopping is set), so the list is stable. */
  for (lkv__peer_t *p = n->peers; p; p = p->next) lkv__peer_conn_stop(p);
  lkv__peer_accept_close_from(n, NULL);
  /* uv_run returns once every close has completed (and a pending getaddrinfo has come back). */
}

static void on_async(uv_async_t *h) {
  lkv_peer_net_t *n = h->data;
  uv_mutex_lock(&n->mu);
  int stopping = n->stopping;
  lkv__peer_t *head = n->peers;
  uv_mutex_unlock(&n->mu);
  if (stopping) {
    begin_stop(n);
    return;
  }
  for (lkv__peer_t *p = head; p; p = p->next) lkv__peer_conn_poke(p);
}

static void on_tick(uv_timer_t *h) {
  lkv__peer_accept_reap(h->data);
}

static void run(void *arg) {
  lkv_peer_net_t *n = arg;
  uv_run(&n->loop, UV_RUN_DEFAULT);
}

/* ---- start and stop ---- */

static int parse_listen_addr(const lkv_listen_addr_t *a, struct sockaddr_storage *ss) {
  if (!a->host || a->port < 0 || a->port > 65535) return LKV_EINVAL;
  if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return LKV_EINVAL;
}

static int listen_one(lkv_peer_net_t *n, size_t i, const lkv_listen_addr_t *a) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int rv = parse_listen_addr(a, &ss);
  if (rv != 0) return rv;
  uv_tcp_t *t = &n->listeners[i];
  if ((rv = uv_tcp_init(&n->loop, t)) != 0) return rv;
  t->data = n;
  n->n_listeners++; /* from here the handle must be closed */
  /* uv_tcp_bind sets SO_REUSEADDR (a restarted member rebinds at once) but not SO_REUSEPORT: two members
   * must never share a peer port by accident. A bind error may only show at uv_listen. */
  if ((rv = uv_tcp_bind(t, (struct sockaddr *)&ss, 0)) != 0) return rv;
  if ((rv = uv_listen((uv_stream_t *)t, 128, lkv__peer_accept_cb)) != 0) return rv;
  if ((rv = uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len)) != 0) return rv;
  n->ports[i] = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

/* Closes whatever start opened on the loop and runs it until the closes complete. */
static void close_loop(lkv_peer_net_t *n) {
  for (size_t i = 0; i < n->n_listeners; i++) uv_close((uv_handle_t *)&n->listeners[i], NULL);
  uv_close((uv_handle_t *)&n->async, NULL);
  uv_close((uv_handle_t *)&n->tick, NULL);
  uv_run(&n->loop, UV_RUN_DEFAULT);
  uv_loop_close(&n->loop);
}

int lkv_peer_net_start(lkv_peer_net_t **out, const lkv_peer_net_options_t *opts) {
  int rv;
  if (!opts || opts->member_id == 0 || !opts->on_message || (opts->n_addrs > 0 && !opts->addrs))
    return LKV_EINVAL;
  lkv_peer_net_t *n = calloc(1, sizeof(*n));
  if (!n) return LKV_ENOMEM;
  n->opts = *opts;
  n->opts.addrs = NULL;
  n->opts.listen_tls = NULL;
  n->max_queue_bytes = opts->max_queue_bytes ? opts->max_queue_bytes : LKV_PEER_DEFAULT_QUEUE_BYTES;
  n->listeners = calloc(opts->n_addrs ? opts->n_addrs : 1, sizeof(*n->listeners));
  n->ports = calloc(opts->n_addrs ? opts->n_addrs : 1, sizeof(*n->ports));
  n->listen_tls = calloc(opts->n_addrs ? opts->n_addrs : 1, sizeof(*n->listen_tls));
  if (!n->listeners || !n->ports || !n->listen_tls) {
    rv = LKV_ENOMEM;
    goto err_after_alloc;
  }
  if ((rv = uv_loop_init(&n->loop)) != 0) goto err_after_alloc;
  if ((rv = uv_mutex_init(&n->mu)) != 0) goto err_after_loop;
  uv_async_init(&n->loop, &n->async, on_async); /* cannot fail on Linux once the loop exists */
  n->async.data = n;
  uv_timer_init(&n->loop, &n->tick);
  n->tick.data = n;
  uv_timer_start(&n->tick, on_tick, 1000, 1000);
  for (size_t i = 0; i < opts->n_addrs; i++) {
    n->listen_tls[i] = opts->listen_tls && opts->listen_tls[i];
    if (n->listen_tls[i] && !opts->tls) {
      rv = LKV_EINVAL;
      goto err_after_handles;
    }
    if ((rv = listen_one(n, i, &opts->addrs[i])) != 0) goto err_after_handles;
  }
  /* The loop was set up on this thread and runs on the new one from here on. */
  if ((rv = uv_thread_create(&n->thread, run, n)) != 0) goto err_after_handles;
  *out = n;
  return 0;

err_after_handles:
  close_loop(n);
  uv_mutex_destroy(&n->mu);
  goto err_after_alloc;
err_after_loop:
  uv_loop_close(&n->loop);
err_after_alloc:
  free(n->listeners);
  free(n->ports);
  free(n->listen_tls);
  free(n);
  return rv;
}

int lkv_peer_net_bound_port(const lkv_peer_net_t *n, size_t i) {
  return i < n->n_listeners ? n->ports[i] : -1;
}

void lkv_peer_net_stop(lkv_peer_net_t *n) {
  uv_mutex_lock(&n->mu);
  n->stopping = 1;
  uv_async_send(&n->async);
  uv_mutex_unlock(&n->mu);
  uv_thread_join(&n->thread);
  uv_loop_close(&n->loop);
  lkv__peer_t *p = n->peers;
  while (p) {
    lkv__peer_t *next = p->next;
    lkv__peer_conn_free(p);
    free(p);
    p = next;
  }
  uv_mutex_destroy(&n->mu);
  free(n->listeners);
  free(n->ports);
  free(n->listen_tls);
  free(n);
}

/* ---- the cross-thread API ---- */

/* The entry set_peer and remove_peer work on (created if new), or NULL with *rv set. Caller holds n->mu. */
static lkv__peer_t *entry_to_change(lkv_peer_net_t *n, uint64_t id, int *rv) {
  if (n->stopping) {
    *rv = LKV_ESTOPPED;
    return NULL;
  }
  lkv__peer_t *p = lkv__peer_find(n, id, 1);
  *rv = p ? 0 : LKV_ENOMEM;
  return p;
}

int lkv_peer_net_set_peer(lkv_peer_net_t *n, uint64_t id, const char *const *urls, size_t n_urls) {
  if (id == 0 || id == n->opts.member_id || n_urls == 0 || !urls) return LKV_EINVAL;
  lkv__peer_url_t *parsed = calloc(n_urls, sizeof(*parsed));
  if (!parsed) return LKV_ENOMEM;
  for (size_t i = 0; i < n_urls; i++) {
    /* https:// without a TLS context could only be dialed in clear: invalid. */
    if (lkv__peer_url_parse(urls[i], &parsed[i]) != 0 || (parsed[i].tls && !n->opts.tls)) {
      free(parsed);
      return LKV_EINVAL;
    }
  }
  int rv;
  uv_mutex_lock(&n->mu);
  lkv__peer_t *p = entry_to_change(n, id, &rv);
  if (p && p->removed) {
    rv = LKV_EPERM;
  } else if (p) {
    free(p->new_urls);
    p->new_urls = parsed;
    p->n_new_urls = n_urls;
    parsed = NULL;
    p->known = 1;
    uv_async_send(&n->async);
  }
  uv_mutex_unlock(&n->mu);
  free(parsed);
  return rv;
}

int lkv_peer_net_remove_peer(lkv_peer_net_t *n, uint64_t id) {
  return lkv_peer_net_remove_peer_proven(n, id, NULL, 0);
}

int lkv_peer_net_remove_peer_proven(lkv_peer_net_t *n, uint64_t id, const uint8_t *proof, size_t len) {
  if (id == 0 || id == n->opts.member_id || len > LKV_PEER_MAX_PROOF || (len && !proof)) return LKV_EINVAL;
  lkv__peer_msgq_t dropped = {0};
  lkv__peer_url_t *urls = NULL;
  int rv;
  uv_mutex_lock(&n->mu);
  /* Created if unknown: the id must be refused even if it never was our peer. */
  lkv__peer_t *p = entry_to_change(n, id, &rv);
  if (p) {
    p->removed = 1;
    p->known = 0;
    if (len) memcpy(p->proof, proof, len);
    p->proof_len = len;
    dropped = p->sq;
    memset(&p->sq, 0, sizeof(p->sq));
    for (lkv__peer_msg_t *m = dropped.head; m; m = m->next) p->queued_bytes -= m->len;
    p->st.msgs_dropped += dropped.n;
    urls = p->new_urls;
    p->new_urls = NULL;
    uv_async_send(&n->async);
  }
  uv_mutex_unlock(&n->mu);
  lkv__peer_msgq_free(&dropped);
  free(urls);
  return rv;
}

int lkv_peer_net_send(lkv_peer_net_t *n, uint64_t to, const uint8_t *data, size_t len) {
  if (len > LKV_PEER_MAX_FRAME) return LKV_EMSGSIZE;
  /* Copied before taking the lock, so a multi-megabyte message never holds up the other senders. */
  lkv__peer_msg_t *m = malloc(sizeof(*m) + LKV__PEER_FRAME_HEAD + len);
  if (!m) return LKV_ENOMEM;
  m->next = NULL;
  m->len = len;
  lkv__peer_frame_head((uint32_t)len, m->frame);
  if (len) memcpy(m->frame + LKV__PEER_FRAME_HEAD, data, len);

  int rv = 0;
  uv_mutex_lock(&n->mu);
  lkv__peer_t *p = lkv__peer_find(n, to, 0);
  if (n->stopping) {
    rv = LKV_ESTOPPED;
  } else if (n->self_removed) {
    rv = LKV_EPERM;
  } else if (!p || !p->known) {
    rv = LKV_ENOENT;
  } else if (p->queued_bytes + len > n->max_queue_bytes) {
    p->st.msgs_dropped++;
    rv = LKV_EAGAIN;
  } else {
    if (p->sq.tail)
      p->sq.tail->next = m;
    else
      p->sq.head = m;
    p->sq.tail = m;
    p->sq.n++;
    p->queued_bytes += len;
    m = NULL;
    /* Under the lock: the loop closes the async handle only after it saw stopping under this lock. */
    uv_async_send(&n->async);
  }
  uv_mutex_unlock(&n->mu);
  free(m);
  return rv;
}

static void fill_stats(const lkv__peer_t *p, lkv_peer_stats_t *out) {
  *out = p->st;
  out->id = p->id;
  out->removed = p->removed;
  out->queued_bytes = p->queued_bytes;
}

int lkv_peer_net_stats(lkv_peer_net_t *n, uint64_t id, lkv_peer_stats_t *out) {
  uv_mutex_lock(&n->mu);
  lkv__peer_t *p = lkv__peer_find(n, id, 0);
  if (p) fill_stats(p, out);
  uv_mutex_unlock(&n->mu);
  return p ? 0 : LKV_ENOENT;
}

size_t lkv_peer_net_stats_all(lkv_peer_net_t *n, lkv_peer_stats_t *out, size_t cap) {
  size_t i = 0;
  uv_mutex_lock(&n->mu);
  for (lkv__peer_t *p = n->peers; p; p = p->next, i++)
    if (i < cap) fill_stats(p, &out[i]);
  uv_mutex_unlock(&n->mu);
  return i;
}
