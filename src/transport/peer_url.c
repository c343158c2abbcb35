/* Peer URL parsing for the dialers: scheme, host (name or literal) and port, and the addresses to try; pure.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"
#include "transport/peer_frame.h"

/* A DNS name as the dialer accepts it: letters, digits, '-', '.', '_' (some internal zones use it). */
static int valid_name(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_'))
      return 0;
  }
  return 1;
}

static int parse_port(const char *s, uint16_t *port) {
  unsigned long v = 0;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9'; i++) {
    v = v * 10 + (unsigned long)(s[i] - '0');
    if (v > 65535) return LKV_EINVAL;
  }
  if (i == 0 || v == 0) return LKV_EINVAL;
  /* Only an empty path is allowed: etcd refuses peer URLs with a path too. */
  if (s[i] != '\0' && !(s[i] == '/' && s[i + 1] == '\0')) return LKV_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

int lkv__peer_url_parse(const char *url, lkv__peer_url_t *out) {
  memset(out, 0, sizeof(*out));
  if (!url) return LKV_EINVAL;
  out->tls = strncmp(url, "https://", 8) == 0;
  if (!out->tls && strncmp(url, "http://", 7) != 0) return LKV_EINVAL;
  const char *h = url + (out->tls ? 8 : 7);
  const char *host, *colon;
  size_t host_len;
  if (*h == '[') {
    const char *close = strchr(h, ']');
    if (!close || close[1] != ':') return LKV_EINVAL;
    host = h + 1;
    host_len = (size_t)(close - host);
    colon = close + 1;
  } else {
    colon = strchr(h, ':');
    if (!colon) return LKV_EINVAL; /* peer URLs always name their port */
    host = h;
    host_len = (size_t)(colon - h);
  }
  if (host_len == 0 || host_len > LKV__PEER_HOST_MAX) return LKV_EINVAL;
  memcpy(out->host, host, host_len);
  out->host[host_len] = '\0';
  int rv = parse_port(colon + 1, &out->port);
  if (rv != 0) return rv;
  if (*h == '[') {
    if (inet_pton(AF_INET6, out->host, out->addr) != 1) return LKV_EINVAL;
    out->family = AF_INET6;
  } else if (inet_pton(AF_INET, out->host, out->addr) == 1) {
    out->family = AF_INET;
  } else if (valid_name(out->host, host_len)) {
    out->family = AF_UNSPEC;
  } else {
    return LKV_EINVAL; /* includes an unbracketed IPv6 literal */
  }
  return 0;
}

void lkv__peer_sockaddr(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port) {
  memset(ss, 0, sizeof(*ss));
  if (family == AF_INET) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    memcpy(&in4->sin_addr, addr, 4);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    memcpy(&in6->sin6_addr, addr, 16);
  }
}

size_t lkv__peer_addrinfo_take(const struct addrinfo *res, uint16_t port, struct sockaddr_storage *out,
                               size_t max) {
  size_t n = 0;
  for (const struct addrinfo *a = res; a && n < max; a = a->ai_next) {
    if (a->ai_family == AF_INET)
      lkv__peer_sockaddr(&out[n++], AF_INET, &((const struct sockaddr_in *)a->ai_addr)->sin_addr, port);
    else if (a->ai_family == AF_INET6)
      lkv__peer_sockaddr(&out[n++], AF_INET6, &((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr, port);
  }
  return n;
}
