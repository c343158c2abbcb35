/* The store's checkpoints, taken on their own thread every --ledger-checkpoint-interval. */
#ifndef LKV_SERVER_CHECKPOINTER_H
#define LKV_SERVER_CHECKPOINTER_H

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"

/*
 * A checkpoint copies the whole store (lkv_mvcc_checkpoint: paced, for as long as that takes), so it runs
 * on a thread of its own rather than on one that something waits for. The interval is counted from the
 * end of the previous copy: while one runs, LMDB cannot reuse the pages that commits free, and
 * back-to-back copies of a large store would keep it from ever doing so. A store that did not change
 * since the last checkpoint is not copied again.
 */

typedef struct lkv__checkpointer_s lkv__checkpointer_t;

/* Starts the thread for store (a logged store that outlives the checkpointer), copying it every interval_s
 * (0: only when kicked). Each copy is published only after ledger (which must outlive the checkpointer;
 * may be NULL) was flushed: a member's ledger appends do not flush (lkv_ledger_defer_sync), and a rebuild
 * from the copy must not find the ledger shorter than the copy; then published(arg) (may be NULL) is
 * called on the checkpointer's thread: the copy is the member's Raft snapshot. Returns 0 and sets *out,
 * or LKV_ENOMEM. */
int lkv__checkpointer_start(lkv__checkpointer_t **out, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                            unsigned interval_s, void (*published)(void *arg), void *arg);

/* Asks for a copy now (once the one in progress, if any, is done). Any thread; never blocks. */
void lkv__checkpointer_kick(lkv__checkpointer_t *c);

/* Ends a copy in progress (the previous checkpoint stays), joins the thread and frees c. NULL is
 * ignored. */
void lkv__checkpointer_stop(lkv__checkpointer_t *c);

#endif
