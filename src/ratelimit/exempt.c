/* The exempt methods of a rate limit policy: the comma list checked, parsed and matched against paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ratelimit/internal.h"

/* Letters, digits, '_' and '.', with at most one '/' that is neither first nor last. */
static int good_name(const char *s, size_t n) {
  size_t slashes = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '/') {
      if (i == 0 || i + 1 == n || ++slashes > 1) return 0;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '.')) {
      return 0;
    }
  }
  return n > 0;
}

/* Calls fn for each item of list (white space around items dropped; a leading '/' dropped). Returns 0, or
 * LKV_EINVAL for a malformed item (reason in err), or fn's error. */
static int each_item(const char *list, int (*fn)(void *arg, const char *s, size_t n), void *arg, char *err,
                     size_t errlen) {
  for (const char *p = list ? list : ""; *p;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *s = p, *e = end;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (s < e && *s == '/') s++;
    if (!good_name(s, (size_t)(e - s))) {
      if (errlen > 0)
        snprintf(err, errlen,
                 "rate limit exempt list: \"%.*s\" is not a gRPC method (Method or package.Service/Method)",
                 (int)(end - p), p);
      return LKV_EINVAL;
    }
    int rc = fn ? fn(arg, s, (size_t)(e - s)) : 0;
    if (rc) return rc;
    p = *end ? end + 1 : end;
  }
  return 0;
}

int lkv__ratelimit_exempt_check(const char *list, char *err, size_t errlen) {
  return each_item(list, NULL, NULL, err, errlen);
}

static int add_item(void *arg, const char *s, size_t n) {
  lkv__ratelimit_exempt_t *x = arg;
  char *copy = malloc(n + 2);
  if (!copy) return LKV_ENOMEM;
  /* Stored as the path's end that must match: "/Method" matches any service, "/pkg.Service/Method" one. */
  copy[0] = '/';
  memcpy(copy + 1, s, n);
  copy[n + 1] = '\0';
  x->items[x->n++] = copy;
  return 0;
}

int lkv__ratelimit_exempt_parse(const char *list, lkv__ratelimit_exempt_t *out, char *err, size_t errlen) {
  size_t n = 1;
  for (const char *p = list ? list : ""; *p; p++) n += *p == ',';
  *out = (lkv__ratelimit_exempt_t){.items = calloc(n, sizeof(char *))};
  if (!out->items) return LKV_ENOMEM;
  int rc = each_item(list, add_item, out, err, errlen);
  if (rc) lkv__ratelimit_exempt_free(out);
  return rc;
}

void lkv__ratelimit_exempt_free(lkv__ratelimit_exempt_t *x) {
  for (size_t i = 0; i < x->n; i++) free(x->items[i]);
  free(x->items);
  *x = (lkv__ratelimit_exempt_t){0};
}

int lkv__ratelimit_exempt_match(const lkv__ratelimit_exempt_t *x, const char *path, size_t len) {
  for (size_t i = 0; i < x->n; i++) {
    size_t k = strlen(x->items[i]);
    /* "/Method" must end the path after the service's '/'; "/pkg.Service/Method" must be all of it. */
    if (k <= len && memcmp(path + len - k, x->items[i], k) == 0 &&
        (k == len || memchr(x->items[i] + 1, '/', k - 1) == NULL))
      return 1;
  }
  return 0;
}
