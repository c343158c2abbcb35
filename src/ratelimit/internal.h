/* Internal to the rate limit module: the exempt list shared by its files. */
#ifndef LKV_RATELIMIT_INTERNAL_H
#define LKV_RATELIMIT_INTERNAL_H

#include <stddef.h>

#include "ratelimit/ratelimit.h"

/* A parsed exempt list: each item the end a method path must have ("/Method" or "/pkg.Service/Method"). */
typedef struct lkv__ratelimit_exempt_s {
  char **items;
  size_t n;
} lkv__ratelimit_exempt_t;

/* Checks the syntax of a comma list (NULL or "" is empty). Returns 0 or LKV_EINVAL (reason in err). */
int lkv__ratelimit_exempt_check(const char *list, char *err, size_t errlen);

/* Parses list into *out (free with lkv__ratelimit_exempt_free). Returns 0, LKV_EINVAL (reason in err) or
 * LKV_ENOMEM; on failure *out holds nothing. */
int lkv__ratelimit_exempt_parse(const char *list, lkv__ratelimit_exempt_t *out, char *err, size_t errlen);

void lkv__ratelimit_exempt_free(lkv__ratelimit_exempt_t *x);

/* Whether path (len bytes, "/pkg.Service/Method") matches an item. */
int lkv__ratelimit_exempt_match(const lkv__ratelimit_exempt_t *x, const char *path, size_t len);

#endif
