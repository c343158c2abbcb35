/* A whole state written as given into a fresh store: a compacted snapshot's restore (ledger STATE). */
#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

/* The batch began on a fresh store (revision 1, never compacted) and nothing else was written since. */
static int fresh(const lkv_mvcc_txn_t *t) {
  return t->write && t->in_req && t->begin_rev == 1 && t->begin_compact_rev == -1 && t->rev == 1 &&
         t->compact_rev == -1;
}

int lkv_mvcc_state_put(lkv_mvcc_txn_t *t, const lkv_mvcc_kv_t *kv, int64_t sub) {
  uint8_t enc[LKV__KEYENC_MAX];
  if (!fresh(t) || kv->key_len == 0 || kv->create_revision < 1 || kv->create_revision > kv->mod_revision ||
      kv->version < 1 || sub < 0)
    return LKV_EINVAL;
  size_t enc_len = lkv__key_encode(kv->key, kv->key_len, enc);
  MDB_val k = {.mv_size = enc_len, .mv_data = enc}, v;
  int rc = mdb_get(t->txn, t->s->key_dbi, &k, &v);
  if (rc == 0) return LKV_ECORRUPT; /* the state names a key twice */
  if (rc != MDB_NOTFOUND) return lkv__mdb_err(rc);
  rc = lkv__lease_attach(t, kv->lease, enc, enc_len, kv->key, kv->key_len);
  if (rc) return rc;
  lkv__dup_t d = {.main = kv->mod_revision,
                  .sub = sub,
                  .flags = 0,
                  .create = kv->create_revision,
                  .version = kv->version,
                  .lease = kv->lease};
  lkv__rec_t r = {.create = d.create,
                  .version = d.version,
                  .lease = d.lease,
                  .key = kv->key,
                  .key_len = kv->key_len,
                  .value = kv->value,
                  .value_len = kv->value_len};
  return lkv__rev_append(t, enc, enc_len, &r, &d);
}

int lkv_mvcc_state_finish(lkv_mvcc_txn_t *t, int64_t rev) {
  if (!fresh(t) || rev < 1) return LKV_EINVAL;
  MDB_cursor *c;
  MDB_val k, v;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->rev_dbi, &c));
  if (rc) return rc;
  rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  int64_t last = 0, sub;
  if (rc == 0 && lkv__revkey_decode(k.mv_data, k.mv_size, &last, &sub)) rc = MDB_CORRUPTED;
  rc = rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
  mdb_cursor_close(c);
  if (rc) return rc;
  if (last > rev) return LKV_EINVAL;
  /* Revision and compaction point move together: nothing below rev is history this store can show. The
   * request's changes are accounted here, so that ending it does not add a revision of its own. */
  t->rev = rev;
  t->compact_rev = rev;
  t->changes = 0;
  return 0;
}
