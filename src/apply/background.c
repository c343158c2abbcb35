/* The state machine's background work between batches: a compaction's removal of history, in steps. */
#include <stdatomic.h>
#include <stdio.h>

#include "apply/apply.h"
#include "common/error.h"

int lkv_apply_background_step(lkv_mvcc_t *store) {
  static atomic_int failed; /* logged once per process: a store that cannot write says so elsewhere too */
  if (!lkv_mvcc_compact_pending(store)) return 0;
  int rc = lkv_mvcc_compact_step(store, LKV_APPLY_BACKGROUND_STEP);
  if (rc >= 0) return rc;
  if (!atomic_exchange(&failed, 1))
    fprintf(stderr,
            "ledgerkv: compaction: removing compacted history failed: %s; retried after the next write\n",
            lkv_strerror(rc));
  return 0;
}
