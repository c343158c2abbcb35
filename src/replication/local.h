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

/* Told on the writer thread after each signing attempt: head is the new signed head, durable (valid
 * during the call), or NULL when signing failed. Must be quick and must not propose (receipt waiters
 * use it). */
typedef void (*lkv_sign_cb)(void *arg, const lkv_ledger_signed_head_t *head);

/* Sets (or with cb NULL clears) the sign listener; as lkv_local_listen. */
void lkv_local_on_sign(lkv_replicator_t *r, lkv_sign_cb cb, void *arg);

/* Sets (or with cb NULL clears) the commit listener, see lkv_commit_cb. Any thread; when it returns, the
 * previous listener is no longer running and will not be called again. */
void lkv_local_listen(lkv_replicator_t *r, lkv_commit_cb cb, void *arg);

/* Refuses new proposals (LKV_ESTOPPED), applies everything already accepted, joins the thread and frees r.
 * Every accepted proposal has had its done callback called when this returns. */
void lkv_local_stop(lkv_replicator_t *r);

#endif
