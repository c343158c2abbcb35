/* A one-member Raft replicator (what a single node runs) for the unit tests of modules that sit on the
 * replication interface: it leads before it is handed over, so proposals never wait for an election. */
#ifndef LKV_TESTS_SOLE_TESTUTIL_H
#define LKV_TESTS_SOLE_TESTUTIL_H

#include <stdio.h>
#include <time.h>

#include "mvcc_testutil.h"
#include "replication/raft_node.h"

#define LKVT_SOLE_ID 0x5011

static int lkvt__sole_send(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  (void)arg, (void)to, (void)msg, (void)len;
  return 0; /* nobody else to send to */
}

/* Starts the sole member on ts's store (its Raft log in <ts->dir>/wal), with ledger (may be NULL) signed
 * every sign_ms, and waits until it leads. */
static inline lkv_replicator_t *lkvt_sole_start(lkvt_store_t *ts, lkv_ledger_t *ledger, unsigned sign_ms) {
  static const uint64_t voters[1] = {LKVT_SOLE_ID};
  char wal[96];
  snprintf(wal, sizeof(wal), "%s/wal", ts->dir);
  lkv_raft_node_options_t o = {.store = ts->s,
                               .ledger = ledger,
                               .sign_interval_ms = sign_ms,
                               .wal_dir = wal,
                               .member_id = LKVT_SOLE_ID,
                               .cluster_id = 77,
                               .voters = voters,
                               .n_voters = 1,
                               .tick_ms = 10,
                               .election_ticks = 10,
                               .request_timeout_ms = 5000,
                               .send = lkvt__sole_send};
  char err[256] = "";
  lkv_replicator_t *r = NULL;
  if (lkv_raft_node_start(&r, &o, err, sizeof(err)) != 0) fail_msg("sole member: %s", err);
  for (int i = 0; i < 1000; i++) {
    lkv_replication_status_t st;
    lkv_replicator_status(r, &st);
    if (st.leader == LKVT_SOLE_ID) return r;
    nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
  }
  fail_msg("the sole member did not lead within 5 s");
  return NULL;
}

#endif
