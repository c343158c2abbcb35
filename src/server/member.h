/* A member of a cluster of several: the peer transport and the Raft replicator, wired together. */
#ifndef LKV_SERVER_MEMBER_H
#define LKV_SERVER_MEMBER_H

#include <stddef.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "replication/replication.h"
#include "server/config.h"

typedef struct lkv__member_s lkv__member_t;

/* Listens on cfg's peer URLs, dials the other members of cfg's cluster and starts the Raft replicator
 * over store (and ledger, may be NULL), its log in <data-dir>/member/wal. store and ledger must outlive
 * the member. Returns 0 and sets *out, or a negative LKV_E* code with a message in err. */
int lkv__member_start(lkv__member_t **out, const lkv_config_t *cfg, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                      char *err, size_t errlen);

/* The member's replicator (valid until lkv__member_stop). */
lkv_replicator_t *lkv__member_replicator(lkv__member_t *m);

/* Stops the replicator (see lkv_replicator_stop), then the peer transport; frees m. */
void lkv__member_stop(lkv__member_t *m);

#endif
