/* Pure codecs of the ledger log: frames, index entries, and the order rules (see log_file.h). */
#include <string.h>

#include "common/error.h"
#include "ledger/internal.h"
#include "ledger/log_internal.h"

int lkv__frame_parse(const uint8_t salt[LKV__SALT_LEN], const uint8_t *p, size_t avail, lkv_ledger_entry_t *e,
                     lkv_merkle_hash_t *leaf, size_t *frame_len) {
  lkv_ledger_leaf_t l;
  if (avail < LKV__FRAME_HDR) return LKV__FRAME_TORN;
  if (memcmp(p, salt, LKV__SALT_LEN)) return LKV__FRAME_BAD;
  uint32_t len = lkv__get_be32(p + LKV__SALT_LEN);
  if (len < LKV_LEDGER_ENTRY_HEADER_LEN || len > LKV_LEDGER_ENTRY_MAX) return LKV__FRAME_BAD;
  if (len > avail - LKV__FRAME_HDR) return LKV__FRAME_TORN;
  if (lkv_ledger_entry_decode(p + LKV__FRAME_HDR, len, e)) return LKV__FRAME_BAD;
  lkv_ledger_entry_leaf(e, &l);
  lkv_ledger_leaf_hash(&l, leaf);
  if (memcmp(leaf->b, p + LKV__SALT_LEN + 4, LKV_MERKLE_HASH_LEN)) return LKV__FRAME_BAD;
  *frame_len = LKV__FRAME_HDR + len;
  return LKV__FRAME_OK;
}

void lkv__frame_header(const uint8_t salt[LKV__SALT_LEN], uint8_t out[LKV__FRAME_HDR], uint32_t len,
                       const lkv_merkle_hash_t *leaf) {
  memcpy(out, salt, LKV__SALT_LEN);
  lkv__put_be32(out + LKV__SALT_LEN, len);
  memcpy(out + LKV__SALT_LEN + 4, leaf->b, LKV_MERKLE_HASH_LEN);
}

void lkv__meta_of(const lkv_ledger_entry_t *e, uint64_t offset, uint32_t len, lkv_ledger_log_meta_t *m) {
  m->offset = offset;
  m->revision = e->revision;
  m->len = len;
  m->kind = e->kind;
  m->produced = lkv_ledger_entry_is_revision(e);
}

void lkv__meta_encode(const lkv_ledger_log_meta_t *m, uint8_t out[LKV__META_LEN]) {
  lkv__put_be64(out, m->offset);
  lkv__put_be64(out + 8, (uint64_t)m->revision);
  lkv__put_be32(out + 16, m->len);
  out[20] = (uint8_t)m->kind;
  out[21] = m->produced ? 1 : 0;
  out[22] = out[23] = 0;
}

int lkv__meta_decode(const uint8_t in[LKV__META_LEN], lkv_ledger_log_meta_t *m) {
  if (in[20] < LKV_LEDGER_REVISION || in[20] > LKV_LEDGER_KIND_MAX || in[21] > 1 || in[22] || in[23])
    return LKV_ECORRUPT;
  m->offset = lkv__get_be64(in);
  m->revision = (int64_t)lkv__get_be64(in + 8);
  m->len = lkv__get_be32(in + 16);
  m->kind = (lkv_ledger_kind_t)in[20];
  m->produced = in[21];
  return 0;
}

int lkv__order_check(uint32_t version, int64_t last_revision, uint64_t index, const lkv_ledger_entry_t *e) {
  /* Heads live in ledger.heads since version 2: a head leaf there was not written by a ledgerkv. */
  if (e->kind == LKV_LEDGER_SIGNED_TREE_HEAD && version != LKV__LOG_VERSION_HEAD_LEAVES) return LKV_EINVAL;
  if (lkv_ledger_entry_is_revision(e) ? e->revision <= last_revision : e->revision < last_revision)
    return LKV_EINVAL;
  if (e->kind == LKV_LEDGER_SIGNED_TREE_HEAD && e->sth.head.tree_size != index) return LKV_EINVAL;
  /* A state taken as given starts a history: after any other record it would replace what they did. */
  if (e->kind == LKV_LEDGER_STATE && index != 0) return LKV_EINVAL;
  return 0;
}

int lkv__damage_is_tail(const uint8_t salt[LKV__SALT_LEN], const uint8_t *map, uint64_t pos, uint64_t size) {
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t leaf;
  size_t flen;
  for (uint64_t off = pos + 1; off < size && size - off >= LKV__FRAME_HDR; off++) {
    if (map[off] != salt[0] || memcmp(map + off, salt, LKV__SALT_LEN)) continue;
    if (lkv__frame_parse(salt, map + off, size - off, &e, &leaf, &flen) == LKV__FRAME_OK) return 0;
  }
  return 1;
}
