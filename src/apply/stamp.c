/* Member-specific header fields added to a packed response after the state machine produced it. */
#include <stdlib.h>
#include <string.h>

#include "apply/apply.h"
#include "common/error.h"

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Reads a varint at p[*pos..len). Returns 0 or LKV_EBADMSG. */
static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v) {
  *v = 0;
  for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
    uint8_t b = p[(*pos)++];
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return 0;
  }
  return LKV_EBADMSG;
}

int lkv_apply_stamp_header(const uint8_t *resp, size_t len, uint64_t member_id, uint64_t raft_term,
                           uint8_t **out, size_t *out_len) {
  /* Every etcd response this is used on has its header as field 1 (tag 0x0a), packed first. */
  size_t pos = 1, hdr_len;
  uint64_t l;
  if (len < 2 || resp[0] != 0x0a || get_varint(resp, len, &pos, &l) != 0 || l > len - pos) return LKV_EBADMSG;
  hdr_len = (size_t)l;
  /* Appended fields win over earlier ones of the same number (protobuf's rule for scalars), and the state
   * machine leaves member_id (2) and raft_term (4) zero, i.e. absent. */
  uint8_t extra[2 + 2 * 10];
  size_t n_extra = 0;
  if (member_id) {
    extra[n_extra++] = 0x10;
    n_extra += put_varint(extra + n_extra, member_id);
  }
  if (raft_term) {
    extra[n_extra++] = 0x20;
    n_extra += put_varint(extra + n_extra, raft_term);
  }
  uint8_t lenbuf[10];
  size_t n_len = put_varint(lenbuf, hdr_len + n_extra);
  size_t rest = len - pos - hdr_len;
  size_t total = 1 + n_len + hdr_len + n_extra + rest;
  uint8_t *b = malloc(total);
  if (!b) return LKV_ENOMEM;
  size_t o = 0;
  b[o++] = 0x0a;
  memcpy(b + o, lenbuf, n_len), o += n_len;
  memcpy(b + o, resp + pos, hdr_len), o += hdr_len;
  memcpy(b + o, extra, n_extra), o += n_extra;
  memcpy(b + o, resp + pos + hdr_len, rest);
  *out = b;
  *out_len = total;
  return 0;
}
