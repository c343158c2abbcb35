/* Members' attributes in a cluster: published through the log, recorded with the store, listed. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/le.h"
#include "replication/raft_entry.h"
#include "replication/raft_internal.h"

/* Store record "members": for each member, id (u64) ‖ length (u32) ‖ attributes; little-endian. */

lkv__raft_attrs_t *lkv__raft_node_find_attrs(lkv__raft_node_t *n, uint64_t id) {
  for (size_t i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].id == id) return &n->attrs[i];
  return NULL;
}

int lkv__raft_node_set_attrs(lkv__raft_node_t *n, uint64_t id, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, data, len);
  lkv__raft_attrs_t *a = lkv__raft_node_find_attrs(n, id);
  if (!a) {
    lkv__raft_attrs_t *grown = realloc(n->attrs, (n->n_attrs + 1) * sizeof(*grown));
    if (!grown) {
      free(copy);
      return LKV_ENOMEM;
    }
    n->attrs = grown;
    a = &n->attrs[n->n_attrs++];
    a->id = id;
    a->data = NULL;
  }
  free(a->data);
  a->data = copy;
  a->len = len;
  return 0;
}

void lkv__raft_node_drop_attrs(lkv__raft_node_t *n, uint64_t id) {
  lkv__raft_attrs_t *a = lkv__raft_node_find_attrs(n, id);
  if (!a) return;
  free(a->data);
  *a = n->attrs[--n->n_attrs];
}

int lkv__raft_node_seed_attrs(lkv__raft_node_t *n, const lkv_raft_node_seed_t *seed) {
  lkv__raft_attrs_t *grown = realloc(n->seeds, (n->n_seeds + 1) * sizeof(*grown));
  if (!grown) return LKV_ENOMEM;
  n->seeds = grown;
  uint8_t *copy = malloc(seed->len ? seed->len : 1);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, seed->attrs, seed->len);
  n->seeds[n->n_seeds++] = (lkv__raft_attrs_t){.id = seed->id, .data = copy, .len = seed->len};
  return 0;
}

const lkv__raft_attrs_t *lkv__raft_node_shown_attrs(lkv__raft_node_t *n, uint64_t id) {
  const lkv__raft_attrs_t *a = lkv__raft_node_find_attrs(n, id);
  for (size_t i = 0; !a && i < n->n_seeds; i++)
    if (n->seeds[i].id == id) a = &n->seeds[i];
  return a;
}

/* Store record "removed": the ids (u64 each, little-endian) of members removed from the cluster. */

static int load_removed(lkv__raft_node_t *n, lkv_mvcc_txn_t *t) {
  uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_repl_get(t, LKV__RAFT_REMOVED_RECORD, &v, &len);
  if (rc == LKV_ENOENT) return 0;
  if (rc) return rc;
  if (len % 8) rc = LKV_ECORRUPT;
  if (!rc && len && !(n->removed = malloc(len))) rc = LKV_ENOMEM;
  for (size_t i = 0; !rc && i < len / 8; i++) {
    n->removed[n->n_removed++] = lkv_le64_get(v + 8 * i);
  }
  free(v);
  return rc;
}

int lkv__raft_node_load_attrs(lkv__raft_node_t *n) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(n->o.store, &t);
  if (rc) return rc;
  uint8_t *v;
  size_t len;
  rc = load_removed(n, t);
  if (rc == 0) rc = lkv_mvcc_repl_get(t, LKV__RAFT_MEMBERS_RECORD, &v, &len);
  lkv_mvcc_txn_end(t);
  if (rc == LKV_ENOENT) return 0;
  if (rc) return rc;
  for (size_t off = 0; rc == 0 && off < len;) {
    if (len - off < 12) {
      rc = LKV_ECORRUPT;
      break;
    }
    uint64_t id = lkv_le64_get(v + off);
    uint32_t l = lkv_le32_get(v + off + 8);
    off += 12;
    if (l > len - off) {
      rc = LKV_ECORRUPT;
      break;
    }
    rc = lkv__raft_node_set_attrs(n, id, v + off, l);
    off += l;
  }
  free(v);
  return rc;
}

/* Writes the whole table and the applied index, in the transaction of an empty batch. */
static int record_members(void *arg, lkv_mvcc_txn_t *t) {
  lkv__raft_node_t *n = arg;
  size_t total = 0;
  for (size_t i = 0; i < n->n_attrs; i++) total += 12 + n->attrs[i].len;
  uint8_t *b = malloc(total ? total : 1), *p = b;
  if (!b) return LKV_ENOMEM;
  for (size_t i = 0; i < n->n_attrs; i++) {
    lkv_le64_put(p, n->attrs[i].id);
    lkv_le32_put(p + 8, (uint32_t)n->attrs[i].len);
    memcpy(p + 12, n->attrs[i].data, n->attrs[i].len);
    p += 12 + n->attrs[i].len;
  }
  int rc = lkv_mvcc_repl_put(t, LKV__RAFT_MEMBERS_RECORD, b, total);
  free(b);
  uint8_t *r = malloc(n->n_removed ? 8 * n->n_removed : 1);
  if (!r) return LKV_ENOMEM;
  for (size_t i = 0; i < n->n_removed; i++) lkv_le64_put(r + 8 * i, n->removed[i]);
  if (!rc) rc = lkv_mvcc_repl_put(t, LKV__RAFT_REMOVED_RECORD, r, 8 * n->n_removed);
  free(r);
  if (!rc) rc = lkv__raft_node_put_conf(n, t);
  return rc ? rc : lkv__raft_node_put_position(t, n->applied, n->ledger_pos);
}

int lkv__raft_node_apply_attrs(lkv__raft_node_t *n, uint64_t origin, const uint8_t *data, size_t len,
                               uint64_t index) {
  pthread_mutex_lock(&n->mu);
  int rc = lkv__raft_node_set_attrs(n, origin, data, len);
  pthread_mutex_unlock(&n->mu);
  if (rc) return rc;
  return lkv__raft_node_record_members(n, index);
}

int lkv__raft_node_record_members(lkv__raft_node_t *n, uint64_t index) {
  uint64_t before = n->applied;
  int rc;
  n->applied = index;
  lkv_apply_identity_t id = {.cluster_id = n->o.cluster_id};
  lkv_apply_hooks_t hooks = {.record = record_members, .record_arg = n};
  rc = lkv_apply_batch_hooked(n->o.store, &id, NULL, 0, &hooks);
  if (rc) n->applied = before;
  return rc;
}

void lkv__raft_node_publish_due(lkv__raft_node_t *n, uint64_t now_ms) {
  if (n->halted || now_ms < n->next_publish_ms) return;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (st.leader == LKV_RAFT_NONE) return; /* tried as soon as a leader is known */
  pthread_mutex_lock(&n->mu);
  const lkv__raft_attrs_t *rec = lkv__raft_node_find_attrs(n, n->o.member_id);
  int due =
      n->self.data && (!rec || rec->len != n->self.len || memcmp(rec->data, n->self.data, rec->len) != 0);
  uint8_t *data = NULL;
  size_t len = 0;
  lkv_raft_entry_payload_t e = {.kind = (lkv_op_kind_t)LKV_RAFT_ENTRY_ATTRS,
                                .origin = n->o.member_id,
                                .seq = ++n->next_seq,
                                .request = n->self.data,
                                .request_len = n->self.len};
  int rc = due ? lkv_raft_entry_encode(&e, &data, &len) : LKV_ENOENT;
  pthread_mutex_unlock(&n->mu);
  if (rc) return;
  /* Without a leader this fails and is tried again: once per election timeout, as etcd retries publish. */
  lkv_raft_propose(n->raft, data, len, NULL, NULL);
  free(data);
  n->next_publish_ms = now_ms + (uint64_t)n->o.tick_ms * n->o.election_ticks;
}

void lkv__raft_node_free_attrs(lkv__raft_node_t *n) {
  for (size_t i = 0; i < n->n_seeds; i++) free(n->seeds[i].data);
  free(n->seeds);
  free(n->removed);
  for (size_t i = 0; i < n->n_attrs; i++) free(n->attrs[i].data);
  free(n->attrs);
  free(n->self.data);
}
