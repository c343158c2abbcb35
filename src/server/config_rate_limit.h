/* The rate limit flags as a policy, and --rate-limit-file read over them (at start and on SIGHUP). */
#ifndef LKV_SERVER_CONFIG_RATE_LIMIT_H
#define LKV_SERVER_CONFIG_RATE_LIMIT_H

#include <stddef.h>

#include "ratelimit/ratelimit.h"
#include "server/config.h"

/* The rate limits in force: cfg's --rate-limit-* flags, overridden by the keys of --rate-limit-file when
 * cfg names one (a YAML mapping of rate-limit-* keys, the flags' names, with the flags' syntax; any other key
 * is refused). out: in, zeroed; out, filled (exempt malloc'd: free it with lkv_config_rate_limit_free).
 * Returns 0, or LKV_EINVAL (unreadable or bad file, message naming it in err) or LKV_ENOMEM; out then
 * holds nothing. */
int lkv_config_rate_limit_load(const lkv_config_t *cfg, lkv_config_rate_limit_t *out, char *err,
                               size_t errlen);

/* Frees what lkv_config_rate_limit_load put in rl and zeroes it. */
void lkv_config_rate_limit_free(lkv_config_rate_limit_t *rl);

/* rl as the limiter's policy (pointing into rl: valid while it is). */
void lkv_config_rate_limit_policy(const lkv_config_rate_limit_t *rl, lkv_ratelimit_policy_t *out);

#endif
