/* Every revision record as an etcd backend would hold it (lkv_mvcc_records): the source of snapshots and
 * of HashKV (lkv_mvcc_records_at). */
#include <stdint.h>

#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

/* Whether the record (main, sub) of r's key is that key's live revision at rev: its latest revision at or
 * below rev, and not a tombstone. */
static int live_at(MDB_cursor *kc, const lkv__rec_t *r, int64_t main, int64_t sub, int64_t rev, int *keep) {
  uint8_t enc[LKV__KEYENC_MAX];
  size_t enc_len = lkv__key_encode(r->key, r->key_len, enc);
  MDB_val k = {.mv_size = enc_len, .mv_data = enc}, d;
  int rc = mdb_cursor_get(kc, &k, &d, MDB_SET); /* lkv__latest_le starts on the key */
  if (rc) return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
  lkv__dup_t dup;
  int found;
  rc = lkv__latest_le(kc, enc, enc_len, rev, &dup, &found);
  if (rc) return rc;
  *keep = found && dup.main == main && dup.sub == sub && !(dup.flags & LKV__REC_TOMBSTONE);
  return 0;
}

/* Walks the rev DB in revision order up to main revision upto. Records above the compact revision are
 * all emitted; those at or below it only when they are live at keep_at (etcd keeps, for each key, its
 * latest revision at or below the compact revision unless that is a tombstone: keep_at = compact). */
static int walk(lkv_mvcc_txn_t *t, int64_t upto, int64_t keep_at, lkv_mvcc_event_cb cb, void *arg) {
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
    int keep = 1;
    rc = lkv__revkey_decode(k.mv_data, k.mv_size, &main, &sub);
    if (rc || main > upto) break;
    rc = lkv__rec_decode(v.mv_data, v.mv_size, &r);
    if (!rc && main <= t->compact_rev) rc = live_at(kc, &r, main, sub, keep_at, &keep);
    if (!rc && keep) rc = lkv__history_emit(&r, main, sub, cb, arg);
    if (rc) break;
    m = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  if (!rc && m != 0 && m != MDB_NOTFOUND) rc = lkv__mdb_err(m);
  mdb_cursor_close(kc);
  mdb_cursor_close(c);
  return rc;
}

int lkv_mvcc_records(lkv_mvcc_txn_t *t, lkv_mvcc_event_cb cb, void *arg) {
  return walk(t, INT64_MAX, t->compact_rev, cb, arg);
}

static int stop_at_first(void *arg, const lkv_mvcc_kv_t *kv) {
  (void)arg, (void)kv;
  return LKV_ECANCELED; /* one live key is enough */
}

int lkv_mvcc_records_at(lkv_mvcc_txn_t *t, int64_t rev, lkv_mvcc_event_cb cb, void *arg) {
  if (rev > lkv_mvcc_txn_rev(t)) return LKV_EFUTUREREV;
  if (rev < t->compact_rev) return LKV_ECOMPACTED;
  /* etcd skips the records at or below the compact revision that its keep set at rev lacks, but only when
   * that set is not empty: with no key live at rev, every record the compaction left stays. */
  lkv_mvcc_range_t all = {.key = (const uint8_t *)"\0",
                          .key_len = 1,
                          .end = (const uint8_t *)"\0",
                          .end_len = 1,
                          .rev = rev,
                          .flags = LKV_MVCC_RANGE_NO_VALUES};
  int rc = lkv_mvcc_range(t, &all, stop_at_first, NULL, NULL);
  if (rc && rc != LKV_ECANCELED) return rc;
  return walk(t, rev, rc == LKV_ECANCELED ? rev : t->compact_rev, cb, arg);
}
