/* Per-client rate limits where calls are dispatched: the caller's identity, admission, refusal, metrics. */
#ifndef LKV_API_RATE_LIMIT_H
#define LKV_API_RATE_LIMIT_H

#include <stddef.h>

#include "api/api.h"
#include "ratelimit/ratelimit.h"

/*
 * The router asks lkv__api_rate_limited for every request message (a unary call's request, each message
 * of a stream, each keep-alive), on the loop thread, before any handler sees it; the JSON gateway's calls
 * come through the same router. The Watch service asks lkv__api_rate_refusal for each create instead. A
 * refused message is not executed at all. api->ratelimit (ratelimit/ratelimit.h) holds the policy; NULL
 * means no limits.
 */

/* Registers ledgerkv_rate_limited_total{limit} and ledgerkv_rate_limit_evictions_total{reason} in the
 * global registry (once per process; later calls do nothing). Any thread. */
void lkv_api_rate_limit_metrics(void);

/* A scrape-time collector (lkv_metrics_on_collect, arg: the lkv_ratelimit_t): copies the limiter's
 * eviction counts into ledgerkv_rate_limit_evictions_total. */
void lkv_api_rate_limit_collect(void *arg);

/* The Watch route's path: its messages are not checked by the router, its creates by watch.c. */
#define LKV_API_WATCH_PATH "/etcdserverpb.Watch/Watch"

/* Whether a request message (len bytes) of route `path` ("/etcdserverpb.KV/Put", NUL-terminated) from the
 * call's client is over its identity's limit. When it is, writes "ledgerkv: rate limit exceeded for
 * <identity>: N requests/s" (or "N request bytes/s") into msg (cap bytes), counts it in
 * ledgerkv_rate_limited_total and returns 1; the caller refuses the request. Else returns 0 (the request
 * is counted against its identity's buckets). Loop thread, inside on_message. */
int lkv__api_rate_refusal(lkv_api_t *api, lkv_call_t *call, const char *path, size_t len, char *msg,
                          size_t cap);

/* The router's check of each request message (but a Watch's: see LKV_API_WATCH_PATH): when
 * lkv__api_rate_refusal refuses it, answers the call with RESOURCE_EXHAUSTED and that text and returns 1
 * (a unary call is finished here, a stream, streaming 1, is aborted and its handler ends it through
 * on_cancel). Else returns 0. */
int lkv__api_rate_limited(lkv_api_t *api, const char *path, int streaming, lkv_call_t *call, size_t len);

/* The user whose token the call carries (lkv_api_call_user), written into buf (cap bytes, truncated), or
 * NULL without one (auth off, no token, a token this member does not know). Loop thread, inside
 * on_message. */
const char *lkv__api_caller_user(lkv_api_t *api, lkv_call_t *call, char *buf, size_t cap);

#endif
