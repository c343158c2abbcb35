/* Installing a snapshot received from the leader: the store, the ledger, the membership; finishing an
 * install that a crash interrupted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/le.h"
#include "raft/codec.h"
#include "replication/raft_internal.h"

/*
 * Order (a crash may stop it anywhere): the file becomes the store's checkpoint and then its content, in
 * one transaction that also records "snapshot" (the Raft metadata and the ledger's frontier); then the
 * ledger restarts from the frontier; then the Raft log records the snapshot (raft_ready.c). A restart
 * that finds the store at the snapshot's index but the log or the ledger behind it finishes from the
 * "snapshot" record (lkv__raft_node_finish_install).
 *
 * Store record "snapshot": u32 length of the metadata ‖ the metadata (raft/codec.h) ‖ the frontier.
 */

int lkv__raft_node_put_conf(lkv__raft_node_t *n, lkv_mvcc_txn_t *t) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  lkv_raft_snapshot_meta_t meta = {.index = n->applied, .conf = st.conf};
  uint8_t buf[LKV_RAFT_MAX_MEMBERS * 16 + 64];
  size_t len = lkv_raft_snapshot_meta_encode(&meta, buf, sizeof(buf));
  return len ? lkv_mvcc_repl_put(t, LKV__RAFT_CONF_RECORD, buf, len) : LKV_EINVAL;
}

int lkv__raft_node_decode_conf(const uint8_t *v, size_t len, lkv_raft_conf_state_t *conf) {
  lkv_raft_snapshot_meta_t meta;
  if (lkv_raft_snapshot_meta_decode(v, len, &meta) != 0) return LKV_ECORRUPT;
  *conf = meta.conf;
  return 0;
}

int lkv__raft_node_recorded_conf(lkv__raft_node_t *n, lkv_raft_conf_state_t *out) {
  uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_repl_read(n->o.store, LKV__RAFT_CONF_RECORD, &v, &len);
  if (rc) return rc;
  rc = lkv__raft_node_decode_conf(v, len, out);
  free(v);
  return rc;
}

int lkv__raft_node_ensure_conf(lkv__raft_node_t *n) {
  lkv_raft_conf_state_t conf;
  int rc = lkv__raft_node_recorded_conf(n, &conf);
  /* A store from before the membership was recorded with it: recorded now, as of its applied index. */
  return rc == LKV_ENOENT ? lkv__raft_node_record_members(n, n->applied) : rc;
}

typedef struct {
  lkv__raft_node_t *n;
  const lkv_raft_snapshot_meta_t *meta;
  const uint8_t *frontier;
  size_t frontier_len;
} install_t;

static int record_install(void *arg, lkv_mvcc_txn_t *t) {
  install_t *in = arg;
  int rc = lkv__raft_node_put_identity(in->n, t);
  if (rc) return rc;
  size_t mlen = lkv_raft_snapshot_meta_size(in->meta);
  uint8_t *b = malloc(4 + mlen + in->frontier_len);
  if (!b) return LKV_ENOMEM;
  lkv_le32_put(b, (uint32_t)mlen);
  lkv_raft_snapshot_meta_encode(in->meta, b + 4, mlen);
  if (in->frontier_len) memcpy(b + 4 + mlen, in->frontier, in->frontier_len);
  rc = lkv_mvcc_repl_put(t, LKV__RAFT_SNAPSHOT_RECORD, b, 4 + mlen + in->frontier_len);
  free(b);
  return rc;
}

/* The ledger restarts from frontier (encoded), which must summarise exactly ledger_len records. */
static int reset_ledger(lkv__raft_node_t *n, const uint8_t *frontier, size_t len, uint64_t ledger_len) {
  if (!n->o.ledger) return 0;
  lkv_ledger_frontier_t f;
  int rc = lkv_ledger_frontier_decode(frontier, len, &f);
  if (!rc && f.size != ledger_len) rc = LKV_ECORRUPT;
  return rc ? rc : lkv_ledger_reset(n->o.ledger, &f);
}

/* The recorded attributes and removed members are the snapshot's now. */
static int reload_members(lkv__raft_node_t *n) {
  pthread_mutex_lock(&n->mu);
  for (size_t i = 0; i < n->n_attrs; i++) free(n->attrs[i].data);
  free(n->attrs);
  free(n->removed);
  n->attrs = NULL;
  n->removed = NULL;
  n->n_attrs = n->n_removed = 0;
  pthread_mutex_unlock(&n->mu);
  int rc = lkv__raft_node_load_attrs(n);
  if (!rc) lkv__raft_node_tell_membership(n);
  return rc;
}

static void tell_restored(lkv__raft_node_t *n) {
  pthread_mutex_lock(&n->listen_mu);
  if (n->on_commit) n->on_commit(n->on_commit_arg);
  if (n->on_restored) n->on_restored(n->on_restored_arg);
  pthread_mutex_unlock(&n->listen_mu);
}

int lkv__raft_node_install(lkv__raft_node_t *n, const lkv_raft_ready_t *rd) {
  const char *path = (const char *)rd->snapshot.data;
  if (!path || !n->stepped.raft_msg || rd->snapshot.len != strlen(n->stepped.path) + 1 ||
      strcmp(path, n->stepped.path) != 0) {
    lkv__raft_node_halt(n, "the raft core took a snapshot whose file is gone", LKV_EINVAL);
    return LKV_EINVAL;
  }
  uint64_t applied, ledger_len;
  int rc = lkv__raft_node_read_copy(path, &applied, &ledger_len, NULL);
  if (!rc && applied != rd->snapshot.meta.index) rc = LKV_ECORRUPT; /* not the store the metadata names */
  if (rc) {
    lkv__raft_node_halt(n, "the snapshot received from the leader is not a store at its index", rc);
    return rc;
  }
  install_t in = {.n = n,
                  .meta = &rd->snapshot.meta,
                  .frontier = n->stepped.frontier,
                  .frontier_len = n->stepped.frontier_len};
  rc = lkv_mvcc_install(n->o.store, path, record_install, &in);
  if (rc) {
    lkv__raft_node_halt(n, "cannot install the snapshot received from the leader", rc);
    return rc;
  }
  rc = reset_ledger(n, n->stepped.frontier, n->stepped.frontier_len, ledger_len);
  if (rc) {
    lkv__raft_node_halt(n, "cannot restart the ledger from the snapshot's frontier", rc);
    return rc;
  }
  lkv_snap_received_free(&n->stepped); /* its file is the checkpoint now */
  n->applied = applied;
  n->ledger_pos = n->ledger_end = ledger_len;
  rc = reload_members(n);
  if (rc) {
    lkv__raft_node_halt(n, "cannot read the members' attributes of the snapshot", rc);
    return rc;
  }
  fprintf(stderr, "ledgerkv: raft member %016llx installed a snapshot at index %llu (term %llu)\n",
          (unsigned long long)n->o.member_id, (unsigned long long)applied,
          (unsigned long long)rd->snapshot.meta.term);
  tell_restored(n);
  return 0;
}

/* Reads the "snapshot" record: its metadata and (pointing into *buf, which the caller frees) frontier. */
static int read_snapshot_record(lkv__raft_node_t *n, uint8_t **buf, lkv_raft_snapshot_meta_t *meta,
                                const uint8_t **frontier, size_t *frontier_len) {
  size_t len;
  int rc = lkv_mvcc_repl_read(n->o.store, LKV__RAFT_SNAPSHOT_RECORD, buf, &len);
  if (rc) return rc;
  uint32_t mlen = len >= 4 ? lkv_le32_get(*buf) : 0;
  if (len < 4 || mlen > len - 4 || lkv_raft_snapshot_meta_decode(*buf + 4, mlen, meta) != 0) {
    free(*buf);
    return LKV_ECORRUPT;
  }
  *frontier = *buf + 4 + mlen;
  *frontier_len = len - 4 - mlen;
  return 0;
}

int lkv__raft_node_finish_install(lkv__raft_node_t *n, const lkv_raft_restore_t *restore, char *err,
                                  size_t errlen) {
  uint8_t *buf;
  lkv_raft_snapshot_meta_t meta;
  const uint8_t *frontier;
  size_t frontier_len;
  int rc = read_snapshot_record(n, &buf, &meta, &frontier, &frontier_len);
  if (rc == LKV_ENOENT) return 0;
  if (rc) {
    snprintf(err, errlen, "cannot read the installed snapshot's record from the store: %s", lkv_strerror(rc));
    return rc;
  }
  uint64_t ledger_count = n->o.ledger ? lkv_ledger_log_count(lkv_ledger_log(n->o.ledger)) : 0;
  if (meta.index == n->applied && n->o.ledger && ledger_count < n->ledger_pos) {
    rc = reset_ledger(n, frontier, frontier_len, n->ledger_pos);
    if (rc)
      snprintf(err, errlen, "cannot restart the ledger from the snapshot's frontier: %s", lkv_strerror(rc));
  }
  if (!rc && meta.index == n->applied && restore->snapshot.index < meta.index &&
      restore->hard_state.commit < meta.index) {
    lkv_raft_hard_state_t hs = restore->hard_state;
    if (hs.term < meta.term) hs = (lkv_raft_hard_state_t){.term = meta.term};
    hs.commit = meta.index;
    rc = lkv_wal_save(n->wal, &hs, &meta, NULL, 0);
    if (rc)
      snprintf(err, errlen, "cannot record the installed snapshot in the raft log: %s", lkv_strerror(rc));
    if (!rc) rc = 1;
  }
  free(buf);
  return rc;
}
