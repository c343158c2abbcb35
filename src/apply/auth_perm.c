/* etcd's permission checks on key ranges: a user's roles' key permissions as intervals, and whether they
 * cover a request's key or range (etcd's auth/range_perm_cache.go and authStore.isOpPermitted). */
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

/* A half-open interval of keys; an empty bound stands for +infinity, as in etcd's BytesAffineComparable
 * (so "\0" as a range end, etcd's "every key from here on", becomes an empty end). */
typedef struct ivl_s {
  const uint8_t *b, *e;
  size_t bn, en;
} ivl_t;

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

/* A permission's interval: a single key (no range end) is [key, key "\0"), which needs a buffer of its
 * own; a range end of "\0" is unbounded. Returns 0 or LKV_ENOMEM. */
static int perm_ivl(const Authpb__Permission *p, ivl_t *out, uint8_t **owned) {
  *out = (ivl_t){.b = p->key.data, .bn = p->key.len, .e = p->range_end.data, .en = p->range_end.len};
  if (is_from_key(&p->range_end)) out->en = 0;
  if (p->range_end.len != 0) return 0;
  *owned = malloc(p->key.len + 1);
  if (!*owned) return LKV_ENOMEM;
  if (p->key.len) memcpy(*owned, p->key.data, p->key.len);
  (*owned)[p->key.len] = 0;
  out->e = *owned;
  out->en = p->key.len + 1;
  return 0;
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

int lkv__auth_perm_covers(Authpb__Permission *const *perms, size_t n, int write, const uint8_t *key,
                          size_t key_len, const uint8_t *end, size_t end_len, int *covered) {
  Authpb__Permission__Type want_type =
      write ? AUTHPB__PERMISSION__TYPE__WRITE : AUTHPB__PERMISSION__TYPE__READ;
  ivl_t *v = calloc(n ? n : 1, sizeof(*v));
  uint8_t **owned = calloc(n ? n : 1, sizeof(*owned));
  int rc = v && owned ? 0 : LKV_ENOMEM;
  size_t m = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (perms[i]->permtype != want_type && perms[i]->permtype != AUTHPB__PERMISSION__TYPE__READWRITE)
      continue;
    rc = perm_ivl(perms[i], &v[m], &owned[i]);
    m++;
  }
  uint8_t *point = NULL;
  if (!rc && end_len == 0) { /* a single key: some interval holds it (etcd's checkKeyPoint) */
    point = malloc(key_len + 1);
    if (!point) rc = LKV_ENOMEM;
  }
  if (!rc) {
    ivl_t want = {.b = key, .bn = key_len, .e = end, .en = end_len};
    if (point) {
      if (key_len) memcpy(point, key, key_len);
      point[key_len] = 0;
      want.e = point, want.en = key_len + 1;
      *covered = 0;
      for (size_t i = 0; i < m && !*covered; i++) *covered = overlaps(&want, &v[i]);
    } else {
      if (end_len == 1 && end[0] == 0) want.en = 0;
      qsort(v, m, sizeof(*v), begin_cmp);
      *covered = contains(v, m, &want);
    }
  }
  free(point);
  for (size_t i = 0; owned && i < n; i++) free(owned[i]);
  free(owned);
  free(v);
  return rc;
}

/* Whether user may act on [key, end) with the given access; root's role may do anything. Returns 0,
 * LKV_EPERMDENIED (also for a user that does not exist, as etcd), or a storage code. */
static int user_permitted(lkv_mvcc_txn_t *t, const char *user, int write, const uint8_t *key, size_t key_len,
                          const uint8_t *end, size_t end_len) {
  Authpb__User *u;
  int rc = lkv__auth_user_load(t, user, &u);
  if (rc) return rc == LKV_EUSERNOTFOUND ? LKV_EPERMDENIED : rc;
  int covered = lkv__auth_user_has_role(u, LKV__AUTH_ROOT);
  for (size_t i = 0; !rc && !covered && i < u->n_roles; i++) {
    Authpb__Role *r;
    rc = lkv__auth_role_load(t, u->roles[i], &r);
    if (rc == LKV_EROLENOTFOUND) { /* granted before it existed (root), or never: grants nothing */
      rc = 0;
      continue;
    }
    if (rc) break;
    rc = lkv__auth_perm_covers(r->keypermission, r->n_keypermission, write, key, key_len, end, end_len,
                               &covered);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  protobuf_c_message_free_unpacked(&u->base, NULL);
  return rc ? rc : covered ? 0 : LKV_EPERMDENIED;
}

int lkv__auth_permitted(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, int write, const uint8_t *key,
                        size_t key_len, const uint8_t *end, size_t end_len) {
  int enabled;
  uint64_t rev;
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &rev);
  if (rc || !enabled) return rc;
  if (rev == 0) rev = 1;
  if (!who || who->revision == 0) return LKV_EUSEREMPTY; /* no user given: etcd's AuthInfo{} */
  if (who->revision < rev) return LKV_EAUTHOLDREV;
  return user_permitted(t, who->user, write, key, key_len, end, end_len);
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
  Authpb__User *u = NULL;
  rc = !who || !who->user || !who->user[0] ? LKV_EUSEREMPTY : lkv__auth_user_load(t, who->user, &u);
  if (!rc && !lkv__auth_user_has_role(u, LKV__AUTH_ROOT)) rc = LKV_EPERMDENIED;
  if (u) protobuf_c_message_free_unpacked(&u->base, NULL);
  return rc;
}

int lkv_apply_auth_admin(lkv_mvcc_t *store, const lkv_apply_auth_t *who) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv__auth_admin(t, who);
  lkv_mvcc_txn_end(t);
  return rc;
}
