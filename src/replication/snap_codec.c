/* The snapshot stream's messages (see snap_codec.h). */
#include "replication/snap_codec.h"

#include <string.h>

#include "common/error.h"
#include "common/le.h"

#define VERSION 1

size_t lkv_snap_msg_size(const lkv_snap_msg_t *m) {
  switch (m->type) {
    case LKV_SNAP_OFFER:
      return 2 + 8 + 8 + 4 + m->raft_msg_len + 4 + m->frontier_len;
    case LKV_SNAP_CHUNK_MSG:
      return 2 + 8 + 8 + m->data_len;
    case LKV_SNAP_END:
      return 2 + 8 + LKV_SNAP_HASH_LEN;
    case LKV_SNAP_ACK:
      return 2 + 8 + 8 + 1;
  }
  return 0;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *b, size_t len) {
  lkv_le32_put(p, (uint32_t)len);
  if (len) memcpy(p + 4, b, len);
  return p + 4 + len;
}

size_t lkv_snap_msg_encode(const lkv_snap_msg_t *m, uint8_t *buf, size_t cap) {
  size_t need = lkv_snap_msg_size(m);
  if (need == 0 || need > cap) return 0;
  uint8_t *p = buf;
  *p++ = VERSION;
  *p++ = (uint8_t)m->type;
  lkv_le64_put(p, m->id);
  p += 8;
  switch (m->type) {
    case LKV_SNAP_OFFER:
      lkv_le64_put(p, m->size);
      p = put_bytes(p + 8, m->raft_msg, m->raft_msg_len);
      put_bytes(p, m->frontier, m->frontier_len);
      break;
    case LKV_SNAP_CHUNK_MSG:
      lkv_le64_put(p, m->offset);
      if (m->data_len) memcpy(p + 8, m->data, m->data_len);
      break;
    case LKV_SNAP_END:
      memcpy(p, m->hash, LKV_SNAP_HASH_LEN);
      break;
    case LKV_SNAP_ACK:
      lkv_le64_put(p, m->offset);
      p[8] = (uint8_t)m->status;
      break;
  }
  return need;
}

/* Reads a u32-length byte string at *p (end at end) into *b, *len. */
static int get_bytes(const uint8_t **p, const uint8_t *end, const uint8_t **b, size_t *len) {
  if (end - *p < 4) return LKV_EBADMSG;
  uint32_t n = lkv_le32_get(*p);
  if ((size_t)(end - *p - 4) < n) return LKV_EBADMSG;
  *b = *p + 4;
  *len = n;
  *p += 4 + n;
  return 0;
}

int lkv_snap_msg_decode(const uint8_t *buf, size_t len, lkv_snap_msg_t *m) {
  memset(m, 0, sizeof(*m));
  if (len < 10 || buf[0] != VERSION) return LKV_EBADMSG;
  const uint8_t *p = buf + 10, *end = buf + len;
  m->type = (lkv_snap_type_t)buf[1];
  m->id = lkv_le64_get(buf + 2);
  switch (m->type) {
    case LKV_SNAP_OFFER:
      if (end - p < 8) return LKV_EBADMSG;
      m->size = lkv_le64_get(p);
      p += 8;
      if (get_bytes(&p, end, &m->raft_msg, &m->raft_msg_len) ||
          get_bytes(&p, end, &m->frontier, &m->frontier_len))
        return LKV_EBADMSG;
      break;
    case LKV_SNAP_CHUNK_MSG:
      if (end - p < 8 || (size_t)(end - p - 8) > LKV_SNAP_CHUNK) return LKV_EBADMSG;
      m->offset = lkv_le64_get(p);
      m->data = p + 8;
      m->data_len = (size_t)(end - p - 8);
      p = end;
      break;
    case LKV_SNAP_END:
      if (end - p < LKV_SNAP_HASH_LEN) return LKV_EBADMSG;
      memcpy(m->hash, p, LKV_SNAP_HASH_LEN);
      p += LKV_SNAP_HASH_LEN;
      break;
    case LKV_SNAP_ACK:
      if (end - p < 9 || p[8] > LKV_SNAP_FAILED) return LKV_EBADMSG;
      m->offset = lkv_le64_get(p);
      m->status = p[8];
      p += 9;
      break;
    default:
      return LKV_EBADMSG;
  }
  return p == end ? 0 : LKV_EBADMSG;
}
