/* Auto-compaction (--auto-compaction-mode/-retention): a thread that proposes compactions while this
 * member leads. */
#ifndef LKV_SERVER_COMPACTOR_H
#define LKV_SERVER_COMPACTOR_H

#include <stdint.h>

#include "mvcc/mvcc.h"
#include "replication/replication.h"
#include "server/compactor_policy.h"

/*
 * As etcd 3.4's v3compactor: the schedule (compactor_policy.h) runs on every member, but only the member
 * that leads (or a single node) acts on it; the others are paused, and resume when they lead. A
 * compaction is an ordinary Compaction request proposed through the replicator, so every member applies
 * it at the same point of the log; the proposal is the server's own (no client claims in the ledger).
 * Each attempt is logged on stderr in one line, as etcd logs it.
 */

typedef struct lkv__compactor_s lkv__compactor_t;

typedef struct lkv__compactor_options_s {
  lkv_compaction_mode_t mode;   /* PERIODIC or REVISION */
  int64_t retention;            /* periodic: milliseconds; revision: revisions to keep; > 0 */
  uint64_t check_ms;            /* revision mode: how often it looks (etcd 3.4: 5 minutes) */
  lkv_mvcc_t *store;            /* read for the current revision; outlives the compactor */
  lkv_replicator_t *replicator; /* proposals and leadership; outlives the compactor */
} lkv__compactor_options_t;

/* Starts the compactor's thread. Returns 0 and sets *out, LKV_EINVAL (bad options), LKV_ENOMEM, or a
 * store error (reading the revision). */
int lkv__compactor_start(lkv__compactor_t **out, const lkv__compactor_options_t *o);

/* Stops the thread (waiting for the answer to a compaction it proposed, which the replicator gives
 * before it stops) and frees c. Call before the replicator stops. NULL is ignored. */
void lkv__compactor_stop(lkv__compactor_t *c);

#endif
