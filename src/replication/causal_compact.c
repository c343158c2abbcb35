/* The causal replicator's compaction (docs/causal.md §7): the core's checkpoint kept in the store, the core
 * compacted in memory, the event log's front dropped once a copy of the store holds a checkpoint past it;
 * and the checkpoint restored at start-up. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/le.h"
#include "replication/causal_internal.h"

/*
 * Why the checkpoint lives in the store: the store commits without flushing (it is logged), and after a
 * machine restart it starts again from its last copy (the checkpointer's, lkv_mvcc_checkpoint), which may be
 * older than the core's latest checkpoint. Kept as records of the store, a checkpoint is always one the
 * store's own state agrees with: the store is at its revision or later, so a restart restores it and the
 * event log's later events bring the store up as before. The log may therefore drop only the events that
 * the checkpoint in the store's copy has compacted: a rebuild from that copy replays the log from there.
 */

#define CKPT_RECORD "causal/checkpoint" /* the core's checkpoint (lkv_causal_member_checkpoint) */
#define BASE_RECORD "causal/log-base"   /* its base, u64: read from the store's copy without the state */

int lkv__causal_checkpoint_put(lkv_mvcc_txn_t *t, const uint8_t *ckpt, size_t len, uint64_t base) {
  uint8_t le[8];
  lkv_le64_put(le, base);
  int rc = lkv_mvcc_repl_put(t, CKPT_RECORD, ckpt, len);
  return rc ? rc : lkv_mvcc_repl_put(t, BASE_RECORD, le, sizeof(le));
}

/* The core's checkpoint at base into the store (one commit, no revision), then the core compacted. */
static int checkpoint(lkv__causal_node_t *n, uint64_t base) {
  uint8_t *ckpt;
  size_t len;
  lkv_mvcc_txn_t *t;
  int rc = lkv_causal_member_checkpoint(n->m, base, &ckpt, &len);
  if (rc) return rc;
  if (!(rc = lkv_mvcc_write_begin(n->o.store, &t))) {
    if ((rc = lkv__causal_checkpoint_put(t, ckpt, len, base)) != 0)
      lkv_mvcc_txn_end(t);
    else
      rc = lkv_mvcc_write_commit(t);
  }
  free(ckpt);
  return rc ? rc : lkv_causal_member_compact(n->m, base);
}

/* The base of the checkpoint in the store's latest copy, when the copy changed since the last look (its
 * size and time); 0 otherwise or when it holds none. */
static uint64_t copy_base(lkv__causal_node_t *n) {
  char path[4096];
  struct stat st;
  if (lkv_mvcc_checkpoint_path(n->o.store, path, sizeof(path)) || stat(path, &st)) return 0;
  uint64_t seen =
      ((uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec) ^ (uint64_t)st.st_size;
  if (seen == n->copy_seen) return 0;
  n->copy_seen = seen;
  uint8_t *v;
  size_t len;
  uint64_t base = 0;
  if (lkv_mvcc_copy_repl_get(path, BASE_RECORD, &v, &len)) return 0;
  if (len == 8) base = lkv_le64_get(v);
  free(v);
  return base;
}

void lkv__causal_compact_round(lkv__causal_node_t *n) {
  uint64_t most = n->o.log_events;
  if (!most || n->halted) return;
  uint64_t rev = lkv_causal_member_revision(n->m), first = lkv_causal_member_first_rev(n->m);
  if (rev - first + 1 > most && rev >= n->compact_retry) {
    uint64_t base = lkv_causal_member_stable(n->m);
    if (base > rev - most / 2) base = rev - most / 2; /* the newest half stays, for peers a little behind */
    int rc = base < first ? 0 : checkpoint(n, base);  /* base < first: a peer is behind or silent */
    if (rc) {
      n->compact_retry = rev + most / 2; /* not again at every round */
      fprintf(stderr, "ledgerkv: causal member %016llx: cannot compact its events to revision %llu: %s\n",
              (unsigned long long)n->o.member_id, (unsigned long long)base, lkv_strerror(rc));
    }
  }
  uint64_t drop = copy_base(n);
  if (drop > lkv__causal_log_base(n->log)) {
    int rc = lkv__causal_log_drop_front(n->log, drop);
    if (rc)
      fprintf(stderr, "ledgerkv: causal member %016llx: cannot drop its event log's front to %llu: %s\n",
              (unsigned long long)n->o.member_id, (unsigned long long)drop, lkv_strerror(rc));
    else
      n->log_drops++;
  }
}

int lkv__causal_checkpoint_load(lkv__causal_node_t *n, uint64_t *rev, uint64_t *base, char *err,
                                size_t errlen) {
  uint8_t *v;
  size_t len;
  *rev = *base = 0;
  int rc = lkv_mvcc_repl_read(n->o.store, CKPT_RECORD, &v, &len);
  if (rc == LKV_ENOENT) return 0;
  if (!rc) {
    if (lkv_causal_member_restore(n->m, v, len, rev, base)) rc = LKV_ECORRUPT;
    free(v);
  }
  if (rc)
    snprintf(err, errlen, "cannot restore the causal checkpoint kept in the store: %s", lkv_strerror(rc));
  return rc;
}
