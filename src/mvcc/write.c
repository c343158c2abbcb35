/* Puts and range deletes: new revisions in the history and the key index. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

int lkv__rev_append(lkv_mvcc_txn_t *t, const uint8_t *enc, size_t enc_len, const lkv__rec_t *r,
                    const lkv__dup_t *d) {
  uint8_t kb[LKV__REVKEY_LEN], db[LKV__DUP_LEN];
  lkv__revkey_encode(d->main, d->sub, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v = {.mv_size = lkv__rec_size(r), .mv_data = NULL};
  /* Revisions only grow, so the record goes at the end; RESERVE lets it be encoded in place. */
  int rc = mdb_put(t->txn, t->s->rev_dbi, &k, &v, MDB_APPEND | MDB_RESERVE);
  if (rc) return rc == MDB_KEYEXIST ? LKV_ECORRUPT : lkv__mdb_err(rc);
  lkv__rec_encode(r, v.mv_data);
  lkv__touched(t, LKV__DB_REV, kb, sizeof(kb));
  lkv__touched(t, LKV__DB_KEY, enc, enc_len);
  lkv__dup_encode(d, db);
  k = (MDB_val){.mv_size = enc_len, .mv_data = (void *)enc};
  v = (MDB_val){.mv_size = sizeof(db), .mv_data = db};
  rc = mdb_put(t->txn, t->s->key_dbi, &k, &v, 0);
  if (rc) return lkv__mdb_err(rc);
  t->changes++;
  return 0;
}

/* The key's latest index entry, if it has any. For a long key, also checks that the stored key is the
 * same full key (a hash collision is refused with LKV_EINVAL). */
static int latest_entry(lkv_mvcc_txn_t *t, const uint8_t *key, size_t key_len, const uint8_t *enc,
                        size_t enc_len, lkv__dup_t *out, int *found) {
  MDB_cursor *c;
  MDB_val k = {.mv_size = enc_len, .mv_data = (void *)enc}, d;
  *found = 0;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->key_dbi, &c));
  if (rc) return rc;
  rc = mdb_cursor_get(c, &k, &d, MDB_SET);
  if (rc == 0) rc = mdb_cursor_get(c, &k, &d, MDB_LAST_DUP);
  if (rc == 0) {
    rc = lkv__dup_decode(d.mv_data, d.mv_size, out);
    *found = !rc;
  } else {
    rc = rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
  }
  mdb_cursor_close(c);
  if (rc || !*found || !lkv__key_enc_is_long(enc_len)) return rc;
  lkv__rec_t rec;
  rc = lkv__rec_get(t, out->main, out->sub, &rec);
  if (rc) return rc;
  return lkv__bytes_cmp(rec.key, rec.key_len, key, key_len) == 0 ? 0 : LKV_EINVAL;
}

int lkv_mvcc_put(lkv_mvcc_txn_t *t, const uint8_t *key, size_t key_len, const uint8_t *value,
                 size_t value_len, int64_t lease) {
  uint8_t enc[LKV__KEYENC_MAX];
  lkv__dup_t prev, d;
  int found;
  if (!t->in_req || key_len == 0) return LKV_EINVAL;
  size_t enc_len = lkv__key_encode(key, key_len, enc);
  int rc = latest_entry(t, key, key_len, enc, enc_len, &prev, &found);
  if (rc) return rc;
  int live = found && !(prev.flags & LKV__REC_TOMBSTONE);
  int64_t old_lease = live ? prev.lease : 0;
  if (old_lease != lease) {
    rc = lkv__lease_detach(t, old_lease, enc, enc_len);
    if (!rc) rc = lkv__lease_attach(t, lease, enc, enc_len, key, key_len);
    if (rc) return rc;
  }
  d = (lkv__dup_t){.main = t->rev + 1,
                   .sub = t->changes,
                   .flags = 0,
                   .create = live ? prev.create : t->rev + 1,
                   .version = live ? prev.version + 1 : 1,
                   .lease = lease};
  lkv__rec_t r = {.flags = 0,
                  .create = d.create,
                  .version = d.version,
                  .lease = lease,
                  .key = key,
                  .key_len = key_len,
                  .value = value,
                  .value_len = value_len};
  return lkv__rev_append(t, enc, enc_len, &r, &d);
}

/* Keys collected by a range, copied out of the map before the deletes modify it. */
typedef struct keylist_s {
  uint8_t *buf;
  size_t len, cap;
  size_t *ends;    /* ends[i] = end offset of key i in buf */
  int64_t *leases; /* leases[i] = key i's lease, detached when it is deleted */
  size_t n, ncap;
} keylist_t;

static int collect_key(void *arg, const lkv_mvcc_kv_t *kv) {
  keylist_t *l = arg;
  if (l->len + kv->key_len > l->cap) {
    size_t cap = l->cap ? l->cap : 1024;
    while (cap < l->len + kv->key_len) cap *= 2;
    uint8_t *b = realloc(l->buf, cap);
    if (!b) return LKV_ENOMEM;
    l->buf = b;
    l->cap = cap;
  }
  if (l->n == l->ncap) {
    size_t ncap = l->ncap ? 2 * l->ncap : 16;
    size_t *e = realloc(l->ends, ncap * sizeof(*e));
    if (!e) return LKV_ENOMEM;
    l->ends = e;
    int64_t *ls = realloc(l->leases, ncap * sizeof(*ls));
    if (!ls) return LKV_ENOMEM;
    l->leases = ls;
    l->ncap = ncap;
  }
  memcpy(l->buf + l->len, kv->key, kv->key_len);
  l->len += kv->key_len;
  l->leases[l->n] = kv->lease;
  l->ends[l->n++] = l->len;
  return 0;
}

int lkv_mvcc_delete_range(lkv_mvcc_txn_t *t, const uint8_t *key, size_t key_len, const uint8_t *end,
                          size_t end_len, int64_t *deleted) {
  keylist_t l = {0};
  if (deleted) *deleted = 0;
  if (!t->in_req || key_len == 0) return LKV_EINVAL;
  lkv_mvcc_range_t q = {
      .key = key, .key_len = key_len, .end = end, .end_len = end_len, .flags = LKV_MVCC_RANGE_NO_VALUES};
  int rc = lkv_mvcc_range(t, &q, collect_key, &l, NULL);
  for (size_t i = 0; !rc && i < l.n; i++) {
    size_t off = i ? l.ends[i - 1] : 0;
    uint8_t enc[LKV__KEYENC_MAX];
    size_t enc_len = lkv__key_encode(l.buf + off, l.ends[i] - off, enc);
    lkv__rec_t r = {.flags = LKV__REC_TOMBSTONE, .key = l.buf + off, .key_len = l.ends[i] - off};
    lkv__dup_t d = {.main = t->rev + 1, .sub = t->changes, .flags = LKV__REC_TOMBSTONE};
    rc = lkv__rev_append(t, enc, enc_len, &r, &d);
    if (!rc) rc = lkv__lease_detach(t, l.leases[i], enc, enc_len);
  }
  if (!rc && deleted) *deleted = (int64_t)l.n;
  free(l.buf);
  free(l.ends);
  free(l.leases);
  return rc;
}
