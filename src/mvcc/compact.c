/* Compaction: drops history superseded at a revision, walking only the part of the history it removes. */
#include <string.h>

#include "common/error.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

static int del_entry(lkv_mvcc_txn_t *t, const uint8_t *enc, size_t enc_len, const uint8_t dup[LKV__DUP_LEN],
                     const lkv__dup_t *d) {
  uint8_t kb[LKV__REVKEY_LEN];
  lkv__revkey_encode(d->main, d->sub, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb};
  int rc = mdb_del(t->txn, t->s->rev_dbi, &k, NULL);
  if (rc) return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
  MDB_val ek = {.mv_size = enc_len, .mv_data = (void *)enc},
          ev = {.mv_size = LKV__DUP_LEN, .mv_data = (void *)dup};
  rc = mdb_del(t->txn, t->s->key_dbi, &ek, &ev);
  return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
}

/* etcd's keyIndex.compact for one key: keep its latest revision <= rev unless that is a tombstone,
 * remove everything older. Entries are re-read after each delete (deletes move cursors). */
static int compact_key(lkv_mvcc_txn_t *t, MDB_cursor *c, const uint8_t *enc, size_t enc_len, int64_t rev) {
  lkv__dup_t keep, d;
  uint8_t raw[LKV__DUP_LEN];
  int found;
  MDB_val k = {.mv_size = enc_len, .mv_data = (void *)enc}, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET);
  if (rc) return rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc); /* already compacted away */
  rc = lkv__latest_le(c, enc, enc_len, rev, &keep, &found);
  if (rc || !found) return rc;
  for (;;) {
    k = (MDB_val){.mv_size = enc_len, .mv_data = (void *)enc};
    rc = mdb_cursor_get(c, &k, &v, MDB_SET);
    if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_FIRST_DUP);
    if (rc) return lkv__mdb_err(rc);
    if (v.mv_size != LKV__DUP_LEN) return LKV_ECORRUPT;
    memcpy(raw, v.mv_data, LKV__DUP_LEN);
    rc = lkv__dup_decode(raw, sizeof(raw), &d);
    if (rc) return rc;
    if (d.main == keep.main && d.sub == keep.sub) break;
    rc = del_entry(t, enc, enc_len, raw, &d);
    if (rc) return rc;
  }
  if (!(keep.flags & LKV__REC_TOMBSTONE)) return 0;
  return del_entry(t, enc, enc_len, raw, &keep);
}

int lkv_mvcc_compact(lkv_mvcc_txn_t *t, int64_t rev) {
  if (!t->in_req) return LKV_EINVAL;
  if (rev <= t->compact_rev) return LKV_ECOMPACTED;
  if (rev > lkv_mvcc_txn_rev(t)) return LKV_EFUTUREREV;

  MDB_cursor *rc_cur, *key_cur;
  int rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->rev_dbi, &rc_cur));
  if (rc) return rc;
  rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->key_dbi, &key_cur));
  if (rc) goto out_rev_cursor;

  /* Only keys written after the previous compaction can have history to drop now; anything older
   * was reduced to one live revision then, and a newer write reaches it through its key. */
  int64_t main = t->compact_rev < 0 ? 0 : t->compact_rev + 1, sub = 0;
  for (;;) {
    uint8_t kb[LKV__REVKEY_LEN], enc[LKV__KEYENC_MAX];
    lkv__revkey_encode(main, sub, kb);
    MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v;
    int m = mdb_cursor_get(rc_cur, &k, &v, MDB_SET_RANGE);
    if (m == MDB_NOTFOUND) break;
    rc = lkv__mdb_err(m);
    if (!rc) rc = lkv__revkey_decode(k.mv_data, k.mv_size, &main, &sub);
    if (rc || main > rev) break;
    lkv__rec_t r;
    rc = lkv__rec_decode(v.mv_data, v.mv_size, &r);
    if (rc) break;
    size_t enc_len = lkv__key_encode(r.key, r.key_len, enc);
    rc = compact_key(t, key_cur, enc, enc_len, rev);
    if (rc) break;
    sub++; /* resume after this record, which may itself be gone now */
  }
  if (!rc) t->compact_rev = rev;
  mdb_cursor_close(key_cur);
out_rev_cursor:
  mdb_cursor_close(rc_cur);
  return rc;
}
