/* Peer URL parsing for the dialer: scheme, host (name or literal) and port; pure. */
#include <arpa/inet.h>
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
  /* TLS on peers arrives with issue 13; until then an https:// peer is refused, never dialed in clear. */
  if (strncmp(url, "https://", 8) == 0) return LKV_EUNSUPPORTED;
  if (strncmp(url, "http://", 7) != 0) return LKV_EINVAL;
  const char *h = url + 7;
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
