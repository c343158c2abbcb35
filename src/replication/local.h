/* Single-node replicator: group commit of proposals on one writer thread. */
#ifndef LKV_REPLICATION_LOCAL_H
#define LKV_REPLICATION_LOCAL_H

#include "replication/replication.h"

/* Largest number of proposals applied in one storage transaction (one fsync). Bounded so that one huge
 * burst cannot delay the first proposals' answers indefinitely. */
#define LKV_LOCAL_MAX_BATCH 1024

/* Starts the writer thread over store (which must outlive the replicator). id is copied.
 * Returns 0 and sets *out, or a negative LKV_E* code. */
int lkv_local_start(lkv_replicator_t **out, lkv_mvcc_t *store, const lkv_apply_identity_t *id);

/* Sets (or with cb NULL clears) the commit listener, see lkv_commit_cb. Any thread; when it returns, the
 * previous listener is no longer running and will not be called again. */
void lkv_local_listen(lkv_replicator_t *r, lkv_commit_cb cb, void *arg);

/* Refuses new proposals (LKV_ESTOPPED), applies everything already accepted, joins the thread and frees r.
 * Every accepted proposal has had its done callback called when this returns. */
void lkv_local_stop(lkv_replicator_t *r);

#endif
