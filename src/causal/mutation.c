/* The write-set codec: puts and deletes of keys, lease grants and revokes, checked once when opened. */
#include "causal/mutation.h"

#include <string.h>

#include "common/error.h"
#include "common/le.h"

#define KIND_PUT_LEASED 3 /* the encoding of a put with a lease */

static int is_key(uint8_t kind) {
  return kind == LKV_CAUSAL_PUT || kind == LKV_CAUSAL_DEL;
}

static size_t one_size(const lkv_causal_mutation_t *m) {
  if (m->kind == LKV_CAUSAL_MEMBER_REMOVE) return 1 + 8;
  if (m->kind == LKV_CAUSAL_MEMBER_ADD) return 1 + 8 + 4 + m->value_len;
  if (!is_key(m->kind)) return 1 + 8 + (m->kind == LKV_CAUSAL_LEASE_GRANT ? 8 : 0);
  size_t put = m->kind == LKV_CAUSAL_PUT ? 4 + m->value_len + (m->lease ? 8 : 0) : 0;
  return 1 + 4 + m->key_len + put;
}

size_t lkv_causal_mutations_size(const lkv_causal_mutation_t *muts, size_t n) {
  size_t size = 4;
  for (size_t i = 0; i < n; i++) size += one_size(&muts[i]);
  return size;
}

static int valid(const lkv_causal_mutation_t *m) {
  if (m->kind == LKV_CAUSAL_MEMBER_REMOVE) return m->member != 0;
  if (m->kind == LKV_CAUSAL_MEMBER_ADD) return m->member != 0 && m->value_len > 0 && m->value_len <= UINT32_MAX;
  if (m->kind == LKV_CAUSAL_LEASE_GRANT || m->kind == LKV_CAUSAL_LEASE_REVOKE) return m->lease > 0;
  if (m->kind == LKV_CAUSAL_DEL) return m->key_len > 0;
  return m->kind == LKV_CAUSAL_PUT && m->key_len > 0 && m->lease >= 0;
}

static uint8_t *put_i64(uint8_t *p, int64_t v) {
  lkv_le64_put(p, (uint64_t)v);
  return p + 8;
}

int lkv_causal_mutations_encode(const lkv_causal_mutation_t *muts, size_t n, uint8_t *out, size_t cap,
                                size_t *len) {
  if (n > UINT32_MAX) return LKV_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!valid(&muts[i])) return LKV_EINVAL;
  size_t size = lkv_causal_mutations_size(muts, n);
  if (cap < size) return LKV_EMSGSIZE;
  uint8_t *p = out;
  lkv_le32_put(p, (uint32_t)n);
  p += 4;
  for (size_t i = 0; i < n; i++) {
    const lkv_causal_mutation_t *m = &muts[i];
    *p++ = m->kind == LKV_CAUSAL_PUT && m->lease ? KIND_PUT_LEASED : m->kind;
    if (m->kind == LKV_CAUSAL_MEMBER_REMOVE || m->kind == LKV_CAUSAL_MEMBER_ADD) {
      lkv_le64_put(p, m->member);
      p += 8;
      if (m->kind == LKV_CAUSAL_MEMBER_ADD) {
        lkv_le32_put(p, (uint32_t)m->value_len);
        memcpy(p + 4, m->value, m->value_len);
        p += 4 + m->value_len;
      }
      continue;
    }
    if (!is_key(m->kind)) {
      p = put_i64(p, m->lease);
      if (m->kind == LKV_CAUSAL_LEASE_GRANT) p = put_i64(p, m->ttl);
      continue;
    }
    lkv_le32_put(p, (uint32_t)m->key_len);
    memcpy(p + 4, m->key, m->key_len);
    p += 4 + m->key_len;
    if (m->kind != LKV_CAUSAL_PUT) continue;
    lkv_le32_put(p, (uint32_t)m->value_len);
    if (m->value_len) memcpy(p + 4, m->value, m->value_len);
    p += 4 + m->value_len;
    if (m->lease) p = put_i64(p, m->lease);
  }
  *len = size;
  return 0;
}

/* Reads a u32 length and that many bytes. */
static int take(lkv_causal_mutation_iter_t *it, const uint8_t **bytes, size_t *n) {
  if (it->end - it->p < 4) return -1;
  uint32_t len = lkv_le32_get(it->p);
  it->p += 4;
  if ((size_t)(it->end - it->p) < len) return -1;
  *bytes = it->p;
  *n = len;
  it->p += len;
  return 0;
}

static int take_i64(lkv_causal_mutation_iter_t *it, int64_t *v) {
  if (it->end - it->p < 8) return -1;
  *v = (int64_t)lkv_le64_get(it->p);
  it->p += 8;
  return 0;
}

/* Decodes the next mutation without the final checks; -1 on a malformed one. */
static int step(lkv_causal_mutation_iter_t *it, lkv_causal_mutation_t *m) {
  if (it->p == it->end) return -1;
  memset(m, 0, sizeof(*m));
  uint8_t kind = *it->p++;
  m->kind = kind == KIND_PUT_LEASED ? LKV_CAUSAL_PUT : kind;
  if (kind == LKV_CAUSAL_MEMBER_REMOVE || kind == LKV_CAUSAL_MEMBER_ADD) {
    if (it->end - it->p < 8) return -1;
    m->member = lkv_le64_get(it->p);
    it->p += 8;
    return kind == LKV_CAUSAL_MEMBER_ADD ? take(it, &m->value, &m->value_len) : 0;
  }
  if (kind == LKV_CAUSAL_LEASE_GRANT || kind == LKV_CAUSAL_LEASE_REVOKE)
    return take_i64(it, &m->lease) || (kind == LKV_CAUSAL_LEASE_GRANT && take_i64(it, &m->ttl)) ? -1 : 0;
  if (take(it, &m->key, &m->key_len)) return -1;
  if (m->kind == LKV_CAUSAL_PUT && take(it, &m->value, &m->value_len)) return -1;
  if (kind == KIND_PUT_LEASED && (take_i64(it, &m->lease) || m->lease == 0)) return -1;
  if (m->kind == LKV_CAUSAL_DEL) m->value = NULL;
  return 0;
}

int lkv_causal_mutations_open(const uint8_t *buf, size_t len, lkv_causal_mutation_iter_t *it) {
  if (len < 4) return LKV_EBADMSG;
  lkv_causal_mutation_iter_t first = {.p = buf + 4, .end = buf + len, .left = lkv_le32_get(buf)};
  lkv_causal_mutation_iter_t walk = first;
  lkv_causal_mutation_t m;
  for (uint32_t i = 0; i < first.left; i++)
    if (step(&walk, &m) || !valid(&m)) return LKV_EBADMSG;
  if (walk.p != walk.end) return LKV_EBADMSG;
  *it = first;
  return 0;
}

int lkv_causal_mutations_next(lkv_causal_mutation_iter_t *it, lkv_causal_mutation_t *m) {
  if (it->left == 0) return 0;
  if (step(it, m)) return 0; /* cannot happen after a successful open */
  it->left--;
  return 1;
}
