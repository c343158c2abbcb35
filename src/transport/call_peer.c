/* Who is calling: a call's client address and TLS certificate CN, read from its connection. */
#include <arpa/inet.h>
#include <string.h>

#include "transport/conn.h"

/* The connection of a call whose stream is live; NULL once it is gone. */
static lkv__conn_t *conn_of_call(const lkv_call_t *call) {
  if (call->h2) return (lkv__conn_t *)((char *)call->h2 - offsetof(lkv__conn_t, h2));
  return call->h1 ? call->h1->owner : NULL;
}

/* The numeric host of the connection's other end into host (INET6_ADDRSTRLEN bytes), "" when unknown. */
static void peer_host(lkv__conn_t *c, char *host) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  host[0] = '\0';
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, INET6_ADDRSTRLEN);
  } else if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    /* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: the same client either way */
    if (IN6_IS_ADDR_V4MAPPED(a))
      inet_ntop(AF_INET, &a->s6_addr[12], host, INET6_ADDRSTRLEN);
    else
      inet_ntop(AF_INET6, a, host, INET6_ADDRSTRLEN);
  }
}

const char *lkv__conn_peer_address(lkv__conn_t *c) {
  if (!c->peer_host[0]) peer_host(c, c->peer_host); /* once per connection: a system call */
  return c->peer_host[0] ? c->peer_host : NULL;
}

const char *lkv_call_peer_address(lkv_call_t *call) {
  lkv__conn_t *c = conn_of_call(call);
  return c ? lkv__conn_peer_address(c) : NULL;
}

const char *lkv_call_peer_cn(lkv_call_t *call) {
  lkv__conn_t *c = conn_of_call(call);
  return c && c->tls ? lkv__tls_conn_peer_cn(c->tls) : NULL;
}
