/* etcd's permission checks on key ranges: a user's roles' key permissions merged into intervals, and
 * whether they cover a request's key or range (etcd's auth/range_perm_cache.go and
 * authStore.isOpPermitted). */
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

typedef lkv__auth_ivl_t ivl_t;

static int bound_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  if (an == 0) return bn == 0 ? 0 : 1;
  if (bn == 0) return -1;
  int c = memcmp(a, b, an < bn ? an : bn);
  return c ? c : an < bn ? -1 : an > bn;
}

static int begin_cmp(const void *x, const void *y) {
  const ivl_t *a = x, *b = y;
  return bound_cmp(a->b, a->bn, b->b, b->bn);
}

/* etcd's adt.Interval.Compare == 0: the two intervals share a key. */
static int overlaps(const ivl_t *a, const ivl_t *x) {
  if (bound_cmp(a->b, a->bn, x->e, x->en) >= 0) return 0;
  return bound_cmp(a->b, a->bn, x->b, x->bn) >= 0 || bound_cmp(a->e, a->en, x->b, x->bn) > 0;
}

static int is_from_key(const ProtobufCBinaryData *end) {
  return end->len == 1 && end->data[0] == 0;
}

static int grants(const Authpb__Permission *p, int write) {
  return p->permtype == AUTHPB__PERMISSION__TYPE__READWRITE ||
         p->permtype == (write ? AUTHPB__PERMISSION__TYPE__WRITE : AUTHPB__PERMISSION__TYPE__READ);
}

/* The bytes a permission's bounds take in lkv__auth_perms_t.bytes: a single key's end is key "\0". */
static size_t perm_bytes(const Authpb__Permission *p) {
  return p->key.len + (p->range_end.len ? p->range_end.len : p->key.len + 1);
}

/* Copies p's interval into *at (advancing it): a single key becomes [key, key "\0"), a range end of
 * "\0" an unbounded end. */
static ivl_t perm_ivl(const Authpb__Permission *p, uint8_t **at) {
  ivl_t v = {.b = *at, .bn = p->key.len};
  if (p->key.len) memcpy(*at, p->key.data, p->key.len);
  *at += p->key.len;
  v.e = *at;
  if (p->range_end.len) {
    memcpy(*at, p->range_end.data, p->range_end.len);
    v.en = is_from_key(&p->range_end) ? 0 : p->range_end.len;
    *at += p->range_end.len;
  } else {
    if (p->key.len) memcpy(*at, p->key.data, p->key.len);
    (*at)[p->key.len] = 0;
    v.en = p->key.len + 1;
    *at += p->key.len + 1;
  }
  return v;
}

int lkv__auth_perms_merge(Authpb__Role *const *roles, size_t n, lkv__auth_perms_t *p) {
  *p = (lkv__auth_perms_t){0};
  size_t bytes = 1; /* never malloc(0) */
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < roles[i]->n_keypermission; j++) {
      const Authpb__Permission *perm = roles[i]->keypermission[j];
      bytes += perm_bytes(perm);
      for (int w = 0; w < 2; w++) p->n[w] += grants(perm, w);
    }
  p->bytes = malloc(bytes);
  p->ivl[0] = malloc(sizeof(ivl_t) * (p->n[0] + 1));
  p->ivl[1] = malloc(sizeof(ivl_t) * (p->n[1] + 1));
  if (!p->bytes || !p->ivl[0] || !p->ivl[1]) {
    lkv__auth_perms_free(p);
    return LKV_ENOMEM;
  }
  uint8_t *at = p->bytes;
  size_t m[2] = {0, 0};
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < roles[i]->n_keypermission; j++) {
      const Authpb__Permission *perm = roles[i]->keypermission[j];
      ivl_t v = perm_ivl(perm, &at);
      for (int w = 0; w < 2; w++)
        if (grants(perm, w)) p->ivl[w][m[w]++] = v;
    }
  for (int w = 0; w < 2; w++) qsort(p->ivl[w], p->n[w], sizeof(ivl_t), begin_cmp);
  return 0;
}

void lkv__auth_perms_free(lkv__auth_perms_t *p) {
  free(p->ivl[0]);
  free(p->ivl[1]);
  free(p->bytes);
  *p = (lkv__auth_perms_t){0};
}

/* etcd's IntervalTree.Contains: the intervals that overlap want, in begin order, leave no gap and reach
 * from want's begin to its end. */
static int contains(const ivl_t *v, size_t n, const ivl_t *want) {
  const ivl_t *first = NULL;
  const uint8_t *max_e = NULL;
  size_t max_en = 0;
  for (size_t i = 0; i < n; i++) {
    if (!overlaps(want, &v[i])) continue;
    if (!first) {
      first = &v[i];
      max_e = v[i].e, max_en = v[i].en;
      continue;
    }
    if (bound_cmp(max_e, max_en, v[i].b, v[i].bn) < 0) return 0;
    if (bound_cmp(v[i].e, v[i].en, max_e, max_en) > 0) max_e = v[i].e, max_en = v[i].en;
  }
  return first && bound_cmp(max_e, max_en, want->e, want->en) >= 0 &&
         bound_cmp(first->b, first->bn, want->b, want->bn) <= 0;
}

int lkv__auth_perms_cover(const lkv__auth_perms_t *p, int write, const uint8_t *key, size_t key_len,
                          const uint8_t *end, size_t end_len) {
  const ivl_t *v = p->ivl[write ? 1 : 0];
  size_t n = p->n[write ? 1 : 0];
  if (end_len == 0) { /* a single key: some interval holds it (etcd's checkKeyPoint) */
    for (size_t i = 0; i < n; i++)
      if (bound_cmp(v[i].b, v[i].bn, key, key_len) <= 0 && bound_cmp(key, key_len, v[i].e, v[i].en) < 0)
        return 1;
    return 0;
  }
  ivl_t want = {.b = key, .bn = key_len, .e = end, .en = end_len == 1 && end[0] == 0 ? 0 : end_len};
  return contains(v, n, &want);
}

int lkv__auth_permitted(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, int write, const uint8_t *key,
                        size_t key_len, const uint8_t *end, size_t end_len) {
  int enabled;
  uint64_t rev;
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &rev);
  if (rc || !enabled) return rc;
  if (!who || who->revision == 0 || !who->user) return LKV_EUSEREMPTY; /* no user given: etcd's AuthInfo{} */
  if (who->revision < (rev ? rev : 1)) return LKV_EAUTHOLDREV;
  const lkv__auth_perms_t *p;
  rc = lkv__auth_perms_get(t, who->user, &p);
  if (rc) return rc == LKV_EUSERNOTFOUND ? LKV_EPERMDENIED : rc; /* as etcd: no such user, no access */
  return p->root || lkv__auth_perms_cover(p, write, key, key_len, end, end_len) ? 0 : LKV_EPERMDENIED;
}

int lkv_apply_auth_permitted(lkv_mvcc_t *store, const lkv_apply_auth_t *who, int write, const uint8_t *key,
                             size_t key_len, const uint8_t *end, size_t end_len) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv__auth_permitted(t, who, write, key, key_len, end, end_len);
  lkv_mvcc_txn_end(t);
  return rc;
}

int lkv__auth_admin(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who) {
  int enabled;
  uint64_t rev;
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &rev);
  if (rc || !enabled) return rc;
  if (!who || !who->user || !who->user[0]) return LKV_EUSEREMPTY;
  const lkv__auth_perms_t *p;
  rc = lkv__auth_perms_get(t, who->user, &p);
  return rc ? rc : p->root ? 0 : LKV_EPERMDENIED;
}

int lkv_apply_auth_admin(lkv_mvcc_t *store, const lkv_apply_auth_t *who) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv__auth_admin(t, who);
  lkv_mvcc_txn_end(t);
  return rc;
}
