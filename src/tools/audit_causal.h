/* `ledgerkv audit` on a causal member's data dir: every event record's origin signature. */
#ifndef LKV_TOOLS_AUDIT_CAUSAL_H
#define LKV_TOOLS_AUDIT_CAUSAL_H

#include <stdint.h>

#include "causal/member.h"
#include "ledger/entry.h"

/* The event keys the data dir records (member/causal: its own and the peers'), and what was checked. */
typedef struct lkv__audit_causal_s {
  uint8_t self[LKV_CAUSAL_PK_LEN];
  int has_self;
  lkv_causal_peer_t peers[LKV_CAUSAL_MAX_ORIGINS];
  size_t n_peers;
  uint64_t events;    /* CAUSAL_EVENT records whose origin signature verified */
  uint64_t bad_index; /* on failure: the record */
  const char *why;    /* on failure: what */
} lkv__audit_causal_t;

/* Loads the keys of data_dir/member/causal (none in a Raft member's dir). Returns 0 or the codes of
 * lkv_causal_node_keys_read. */
int lkv__audit_causal_load(lkv__audit_causal_t *a, const char *data_dir);

/* lkv_ledger_audit_dir's callback (arg: a): a CAUSAL_EVENT record's event must decode and verify with its
 * origin's key, the peer's the data dir recorded for that id, else the member's own. Returns 0 or
 * LKV_EVERIFY (a->bad_index, a->why set). */
int lkv__audit_causal_cb(void *arg, uint64_t index, const lkv_ledger_entry_t *e);

#endif
