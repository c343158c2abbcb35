/* Proposals and read barriers entering the Raft core: the quota check, encoding, retries. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/le.h"
#include "replication/raft_entry.h"
#include "replication/raft_internal.h"

static int below_reserve(const lkv__raft_node_t *n, const char *dir) {
  uint64_t free_bytes;
  return lkv_fs_free_bytes(dir, &free_bytes) == 0 && free_bytes < n->o.disk_reserve;
}

/* Whether the data dir's file system, or the Raft log's if it is elsewhere (--wal-dir), is below the
 * reserve (looked at every LKV_RAFT_NODE_DISK_CHECK_MS: a proposal costs far less than statvfs). */
static int disk_low(lkv__raft_node_t *n, uint64_t now) {
  if (!n->o.disk_reserve || !n->o.disk_dir) return 0;
  if (now - n->disk_checked_ms >= LKV_RAFT_NODE_DISK_CHECK_MS) {
    n->disk_checked_ms = now;
    n->disk_low = below_reserve(n, n->o.disk_dir) || below_reserve(n, n->o.wal_dir);
  }
  return n->disk_low;
}

/* etcd's quota check before the log: a write that would take this member's store to its quota is
 * refused, and the NOSPACE alarm is raised through the log (so every member refuses writes alike). The
 * same happens when the disk that holds the store, the Raft log and the ledger runs low (one alarm for
 * all three: any of them failing to grow would halt the member). */
static int check_quota(lkv__raft_node_t *n, const lkv_proposal_t *p, uint64_t now) {
  int rc = lkv_apply_quota_check(n->o.store, &p->req);
  if (rc == 0 && lkv_apply_quota_cost(&p->req) > 0 && disk_low(n, now)) rc = LKV_ENOSPACE;
  if (rc != LKV_ENOSPACE) return rc;
  lkv_mvcc_stat_t st;
  if (lkv_mvcc_stat(n->o.store, &st) == 0 && (st.alarms & LKV_MVCC_ALARM_NOSPACE)) return rc;
  Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
  a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
  a.memberid = n->o.member_id;
  a.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
  uint8_t buf[64], *data;
  size_t len;
  lkv_raft_entry_payload_t e = {.kind = LKV_OP_ALARM,
                                .flags = LKV_RAFT_ENTRY_NO_CLAIMS,
                                .origin = n->o.member_id,
                                .seq = ++n->next_seq,
                                .request = buf,
                                .request_len = etcdserverpb__alarm_request__pack(&a, buf)};
  if (lkv_raft_entry_encode(&e, &data, &len) == 0) {
    lkv_raft_propose(n->raft, data, len, NULL, NULL); /* retried by the next refused write if lost */
    free(data);
  }
  return rc;
}

/* Encodes p's request as a log entry and proposes it; on failure answers it at once. */
void lkv__raft_node_propose(lkv__raft_node_t *n, lkv_proposal_t *p, uint64_t now) {
  if (n->halted) {
    lkv__raft_node_fail(p, LKV_EHALTED);
    return;
  }
  int quota = check_quota(n, p, now);
  if (quota != 0) {
    lkv__raft_node_fail(p, quota);
    return;
  }
  lkv_raft_entry_payload_t e = {.kind = p->req.kind,
                                .flags = (p->req.no_claims ? LKV_RAFT_ENTRY_NO_CLAIMS : 0) |
                                         (p->req.auth.user ? LKV_RAFT_ENTRY_AUTH : 0),
                                .origin = n->o.member_id,
                                .seq = ++n->next_seq,
                                .request = p->req.raw,
                                .request_len = p->req.raw_len,
                                .auth = p->req.auth};
  uint8_t *packed = NULL;
  if (!e.request) { /* proposed by the server itself: the bytes are the message packed */
    size_t len = protobuf_c_message_get_packed_size(p->req.msg);
    packed = malloc(len ? len : 1);
    if (!packed) {
      lkv__raft_node_fail(p, LKV_ENOMEM);
      return;
    }
    e.request_len = protobuf_c_message_pack(p->req.msg, packed);
    e.request = packed;
  }
  uint8_t *data;
  size_t len;
  int rc = lkv_raft_entry_encode(&e, &data, &len);
  free(packed);
  if (rc == 0) {
    rc = lkv_raft_propose(n->raft, data, len, NULL, NULL);
    free(data);
  }
  if (rc == LKV_EPROPOSALDROPPED && now < p->deadline_ms) {
    /* A leadership transfer is under way: tried again each round until the new leader takes it. */
    p->next = n->stalled;
    n->stalled = p;
    return;
  }
  if (rc != 0) {
    lkv__raft_node_fail(p, rc);
    return;
  }
  p->seq = e.seq;
  p->next = NULL;
  if (n->pending_tail)
    n->pending_tail->next = p;
  else
    n->pending = p;
  n->pending_tail = p;
}

void lkv__raft_node_ask_read(lkv__raft_node_t *n, lkv__raft_read_t *rd, uint64_t now) {
  if (n->halted) {
    rd->cb(rd->arg, LKV_EHALTED);
    free(rd);
    return;
  }
  rd->seq = ++n->next_seq;
  uint8_t ctx[8];
  lkv_le64_put(ctx, rd->seq);
  int rc = lkv_raft_read_index(n->raft, ctx, sizeof(ctx));
  if (rc != 0) {
    rd->cb(rd->arg, rc);
    free(rd);
    return;
  }
  rd->deadline_ms = now + n->o.request_timeout_ms;
  rd->next = n->reads;
  n->reads = rd;
}
