/* When auto-compaction compacts and to which revision: etcd 3.4's v3compactor schedule, without threads. */
#ifndef LKV_SERVER_COMPACTOR_POLICY_H
#define LKV_SERVER_COMPACTOR_POLICY_H

#include <stddef.h>
#include <stdint.h>

/*
 * etcd 3.4's two modes (etcdserver/api/v3compactor), as a pure function of time and the store's revision
 * so that it can be tested without waiting:
 *
 * periodic, retention P: the schedule ticks every I = min(P, 1h) / 10 and remembers the revision seen at
 * each tick, the last P / I + 1 of them, so the oldest is the revision of about P ago. The first
 * compaction comes P after start; later ones min(P, 1h) after the previous success, each to that oldest
 * revision. A failure is retried at the next tick.
 *
 * revision, retention R: every check interval (etcd 3.4: 5 minutes) compacts to the current revision
 * minus R, unless that is <= 0 or the revision last compacted to.
 *
 * Both count a compaction refused as already done (LKV_ECOMPACTED) as a success, and skip ticks while
 * paused (this member does not lead); periodic mode goes on recording revisions meanwhile, so a member
 * that becomes leader compacts at once if a compaction is due.
 */

typedef enum {
  LKV_COMPACTION_OFF = 0,
  LKV_COMPACTION_PERIODIC, /* retention in milliseconds */
  LKV_COMPACTION_REVISION  /* retention in revisions */
} lkv_compaction_mode_t;

typedef struct lkv__compactor_policy_s {
  lkv_compaction_mode_t mode;
  int64_t retention;    /* ms (periodic) or revisions (revision) */
  uint64_t interval_ms; /* how often lkv__compactor_policy_tick is to be called */
  /* periodic */
  int64_t *revs; /* ring of the revisions seen at the last n ticks, oldest at head */
  size_t head, n, cap;
  uint64_t last_success_ms, wait_ms;
  /* revision */
  int64_t prev;
} lkv__compactor_policy_t;

/* Sets p up at now_ms with the store's revision cur_rev. mode PERIODIC or REVISION, retention > 0;
 * check_ms: revision mode's interval (> 0). Returns 0, LKV_EINVAL or LKV_ENOMEM; free p with
 * lkv__compactor_policy_free. */
int lkv__compactor_policy_init(lkv__compactor_policy_t *p, lkv_compaction_mode_t mode, int64_t retention,
                               uint64_t check_ms, uint64_t now_ms, int64_t cur_rev);

/* Frees what init allocated. */
void lkv__compactor_policy_free(lkv__compactor_policy_t *p);

/* One tick, p->interval_ms after the previous one (or init): now_ms, the store's revision, and whether
 * compaction is paused. Returns the revision to compact to now (then report the outcome with
 * lkv__compactor_policy_done), or 0. */
int64_t lkv__compactor_policy_tick(lkv__compactor_policy_t *p, uint64_t now_ms, int64_t cur_rev, int paused);

/* The compaction to rev that tick asked for ended at now_ms: ok when it succeeded or rev was already
 * compacted. */
void lkv__compactor_policy_done(lkv__compactor_policy_t *p, uint64_t now_ms, int64_t rev, int ok);

#endif
