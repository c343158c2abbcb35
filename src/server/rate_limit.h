/* The server's rate limiter: made from the flags at start, reloaded from --rate-limit-file on SIGHUP. */
#ifndef LKV_SERVER_RATE_LIMIT_H
#define LKV_SERVER_RATE_LIMIT_H

#include <stddef.h>

#include "api/api.h"
#include "server/config.h"

typedef struct lkv__rate_limit_s lkv__rate_limit_t;

/* Reads the limits (flags, then --rate-limit-file), creates the limiter, sets api->ratelimit and counts
 * its evictions at each scrape. It exists even with no limit set, so that a reload can set one. cfg must
 * outlive it. Returns 0 and *out, or LKV_EINVAL (bad file: message in err) or LKV_ENOMEM. */
int lkv__rate_limit_start(lkv__rate_limit_t **out, const lkv_config_t *cfg, lkv_api_t *api, char *err,
                          size_t errlen);

/* Re-reads --rate-limit-file over the flags and applies the result; logs one line either way (a bad file
 * leaves the limits in force). Without --rate-limit-file it logs that there is nothing to reload. Any
 * thread (the main thread on SIGHUP). Returns 0, LKV_ENOENT (no file named) or the load's error. */
int lkv__rate_limit_reload(lkv__rate_limit_t *r);

/* Frees the limiter once the transport has stopped (no call can use it). NULL is ignored. */
void lkv__rate_limit_stop(lkv__rate_limit_t *r);

#endif
