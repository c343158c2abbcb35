/* Member-specific header fields added to a packed response after the state machine produced it. */
#include <stdlib.h>
#include <string.h>

#include "apply/apply.h"
#include "common/error.h"
#include "common/varint.h"

int lkv_apply_stamp_header(const uint8_t *resp, size_t len, uint64_t member_id, uint64_t raft_term,
                           uint8_t **out, size_t *out_len) {
  /* Every etcd response this is used on has its header as field 1 (tag 0x0a), packed first. */
  uint64_t l;
  size_t n = len < 2 || resp[0] != 0x0a ? 0 : lkv_varint_get(resp + 1, len - 1, &l);
  size_t pos = 1 + n;
  if (n == 0 || l > len - pos) return LKV_EBADMSG;
  size_t hdr_len = (size_t)l;
  /* Appended fields win over earlier ones of the same number (protobuf's rule for scalars), and the state
   * machine leaves member_id (2) and raft_term (4) zero, i.e. absent. */
  uint8_t extra[2 + 2 * 10];
  size_t n_extra = 0;
  if (member_id) {
    extra[n_extra++] = 0x10;
    n_extra += lkv_varint_put(extra + n_extra, member_id);
  }
  if (raft_term) {
    extra[n_extra++] = 0x20;
    n_extra += lkv_varint_put(extra + n_extra, raft_term);
  }
  uint8_t lenbuf[10];
  size_t n_len = lkv_varint_put(lenbuf, hdr_len + n_extra);
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

int lkv_apply_unstamp_header(const uint8_t *resp, size_t len, uint8_t **out, size_t *out_len) {
  uint64_t l;
  size_t n = len < 2 || resp[0] != 0x0a ? 0 : lkv_varint_get(resp + 1, len - 1, &l);
  size_t pos = 1 + n;
  if (n == 0 || l > len - pos) return LKV_EBADMSG;
  const uint8_t *hdr = resp + pos, *end = hdr + l;
  uint8_t *kept = malloc(l ? l : 1);
  if (!kept) return LKV_ENOMEM;
  size_t k = 0;
  /* ResponseHeader holds varints only (cluster_id 1, member_id 2, revision 3, raft_term 4). */
  for (const uint8_t *p = hdr; p < end;) {
    uint64_t tag, v;
    size_t a = lkv_varint_get(p, (size_t)(end - p), &tag);
    size_t b = a ? lkv_varint_get(p + a, (size_t)(end - p - a), &v) : 0;
    if (!a || !b || (tag & 7) != 0) {
      free(kept);
      return LKV_EBADMSG;
    }
    if (tag >> 3 != 2 && tag >> 3 != 4) memcpy(kept + k, p, a + b), k += a + b;
    p += a + b;
  }
  uint8_t lenbuf[10];
  size_t n_len = lkv_varint_put(lenbuf, k), rest = len - pos - (size_t)l;
  uint8_t *o = malloc(1 + n_len + k + rest);
  if (!o) {
    free(kept);
    return LKV_ENOMEM;
  }
  o[0] = 0x0a;
  memcpy(o + 1, lenbuf, n_len);
  if (k) memcpy(o + 1 + n_len, kept, k);
  memcpy(o + 1 + n_len + k, end, rest);
  free(kept);
  *out = o;
  *out_len = 1 + n_len + k + rest;
  return 0;
}
