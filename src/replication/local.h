/* Single-node replicator: group commit of proposals on one writer thread. */
#ifndef LKV_REPLICATION_LOCAL_H
#define LKV_REPLICATION_LOCAL_H

#include "ledger/ledger.h"
#include "replication/replication.h"

/* Largest number of proposals applied in one storage transaction (one fsync). Bounded so that one huge
 * burst cannot delay the first proposals' answers indefinitely. */
#define LKV_LOCAL_MAX_BATCH 1024

/* Starts the writer thread over store (which must outlive the replicator). id is copied.
 * Returns 0 and sets *out, or a negative LKV_E* code. */
int lkv_local_start(lkv_replicator_t **out, lkv_mvcc_t *store, const lkv_apply_identity_t *id);

/* Starts like lkv_local_start, with the node's ledger (which must outlive the replicator): each batch's
 * entries (lkv_apply_batch_logged) are appended durably to it before the batch's store transaction
 * commits, so nothing is acknowledged before its ledger entry is durable; a batch whose append fails
 * fails as a whole with the append's code. The writer thread signs a tree head every sign_interval_ms
 * (0 counts as 1) when something was appended since the last head, and once more when stopping.
 * Returns as lkv_local_start. */
int lkv_local_start_ledger(lkv_replicator_t **out, lkv_mvcc_t *store, const lkv_apply_identity_t *id,
                           lkv_ledger_t *ledger, unsigned sign_interval_ms);

/* The rest of its interface is replication.h's (lkv_replicator_on_sign hears of the signed heads). A read
 * barrier is answered at once: every acknowledged write is already applied on the only member. Status: this
 * member leads, term 1, no Raft indexes. lkv_replicator_stop applies everything already accepted before it
 * returns. */

#endif
