/* Client URL lists of the command line: http(s)://host:port parsing, validation and copies. */
#include "server/config_url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

static int fail(char *err, size_t errlen, const char *flag, const char *url, size_t url_len, const char *fmt,
                ...) {
  if (errlen == 0) return LKV_EINVAL;
  int n = snprintf(err, errlen, "%s: \"%.*s\": ", flag, (int)url_len, url);
  if (n >= 0 && (size_t)n < errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return LKV_EINVAL;
}

/* A host name for advertising: letters, digits, '-', '.', '_' (underscores occur in container names). */
static int valid_hostname(const char *h) {
  for (; *h != '\0'; h++) {
    if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_') return 0;
  }
  return 1;
}

/* Parses the decimal port of [s, end) into *port. Returns 0 or -1. */
static int parse_port(const char *s, const char *end, int *port) {
  if (s == end || end - s > 5) return -1;
  int v = 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
  }
  if (v > 65535) return -1;
  *port = v;
  return 0;
}

/* Fills u->host and u->port from one trimmed URL text [s, s+len); u->url is left to the caller. */
static int parse_one(const char *flag, const char *s, size_t len, int for_listen, lkv_config_url_t *u,
                     char *err, size_t errlen) {
  const char *end = s + len;
  const char *sep = NULL;
  for (const char *p = s; p + 3 <= end; p++) {
    if (memcmp(p, "://", 3) == 0) {
      sep = p;
      break;
    }
  }
  if (sep == NULL) return fail(err, errlen, flag, s, len, "URL must have the form http(s)://host:port");
  size_t scheme_len = (size_t)(sep - s);
  if ((scheme_len == 4 && strncasecmp(s, "unix", 4) == 0) ||
      (scheme_len == 5 && strncasecmp(s, "unixs", 5) == 0))
    return fail(err, errlen, flag, s, len, "unix sockets not supported");
  u->tls = scheme_len == 5 && strncasecmp(s, "https", 5) == 0;
  if (!u->tls && (scheme_len != 4 || strncasecmp(s, "http", 4) != 0))
    return fail(err, errlen, flag, s, len, "URL scheme must be http or https");

  const char *auth = sep + 3;
  const char *auth_end = auth;
  while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#') auth_end++;
  if (auth_end != end) return fail(err, errlen, flag, s, len, "URL must not contain a path");
  if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL)
    return fail(err, errlen, flag, s, len, "URL must not contain user information");

  const char *host = auth, *host_end, *colon;
  int bracketed = auth < auth_end && *auth == '[';
  if (bracketed) {
    host = auth + 1;
    host_end = memchr(host, ']', (size_t)(auth_end - host));
    colon = host_end != NULL && host_end + 1 < auth_end && host_end[1] == ':' ? host_end + 1 : NULL;
  } else {
    colon = memrchr(auth, ':', (size_t)(auth_end - auth));
    host_end = colon;
    if (colon != NULL && memchr(auth, ':', (size_t)(colon - auth)) != NULL) colon = NULL; /* bare IPv6 */
  }
  if (colon == NULL)
    return fail(err, errlen, flag, s, len, "URL address does not have the form \"host:port\"");
  if (parse_port(colon + 1, auth_end, &u->port) != 0)
    return fail(err, errlen, flag, s, len, "port must be a number from 0 to 65535");
  size_t host_len = (size_t)(host_end - host);
  if (host_len >= sizeof(u->host)) return fail(err, errlen, flag, s, len, "host name too long");
  memcpy(u->host, host, host_len);
  u->host[host_len] = '\0';

  if (for_listen) {
    unsigned char addr[16];
    if (!bracketed && strcmp(u->host, "localhost") == 0) {
      memcpy(u->host, "127.0.0.1", sizeof("127.0.0.1"));
    } else if (inet_pton(bracketed ? AF_INET6 : AF_INET, u->host, addr) != 1) {
      return fail(err, errlen, flag, s, len,
                  "expected a numeric IPv4 address, a bracketed IPv6 address or localhost for binding");
    }
    return 0;
  }
  if (host_len == 0) return fail(err, errlen, flag, s, len, "unexpected empty host");
  unsigned char addr[16];
  if (bracketed ? inet_pton(AF_INET6, u->host, addr) != 1 : !valid_hostname(u->host))
    return fail(err, errlen, flag, s, len, "invalid host");
  if (u->port == 0) return fail(err, errlen, flag, s, len, "port 0 cannot be advertised");
  return 0;
}

void lkv__config_urls_free(lkv_config_url_t *urls, size_t n) {
  if (urls == NULL) return;
  for (size_t i = 0; i < n; i++) free(urls[i].url);
  free(urls);
}

int lkv__config_urls_parse(const char *flag, const char *list, int for_listen, lkv_config_url_t **out,
                           size_t *n, char *err, size_t errlen) {
  size_t list_len = strlen(list);
  size_t blank = 0;
  while (blank < list_len && isspace((unsigned char)list[blank])) blank++;
  if (blank == list_len) return fail(err, errlen, flag, list, list_len, "no URLs given");

  /* At most one URL per comma, plus one. */
  size_t cap = 1;
  for (const char *p = list; *p != '\0'; p++) cap += *p == ',';
  size_t count = 0;
  int rc = LKV_ENOMEM;
  lkv_config_url_t *urls = calloc(cap, sizeof(*urls));
  if (urls == NULL) goto err;

  const char *item = list;
  for (;;) {
    const char *item_end = strchr(item, ',');
    if (item_end == NULL) item_end = list + list_len;
    const char *s = item, *e = item_end;
    while (s < e && isspace((unsigned char)*s)) s++;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    if (s == e) {
      rc = fail(err, errlen, flag, list, list_len, "empty URL in the list");
      goto err;
    }
    lkv_config_url_t *u = &urls[count];
    rc = parse_one(flag, s, (size_t)(e - s), for_listen, u, err, errlen);
    if (rc != 0) goto err;
    int dup = 0;
    for (size_t i = 0; i < count; i++) dup |= urls[i].port == u->port && strcmp(urls[i].host, u->host) == 0;
    if (!dup) {
      u->url = strndup(s, (size_t)(e - s));
      rc = LKV_ENOMEM;
      if (u->url == NULL) goto err;
      count++;
    }
    if (*item_end == '\0') break;
    item = item_end + 1;
  }
  *out = urls;
  *n = count;
  return 0;

err:
  if (rc == LKV_ENOMEM && errlen > 0) snprintf(err, errlen, "%s: out of memory", flag);
  lkv__config_urls_free(urls, count);
  return rc;
}

int lkv__config_urls_copy(const lkv_config_url_t *src, size_t n, lkv_config_url_t **out) {
  lkv_config_url_t *urls = calloc(n > 0 ? n : 1, sizeof(*urls));
  if (urls == NULL) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    urls[i] = src[i];
    urls[i].url = strdup(src[i].url);
    if (urls[i].url == NULL) {
      lkv__config_urls_free(urls, i);
      return LKV_ENOMEM;
    }
  }
  *out = urls;
  return 0;
}
