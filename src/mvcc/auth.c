/* etcd's auth state in the store: users and roles as opaque records by name, the enabled flag and the auth
 * revision, all in the meta database under "auth/" keys so that they commit with the requests that change
 * them and travel with the store's checkpoints. */
#include <string.h>

#include "common/error.h"
#include "common/le.h"
#include "mvcc/internal.h"

#define AUTH_STATE_KEY "auth/state" /* enabled(1) revision(8 LE) */
#define AUTH_EPOCH_KEY "auth/epoch" /* writes of auth state so far (8 LE), see lkv_mvcc_auth_epoch */
#define AUTH_NAME_MAX 4096          /* longer names are refused before they reach LMDB's key limit */

/* "auth/u/" or "auth/r/": the prefix of a kind's records; users and roles sort apart. */
static const char *kind_prefix(lkv_mvcc_auth_kind_t kind) {
  return kind == LKV_MVCC_AUTH_USER ? "auth/u/" : "auth/r/";
}

#define PREFIX_LEN 7

static int make_key(lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len, uint8_t *buf, MDB_val *k) {
  if (len > AUTH_NAME_MAX) return LKV_EINVAL;
  memcpy(buf, kind_prefix(kind), PREFIX_LEN);
  if (len) memcpy(buf + PREFIX_LEN, name, len);
  k->mv_size = PREFIX_LEN + len;
  k->mv_data = buf;
  return 0;
}

static int writable(const lkv_mvcc_txn_t *t) {
  return t->write && t->in_req;
}

int lkv_mvcc_auth_epoch(lkv_mvcc_txn_t *t, uint64_t *epoch) {
  MDB_val k = {.mv_size = sizeof(AUTH_EPOCH_KEY) - 1, .mv_data = AUTH_EPOCH_KEY}, v;
  int rc = mdb_get(t->txn, t->s->meta_dbi, &k, &v);
  *epoch = 0;
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return lkv__mdb_err(rc);
  if (v.mv_size != 8) return LKV_ECORRUPT;
  *epoch = lkv_le64_get(v.mv_data);
  return 0;
}

/* After a write of auth state (rc 0): the epoch moves in the same (request) transaction, so that it rolls
 * back with it, and t is marked as holding auth state that may never commit (a rollback keeps the mark:
 * it only costs the apply layer's permission cache a few misses). Passes rc through, or the epoch's. */
static int changed(lkv_mvcc_txn_t *t, int rc) {
  uint64_t epoch;
  if (rc || (rc = lkv_mvcc_auth_epoch(t, &epoch))) return rc;
  uint8_t buf[8];
  lkv_le64_put(buf, epoch + 1);
  MDB_val k = {.mv_size = sizeof(AUTH_EPOCH_KEY) - 1, .mv_data = AUTH_EPOCH_KEY};
  MDB_val v = {.mv_size = sizeof(buf), .mv_data = buf};
  t->auth_changed = 1;
  return lkv__mdb_err(mdb_put(t->txn, t->s->meta_dbi, &k, &v, 0));
}

int lkv_mvcc_auth_changed(const lkv_mvcc_txn_t *t) {
  return t->auth_changed;
}

uint64_t lkv_mvcc_txn_serial(const lkv_mvcc_txn_t *t) {
  return t->s->serial;
}

int lkv_mvcc_auth_get(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len,
                      const uint8_t **val, size_t *val_len) {
  uint8_t buf[PREFIX_LEN + AUTH_NAME_MAX];
  MDB_val k, v;
  if (make_key(kind, name, len, buf, &k)) return LKV_ENOENT;
  int rc = mdb_get(t->txn, t->s->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return LKV_ENOENT;
  if (rc) return lkv__mdb_err(rc);
  *val = v.mv_data;
  *val_len = v.mv_size;
  return 0;
}

int lkv_mvcc_auth_put(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len,
                      const uint8_t *val, size_t val_len) {
  if (!writable(t)) return LKV_EINVAL;
  uint8_t buf[PREFIX_LEN + AUTH_NAME_MAX];
  MDB_val k, v = {.mv_size = val_len, .mv_data = (void *)val};
  int rc = make_key(kind, name, len, buf, &k);
  return rc ? rc : changed(t, lkv__mdb_err(mdb_put(t->txn, t->s->meta_dbi, &k, &v, 0)));
}

int lkv_mvcc_auth_del(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const uint8_t *name, size_t len) {
  if (!writable(t)) return LKV_EINVAL;
  uint8_t buf[PREFIX_LEN + AUTH_NAME_MAX];
  MDB_val k;
  if (make_key(kind, name, len, buf, &k)) return LKV_ENOENT;
  int rc = mdb_del(t->txn, t->s->meta_dbi, &k, NULL);
  return rc == MDB_NOTFOUND ? LKV_ENOENT : changed(t, lkv__mdb_err(rc));
}

int lkv_mvcc_auth_each(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, lkv_mvcc_auth_cb cb, void *arg) {
  MDB_cursor *c;
  const char *prefix = kind_prefix(kind);
  MDB_val k = {.mv_size = PREFIX_LEN, .mv_data = (void *)prefix}, v;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->meta_dbi, &c));
  if (rc) return rc;
  /* LMDB orders keys bytewise, so the records come in name order, as etcd's bucket lists them. */
  int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size < PREFIX_LEN || memcmp(k.mv_data, prefix, PREFIX_LEN) != 0) break;
    rc = cb(arg, (const uint8_t *)k.mv_data + PREFIX_LEN, k.mv_size - PREFIX_LEN, v.mv_data, v.mv_size);
    if (rc) break;
  }
  if (!rc && mrc != 0 && mrc != MDB_NOTFOUND) rc = lkv__mdb_err(mrc);
  mdb_cursor_close(c);
  return rc;
}

int lkv_mvcc_auth_state_get(lkv_mvcc_txn_t *t, int *enabled, uint64_t *revision) {
  MDB_val k = {.mv_size = sizeof(AUTH_STATE_KEY) - 1, .mv_data = AUTH_STATE_KEY}, v;
  int rc = mdb_get(t->txn, t->s->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) {
    *enabled = 0;
    *revision = 0;
    return 0;
  }
  if (rc) return lkv__mdb_err(rc);
  if (v.mv_size != 9) return LKV_ECORRUPT;
  const uint8_t *p = v.mv_data;
  *enabled = p[0] != 0;
  *revision = lkv_le64_get(p + 1);
  return 0;
}

int lkv_mvcc_auth_state_set(lkv_mvcc_txn_t *t, int enabled, uint64_t revision) {
  if (!writable(t)) return LKV_EINVAL;
  uint8_t buf[9];
  buf[0] = enabled ? 1 : 0;
  lkv_le64_put(buf + 1, revision);
  MDB_val k = {.mv_size = sizeof(AUTH_STATE_KEY) - 1, .mv_data = AUTH_STATE_KEY};
  MDB_val v = {.mv_size = sizeof(buf), .mv_data = buf};
  return changed(t, lkv__mdb_err(mdb_put(t->txn, t->s->meta_dbi, &k, &v, 0)));
}
