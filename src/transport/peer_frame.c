/* The peer wire codec: hello, reply, frame prefix, a query's answer; pure, bounds-checked (network input). */
#include "transport/peer_frame.h"

#include <string.h>

#include "common/error.h"
#include "common/le.h"
#include "transport/peer.h"

void lkv__peer_hello_encode(const lkv__peer_hello_t *h, uint8_t *out) {
  memcpy(out, LKV__PEER_MAGIC, LKV__PEER_MAGIC_LEN);
  out[7] = h->version;
  lkv_le64_put(out + 8, h->query ? 0 : h->cluster_id);
  lkv_le64_put(out + 16, h->query ? 0 : h->from);
  lkv_le64_put(out + 24, h->query ? 0 : h->to);
}

int lkv__peer_hello_decode(const uint8_t *buf, size_t len, lkv__peer_hello_t *h) {
  memset(h, 0, sizeof(*h));
  /* Junk is refused from its first wrong byte, not after 32 bytes that may never come. */
  size_t m = len < LKV__PEER_MAGIC_LEN ? len : LKV__PEER_MAGIC_LEN;
  if (memcmp(buf, LKV__PEER_MAGIC, m) != 0) return LKV_EPROTO;
  if (len < 8) return LKV_EAGAIN;
  if (buf[7] == 0) return LKV_EPROTO;
  if (buf[7] > LKV_PEER_PROTOCOL_VERSION) {
    /* A later version may lay out the rest differently: decide from these 8 bytes alone. */
    h->version = buf[7];
    return LKV_EUNSUPPORTED;
  }
  if (len < LKV__PEER_HELLO_SIZE) return LKV_EAGAIN;
  h->version = buf[7];
  h->cluster_id = lkv_le64_get(buf + 8);
  h->from = lkv_le64_get(buf + 16);
  h->to = lkv_le64_get(buf + 24);
  /* All three ids 0 is a query from a member-to-be (lkv_peer_query); a member's hello names both ends. */
  if (h->cluster_id == 0 && h->from == 0 && h->to == 0) {
    h->query = 1;
    return 0;
  }
  if (h->from == 0 || h->to == 0) {
    memset(h, 0, sizeof(*h));
    return LKV_EPROTO;
  }
  return 0;
}

size_t lkv__peer_reply_size(const lkv__peer_reply_t *r) {
  return LKV__PEER_REPLY_HEAD + r->text_len;
}

size_t lkv__peer_reply_encode(const lkv__peer_reply_t *r, uint8_t *out, size_t cap) {
  if (r->text_len > LKV__PEER_REPLY_MAX_TEXT) return 0;
  size_t need = lkv__peer_reply_size(r);
  if (cap < need) return 0;
  out[0] = r->status;
  out[1] = r->version;
  out[2] = (uint8_t)r->text_len;
  out[3] = (uint8_t)(r->text_len >> 8);
  lkv_le64_put(out + 4, r->cluster_id);
  lkv_le64_put(out + 12, r->member_id);
  if (r->text_len) memcpy(out + LKV__PEER_REPLY_HEAD, r->text, r->text_len);
  return need;
}

int lkv__peer_reply_decode(const uint8_t *buf, size_t len, lkv__peer_reply_t *r, size_t *used) {
  memset(r, 0, sizeof(*r));
  if (len >= 1 && buf[0] > LKV__PEER_STATUS_MAX) return LKV_EPROTO;
  if (len < LKV__PEER_REPLY_HEAD) return LKV_EAGAIN;
  size_t text_len = (size_t)buf[2] | (size_t)buf[3] << 8;
  if (text_len > LKV__PEER_REPLY_MAX_TEXT) return LKV_EPROTO;
  if (len < LKV__PEER_REPLY_HEAD + text_len) return LKV_EAGAIN;
  r->status = buf[0];
  r->version = buf[1];
  r->cluster_id = lkv_le64_get(buf + 4);
  r->member_id = lkv_le64_get(buf + 12);
  r->text = (const char *)buf + LKV__PEER_REPLY_HEAD;
  r->text_len = text_len;
  *used = LKV__PEER_REPLY_HEAD + text_len;
  return 0;
}

void lkv__peer_frame_head(uint32_t len, uint8_t *out) {
  out[0] = (uint8_t)len;
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 24);
}

int lkv__peer_frame_next(const uint8_t *buf, size_t len, size_t max, const uint8_t **payload,
                         size_t *payload_len, size_t *used) {
  if (len < LKV__PEER_FRAME_HEAD) {
    *used = LKV__PEER_FRAME_HEAD;
    return LKV_EAGAIN;
  }
  size_t n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16 | (size_t)buf[3] << 24;
  if (n > max) return LKV_EMSGSIZE;
  *used = LKV__PEER_FRAME_HEAD + n;
  if (len - LKV__PEER_FRAME_HEAD < n) return LKV_EAGAIN;
  *payload = buf + LKV__PEER_FRAME_HEAD;
  *payload_len = n;
  return 0;
}

int lkv__peer_answer_decode(const uint8_t *buf, size_t len, size_t max, lkv__peer_reply_t *r,
                            const uint8_t **blob, size_t *blob_len, size_t *used) {
  size_t head;
  *blob = NULL;
  *blob_len = 0;
  int rv = lkv__peer_reply_decode(buf, len, r, &head);
  if (rv == LKV_EAGAIN) {
    *used = len < LKV__PEER_REPLY_HEAD ? LKV__PEER_REPLY_HEAD
                                       : LKV__PEER_REPLY_HEAD + ((size_t)buf[2] | (size_t)buf[3] << 8);
    return rv;
  }
  if (rv != 0) return rv;
  if (r->status != LKV__PEER_OK) { /* a refusal is the reply alone */
    *used = head;
    return 0;
  }
  size_t frame;
  rv = lkv__peer_frame_next(buf + head, len - head, max, blob, blob_len, &frame);
  if (rv == LKV_EMSGSIZE) return rv;
  *used = head + frame;
  return rv;
}
