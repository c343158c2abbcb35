/* Digests of key states over ranges of keys (causal_digest.h): the store's live keys and the core's siblings.
 */
#include "replication/causal_digest.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Which range key falls in, moving forward from *at (keys come in order): 1 with *at set, 0 past the end. */
static int range_of(const lkv__causal_bound_t *b, size_t n, const lkv__causal_bound_t *end,
                    const uint8_t *key, size_t len, size_t *at) {
  if (lkv__causal_key_cmp(key, len, b[0].key, b[0].len) < 0) return 0;
  if (end->len && lkv__causal_key_cmp(key, len, end->key, end->len) >= 0) return 0;
  while (*at + 1 < n && lkv__causal_key_cmp(key, len, b[*at + 1].key, b[*at + 1].len) >= 0) (*at)++;
  return 1;
}

size_t lkv__causal_digest_find(const lkv__causal_bound_t *b, size_t n, const lkv__causal_bound_t *end,
                               const uint8_t *key, size_t len) {
  if (lkv__causal_key_cmp(key, len, b[0].key, b[0].len) < 0 ||
      (end->len && lkv__causal_key_cmp(key, len, end->key, end->len) >= 0))
    return n;
  size_t lo = 0, hi = n; /* the last bound at or below key */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (lkv__causal_key_cmp(key, len, b[mid].key, b[mid].len) >= 0)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static void feed_u64(crypto_generichash_state *st, uint64_t v) {
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
  crypto_generichash_update(st, le, sizeof(le));
}

static void feed_bytes(crypto_generichash_state *st, const uint8_t *p, size_t len) {
  feed_u64(st, len);
  if (len) crypto_generichash_update(st, p, len);
}

typedef struct {
  const lkv__causal_bound_t *b, *end;
  size_t n, at;
  const lkv__causal_keyset_t *skip;
  crypto_generichash_state *st;
} scan_t;

static int store_key(void *arg, const lkv_mvcc_kv_t *kv) {
  scan_t *s = arg;
  if (!range_of(s->b, s->n, s->end, kv->key, kv->key_len, &s->at) ||
      lkv__causal_keyset_has(s->skip, kv->key, kv->key_len))
    return 0;
  crypto_generichash_update(&s->st[s->at], (const uint8_t *)"s", 1);
  feed_bytes(&s->st[s->at], kv->key, kv->key_len);
  feed_bytes(&s->st[s->at], kv->value, kv->value_len);
  return 0;
}

static int by_origin(const void *a, const void *b) {
  const lkv_causal_sibling_t *x = *(const lkv_causal_sibling_t *const *)a,
                             *y = *(const lkv_causal_sibling_t *const *)b;
  return (x->origin > y->origin) - (x->origin < y->origin);
}

/* A core key's siblings, by origin (at most one per origin: an origin's later write supersedes its own). */
static void core_key(crypto_generichash_state *st, const lkv_causal_key_t *k) {
  const lkv_causal_sibling_t *sib[LKV_CAUSAL_MAX_ORIGINS];
  size_t n = 0;
  for (size_t i = 0; i < k->n && n < LKV_CAUSAL_MAX_ORIGINS; i++) sib[n++] = &k->sib[i];
  qsort(sib, n, sizeof(sib[0]), by_origin);
  crypto_generichash_update(st, (const uint8_t *)"c", 1);
  feed_bytes(st, k->key, k->key_len);
  feed_u64(st, n);
  for (size_t i = 0; i < n; i++) {
    feed_u64(st, sib[i]->origin);
    feed_u64(st, sib[i]->seq);
    feed_u64(st, (uint64_t)(sib[i]->tombstone != 0));
    feed_bytes(st, sib[i]->value, sib[i]->value_len);
  }
}

int lkv__causal_digest(lkv_mvcc_t *store, const lkv_causal_member_t *m, const lkv__causal_bound_t *b,
                       size_t n, const lkv__causal_bound_t *end, const lkv__causal_keyset_t *skip,
                       uint8_t (*out)[LKV__CAUSAL_DIGEST_LEN]) {
  if (n == 0 || n > LKV__CAUSAL_DIGEST_RANGES) return LKV_EINVAL;
  crypto_generichash_state st[LKV__CAUSAL_DIGEST_RANGES];
  for (size_t i = 0; i < n; i++) crypto_generichash_init(&st[i], NULL, 0, LKV__CAUSAL_DIGEST_LEN);
  /* The store's live keys from b[0] on (every key when b[0] is empty: "\0" and on). */
  static const uint8_t zero = 0;
  lkv_mvcc_range_t q = {.key = b[0].len ? b[0].key : &zero,
                        .key_len = b[0].len ? b[0].len : 1,
                        .end = end->len ? end->key : &zero,
                        .end_len = end->len ? end->len : 1};
  scan_t s = {.b = b, .end = end, .n = n, .skip = skip, .st = st};
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv_mvcc_range(t, &q, store_key, &s, NULL);
  lkv_mvcc_txn_end(t);
  if (rc) return rc;
  size_t at = 0;
  for (size_t i = 0; i < lkv_causal_member_n_keys(m); i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    if (!lkv_causal_key_sole_tombstone(k) && k->n && range_of(b, n, end, k->key, k->key_len, &at) &&
        !lkv__causal_keyset_has(skip, k->key, k->key_len))
      core_key(&st[at], k);
  }
  for (size_t i = 0; i < n; i++) crypto_generichash_final(&st[i], out[i], LKV__CAUSAL_DIGEST_LEN);
  return 0;
}

size_t lkv__causal_digest_split(const lkv_causal_member_t *m, lkv__causal_bound_t lo, lkv__causal_bound_t end,
                                lkv__causal_bound_t *b, size_t *keys) {
  size_t first = SIZE_MAX, count = 0, at = 0;
  for (size_t i = 0; i < lkv_causal_member_n_keys(m); i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    if (lkv_causal_key_sole_tombstone(k) || !k->n || !range_of(&lo, 1, &end, k->key, k->key_len, &at))
      continue;
    if (first == SIZE_MAX) first = i;
    count++;
  }
  *keys = count;
  b[0] = lo;
  size_t n = 1, seen = 0;
  for (size_t i = first; count && i < lkv_causal_member_n_keys(m) && n < LKV__CAUSAL_DIGEST_RANGES; i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    if (lkv_causal_key_sole_tombstone(k) || !k->n) continue;
    if (end.len && lkv__causal_key_cmp(k->key, k->key_len, end.key, end.len) >= 0) break;
    /* A bound at every count/RANGES-th key, the first key excluded (lo bounds it). */
    if (seen++ == 0 ||
        (seen - 1) * LKV__CAUSAL_DIGEST_RANGES / count == (seen - 2) * LKV__CAUSAL_DIGEST_RANGES / count)
      continue;
    lkv__causal_bound_t nb = {
        .key = k->key,
        .len = k->key_len < LKV__CAUSAL_DIGEST_BOUND_MAX ? k->key_len : LKV__CAUSAL_DIGEST_BOUND_MAX};
    if (lkv__causal_key_cmp(nb.key, nb.len, b[n - 1].key, b[n - 1].len) > 0) b[n++] = nb;
  }
  return n;
}
