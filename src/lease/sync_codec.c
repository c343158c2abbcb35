/* Encoding and decoding of the lease handoff's messages (sync_codec.h). */
#include "lease/sync_codec.h"

#include <string.h>

#include "common/error.h"
#include "common/le.h"

/* Bytes before the entries (or the whole message for ack and query). */
static size_t head_len(uint8_t kind) {
  switch (kind) {
    case LKV_LEASE_SYNC_RECORD:
      return 21;
    case LKV_LEASE_SYNC_ACK:
      return 18;
    case LKV_LEASE_SYNC_QUERY:
      return 17;
    case LKV_LEASE_SYNC_ANSWER:
      return 29;
    default:
      return 0;
  }
}

static int has_entries(uint8_t kind) {
  return kind == LKV_LEASE_SYNC_RECORD || kind == LKV_LEASE_SYNC_ANSWER;
}

size_t lkv_lease_sync_size(const lkv_lease_sync_msg_t *m) {
  size_t head = head_len(m->kind);
  if (!head) return 0;
  if (!has_entries(m->kind)) return head;
  if (m->n > LKV_LEASE_SYNC_MAX_ENTRIES) return 0;
  return head + m->n * LKV_LEASE_SYNC_ENTRY_LEN;
}

size_t lkv_lease_sync_encode(const lkv_lease_sync_msg_t *m, const lkv_lease_remaining_t *v, uint8_t *buf) {
  size_t len = lkv_lease_sync_size(m);
  if (!len) return 0;
  buf[0] = m->kind;
  lkv_le64_put(buf + 1, m->term);
  lkv_le64_put(buf + 9, m->seq);
  uint8_t *p = buf + 17;
  if (m->kind == LKV_LEASE_SYNC_ACK) buf[17] = m->ok ? 1 : 0;
  if (!has_entries(m->kind)) return len;
  if (m->kind == LKV_LEASE_SYNC_ANSWER) {
    lkv_le64_put(p, (uint64_t)m->uptime_ms);
    p += 8;
  }
  lkv_le32_put(p, (uint32_t)m->n);
  p += 4;
  for (size_t i = 0; i < m->n; i++, p += LKV_LEASE_SYNC_ENTRY_LEN) {
    lkv_le64_put(p, (uint64_t)v[i].id);
    lkv_le64_put(p + 8, (uint64_t)v[i].ms);
  }
  return len;
}

int lkv_lease_sync_decode(const uint8_t *buf, size_t len, lkv_lease_sync_msg_t *out) {
  memset(out, 0, sizeof(*out));
  if (len < 1) return LKV_EBADMSG;
  size_t head = head_len(buf[0]);
  if (!head || len < head) return LKV_EBADMSG;
  out->kind = buf[0];
  out->term = lkv_le64_get(buf + 1);
  out->seq = lkv_le64_get(buf + 9);
  if (out->kind == LKV_LEASE_SYNC_ACK) {
    if (buf[17] > 1) return LKV_EBADMSG;
    out->ok = buf[17];
  }
  if (!has_entries(out->kind)) return len == head ? 0 : LKV_EBADMSG;
  const uint8_t *p = buf + 17;
  if (out->kind == LKV_LEASE_SYNC_ANSWER) {
    out->uptime_ms = (int64_t)lkv_le64_get(p);
    p += 8;
  }
  uint32_t n = lkv_le32_get(p);
  /* Checked as a count first: n * 16 cannot wrap, and the length must match exactly. */
  if (n > LKV_LEASE_SYNC_MAX_ENTRIES || (len - head) / LKV_LEASE_SYNC_ENTRY_LEN != n ||
      (len - head) % LKV_LEASE_SYNC_ENTRY_LEN != 0)
    return LKV_EBADMSG;
  out->n = n;
  out->entries = buf + head;
  return 0;
}

void lkv_lease_sync_entries(const lkv_lease_sync_msg_t *m, lkv_lease_remaining_t *v) {
  const uint8_t *p = m->entries;
  for (size_t i = 0; i < m->n; i++, p += LKV_LEASE_SYNC_ENTRY_LEN)
    v[i] = (lkv_lease_remaining_t){(int64_t)lkv_le64_get(p), (int64_t)lkv_le64_get(p + 8)};
}
