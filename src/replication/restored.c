/* A store carried into a new cluster (a restore): the old member's records dropped, the new one's mark. */
#include <stdlib.h>

#include "common/error.h"
#include "common/le.h"
#include "replication/raft_internal.h"

int lkv_raft_node_mark_restored(lkv_mvcc_txn_t *t, uint64_t cluster_id, uint64_t member_id) {
  /* What the member that wrote the store knew of itself and its cluster: the new member learns its own
   * from its flags and its log (a store copied from a backup still holds them). */
  static const char *const old[] = {LKV__RAFT_IDENTITY_RECORD, LKV__RAFT_POSITION_RECORD,
                                    LKV__RAFT_CONF_RECORD,     LKV__RAFT_MEMBERS_RECORD,
                                    LKV__RAFT_REMOVED_RECORD,  LKV__RAFT_SNAPSHOT_RECORD};
  int rc = 0;
  for (size_t i = 0; !rc && i < sizeof(old) / sizeof(old[0]); i++) rc = lkv_mvcc_repl_del(t, old[i]);
  if (rc) return rc;
  uint8_t v[16];
  lkv_le64_put(v, cluster_id);
  lkv_le64_put(v + 8, member_id);
  return lkv_mvcc_repl_put(t, LKV__RAFT_RESTORED_RECORD, v, sizeof(v));
}

int lkv_raft_node_stored_members(lkv_mvcc_t *store, lkv_raft_node_member_cb cb, void *arg) {
  uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_repl_read(store, LKV__RAFT_MEMBERS_RECORD, &v, &len);
  if (rc == LKV_ENOENT) return 0;
  if (rc) return rc;
  /* raft_members.c's layout: id (u64) ‖ length (u32) ‖ attributes, little-endian, per member. */
  for (size_t off = 0; !rc && off < len;) {
    uint32_t alen = len - off >= 12 ? lkv_le32_get(v + off + 8) : 0;
    if (len - off < 12 || alen > len - off - 12) {
      rc = LKV_ECORRUPT;
      break;
    }
    rc = cb(arg, lkv_le64_get(v + off), v + off + 12, alen);
    off += 12 + alen;
  }
  free(v);
  return rc;
}
