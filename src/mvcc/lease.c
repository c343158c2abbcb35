/* Leases in the store: "lease" (id -> granted TTL) and "lease_key" (id ‖ encoded key -> attached keys). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

#define ID_LEN 8

/* Big-endian two's complement: every id has a fixed-size prefix in "lease_key". */
static void id_encode(int64_t id, uint8_t out[ID_LEN]) {
  uint64_t v = (uint64_t)id;
  for (int i = ID_LEN - 1; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

static int64_t be64_decode(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return (int64_t)v;
}

int lkv__lease_attach(lkv_mvcc_txn_t *t, int64_t id, const uint8_t *enc, size_t enc_len, const uint8_t *key,
                      size_t key_len) {
  if (id == 0) return 0;
  uint8_t kb[ID_LEN + LKV__KEYENC_MAX];
  id_encode(id, kb);
  memcpy(kb + ID_LEN, enc, enc_len);
  /* A long key's full bytes are kept in the value: its encoding holds only a prefix and a hash. */
  int is_long = lkv__key_enc_is_long(enc_len);
  MDB_val k = {.mv_size = ID_LEN + enc_len, .mv_data = kb};
  MDB_val v = {.mv_size = is_long ? key_len : 0, .mv_data = is_long ? (void *)key : NULL};
  lkv__touched(t, LKV__DB_LEASE_KEY, kb, k.mv_size);
  return lkv__mdb_err(mdb_put(t->txn, t->s->lease_key_dbi, &k, &v, 0));
}

int lkv__lease_detach(lkv_mvcc_txn_t *t, int64_t id, const uint8_t *enc, size_t enc_len) {
  if (id == 0) return 0;
  uint8_t kb[ID_LEN + LKV__KEYENC_MAX];
  id_encode(id, kb);
  memcpy(kb + ID_LEN, enc, enc_len);
  MDB_val k = {.mv_size = ID_LEN + enc_len, .mv_data = kb};
  lkv__touched(t, LKV__DB_LEASE_KEY, kb, k.mv_size);
  int rc = mdb_del(t->txn, t->s->lease_key_dbi, &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
}

int lkv_mvcc_lease_grant(lkv_mvcc_txn_t *t, int64_t id, int64_t ttl) {
  if (!t->write || !t->in_req || id == 0) return LKV_EINVAL;
  uint8_t kb[ID_LEN], vb[8];
  id_encode(id, kb);
  id_encode(ttl, vb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v = {.mv_size = sizeof(vb), .mv_data = vb};
  lkv__touched(t, LKV__DB_LEASE, kb, sizeof(kb));
  int rc = mdb_put(t->txn, t->s->lease_dbi, &k, &v, MDB_NOOVERWRITE);
  return rc == MDB_KEYEXIST ? LKV_ELEASEEXIST : lkv__mdb_err(rc);
}

int lkv_mvcc_lease_get(lkv_mvcc_txn_t *t, int64_t id, int64_t *ttl) {
  uint8_t kb[ID_LEN];
  id_encode(id, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v;
  int rc = mdb_get(t->txn, t->s->lease_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return LKV_ELEASENOTFOUND;
  if (rc) return lkv__mdb_err(rc);
  if (v.mv_size != 8) return LKV_ECORRUPT;
  if (ttl) *ttl = be64_decode(v.mv_data);
  return 0;
}

int lkv_mvcc_lease_list(lkv_mvcc_txn_t *t, lkv_mvcc_lease_cb cb, void *arg) {
  MDB_cursor *c;
  MDB_val k, v;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->lease_dbi, &c));
  if (rc) return rc;
  int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size != ID_LEN || v.mv_size != 8) {
      rc = LKV_ECORRUPT;
      break;
    }
    rc = cb(arg, be64_decode(k.mv_data), be64_decode(v.mv_data));
    if (rc) break;
  }
  if (!rc && mrc != MDB_NOTFOUND) rc = lkv__mdb_err(mrc);
  mdb_cursor_close(c);
  return rc;
}

/* The attached keys of one lease, copied out of the map (the deletes of a revoke modify it). */
typedef struct keyvec_s {
  uint8_t **keys;
  size_t *lens;
  size_t n, cap;
} keyvec_t;

static void keyvec_free(keyvec_t *kv) {
  for (size_t i = 0; i < kv->n; i++) free(kv->keys[i]);
  free(kv->keys);
  free(kv->lens);
}

static int keyvec_add(keyvec_t *kv, const uint8_t *key, size_t len) {
  if (kv->n == kv->cap) {
    size_t cap = kv->cap ? 2 * kv->cap : 16;
    uint8_t **keys = realloc(kv->keys, cap * sizeof(*keys));
    if (!keys) return LKV_ENOMEM;
    kv->keys = keys;
    size_t *lens = realloc(kv->lens, cap * sizeof(*lens));
    if (!lens) return LKV_ENOMEM;
    kv->lens = lens;
    kv->cap = cap;
  }
  uint8_t *copy = malloc(len);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, key, len);
  kv->keys[kv->n] = copy;
  kv->lens[kv->n++] = len;
  return 0;
}

/* Sorting a permutation keeps keys and lens together. */
typedef struct keyref_s {
  uint8_t *key;
  size_t len;
} keyref_t;

static int keyref_cmp(const void *a, const void *b) {
  const keyref_t *x = a, *y = b;
  return lkv__bytes_cmp(x->key, x->len, y->key, y->len);
}

/* Opens a cursor on the attachments, with the prefix that lease id's entries share. */
static int attachments_cursor(lkv_mvcc_txn_t *t, int64_t id, uint8_t prefix[ID_LEN], MDB_cursor **c) {
  id_encode(id, prefix);
  return lkv__mdb_err(mdb_cursor_open(t->txn, t->s->lease_key_dbi, c));
}

/* 1 when attachment key k belongs to the lease whose prefix this is. */
static int attached_to(const MDB_val *k, const uint8_t prefix[ID_LEN]) {
  return k->mv_size > ID_LEN && memcmp(k->mv_data, prefix, ID_LEN) == 0;
}

/* Collects lease id's keys in true byte order (encoded order differs inside long-key groups). */
static int collect_keys(lkv_mvcc_txn_t *t, int64_t id, keyvec_t *out) {
  uint8_t prefix[ID_LEN];
  MDB_cursor *c;
  int rc = attachments_cursor(t, id, prefix, &c);
  if (rc) return rc;
  MDB_val k = {.mv_size = sizeof(prefix), .mv_data = prefix}, v;
  int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (!attached_to(&k, prefix)) break;
    const uint8_t *enc = (const uint8_t *)k.mv_data + ID_LEN;
    size_t enc_len = k.mv_size - ID_LEN;
    rc =
        lkv__key_enc_is_long(enc_len) ? keyvec_add(out, v.mv_data, v.mv_size) : keyvec_add(out, enc, enc_len);
    if (rc) break;
  }
  if (!rc && mrc != 0 && mrc != MDB_NOTFOUND) rc = lkv__mdb_err(mrc);
  mdb_cursor_close(c);
  if (rc || out->n < 2) return rc;
  keyref_t *refs = malloc(out->n * sizeof(*refs));
  if (!refs) return LKV_ENOMEM;
  for (size_t i = 0; i < out->n; i++) refs[i] = (keyref_t){out->keys[i], out->lens[i]};
  qsort(refs, out->n, sizeof(*refs), keyref_cmp);
  for (size_t i = 0; i < out->n; i++) out->keys[i] = refs[i].key, out->lens[i] = refs[i].len;
  free(refs);
  return 0;
}

int lkv_mvcc_lease_keys(lkv_mvcc_txn_t *t, int64_t id, lkv_mvcc_key_cb cb, void *arg) {
  keyvec_t kv = {0};
  int rc = collect_keys(t, id, &kv);
  for (size_t i = 0; !rc && i < kv.n; i++) rc = cb(arg, kv.keys[i], kv.lens[i]);
  keyvec_free(&kv);
  return rc;
}

/* Drops every attachment left under id (normally none: each delete detached its key). */
static int drop_attachments(lkv_mvcc_txn_t *t, int64_t id) {
  uint8_t prefix[ID_LEN];
  MDB_cursor *c;
  int rc = attachments_cursor(t, id, prefix, &c);
  if (rc) return rc;
  MDB_val k = {.mv_size = sizeof(prefix), .mv_data = prefix}, v;
  int mrc;
  while ((mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) == 0 && attached_to(&k, prefix)) {
    lkv__touched(t, LKV__DB_LEASE_KEY, k.mv_data, k.mv_size);
    mrc = mdb_cursor_del(c, 0);
    if (mrc) break;
    k = (MDB_val){.mv_size = sizeof(prefix), .mv_data = prefix};
  }
  if (mrc != 0 && mrc != MDB_NOTFOUND) rc = lkv__mdb_err(mrc);
  mdb_cursor_close(c);
  return rc;
}

int lkv_mvcc_lease_revoke(lkv_mvcc_txn_t *t, int64_t id, int64_t *deleted) {
  if (deleted) *deleted = 0;
  if (!t->write || !t->in_req) return LKV_EINVAL;
  int rc = lkv_mvcc_lease_get(t, id, NULL);
  if (rc) return rc;
  keyvec_t kv = {0};
  rc = collect_keys(t, id, &kv);
  /* One tombstone per key in key order, all in this request's revision (etcd's sorted revoke). */
  for (size_t i = 0; !rc && i < kv.n; i++) {
    int64_t n = 0;
    rc = lkv_mvcc_delete_range(t, kv.keys[i], kv.lens[i], NULL, 0, &n);
    if (!rc && deleted) *deleted += n;
  }
  keyvec_free(&kv);
  if (!rc) rc = drop_attachments(t, id);
  if (rc) return rc;
  uint8_t kb[ID_LEN];
  id_encode(id, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb};
  lkv__touched(t, LKV__DB_LEASE, kb, sizeof(kb));
  return lkv__mdb_err(mdb_del(t->txn, t->s->lease_dbi, &k, NULL));
}
