/* The frontier's codec and its conversions to and from the Merkle append state (see frontier.h). */
#include "ledger/frontier.h"

#include <string.h>

#include "common/error.h"
#include "ledger/internal.h"

#define SIZE_LIMIT (UINT64_C(1) << 63)

static int valid(const lkv_ledger_frontier_t *f) {
  return f->size < SIZE_LIMIT && f->n == (size_t)__builtin_popcountll(f->size) && f->last_revision >= 0 &&
         (f->size > 0 || f->last_revision == 0);
}

int lkv_ledger_frontier_encode(const lkv_ledger_frontier_t *f, uint8_t *buf, size_t cap, size_t *len) {
  if (!valid(f)) return LKV_EINVAL;
  size_t need = LKV_LEDGER_FRONTIER_HEADER_LEN + f->n * LKV_MERKLE_HASH_LEN;
  if (cap < need) return LKV_EMSGSIZE;
  buf[0] = LKV_LEDGER_FRONTIER_VERSION;
  lkv__put_be64(buf + 1, f->size);
  lkv__put_be64(buf + 9, (uint64_t)f->last_revision);
  buf[17] = (uint8_t)f->n;
  for (size_t i = 0; i < f->n; i++)
    memcpy(buf + LKV_LEDGER_FRONTIER_HEADER_LEN + i * LKV_MERKLE_HASH_LEN, f->hashes[i].b,
           LKV_MERKLE_HASH_LEN);
  *len = need;
  return 0;
}

int lkv_ledger_frontier_decode(const uint8_t *buf, size_t len, lkv_ledger_frontier_t *f) {
  if (len < LKV_LEDGER_FRONTIER_HEADER_LEN || buf[0] != LKV_LEDGER_FRONTIER_VERSION) return LKV_EBADMSG;
  f->size = lkv__get_be64(buf + 1);
  f->last_revision = (int64_t)lkv__get_be64(buf + 9);
  f->n = buf[17];
  if (f->n > 64 || !valid(f) || len != LKV_LEDGER_FRONTIER_HEADER_LEN + f->n * LKV_MERKLE_HASH_LEN)
    return LKV_EBADMSG;
  for (size_t i = 0; i < f->n; i++)
    memcpy(f->hashes[i].b, buf + LKV_LEDGER_FRONTIER_HEADER_LEN + i * LKV_MERKLE_HASH_LEN,
           LKV_MERKLE_HASH_LEN);
  return 0;
}

void lkv_ledger_frontier_from_merkle(const lkv_merkle_frontier_t *m, int64_t last_revision,
                                     lkv_ledger_frontier_t *out) {
  out->size = m->size;
  out->last_revision = last_revision;
  out->n = 0;
  for (unsigned level = LKV_MERKLE_LEVELS; level-- > 0;)
    if ((m->size >> level) & 1) out->hashes[out->n++] = m->h[level];
}

void lkv_ledger_frontier_to_merkle(const lkv_ledger_frontier_t *f, lkv_merkle_frontier_t *out) {
  size_t i = 0;
  lkv_merkle_frontier_init(out);
  out->size = f->size;
  for (unsigned level = LKV_MERKLE_LEVELS; level-- > 0;)
    if ((f->size >> level) & 1) out->h[level] = f->hashes[i++];
}

void lkv_ledger_frontier_root(const lkv_ledger_frontier_t *f, lkv_merkle_hash_t *out) {
  lkv_merkle_frontier_t m;
  lkv_ledger_frontier_to_merkle(f, &m);
  lkv_merkle_frontier_root(&m, out);
}
