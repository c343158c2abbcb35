/* Per-client rate limits: token buckets for requests and request bytes per client identity (pure). */
#ifndef LKV_RATELIMIT_RATELIMIT_H
#define LKV_RATELIMIT_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A limiter holds a policy (limits, which identity counts, the exempt methods) and a table of identities,
 * each with a token bucket for requests and one for request bytes. It does no I/O and reads no clock: every
 * call is given the time (nanoseconds on a monotonic clock), so tests drive it with any clock, one that
 * goes backwards too. Thread-safe: one mutex guards the policy and the table, so a reload (a new policy)
 * and the loop threads' admissions may run at once.
 *
 * Memory is bounded: an identity whose buckets are both full again (it has been idle long enough that a
 * fresh bucket would be the same) is dropped when it reaches the least recently used end of the table, and
 * at most max_identities are kept: the least recently used one makes room (its client then starts again
 * with a full burst). Both kinds of eviction are counted (lkv_ratelimit_stats and the metric
 * ledgerkv_rate_limit_evictions_total).
 */

typedef struct lkv_ratelimit_s lkv_ratelimit_t;

/* Which identity a request is counted under (--rate-limit-by). A kind that the request does not have falls
 * back to the next: user, then the TLS client certificate's CN, then the remote address. */
typedef enum { LKV_RATELIMIT_BY_ADDRESS, LKV_RATELIMIT_BY_CN, LKV_RATELIMIT_BY_USER } lkv_ratelimit_by_t;

/* A policy; every rate is per second and per identity. */
typedef struct lkv_ratelimit_policy_s {
  uint64_t requests;       /* requests (messages) a second; 0: no request limit */
  uint64_t burst;          /* the requests bucket's size; 0: one second's worth (requests) */
  uint64_t bytes;          /* request bytes a second; 0: no byte limit */
  uint64_t bytes_burst;    /* the bytes bucket's size; 0: one second's worth (bytes) */
  lkv_ratelimit_by_t by;   /* which identity counts */
  const char *exempt;      /* comma-separated gRPC methods never limited: "Method" (any service's) or
                            * "pkg.Service/Method" (a leading '/' allowed); NULL or "" for none */
  uint64_t max_identities; /* identities kept at most, >= 1 */
} lkv_ratelimit_policy_t;

/* Why a request was refused, or not. */
typedef enum {
  LKV_RATELIMIT_ADMITTED = 0,
  LKV_RATELIMIT_OVER_REQUESTS = 1, /* the requests bucket had no whole token */
  LKV_RATELIMIT_OVER_BYTES = 2     /* the bytes bucket could not cover the request */
} lkv_ratelimit_verdict_t;

/* Counters and sizes, for tests and the logs. */
typedef struct lkv_ratelimit_stats_s {
  uint64_t identities;   /* in the table now */
  uint64_t evicted_idle; /* dropped with full buckets (no effect on any client) */
  uint64_t evicted_cap;  /* dropped to stay within max_identities */
} lkv_ratelimit_stats_t;

/* Checks a policy without applying it: the exempt list's syntax (names of letters, digits, '_' and '.',
 * at most one '/' between service and method), max_identities >= 1. Returns 0 or LKV_EINVAL with a
 * one-line reason in err (errlen bytes; may be 0). */
int lkv_ratelimit_policy_check(const lkv_ratelimit_policy_t *p, char *err, size_t errlen);

/* Creates a limiter with policy p (checked as lkv_ratelimit_policy_check; copied, exempt included).
 * Returns 0 and *out, LKV_EINVAL (reason in err) or LKV_ENOMEM. Free with lkv_ratelimit_free. */
int lkv_ratelimit_new(lkv_ratelimit_t **out, const lkv_ratelimit_policy_t *p, char *err, size_t errlen);

/* Frees the limiter and its table. NULL is ignored. No other call may be running. */
void lkv_ratelimit_free(lkv_ratelimit_t *rl);

/* Replaces the policy (a reload). Buckets are kept, each cut to its new size; with no limit left (requests
 * and bytes 0) or a different `by`, the table is emptied. Returns 0, or LKV_EINVAL (reason in err) or
 * LKV_ENOMEM, the old policy then still in force. Any thread. */
int lkv_ratelimit_set_policy(lkv_ratelimit_t *rl, const lkv_ratelimit_policy_t *p, char *err, size_t errlen);

/* 1 when some limit is set (requests or bytes not 0): only then need callers find identities. Lock-free. */
int lkv_ratelimit_enabled(const lkv_ratelimit_t *rl);

/* The identity kind the policy counts by. Lock-free (a reload may change it right after). */
lkv_ratelimit_by_t lkv_ratelimit_by(const lkv_ratelimit_t *rl);

/* One request of `bytes` request bytes for gRPC method (method_len bytes, "/etcdserverpb.KV/Put", not
 * NUL-terminated; NULL for none) from identity (id_len bytes, any bytes; "address 10.0.0.1") at now_ns.
 * Admitted at once when the policy sets no limit or exempts the method; else when the requests bucket holds a
 * whole token and the bytes bucket holds the request's bytes (or, for a request larger than the bucket, a
 * full bucket: it then goes into debt that later requests wait out); both are then taken. A refused request
 * takes nothing from either. With *limit (may be NULL) set to the rate the refusal is about (requests/s or
 * bytes/s). An identity seen for the first time starts with full buckets; when memory for it runs out the
 * request is admitted (fail open). A clock that went backwards refills nothing and counts from its new
 * reading. Any thread. */
lkv_ratelimit_verdict_t lkv_ratelimit_admit(lkv_ratelimit_t *rl, const char *method, size_t method_len,
                                            const char *id, size_t id_len, uint64_t bytes, uint64_t now_ns,
                                            uint64_t *limit);

/* Current counters. Any thread. */
void lkv_ratelimit_stats(lkv_ratelimit_t *rl, lkv_ratelimit_stats_t *out);

/* A token bucket (exposed for the tests): tokens may be negative (a debt), never above its size. */
typedef struct lkv_ratelimit_bucket_s {
  double tokens;
  uint64_t last_ns; /* the time tokens were last brought up to date */
} lkv_ratelimit_bucket_t;

/* A full bucket of `size` at now_ns. */
void lkv_ratelimit_bucket_init(lkv_ratelimit_bucket_t *b, uint64_t size, uint64_t now_ns);

/* Adds rate tokens a second for the time since the last update (none when now_ns is earlier: the bucket
 * then counts from now_ns), at most up to size. */
void lkv_ratelimit_bucket_refill(lkv_ratelimit_bucket_t *b, uint64_t rate, uint64_t size, uint64_t now_ns);

/* Whether the (refilled) bucket can pay cost: it holds cost tokens, or is full when cost exceeds size. */
int lkv_ratelimit_bucket_can_pay(const lkv_ratelimit_bucket_t *b, uint64_t cost, uint64_t size);

/* Whether the (refilled) bucket is full. */
int lkv_ratelimit_bucket_full(const lkv_ratelimit_bucket_t *b, uint64_t size);

#endif
