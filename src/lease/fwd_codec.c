/* Encoding and decoding of the lease channel's requests and answers (fwd_codec.h). */
#include "lease/fwd_codec.h"

#include <string.h>

#include "common/error.h"
#include "common/le.h"

static int valid_op(uint8_t op) {
  return op == LKV_LEASE_FWD_RENEW || op == LKV_LEASE_FWD_TIME_TO_LIVE;
}

static int valid_status(uint8_t st) {
  return st <= LKV_LEASE_FWD_NOT_LEADER;
}

size_t lkv_lease_fwd_encode(const lkv_lease_fwd_msg_t *m, uint8_t *buf) {
  int answer = m->kind == LKV_LEASE_FWD_ANSWER;
  if ((!answer && m->kind != LKV_LEASE_FWD_REQUEST) || !valid_op(m->op) ||
      (answer && !valid_status(m->status)))
    return 0;
  buf[0] = m->kind;
  buf[1] = m->op;
  lkv_le64_put(buf + 2, m->request_id);
  lkv_le64_put(buf + 10, (uint64_t)m->lease_id);
  if (!answer) return LKV_LEASE_FWD_REQUEST_LEN;
  buf[18] = m->status;
  lkv_le64_put(buf + 19, (uint64_t)m->ttl);
  lkv_le64_put(buf + 27, (uint64_t)m->granted_ttl);
  return LKV_LEASE_FWD_ANSWER_LEN;
}

int lkv_lease_fwd_decode(const uint8_t *buf, size_t len, lkv_lease_fwd_msg_t *out) {
  if (len < 1) return LKV_EBADMSG;
  memset(out, 0, sizeof(*out));
  out->kind = buf[0];
  if (out->kind == LKV_LEASE_FWD_REQUEST) {
    if (len != LKV_LEASE_FWD_REQUEST_LEN) return LKV_EBADMSG;
  } else if (out->kind == LKV_LEASE_FWD_ANSWER) {
    if (len != LKV_LEASE_FWD_ANSWER_LEN) return LKV_EBADMSG;
  } else {
    return LKV_EBADMSG;
  }
  out->op = buf[1];
  if (!valid_op(out->op)) return LKV_EBADMSG;
  out->request_id = lkv_le64_get(buf + 2);
  out->lease_id = (int64_t)lkv_le64_get(buf + 10);
  if (out->kind == LKV_LEASE_FWD_REQUEST) return 0;
  out->status = buf[18];
  if (!valid_status(out->status)) return LKV_EBADMSG;
  out->ttl = (int64_t)lkv_le64_get(buf + 19);
  out->granted_ttl = (int64_t)lkv_le64_get(buf + 27);
  return 0;
}
