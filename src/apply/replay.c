/* Replaying ledger entries into the store: the ledger as write-ahead log, and rebuilds for the audit. */
#include "apply/apply.h"
#include "apply/internal.h"
#include "common/error.h"
#include "ledger/state.h"

/* Entries applied per store transaction: bounds the transaction of a rebuild from a long ledger. */
#define REPLAY_TXN_ENTRIES 1024

static int replay_ops(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e) {
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  int rc;
  lkv_ledger_ops_begin(e, &it);
  while ((rc = lkv_ledger_ops_next(&it, &op)) == 1) {
    if (op.type == LKV_LEDGER_OP_PUT) {
      rc = lkv_mvcc_put(t, op.key, op.key_len, op.value, op.value_len, op.lease);
    } else {
      int64_t deleted = 0;
      rc = lkv_mvcc_delete_range(t, op.key, op.key_len, NULL, 0, &deleted);
      if (!rc && deleted != 1) rc = LKV_ECORRUPT; /* the ledger deleted a key the store does not have */
    }
    if (rc) return rc;
  }
  return rc;
}

/* A STATE record: a fresh store becomes that state (its leases, its keys with their own revisions, its
 * revision, compacted there); a store at or beyond it already reflects it. */
static int replay_state(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e, int *applied) {
  lkv_ledger_state_iter_t it;
  lkv_ledger_state_key_t k;
  int64_t id, ttl;
  int rc;
  if (lkv_mvcc_txn_rev(t) >= e->revision && lkv_mvcc_txn_compact_rev(t) >= e->revision) return 0;
  lkv_ledger_state_begin(e, &it);
  while ((rc = lkv_ledger_state_next_lease(&it, &id, &ttl)) == 1)
    if ((rc = lkv_mvcc_lease_grant(t, id, ttl))) return rc == LKV_EINVAL ? LKV_ECORRUPT : rc;
  while (!rc && (rc = lkv_ledger_state_next_key(&it, &k)) == 1) {
    lkv_mvcc_kv_t kv = {.key = k.key,
                        .key_len = k.key_len,
                        .value = k.value,
                        .value_len = k.value_len,
                        .create_revision = k.create_revision,
                        .mod_revision = k.mod_revision,
                        .version = k.version,
                        .lease = k.lease};
    rc = lkv_mvcc_state_put(t, &kv, k.mod_sub);
  }
  if (!rc) rc = lkv_mvcc_state_finish(t, e->revision);
  /* Not a fresh store: the state cannot be laid over another history. */
  if (rc) return rc == LKV_EINVAL ? LKV_ECORRUPT : rc;
  *applied = 1;
  return 0;
}

/* Applies e unless the store already reflects it. Producing entries: skipped when at or below the
 * store's revision, else they must make exactly the next one. Other entries carry the current revision;
 * they are applied when the store does not show them yet (a lease that is not there, a compaction
 * point not reached), which makes replaying the tail of the last batch idempotent. Sets *applied. */
static int replay_one(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e, lkv__replay_ended_t *x, int *applied) {
  int64_t rev = lkv_mvcc_txn_rev(t);
  int produces = lkv_ledger_entry_is_revision(e);
  *applied = 0;
  if (e->kind == LKV_LEDGER_SIGNED_TREE_HEAD) return 0;
  if (e->kind == LKV_LEDGER_STATE) return replay_state(t, e, applied);
  if (produces && e->revision <= rev) return 0;
  if (produces ? e->revision != rev + 1 : e->revision != rev) return LKV_ECORRUPT;
  int rc = 0;
  switch (e->kind) {
    case LKV_LEDGER_REVISION:
      rc = replay_ops(t, e);
      break;
    case LKV_LEDGER_CAUSAL_EVENT: /* its winner changes; one that changed none still took its revision */
      rc = lkv__replay_event_grants(t, e, x);
      if (!rc) rc = e->n_ops ? replay_ops(t, e) : lkv_mvcc_req_take_rev(t);
      if (!rc) rc = lkv__replay_event_ends(t, e, x);
      break;
    case LKV_LEDGER_COMPACTION:
      if (e->compact_revision <= lkv_mvcc_txn_compact_rev(t)) return 0;
      rc = lkv_mvcc_compact(t, e->compact_revision);
      break;
    case LKV_LEDGER_LEASE_GRANT:
      rc = lkv_mvcc_lease_get(t, e->lease_id, NULL);
      if (rc == 0) return 0;
      if (rc == LKV_ELEASENOTFOUND) rc = lkv_mvcc_lease_grant(t, e->lease_id, e->lease_ttl);
      break;
    case LKV_LEDGER_LEASE_REVOKE: {
      rc = lkv_mvcc_lease_get(t, e->lease_id, NULL);
      if (rc == LKV_ELEASENOTFOUND && !produces) return 0;
      int64_t deleted = 0;
      if (rc == 0) rc = lkv_mvcc_lease_revoke(t, e->lease_id, &deleted);
      if (rc == 0 && deleted != (int64_t)e->n_ops) rc = LKV_ECORRUPT;
      break;
    }
    default:
      return LKV_ECORRUPT;
  }
  if (rc) return rc == LKV_ELEASENOTFOUND ? LKV_ECORRUPT : rc;
  *applied = 1;
  return 0;
}

/* Replays the entries the iterator still has before record `end`, REPLAY_TXN_ENTRIES per transaction. */
static int replay_from(lkv_mvcc_t *store, lkv_ledger_log_iter_t *it, uint64_t end,
                       lkv_apply_replay_info_t *info) {
  lkv_ledger_entry_t e;
  lkv__replay_ended_t ended = {.n = 0}; /* the removals among the records replayed here */
  int more = 1, rc = 0;
  while (more == 1) {
    lkv_mvcc_txn_t *t;
    rc = lkv_mvcc_write_begin(store, &t);
    if (rc) return rc;
    for (size_t k = 0;
         k < REPLAY_TXN_ENTRIES && (more = it->index < end ? lkv_ledger_log_iter_next(it, &e, NULL) : 0) == 1;
         k++) {
      int applied;
      rc = lkv_mvcc_req_begin(t);
      if (rc) break;
      rc = replay_one(t, &e, &ended, &applied);
      int end = lkv_mvcc_req_end(t, rc == 0);
      if (!rc) rc = end;
      if (!rc && lkv_ledger_entry_is_revision(&e) && applied && lkv_mvcc_txn_rev(t) != e.revision)
        rc = LKV_ECORRUPT; /* the write set was empty in the store's eyes: not this store's history */
      if (rc) {
        info->bad_index = it->index - 1;
        break;
      }
      info->replayed += (uint64_t)applied;
    }
    if (!rc && more < 0) rc = more;
    if (rc) {
      lkv_mvcc_txn_end(t);
      return rc;
    }
    rc = lkv_mvcc_write_commit(t);
    if (rc) return rc;
  }
  return 0;
}

int lkv_apply_replay(lkv_mvcc_t *store, lkv_ledger_log_t *log, lkv_apply_replay_info_t *info) {
  lkv_apply_replay_info_t local;
  if (!info) info = &local;
  *info = (lkv_apply_replay_info_t){.bad_index = UINT64_MAX};
  lkv_mvcc_stat_t st;
  int rc = lkv_mvcc_stat(store, &st);
  if (rc) return rc;
  info->store_revision = st.revision;
  info->ledger_revision = lkv_ledger_log_last_revision(log);
  uint64_t count = lkv_ledger_log_count(log);
  /* A store that went on without the ledger (or a ledger that lost its tail): the ledger cannot
   * vouch for it. A fresh store (revision 1) with an empty ledger is where every node begins. */
  if (info->ledger_revision < st.revision && !(count == 0 && st.revision == 1)) return LKV_ECORRUPT;
  uint64_t start;
  rc = lkv_ledger_log_lower_bound(log, st.revision, &start);
  if (rc) return rc;
  lkv_ledger_log_iter_t it;
  rc = lkv_ledger_log_iter_init(&it, log, start);
  if (rc) return rc;
  rc = replay_from(store, &it, UINT64_MAX, info);
  lkv_ledger_log_iter_free(&it);
  return rc;
}

int lkv_apply_replay_records(lkv_mvcc_t *store, lkv_ledger_log_t *log, uint64_t start, uint64_t end,
                             lkv_apply_replay_info_t *info) {
  lkv_apply_replay_info_t local;
  if (!info) info = &local;
  *info = (lkv_apply_replay_info_t){.bad_index = UINT64_MAX};
  lkv_ledger_log_iter_t it;
  int rc = lkv_ledger_log_iter_init(&it, log, start);
  if (rc) return rc;
  rc = replay_from(store, &it, end, info);
  lkv_ledger_log_iter_free(&it);
  return rc;
}
