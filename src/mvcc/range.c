/* Range reads over the key index: existence at a revision, counting, and byte order for long keys. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

#define T LKV_MVCC_KEY_INLINE

typedef struct bound_s {
  const uint8_t *key; /* user key */
  size_t len;
  uint8_t enc[LKV__KEYENC_MAX];
  size_t enc_len;
  int is_long;
} bound_t;

/* A live long key of a group, with its record (which holds the full key). */
typedef struct member_s {
  lkv__dup_t dup;
  lkv__rec_t rec;
} member_t;

typedef struct scan_s {
  lkv_mvcc_txn_t *t;
  MDB_cursor *cur;
  int64_t rev;
  bound_t start, end;
  int has_end;
  lkv_mvcc_kv_cb cb;
  void *arg;
  size_t limit;
  unsigned flags;
  int want_count;
  size_t count, delivered;
  member_t *grp;
  size_t grp_cap;
} scan_t;

int lkv__latest_le(MDB_cursor *c, const uint8_t *enc, size_t enc_len, int64_t rev, lkv__dup_t *out,
                   int *found) {
  MDB_val k = {.mv_size = enc_len, .mv_data = (void *)enc}, d;
  uint8_t probe[LKV__REVKEY_LEN];
  *found = 0;
  int rc = mdb_cursor_get(c, &k, &d, MDB_LAST_DUP);
  if (rc) return lkv__mdb_err(rc);
  rc = lkv__dup_decode(d.mv_data, d.mv_size, out);
  if (rc || out->main <= rev) {
    *found = !rc;
    return rc;
  }
  /* Historical read: first entry >= (rev+1, 0), then one back. */
  lkv__revkey_encode(rev + 1, 0, probe);
  k = (MDB_val){.mv_size = enc_len, .mv_data = (void *)enc};
  d = (MDB_val){.mv_size = sizeof(probe), .mv_data = probe};
  rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
  if (rc) return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
  rc = mdb_cursor_get(c, &k, &d, MDB_PREV_DUP);
  if (rc == MDB_NOTFOUND) return 0; /* the key was created after rev */
  if (rc) return lkv__mdb_err(rc);
  rc = lkv__dup_decode(d.mv_data, d.mv_size, out);
  *found = !rc;
  return rc;
}

int lkv__rec_get(lkv_mvcc_txn_t *t, int64_t main, int64_t sub, lkv__rec_t *out) {
  uint8_t kb[LKV__REVKEY_LEN];
  lkv__revkey_encode(main, sub, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v;
  int rc = mdb_get(t->txn, t->s->rev_dbi, &k, &v);
  if (rc) return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
  return lkv__rec_decode(v.mv_data, v.mv_size, out);
}

static void bound_init(bound_t *b, const uint8_t *key, size_t len) {
  b->key = key;
  b->len = len;
  b->enc_len = lkv__key_encode(key, len, b->enc);
  b->is_long = lkv__key_enc_is_long(b->enc_len);
}

/* Whether the scan has delivered all it may and nobody wants the count. */
static int scan_done(const scan_t *sc) {
  if (sc->want_count) return 0;
  return !sc->cb || (sc->flags & LKV_MVCC_RANGE_COUNT_ONLY) || (sc->limit && sc->delivered >= sc->limit);
}

static int may_deliver(const scan_t *sc) {
  return sc->cb && !(sc->flags & LKV_MVCC_RANGE_COUNT_ONLY) && (!sc->limit || sc->delivered < sc->limit);
}

/* Counts one live key and hands it to the callback while the limit allows. rec may be NULL (read here
 * when the value is wanted). */
static int emit(scan_t *sc, const uint8_t *key, size_t key_len, const lkv__dup_t *d, const lkv__rec_t *rec) {
  sc->count++;
  if (!may_deliver(sc)) return 0;
  lkv_mvcc_kv_t kv = {.key = key,
                      .key_len = key_len,
                      .create_revision = d->create,
                      .mod_revision = d->main,
                      .version = d->version,
                      .lease = d->lease};
  if (!(sc->flags & LKV_MVCC_RANGE_NO_VALUES)) {
    lkv__rec_t r;
    if (!rec) {
      int rc = lkv__rec_get(sc->t, d->main, d->sub, &r);
      if (rc) return rc;
      rec = &r;
    }
    kv.value = rec->value;
    kv.value_len = rec->value_len;
  }
  sc->delivered++;
  return sc->cb(sc->arg, &kv);
}

/* Where an encoded key lies relative to the end bound: -1 before it, 1 at or past it, 0 inside the
 * long-key group that the end bound belongs to (full keys decide). */
static int end_position(const scan_t *sc, const uint8_t *e, size_t elen) {
  if (!sc->has_end) return -1;
  if (!sc->end.is_long) return lkv__bytes_cmp(e, elen, sc->end.enc, sc->end.enc_len) >= 0 ? 1 : -1;
  if (!lkv__key_enc_is_long(elen)) return lkv__bytes_cmp(e, elen, sc->end.key, T) <= 0 ? -1 : 1;
  int c = memcmp(e, sc->end.key, T);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

static int member_cmp(const void *a, const void *b) {
  const lkv__rec_t *x = &((const member_t *)a)->rec, *y = &((const member_t *)b)->rec;
  return lkv__bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Scans the group of long keys sharing the prefix of the cursor's current key, emitting its live keys
 * in full-key order. Leaves the cursor after the group; *mrc gets the cursor status (0 or
 * MDB_NOTFOUND at the end, or an LMDB error). */
static int scan_group(scan_t *sc, MDB_val *k, MDB_val *d, int *mrc) {
  uint8_t prefix[T], enc[LKV__KEYENC_MAX];
  memcpy(prefix, k->mv_data, T);
  int filt_start = sc->start.is_long && memcmp(prefix, sc->start.key, T) == 0;
  int filt_end = sc->has_end && sc->end.is_long && memcmp(prefix, sc->end.key, T) == 0;
  int need_keys = filt_start || filt_end || may_deliver(sc);
  size_t n = 0;
  int rc = 0, m = 0;
  while (m == 0 && k->mv_size == LKV__KEYENC_MAX && memcmp(k->mv_data, prefix, T) == 0) {
    lkv__dup_t dup;
    int found;
    memcpy(enc, k->mv_data, LKV__KEYENC_MAX);
    rc = lkv__latest_le(sc->cur, enc, sizeof(enc), sc->rev, &dup, &found);
    if (rc) return rc;
    if (found && !(dup.flags & LKV__REC_TOMBSTONE)) {
      if (!need_keys) {
        sc->count++;
      } else {
        if (n == sc->grp_cap) {
          size_t cap = sc->grp_cap ? 2 * sc->grp_cap : 16;
          member_t *g = realloc(sc->grp, cap * sizeof(*g));
          if (!g) return LKV_ENOMEM;
          sc->grp = g;
          sc->grp_cap = cap;
        }
        sc->grp[n].dup = dup;
        rc = lkv__rec_get(sc->t, dup.main, dup.sub, &sc->grp[n].rec);
        if (rc) return rc;
        n++;
      }
    }
    m = mdb_cursor_get(sc->cur, k, d, MDB_NEXT_NODUP);
  }
  *mrc = m;
  if (n > 1) qsort(sc->grp, n, sizeof(*sc->grp), member_cmp);
  for (size_t i = 0; i < n; i++) {
    const lkv__rec_t *r = &sc->grp[i].rec;
    if (filt_start && lkv__bytes_cmp(r->key, r->key_len, sc->start.key, sc->start.len) < 0) continue;
    if (filt_end && lkv__bytes_cmp(r->key, r->key_len, sc->end.key, sc->end.len) >= 0) continue;
    rc = emit(sc, r->key, r->key_len, &sc->grp[i].dup, r);
    if (rc) return rc;
  }
  return 0;
}

static int scan_range(scan_t *sc) {
  MDB_val k, d;
  int m, rc;
  if (sc->start.len == 0) {
    m = mdb_cursor_get(sc->cur, &k, &d, MDB_FIRST);
  } else {
    /* A long start key's group may hold keys on both sides of it: start at the group's beginning. */
    k.mv_data = sc->start.is_long ? (void *)sc->start.key : sc->start.enc;
    k.mv_size = sc->start.is_long ? T : sc->start.enc_len;
    m = mdb_cursor_get(sc->cur, &k, &d, MDB_SET_RANGE);
  }
  while (m == 0 && !scan_done(sc)) {
    const uint8_t *e = k.mv_data;
    size_t elen = k.mv_size;
    if (end_position(sc, e, elen) > 0) break;
    if (lkv__key_enc_is_long(elen)) {
      rc = scan_group(sc, &k, &d, &m);
      if (rc) return rc;
      continue;
    }
    /* The one short key that can precede a long start key here is its own prefix. */
    if (!(sc->start.is_long && elen == T && memcmp(e, sc->start.key, T) == 0)) {
      lkv__dup_t dup;
      int found;
      rc = lkv__latest_le(sc->cur, e, elen, sc->rev, &dup, &found);
      if (rc) return rc;
      if (found && !(dup.flags & LKV__REC_TOMBSTONE)) {
        rc = emit(sc, e, elen, &dup, NULL);
        if (rc) return rc;
      }
    }
    m = mdb_cursor_get(sc->cur, &k, &d, MDB_NEXT_NODUP);
  }
  return m == MDB_NOTFOUND ? 0 : lkv__mdb_err(m);
}

static int scan_point(scan_t *sc) {
  MDB_val k = {.mv_size = sc->start.enc_len, .mv_data = sc->start.enc}, d;
  lkv__dup_t dup;
  lkv__rec_t rec;
  int found;
  if (sc->start.len == 0) return 0;
  int rc = mdb_cursor_get(sc->cur, &k, &d, MDB_SET_KEY);
  if (rc) return rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
  rc = lkv__latest_le(sc->cur, sc->start.enc, sc->start.enc_len, sc->rev, &dup, &found);
  if (rc || !found || (dup.flags & LKV__REC_TOMBSTONE)) return rc;
  if (!sc->start.is_long) return emit(sc, k.mv_data, k.mv_size, &dup, NULL);
  /* Rule out a hash collision: the stored full key must be the one asked for. */
  rc = lkv__rec_get(sc->t, dup.main, dup.sub, &rec);
  if (rc) return rc;
  if (lkv__bytes_cmp(rec.key, rec.key_len, sc->start.key, sc->start.len) != 0) return 0;
  return emit(sc, rec.key, rec.key_len, &dup, &rec);
}

int lkv_mvcc_range(lkv_mvcc_txn_t *t, const lkv_mvcc_range_t *q, lkv_mvcc_kv_cb cb, void *arg,
                   size_t *count) {
  int64_t cur = lkv_mvcc_txn_rev(t);
  int64_t rev = q->rev;
  if (rev > cur) return LKV_EFUTUREREV;
  if (rev <= 0) rev = cur;
  if (rev < t->compact_rev) return LKV_ECOMPACTED;
  if (count) *count = 0;

  int from_key = q->end_len == 1 && q->end[0] == 0;
  if (q->end_len > 0 && !from_key && lkv__bytes_cmp(q->key, q->key_len, q->end, q->end_len) >= 0) return 0;

  scan_t sc = {.t = t,
               .rev = rev,
               .cb = cb,
               .arg = arg,
               .limit = q->limit,
               .flags = q->flags,
               .want_count = count != NULL};
  bound_init(&sc.start, q->key, q->key_len);
  if (q->end_len > 0 && !from_key) {
    sc.has_end = 1;
    bound_init(&sc.end, q->end, q->end_len);
  }
  int rc = lkv__key_cursor(t, &sc.cur);
  if (rc) return rc;
  rc = q->end_len == 0 ? scan_point(&sc) : scan_range(&sc);
  lkv__key_cursor_done(t, sc.cur);
  if (!rc && count) *count = sc.count;
  free(sc.grp);
  return rc;
}
