/* When auto-compaction compacts and to which revision: etcd 3.4's v3compactor schedule, without threads. */
#include "server/compactor_policy.h"

#include <stdlib.h>

#include "common/error.h"

#define HOUR_MS (3600u * 1000u)
#define RETRY_DIVISOR 10 /* etcd's: a periodic schedule ticks ten times per period (at most per hour) */

/* min(P, 1h): how long after a success the next periodic compaction comes (after the first). */
static uint64_t compact_interval(int64_t period_ms) {
  return (uint64_t)period_ms > HOUR_MS ? HOUR_MS : (uint64_t)period_ms;
}

int lkv__compactor_policy_init(lkv__compactor_policy_t *p, lkv_compaction_mode_t mode, int64_t retention,
                               uint64_t check_ms, uint64_t now_ms, int64_t cur_rev) {
  *p = (lkv__compactor_policy_t){.mode = mode, .retention = retention};
  if (retention <= 0) return LKV_EINVAL;
  if (mode == LKV_COMPACTION_REVISION) {
    if (check_ms == 0) return LKV_EINVAL;
    p->interval_ms = check_ms;
    return 0;
  }
  if (mode != LKV_COMPACTION_PERIODIC) return LKV_EINVAL;
  p->interval_ms = compact_interval(retention) / RETRY_DIVISOR;
  if (p->interval_ms == 0) p->interval_ms = 1;
  p->cap = (size_t)((uint64_t)retention / p->interval_ms) + 1;
  p->revs = malloc(p->cap * sizeof(*p->revs));
  if (!p->revs) return LKV_ENOMEM;
  p->revs[0] = cur_rev;
  p->n = 1;
  p->last_success_ms = now_ms;
  p->wait_ms = (uint64_t)retention; /* the first compaction waits a whole period */
  return 0;
}

void lkv__compactor_policy_free(lkv__compactor_policy_t *p) {
  free(p->revs);
  p->revs = NULL;
}

/* Remembers cur_rev as the newest tick's revision, forgetting the oldest beyond the window. */
static void record(lkv__compactor_policy_t *p, int64_t cur_rev) {
  if (p->n == p->cap) {
    p->head = (p->head + 1) % p->cap;
    p->n--;
  }
  p->revs[(p->head + p->n) % p->cap] = cur_rev;
  p->n++;
}

static int64_t periodic_tick(lkv__compactor_policy_t *p, uint64_t now_ms, int64_t cur_rev, int paused) {
  int64_t target = 0;
  if (!paused && now_ms - p->last_success_ms >= p->wait_ms) {
    p->wait_ms = compact_interval(p->retention);
    target = p->revs[p->head]; /* about a period ago */
  }
  record(p, cur_rev);
  return target;
}

static int64_t revision_tick(lkv__compactor_policy_t *p, int64_t cur_rev, int paused) {
  if (paused) return 0;
  int64_t rev = cur_rev - p->retention;
  return rev <= 0 || rev == p->prev ? 0 : rev;
}

int64_t lkv__compactor_policy_tick(lkv__compactor_policy_t *p, uint64_t now_ms, int64_t cur_rev, int paused) {
  return p->mode == LKV_COMPACTION_PERIODIC ? periodic_tick(p, now_ms, cur_rev, paused)
                                            : revision_tick(p, cur_rev, paused);
}

void lkv__compactor_policy_done(lkv__compactor_policy_t *p, uint64_t now_ms, int64_t rev, int ok) {
  if (!ok) return; /* periodic: retried at the next tick; revision: at the next check */
  if (p->mode == LKV_COMPACTION_PERIODIC)
    p->last_success_ms = now_ms;
  else
    p->prev = rev;
}
