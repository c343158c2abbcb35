/* Compaction: the compact revision moves at once; superseded history is removed in bounded steps after. */
#include <stdatomic.h>
#include <string.h>

#include "common/error.h"
#include "common/le.h"
#include "mvcc/internal.h"
#include "mvcc/keyenc.h"

/*
 * A compaction at C (lkv_mvcc_compact) sets the compact revision in the request's own transaction, so
 * reads below C fail from that commit on, and records what is left to remove in meta "compacting": the
 * target C and the walk's position in "rev". The removal (lkv_mvcc_compact_run) walks "rev" from that
 * position up to C and, for each key met, drops its revisions superseded at C (etcd's keyIndex.compact),
 * a bounded amount of work per call, saving the position in the same transaction. So a commit always
 * holds a consistent pair of removal and position: a restart, or a copy of any snapshot, goes on from
 * there.
 *
 * Why the walk may stop anywhere and a later compaction may retarget it: removal only ever drops
 * revisions older than a key's latest revision <= C (and that one too if it is a tombstone), so no read
 * at a revision >= C sees a difference; and a key whose latest revision <= C lies ahead of the position
 * is met there and trimmed in full, while one whose latest lies behind it was trimmed when the walk
 * passed it, under a target that saw the same latest revision. A new target C2 > C therefore continues
 * the same walk, now up to C2.
 */

#define STATE_KEY "compacting"
#define STATE_LEN 24 /* target ‖ main ‖ sub, 8 bytes each, little-endian */

typedef struct state_s {
  int64_t target, main, sub;
} state_t;

static MDB_val state_key(void) {
  return (MDB_val){.mv_size = sizeof(STATE_KEY) - 1, .mv_data = (void *)STATE_KEY};
}

/* Reads the pending removal into *st; *found 0 when none is pending. */
static int state_get(MDB_txn *txn, MDB_dbi meta, state_t *st, int *found) {
  MDB_val k = state_key(), v;
  int rc = mdb_get(txn, meta, &k, &v);
  *found = rc == 0;
  if (rc) return rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
  if (v.mv_size != STATE_LEN) return LKV_ECORRUPT;
  const uint8_t *p = v.mv_data;
  st->target = (int64_t)lkv_le64_get(p);
  st->main = (int64_t)lkv_le64_get(p + 8);
  st->sub = (int64_t)lkv_le64_get(p + 16);
  return 0;
}

static int state_put(lkv_mvcc_txn_t *t, const state_t *st) {
  uint8_t b[STATE_LEN];
  lkv_le64_put(b, (uint64_t)st->target);
  lkv_le64_put(b + 8, (uint64_t)st->main);
  lkv_le64_put(b + 16, (uint64_t)st->sub);
  MDB_val k = state_key(), v = {.mv_size = sizeof(b), .mv_data = b};
  return lkv__mdb_err(mdb_put(t->txn, t->s->meta_dbi, &k, &v, 0));
}

static int state_del(lkv_mvcc_txn_t *t) {
  MDB_val k = state_key();
  int rc = mdb_del(t->txn, t->s->meta_dbi, &k, NULL);
  return rc == MDB_NOTFOUND ? 0 : lkv__mdb_err(rc);
}

int lkv__compact_load(lkv_mvcc_t *s, MDB_txn *txn) {
  state_t st;
  int found;
  int rc = state_get(txn, s->meta_dbi, &st, &found);
  if (!rc) atomic_store(&s->compact_pending, found);
  return rc;
}

static int del_entry(lkv_mvcc_txn_t *t, const uint8_t *enc, size_t enc_len, const uint8_t dup[LKV__DUP_LEN],
                     const lkv__dup_t *d) {
  uint8_t kb[LKV__REVKEY_LEN];
  lkv__revkey_encode(d->main, d->sub, kb);
  MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb};
  lkv__touched(t, LKV__DB_REV, kb, sizeof(kb));
  lkv__touched(t, LKV__DB_KEY, enc, enc_len);
  int rc = mdb_del(t->txn, t->s->rev_dbi, &k, NULL);
  if (rc) return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
  MDB_val ek = {.mv_size = enc_len, .mv_data = (void *)enc},
          ev = {.mv_size = LKV__DUP_LEN, .mv_data = (void *)dup};
  rc = mdb_del(t->txn, t->s->key_dbi, &ek, &ev);
  return rc == MDB_NOTFOUND ? LKV_ECORRUPT : lkv__mdb_err(rc);
}

/* etcd's keyIndex.compact for one key: keep its latest revision <= rev unless that is a tombstone,
 * remove everything older, oldest first, each removal costing one unit of *budget. Entries are re-read
 * after each delete (deletes move cursors). Returns 0 when the key is done, 1 when the budget ran out
 * first (what is left is still older than the kept revision, so a later call finishes it), or an error. */
static int compact_key(lkv_mvcc_txn_t *t, MDB_cursor *c, const uint8_t *enc, size_t enc_len, int64_t rev,
                       size_t *budget) {
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
    if (*budget == 0) return 1;
    rc = del_entry(t, enc, enc_len, raw, &d);
    if (rc) return rc;
    (*budget)--;
  }
  if (!(keep.flags & LKV__REC_TOMBSTONE)) return 0;
  if (*budget == 0) return 1;
  (*budget)--;
  return del_entry(t, enc, enc_len, raw, &keep);
}

/* Walks from st's position towards its target, spending *budget (one unit per record visited and per
 * entry removed). Returns 0 with st->main > st->target when the walk is complete, 1 when the budget ran
 * out (st holds where to go on), or an error. */
static int walk(lkv_mvcc_txn_t *t, MDB_cursor *rev_cur, MDB_cursor *key_cur, state_t *st, size_t *budget) {
  for (;;) {
    uint8_t kb[LKV__REVKEY_LEN], enc[LKV__KEYENC_MAX];
    lkv__revkey_encode(st->main, st->sub, kb);
    MDB_val k = {.mv_size = sizeof(kb), .mv_data = kb}, v;
    int m = mdb_cursor_get(rev_cur, &k, &v, MDB_SET_RANGE);
    if (m == MDB_NOTFOUND) break;
    int rc = lkv__mdb_err(m);
    if (!rc) rc = lkv__revkey_decode(k.mv_data, k.mv_size, &st->main, &st->sub);
    if (rc) return rc;
    if (st->main > st->target) break;
    if (*budget == 0) return 1;
    (*budget)--;
    lkv__rec_t r;
    rc = lkv__rec_decode(v.mv_data, v.mv_size, &r);
    if (rc) return rc;
    size_t enc_len = lkv__key_encode(r.key, r.key_len, enc);
    rc = compact_key(t, key_cur, enc, enc_len, st->target, budget);
    if (rc) return rc; /* 1: this record (or, if it went, the next one) is where to go on */
    st->sub++;         /* go on after this record, which may itself be gone now */
  }
  st->main = st->target + 1;
  return 0;
}

int lkv_mvcc_compact(lkv_mvcc_txn_t *t, int64_t rev) {
  if (!t->in_req) return LKV_EINVAL;
  if (rev <= t->compact_rev) return LKV_ECOMPACTED;
  if (rev > lkv_mvcc_txn_rev(t)) return LKV_EFUTUREREV;
  state_t st;
  int found;
  int rc = state_get(t->txn, t->s->meta_dbi, &st, &found);
  if (rc) return rc;
  /* Only keys written after the previous compaction can have history to drop now; anything older
   * was reduced to one live revision then, and a newer write reaches it through its key. A removal
   * still pending goes on from where it is, towards the new target. */
  if (!found) st = (state_t){.main = t->compact_rev < 0 ? 0 : t->compact_rev + 1, .sub = 0};
  st.target = rev;
  rc = state_put(t, &st);
  if (rc) return rc;
  t->compact_rev = rev;
  t->compact_mark = LKV__COMPACT_PENDING;
  return 0;
}

int lkv_mvcc_compact_run(lkv_mvcc_txn_t *t, size_t budget) {
  if (!t->write) return LKV_EINVAL;
  state_t st;
  int found;
  int rc = state_get(t->txn, t->s->meta_dbi, &st, &found);
  if (rc || !found) {
    if (!rc) t->compact_mark = LKV__COMPACT_DONE;
    return rc;
  }
  size_t left = budget ? budget : SIZE_MAX;
  MDB_cursor *rev_cur, *key_cur;
  rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->rev_dbi, &rev_cur));
  if (rc) return rc;
  rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->key_dbi, &key_cur));
  if (rc) goto out_rev_cursor;
  rc = walk(t, rev_cur, key_cur, &st, &left);
  if (rc == 1) {
    int put = state_put(t, &st);
    rc = put ? put : 1;
  } else if (rc == 0) {
    rc = state_del(t);
    if (!rc) t->compact_mark = LKV__COMPACT_DONE;
  }
  mdb_cursor_close(key_cur);
out_rev_cursor:
  mdb_cursor_close(rev_cur);
  return rc;
}

int lkv_mvcc_compact_pending(lkv_mvcc_t *s) {
  return atomic_load(&s->compact_pending);
}

int lkv_mvcc_compact_step(lkv_mvcc_t *s, size_t budget) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_write_begin(s, &t);
  if (rc) return rc;
  int more = lkv_mvcc_compact_run(t, budget);
  if (more < 0) {
    lkv_mvcc_txn_end(t);
    return more;
  }
  rc = lkv_mvcc_write_commit(t);
  return rc ? rc : more;
}
