/* A replicator's ledger appends after a crash: records the ledger already holds must come out the same. */
#ifndef LKV_REPLICATION_LEDGER_APPEND_H
#define LKV_REPLICATION_LEDGER_APPEND_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"

/* How a record the ledger already holds is compared with the entry made again. */
typedef enum {
  LKV__LEDGER_SAME_LEAF = 0, /* the very same leaf (Raft: the log holds the request bytes the claims cover) */
  LKV__LEDGER_SAME_CHANGE    /* the same kind, revision and body; the claims may differ (causal mode: a local
                              * event made again from the event log has lost its client's request) */
} lkv__ledger_same_t;

/* Appends entries e[0..count) at ledger position `end` (the records the store accounts for). Records at
 * end and after that the ledger already holds (appended before a crash kept the store from committing
 * them, now applied again) must be the same (`same`): they are compared, not appended again (the stored
 * record stays); the rest is appended. The writer's thread. Returns 0, LKV_ECORRUPT (a record differs),
 * or the codes of lkv_ledger_log_leaf, lkv_ledger_log_read and lkv_ledger_append. */
int lkv__ledger_append_at(lkv_ledger_t *l, uint64_t end, const lkv_ledger_entry_t *e, size_t count,
                          lkv__ledger_same_t same);

#endif
