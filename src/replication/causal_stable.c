/* The keys a causal member leaves out of a comparison at a common vector: those not stable at it there
 * (causal_digest.h), and the sets of keys the check messages carry. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "replication/causal_digest.h"

int lkv__causal_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  return c ? c : (alen > blen) - (alen < blen);
}

int lkv__causal_keyset_has(const lkv__causal_keyset_t *s, const uint8_t *key, size_t len) {
  size_t lo = 0, hi = s ? s->n : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = lkv__causal_key_cmp(s->k[mid].key, s->k[mid].len, key, len);
    if (c == 0) return 1;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return 0;
}

static int add(lkv__causal_keyset_t *s, const uint8_t *key, size_t len) {
  if (lkv_grow((void **)&s->k, &s->cap, s->n + 1, sizeof(s->k[0]))) return LKV_ENOMEM;
  s->k[s->n++] = (lkv__causal_bound_t){.key = key, .len = len};
  return 0;
}

int lkv__causal_keyset_union(lkv__causal_keyset_t *out, const lkv__causal_keyset_t *a,
                             const lkv__causal_keyset_t *b) {
  out->n = 0;
  size_t i = 0, j = 0;
  while (i < a->n || j < b->n) {
    int c = i == a->n   ? 1
            : j == b->n ? -1
                        : lkv__causal_key_cmp(a->k[i].key, a->k[i].len, b->k[j].key, b->k[j].len);
    const lkv__causal_bound_t *k = c <= 0 ? &a->k[i] : &b->k[j];
    if (add(out, k->key, k->len)) return LKV_ENOMEM;
    i += c <= 0;
    j += c >= 0;
  }
  return 0;
}

void lkv__causal_keyset_free(lkv__causal_keyset_t *s) {
  free(s->k);
  *s = (lkv__causal_keyset_t){0};
}

int lkv__causal_comparable(const lkv_causal_member_t *m, uint64_t self, uint64_t peer) {
  size_t len;
  return self != peer && lkv_causal_member_report(m, peer) && !lkv_causal_member_is_removed(m, self) &&
         !lkv_causal_member_is_removed(m, peer) && !lkv_causal_member_peer_urls(m, self, &len) &&
         !lkv_causal_member_peer_urls(m, peer, &len);
}

void lkv__causal_common(const lkv_causal_vv_t *own, const lkv_causal_vv_t *report, lkv_causal_vv_t *c) {
  lkv_causal_vv_init(c);
  for (uint32_t i = 0; i < own->n; i++) {
    uint64_t theirs = lkv_causal_vv_get(report, own->e[i].origin);
    lkv_causal_vv_set(c, own->e[i].origin, theirs < own->e[i].seq ? theirs : own->e[i].seq);
  }
}

/* Every sibling in c, none attached to a lease. A leased key's store view follows its lease's life (grants,
 * revokes, its owner's removal), not only its siblings. */
static int stable(const lkv_causal_key_t *k, const lkv_causal_vv_t *c) {
  for (size_t i = 0; i < k->n; i++)
    if (!lkv_causal_vv_covers(c, k->sib[i].origin, k->sib[i].seq) || k->sib[i].lease) return 0;
  return 1;
}

int lkv__causal_unstable(const lkv_causal_member_t *m, const lkv_causal_vv_t *c, lkv__causal_keyset_t *out) {
  out->n = 0;
  if (!lkv_causal_vv_leq(c, lkv_causal_member_vv(m))) return LKV_ENOENT;
  int rc = 0;
  size_t bytes = 0;
  for (size_t i = 0; !rc && i < lkv_causal_member_n_keys(m); i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    if (stable(k, c)) continue;
    bytes += k->key_len;
    if (out->n == LKV__CAUSAL_UNSTABLE_KEYS || bytes > LKV__CAUSAL_UNSTABLE_BYTES)
      rc = LKV_ETOOLARGE;
    else
      rc = add(out, k->key, k->key_len);
  }
  return rc;
}
