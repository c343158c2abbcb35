/* Records the replication layer keeps with the state (applied index, membership), in the meta database. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "mvcc/internal.h"

/* Meta keys of these records are "repl/" ‖ name: apart from the store's own keys. */
#define LKV__REPL_PREFIX "repl/"
#define LKV__REPL_NAME_MAX 64

static int repl_key(const char *name, char *buf, MDB_val *k) {
  size_t n = strlen(name);
  if (n == 0 || n > LKV__REPL_NAME_MAX) return LKV_EINVAL;
  memcpy(buf, LKV__REPL_PREFIX, sizeof(LKV__REPL_PREFIX) - 1);
  memcpy(buf + sizeof(LKV__REPL_PREFIX) - 1, name, n);
  k->mv_size = sizeof(LKV__REPL_PREFIX) - 1 + n;
  k->mv_data = buf;
  return 0;
}

int lkv_mvcc_repl_put(lkv_mvcc_txn_t *t, const char *name, const void *val, size_t len) {
  if (!t->write || t->in_req) return LKV_EINVAL;
  char buf[sizeof(LKV__REPL_PREFIX) + LKV__REPL_NAME_MAX];
  MDB_val k, v = {.mv_size = len, .mv_data = (void *)val};
  int rc = repl_key(name, buf, &k);
  if (rc) return rc;
  return lkv__mdb_err(mdb_put(t->top, t->s->meta_dbi, &k, &v, 0));
}

int lkv_mvcc_repl_read(lkv_mvcc_t *s, const char *name, uint8_t **val, size_t *len) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(s, &t);
  if (rc) return rc;
  rc = lkv_mvcc_repl_get(t, name, val, len);
  lkv_mvcc_txn_end(t);
  return rc;
}

int lkv_mvcc_repl_del(lkv_mvcc_txn_t *t, const char *name) {
  if (!t->write || t->in_req) return LKV_EINVAL;
  char buf[sizeof(LKV__REPL_PREFIX) + LKV__REPL_NAME_MAX];
  MDB_val k;
  int rc = repl_key(name, buf, &k);
  if (rc) return rc;
  rc = mdb_del(t->top, t->s->meta_dbi, &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
}

int lkv_mvcc_repl_get(lkv_mvcc_txn_t *t, const char *name, uint8_t **val, size_t *len) {
  char buf[sizeof(LKV__REPL_PREFIX) + LKV__REPL_NAME_MAX];
  MDB_val k, v;
  int rc = repl_key(name, buf, &k);
  if (rc) return rc;
  rc = mdb_get(t->txn, t->s->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return LKV_ENOENT;
  if (rc) return lkv__mdb_err(rc);
  *val = malloc(v.mv_size ? v.mv_size : 1);
  if (!*val) return LKV_ENOMEM;
  memcpy(*val, v.mv_data, v.mv_size);
  *len = v.mv_size;
  return 0;
}
