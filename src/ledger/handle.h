/* The ledger handle's state, shared by ledger.c (open, append, sign, receipts) and ledger_base.c. */
#ifndef LKV_LEDGER_HANDLE_H
#define LKV_LEDGER_HANDLE_H

#include <pthread.h>

#include "ledger/ledger.h"
#include "ledger/node_store.h"

struct lkv_ledger_s {
  lkv_ledger_log_t *log;
  lkv_ledger_head_log_t *heads;
  lkv_ledger_nodes_t *nodes;
  lkv_ledger_signer_t *signer;
  lkv_merkle_hash_t *leaves; /* committer's scratch */
  size_t leaves_cap;
  int nodes_err;      /* the node store's last failure, reported by sign */
  int deferred;       /* appends do not flush the log (lkv_ledger_defer_sync) */
  pthread_mutex_t mu; /* guards has_head/head: lkv_ledger_sign_finish writes them, under base_mu too */
  int has_head;
  lkv_ledger_signed_head_t head;
  /* Readers of records and nodes hold it shared; a base change holds it exclusively while it changes what
   * they would read (never while appending: records and nodes above the base do not move). */
  pthread_rwlock_t rw;
  pthread_mutex_t base_mu;          /* one base change at a time: retain (any thread) and reset (committer);
                                       a signature's syncs and head (lkv_ledger_sign_finish) */
  lkv_ledger_retention_t retention; /* under base_mu */
  uint64_t resets;                  /* under base_mu: lkv_ledger_reset calls, so a head prepared before
                                       one is not signed after it */
};

#endif
