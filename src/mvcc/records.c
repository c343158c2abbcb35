/* Every revision record as an etcd backend would hold it (lkv_mvcc_records): the source of snapshots. */
#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

/* Whether the record (main, sub) of key survives the compaction at compact: etcd keeps, for each key, its
 * latest revision at or below the compact revision unless that is a tombstone. Records above it stay. */
static int survives(MDB_cursor *kc, const lkv__rec_t *r, int64_t main, int64_t sub, int64_t compact,
                    int *keep) {
  if (main > compact) {
    *keep = 1;
    return 0;
  }
  uint8_t enc[LKV__KEYENC_MAX];
  size_t enc_len = lkv__key_encode(r->key, r->key_len, enc);
  MDB_val k = {.mv_size = enc_len, .mv_data = enc}, d;
  int rc = mdb_cursor_get(kc, &k, &d, MDB_SET); /* lkv__latest_le starts on the key */
  if (rc) return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
  lkv__dup_t dup;
  int found;
  rc = lkv__latest_le(kc, enc, enc_len, compact, &dup, &found);
  if (rc) return rc;
  *keep = found && dup.main == main && dup.sub == sub && !(dup.flags & LKV__REC_TOMBSTONE);
  return 0;
}

int lkv_mvcc_records(lkv_mvcc_txn_t *t, lkv_mvcc_event_cb cb, void *arg) {
  MDB_cursor *c, *kc;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->rev_dbi, &c));
  if (rc) return rc;
  rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->key_dbi, &kc));
  if (rc) {
    mdb_cursor_close(c);
    return rc;
  }
  MDB_val k, v;
  int m = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  while (m == 0) {
    int64_t main, sub;
    lkv__rec_t r;
    int keep;
    rc = lkv__revkey_decode(k.mv_data, k.mv_size, &main, &sub);
    if (!rc) rc = lkv__rec_decode(v.mv_data, v.mv_size, &r);
    if (!rc) rc = survives(kc, &r, main, sub, t->compact_rev, &keep);
    if (rc) break;
    if (keep) rc = lkv__history_emit(&r, main, sub, cb, arg);
    if (rc) break;
    m = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  if (!rc && m != 0 && m != MDB_NOTFOUND) rc = lkv__mdb_err(m);
  mdb_cursor_close(kc);
  mdb_cursor_close(c);
  return rc;
}
