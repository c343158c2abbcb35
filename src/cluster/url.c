/* Peer URLs checked as etcd's types.NewURLs checks them (Go's url.Parse, then etcd's own rules). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/initial_cluster.h"
#include "cluster/internal.h"
#include "common/error.h"

int lkv__cluster_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return LKV_EINVAL;
}

/* Go's %q of an ASCII string, which is what url.Error prints around the URL. */
static void go_quote(char *out, size_t outlen, const char *s, size_t n) {
  size_t o = 0;
#define PUT(c) \
  if (o + 1 < outlen) out[o++] = (c)
  PUT('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = c == '"'    ? "\\\""
                      : c == '\\' ? "\\\\"
                      : c == '\n' ? "\\n"
                      : c == '\t' ? "\\t"
                      : c == '\r' ? "\\r"
                                  : NULL;
    char hex[5];
    if (!esc && (c < 0x20 || c == 0x7f)) {
      snprintf(hex, sizeof(hex), "\\x%02x", c);
      esc = hex;
    }
    if (esc) {
      for (const char *e = esc; *e; e++) PUT(*e);
    } else {
      PUT((char)c);
    }
  }
  PUT('"');
#undef PUT
  if (outlen) out[o] = '\0';
}

/* Go's strings.TrimSpace for ASCII white space. */
static void trim(const char **s, size_t *n) {
  while (*n && strchr(" \t\n\v\f\r", (*s)[0])) (*s)++, (*n)--;
  while (*n && strchr(" \t\n\v\f\r", (*s)[*n - 1])) (*n)--;
}

static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* url.validOptionalPort: "" or ':' followed by digits only. */
static int valid_optional_port(const char *p, size_t n) {
  if (n == 0) return 1;
  if (p[0] != ':') return 0;
  for (size_t i = 1; i < n; i++)
    if (!is_digit(p[i])) return 0;
  return 1;
}

/* Characters Go's url package leaves unescaped in a host (shouldEscape with encodeHost is false). */
static int host_char_ok(char c) {
  return is_alpha(c) || is_digit(c) || (c && strchr("!$&'()*+,;=:[]<>\"-_.~", c));
}

static const char *find_last(const char *s, size_t n, char c) {
  for (size_t i = n; i > 0; i--)
    if (s[i - 1] == c) return s + i - 1;
  return NULL;
}

/* net.SplitHostPort succeeds: "host:port" with exactly one colon outside brackets, IPv6 in brackets. */
static int split_host_port_ok(const char *h, size_t n) {
  const char *colon = find_last(h, n, ':');
  if (!colon) return 0; /* missing port */
  size_t i = (size_t)(colon - h), j = 0, k = 0;
  if (h[0] == '[') {
    const char *end = memchr(h, ']', n);
    if (!end || (size_t)(end - h) + 1 != i) return 0; /* missing ']' or port, or too many colons */
    j = 1, k = i;
  } else if (memchr(h, ':', i)) {
    return 0; /* too many colons */
  }
  return !memchr(h + j, '[', n - j) && !memchr(h + k, ']', n - k); /* unexpected '[' or ']' */
}

/* The authority of scheme://authority: Go's parseHost, then what etcd and the id need. u is the text
 * url.Parse reports in its errors (the URL before any '#'). */
static int check_host(const char *u, size_t un, const char *h, size_t n, char *err, size_t errlen) {
  char q[600];
  go_quote(q, sizeof(q), u, un);
  if (memchr(h, '@', n))
    return lkv__cluster_fail(err, errlen, "ledgerkv does not accept user information in a peer URL: %.*s",
                             (int)un, u);
  const char *port;
  if (n > 0 && h[0] == '[') {
    const char *rb = find_last(h, n, ']');
    if (!rb) return lkv__cluster_fail(err, errlen, "parse %s: missing ']' in host", q);
    port = rb + 1;
  } else {
    port = find_last(h, n, ':');
    if (!port) port = h + n;
  }
  size_t pn = (size_t)(h + n - port);
  if (!valid_optional_port(port, pn)) {
    char pq[300];
    go_quote(pq, sizeof(pq), port, pn);
    return lkv__cluster_fail(err, errlen, "parse %s: invalid port %s after host", q, pq);
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)h[i];
    if (c == '%' || c >= 0x80)
      return lkv__cluster_fail(
          err, errlen,
          "ledgerkv does not accept percent-escapes or non-ASCII bytes in a peer URL's host: %.*s", (int)un,
          u);
    if (!host_char_ok((char)c)) {
      char cq[8];
      go_quote(cq, sizeof(cq), h + i, 1);
      return lkv__cluster_fail(err, errlen, "parse %s: invalid character %s in host name", q, cq);
    }
  }
  return 0;
}

int lkv_cluster_url_parse(const char *in, char **out, char *err, size_t errlen) {
  size_t n = strlen(in);
  const char *s = in;
  trim(&s, &n);
  char whole[512];
  snprintf(whole, sizeof(whole), "%.*s", (int)n, s); /* for etcd's own messages */
  /* url.Parse: the fragment comes off first; errors quote the text before it. */
  const char *hash = memchr(s, '#', n);
  size_t un = hash ? (size_t)(hash - s) : n;
  char q[600];
  go_quote(q, sizeof(q), s, un);
  for (size_t i = 0; i < un; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return lkv__cluster_fail(err, errlen, "parse %s: net/url: invalid control character in URL", q);
  if (hash)
    for (const char *f = hash + 1; f < s + n; f++)
      if (!is_alpha(*f) && !is_digit(*f) && !strchr("-._~!$&'()*+,;=:@/?", *f))
        return lkv__cluster_fail(err, errlen, "ledgerkv does not accept this fragment in a peer URL: %s",
                                 whole);
  /* The scheme: a letter, then letters, digits, '+', '-', '.', up to ':'. */
  size_t sn = 0;
  int has_scheme = 0;
  for (size_t i = 0; i < un; i++) {
    char c = s[i];
    if (is_alpha(c)) continue;
    if (is_digit(c) || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) return lkv__cluster_fail(err, errlen, "parse %s: missing protocol scheme", q);
      sn = i, has_scheme = 1;
    }
    break;
  }
  const char *rest = has_scheme ? s + sn + 1 : s;
  size_t rn = un - (size_t)(rest - s);
  /* The query (everything after the first '?', or a lone trailing '?') is kept as written. */
  const char *qm = memchr(rest, '?', rn);
  size_t before_query = qm ? (size_t)(qm - rest) : rn;
  const char *path_part = rest;
  size_t pn = before_query;
  const char *host = NULL;
  size_t hn = 0;
  if (pn == 0 || path_part[0] != '/') {
    if (!has_scheme) {
      const char *slash = memchr(path_part, '/', pn);
      size_t seg = slash ? (size_t)(slash - path_part) : pn;
      if (memchr(path_part, ':', seg))
        return lkv__cluster_fail(err, errlen, "parse %s: first path segment in URL cannot contain colon", q);
    }
    /* With a scheme this is an opaque URL: no host, which etcd refuses below. */
    pn = has_scheme ? 0 : pn;
  } else if (pn >= 2 && path_part[1] == '/' && (has_scheme || pn < 3 || path_part[2] != '/')) {
    host = path_part + 2;
    const char *slash = memchr(host, '/', pn - 2);
    hn = slash ? (size_t)(slash - host) : pn - 2;
    int rc = check_host(s, un, host, hn, err, errlen);
    if (rc) return rc;
    path_part = host + hn;
    pn = (size_t)(rest + before_query - path_part);
  }
  char scheme[16] = "";
  if (has_scheme && sn < sizeof(scheme))
    for (size_t i = 0; i < sn; i++) scheme[i] = (char)(s[i] | 0x20); /* letters only matter here */
  if (!has_scheme || sn >= sizeof(scheme) ||
      (strcmp(scheme, "http") && strcmp(scheme, "https") && strcmp(scheme, "unix") &&
       strcmp(scheme, "unixs")))
    return lkv__cluster_fail(err, errlen, "URL scheme must be http, https, unix, or unixs: %s", whole);
  if (!host || !split_host_port_ok(host, hn))
    return lkv__cluster_fail(err, errlen, "URL address does not have the form \"host:port\": %s", whole);
  if (pn > 0) return lkv__cluster_fail(err, errlen, "URL must not contain a path: %s", whole);
  /* Go prints scheme "://" host, then '?' query and '#' fragment as parsed: the input with its scheme
   * lowercased. */
  char *o = malloc(n + 1);
  if (!o) return LKV_ENOMEM;
  memcpy(o, s, n);
  o[n] = '\0';
  memcpy(o, scheme, sn);
  *out = o;
  return 0;
}
