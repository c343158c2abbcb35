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
