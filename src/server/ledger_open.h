/* Opening the node's ledger at start-up and bringing the store up to it. */
#ifndef LKV_SERVER_LEDGER_OPEN_H
#define LKV_SERVER_LEDGER_OPEN_H

#include <stddef.h>

#include "apply/apply.h"
#include "ledger/ledger.h"

/* Opens (creating on first start) the ledger of data_dir and replays into store the entries it has not
 * committed (lkv_apply_replay: after a crash the ledger may be one batch ahead; after the machine went
 * down the store may have been discarded, lkv_mvcc_rebuilt, and the whole ledger is replayed). Refuses a ledger whose
 * last head another key signed, and a store ahead of its ledger. Before the replicator starts.
 * Returns 0 and sets *out (close with lkv_ledger_close after the replicator stopped), or the codes of
 * lkv_ledger_open and lkv_apply_replay with a one-line message in err. */
int lkv__server_ledger_open(lkv_ledger_t **out, lkv_mvcc_t *store, const char *data_dir, char *err,
                            size_t errlen);

/* Opens the ledger of a cluster member, without replaying it: the Raft log is the write-ahead log, and
 * the replicator applies again whatever the store has not committed (raft_node.h). Same codes. */
int lkv__server_ledger_open_member(lkv_ledger_t **out, const char *data_dir, char *err, size_t errlen);

#endif
