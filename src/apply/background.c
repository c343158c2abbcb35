/* The state machine's background work between batches: a compaction's removal of history, in steps. */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "apply/apply.h"
#include "common/clock.h"
#include "common/error.h"

/* Logs the end of a removal as etcd logs its scheduled compaction's, with the time since this thread's
 * first step of it (one raft thread steps one store). */
static void log_finished(lkv_mvcc_t *store, uint64_t started_ms) {
  lkv_mvcc_stat_t st;
  if (lkv_mvcc_stat(store, &st) != 0) return;
  fprintf(stderr, "ledgerkv: finished scheduled compaction at %lld (took %llums)\n",
          (long long)st.compact_revision, (unsigned long long)(lkv_clock_ms(CLOCK_MONOTONIC) - started_ms));
}

int lkv_apply_background_step(lkv_mvcc_t *store) {
  static atomic_int failed; /* logged once per process: a store that cannot write says so elsewhere too */
  static _Thread_local uint64_t started_ms;
  if (!lkv_mvcc_compact_pending(store)) return 0;
  if (!started_ms) started_ms = lkv_clock_ms(CLOCK_MONOTONIC);
  int rc = lkv_mvcc_compact_step(store, LKV_APPLY_BACKGROUND_STEP);
  if (rc == 0) {
    log_finished(store, started_ms);
    started_ms = 0;
  }
  if (rc >= 0) return rc;
  if (!atomic_exchange(&failed, 1))
    fprintf(stderr,
            "ledgerkv: compaction: removing compacted history failed: %s; retried after the next write\n",
            lkv_strerror(rc));
  return 0;
}
