/* Per-client rate limits at dispatch: who is calling, the limiter's verdict, the refusal and its counts. */
#include "api/rate_limit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "metrics/metrics.h"

static const char *const limit_label[] = {"limit"};
static const char *const reason_label[] = {"reason"};
static lkv_metric_t *limited, *evictions; /* NULL without memory: the update functions accept it */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_metrics(void) {
  lkv_metrics_t *reg = lkv_metrics_global();
  lkv_metric_desc_t l = {"ledgerkv_rate_limited_total",
                         "Requests refused by the per-client rate limits, by the limit they were over.",
                         LKV_METRIC_COUNTER,
                         limit_label,
                         1,
                         2,
                         NULL,
                         0};
  lkv_metric_desc_t e = {
      "ledgerkv_rate_limit_evictions_total",
      "Client identities the rate limiter forgot: idle (their buckets full again) or to stay "
      "within --rate-limit-max-identities (cap).",
      LKV_METRIC_COUNTER,
      reason_label,
      1,
      2,
      NULL,
      0};
  static const char *const limits[] = {"requests", "bytes"}, *const reasons[] = {"idle", "cap"};
  if (reg && lkv_metrics_add(reg, &l, &limited) == 0)
    for (size_t i = 0; i < 2; i++) lkv_metric_label(limited, i, &limits[i]);
  if (reg && lkv_metrics_add(reg, &e, &evictions) == 0)
    for (size_t i = 0; i < 2; i++) lkv_metric_label(evictions, i, &reasons[i]);
}

void lkv_api_rate_limit_metrics(void) {
  pthread_once(&once, register_metrics);
}

void lkv_api_rate_limit_collect(void *arg) {
  lkv_ratelimit_stats_t st;
  lkv_ratelimit_stats(arg, &st);
  lkv_metric_set(evictions, 0, (double)st.evicted_idle);
  lkv_metric_set(evictions, 1, (double)st.evicted_cap);
}

/* Appends s to buf (cap bytes, at of them used), truncated to fit and NUL-terminated; returns the new
 * length. Not snprintf: at every request it cost more than the limiter itself (perf). */
static size_t append(char *buf, size_t cap, size_t at, const char *s) {
  size_t n = strlen(s);
  if (n > cap - 1 - at) n = cap - 1 - at;
  memcpy(buf + at, s, n);
  buf[at + n] = '\0';
  return at + n;
}

const char *lkv__api_caller_user(lkv_api_t *api, lkv_call_t *call, char *buf, size_t cap) {
  char *user = NULL;
  if (lkv_api_call_user(api, call, &user) != 0 || !user) return NULL; /* no token, or unknown: as none */
  append(buf, cap, 0, user);
  free(user);
  return buf;
}

/* The identity the policy counts the call under, "user alice", "cn client1" or "address 127.0.0.2", into
 * buf; a kind the call lacks falls back to the next. Returns its length. */
static size_t identity(lkv_api_t *api, lkv_call_t *call, lkv_ratelimit_by_t by, char *buf, size_t cap) {
  char user[256];
  const char *kind = "address", *v = NULL;
  if (by == LKV_RATELIMIT_BY_USER && (v = lkv__api_caller_user(api, call, user, sizeof(user))) != NULL)
    kind = "user";
  else if (by != LKV_RATELIMIT_BY_ADDRESS && (v = lkv_call_peer_cn(call)) != NULL)
    kind = "cn";
  else if ((v = lkv_call_peer_address(call)) == NULL)
    v = "unknown";
  return append(buf, cap, append(buf, cap, append(buf, cap, 0, kind), " "), v);
}

int lkv__api_rate_refusal(lkv_api_t *api, lkv_call_t *call, const char *path, size_t len, char *msg,
                          size_t cap) {
  lkv_ratelimit_t *rl = api->ratelimit;
  if (!rl || !lkv_ratelimit_enabled(rl)) return 0;
  char id[320];
  size_t n = identity(api, call, lkv_ratelimit_by(rl), id, sizeof(id));
  uint64_t limit = 0;
  lkv_ratelimit_verdict_t v =
      lkv_ratelimit_admit(rl, path, strlen(path), id, n, len, lkv_clock_ns(CLOCK_MONOTONIC), &limit);
  if (v == LKV_RATELIMIT_ADMITTED) return 0;
  snprintf(msg, cap, "ledgerkv: rate limit exceeded for %s: %llu %s/s", id, (unsigned long long)limit,
           v == LKV_RATELIMIT_OVER_REQUESTS ? "requests" : "request bytes");
  lkv_metric_inc(limited, v == LKV_RATELIMIT_OVER_REQUESTS ? 0 : 1);
  return 1;
}

int lkv__api_rate_limited(lkv_api_t *api, const char *path, int streaming, lkv_call_t *call, size_t len) {
  char msg[400];
  /* A Watch's creates are checked one by one by watch.c: a refused one is canceled alone, and the stream
   * with its other watchers (clientv3 puts a client's watches on one stream) goes on. */
  if (strcmp(path, LKV_API_WATCH_PATH) == 0 || !lkv__api_rate_refusal(api, call, path, len, msg, sizeof(msg)))
    return 0;
  if (streaming)
    lkv_call_abort(call, LKV_GRPC_RESOURCE_EXHAUSTED, msg);
  else
    lkv_call_finish(call, LKV_GRPC_RESOURCE_EXHAUSTED, msg);
  return 1;
}
