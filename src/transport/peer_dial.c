/* Dialing a peer: the next URL, its name resolved on every attempt, each of its addresses tried in turn. */
#include <string.h>

#include "transport/peer_internal.h"

void lkv__peer_connect_next(lkv__peer_t *p) {
  if (p->addr_next >= p->n_addrs) {
    lkv__peer_dial_failed(p, p->last_err ? p->last_err : UV_EHOSTUNREACH);
    return;
  }
  int rv = lkv__peer_conn_io_init(p);
  if (rv != 0) {
    lkv__peer_dial_failed(p, rv);
    return;
  }
  p->state = LKV__OUT_CONNECTING;
  if (p->cur.tls && (rv = lkv__peer_io_use_tls(&p->io, p->net->opts.tls, p->cur.host)) != 0) {
    p->last_err = UV_ENOMEM;
    lkv__peer_close_io(p, LKV__AFTER_NEXT_ADDR);
    return;
  }
  rv = lkv__peer_io_connect(&p->io, (const struct sockaddr *)&p->addrs[p->addr_next++]);
  if (rv != 0) {
    p->last_err = rv;
    lkv__peer_close_io(p, LKV__AFTER_NEXT_ADDR);
    return;
  }
  lkv__peer_conn_arm(p);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  lkv__peer_t *p = req->data;
  p->gai_pending = 0;
  if (p->state != LKV__OUT_RESOLVING) { /* killed meanwhile */
    if (res) uv_freeaddrinfo(res);
    return;
  }
  p->n_addrs = p->addr_next = 0;
  p->last_err = 0;
  if (status == 0) p->n_addrs = lkv__peer_addrinfo_take(res, p->cur.port, p->addrs, LKV__PEER_MAX_ADDRS);
  if (res) uv_freeaddrinfo(res);
  if (status < 0) {
    lkv__peer_dial_failed(p, status);
    return;
  }
  lkv__peer_connect_next(p);
}

void lkv__peer_dial(lkv__peer_t *p) {
  if (p->n_urls == 0) {
    p->state = LKV__OUT_IDLE;
    return;
  }
  p->cur = p->urls[p->url_next++ % p->n_urls];
  uv_mutex_lock(&p->net->mu);
  p->st.dials++;
  uv_mutex_unlock(&p->net->mu);
  p->n_addrs = p->addr_next = 0;
  p->last_err = 0;
  if (p->cur.family != AF_UNSPEC) {
    lkv__peer_sockaddr(&p->addrs[0], p->cur.family, p->cur.addr, p->cur.port);
    p->n_addrs = 1;
    lkv__peer_connect_next(p);
    return;
  }
  /* A name is resolved on every attempt: the member's address may have moved since the last one. */
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  p->gai.data = p;
  p->state = LKV__OUT_RESOLVING;
  int rv = uv_getaddrinfo(&p->net->loop, &p->gai, on_resolved, p->cur.host, NULL, &hints);
  if (rv != 0) {
    lkv__peer_dial_failed(p, rv);
    return;
  }
  p->gai_pending = 1;
}
