/* The history in revision order, for callers that replay changes (watchers, tests). */
#include "common/error.h"
#include "mvcc/internal.h"

int lkv__history_emit(const lkv__rec_t *r, int64_t main, int64_t sub, lkv_mvcc_event_cb cb, void *arg) {
  int tomb = (r->flags & LKV__REC_TOMBSTONE) != 0;
  lkv_mvcc_kv_t kv = {.key = r->key, .key_len = r->key_len, .mod_revision = main};
  if (!tomb) {
    kv.value = r->value;
    kv.value_len = r->value_len;
    kv.create_revision = r->create;
    kv.version = r->version;
    kv.lease = r->lease;
  }
  return cb(arg, &kv, sub, tomb);
}

int lkv_mvcc_history(lkv_mvcc_txn_t *t, int64_t from_rev, int64_t to_rev, lkv_mvcc_event_cb cb, void *arg) {
  if (to_rev <= 0) to_rev = lkv_mvcc_txn_rev(t);
  if (from_rev < t->compact_rev) return LKV_ECOMPACTED;
  MDB_cursor *c;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->rev_dbi, &c));
  if (rc) return rc;
  uint8_t kb[LKV__REVKEY_LEN];
  lkv__revkey_encode(from_rev < 0 ? 0 : from_rev, 0, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v;
  int m = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (m == 0) {
    int64_t main, sub;
    lkv__rec_t r;
    rc = lkv__revkey_decode(k.mv_data, k.mv_size, &main, &sub);
    if (rc || main > to_rev) break;
    rc = lkv__rec_decode(v.mv_data, v.mv_size, &r);
    if (rc) break;
    int tomb = (r.flags & LKV__REC_TOMBSTONE) != 0;
    /* A tombstone at the compact revision goes with the compaction's removal: never shown, so that the
     * answer does not depend on how far that removal has come. */
    if (tomb && main == t->compact_rev) {
      m = mdb_cursor_get(c, &k, &v, MDB_NEXT);
      continue;
    }
    rc = lkv__history_emit(&r, main, sub, cb, arg);
    if (rc) break;
    m = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  if (!rc && m != 0 && m != MDB_NOTFOUND) rc = lkv__mdb_err(m);
  mdb_cursor_close(c);
  return rc;
}
