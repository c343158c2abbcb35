/* The payload of a ledgerkv Raft log entry: encoding and decoding. */
#include "replication/raft_entry.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/le.h"

#define LKV_RAFT_ENTRY_VERSION 1

const ProtobufCMessageDescriptor *lkv_raft_entry_descriptor(lkv_op_kind_t kind) {
  switch (kind) {
    case LKV_OP_PUT:
      return &etcdserverpb__put_request__descriptor;
    case LKV_OP_DELETE_RANGE:
      return &etcdserverpb__delete_range_request__descriptor;
    case LKV_OP_TXN:
      return &etcdserverpb__txn_request__descriptor;
    case LKV_OP_COMPACT:
      return &etcdserverpb__compaction_request__descriptor;
    case LKV_OP_ALARM:
      return &etcdserverpb__alarm_request__descriptor;
    case LKV_OP_LEASE_GRANT:
      return &etcdserverpb__lease_grant_request__descriptor;
    case LKV_OP_LEASE_REVOKE:
      return &etcdserverpb__lease_revoke_request__descriptor;
    default:
      break;
  }
  return lkv_apply_auth_descriptor(kind);
}

int lkv_raft_entry_encode(const lkv_raft_entry_payload_t *p, uint8_t **out, size_t *out_len) {
  size_t user_len = p->flags & LKV_RAFT_ENTRY_AUTH ? strlen(p->auth.user) : 0;
  size_t auth_len = p->flags & LKV_RAFT_ENTRY_AUTH ? 8 + user_len + 1 : 0;
  size_t n = LKV_RAFT_ENTRY_HEADER + auth_len + p->request_len;
  uint8_t *b = malloc(n);
  if (!b) return LKV_ENOMEM;
  b[0] = LKV_RAFT_ENTRY_VERSION;
  b[1] = (uint8_t)p->kind;
  b[2] = (uint8_t)p->flags;
  lkv_le64_put(b + 3, p->origin);
  lkv_le64_put(b + 11, p->seq);
  uint8_t *q = b + LKV_RAFT_ENTRY_HEADER;
  if (auth_len) {
    lkv_le64_put(q, p->auth.revision);
    memcpy(q + 8, p->auth.user, user_len + 1);
    q += auth_len;
  }
  if (p->request_len) memcpy(q, p->request, p->request_len);
  *out = b;
  *out_len = n;
  return 0;
}

int lkv_raft_entry_decode(const uint8_t *buf, size_t len, lkv_raft_entry_payload_t *p) {
  if (len < LKV_RAFT_ENTRY_HEADER || buf[0] != LKV_RAFT_ENTRY_VERSION) return LKV_EBADMSG;
  if ((buf[1] != LKV_RAFT_ENTRY_ATTRS && buf[1] != LKV_RAFT_ENTRY_PEER_URLS &&
       !lkv_raft_entry_descriptor((lkv_op_kind_t)buf[1])) ||
      (buf[2] & ~(LKV_RAFT_ENTRY_NO_CLAIMS | LKV_RAFT_ENTRY_AUTH)))
    return LKV_EBADMSG;
  p->kind = (lkv_op_kind_t)buf[1];
  p->flags = buf[2];
  p->origin = lkv_le64_get(buf + 3);
  p->seq = lkv_le64_get(buf + 11);
  p->auth = (lkv_apply_auth_t){0};
  size_t at = LKV_RAFT_ENTRY_HEADER;
  if (p->flags & LKV_RAFT_ENTRY_AUTH) {
    const uint8_t *nul = len >= at + 9 ? memchr(buf + at + 8, 0, len - at - 8) : NULL;
    if (!nul) return LKV_EBADMSG;
    p->auth.revision = lkv_le64_get(buf + at);
    p->auth.user = (const char *)buf + at + 8;
    at = (size_t)(nul - buf) + 1;
  }
  p->request = buf + at;
  p->request_len = len - at;
  return 0;
}
