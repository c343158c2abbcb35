/* Read and write transactions, and the per-request nested transactions of a write batch. */
#include <stdlib.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "mvcc/internal.h"

int lkv_mvcc_read_begin(lkv_mvcc_t *s, lkv_mvcc_txn_t **out) {
  lkv__gate_enter(s); /* left by lkv_mvcc_txn_end */
  lkv_mvcc_txn_t *t = lkv__read_cache_take(s);
  int rc = 0;
  if (!t && !(t = calloc(1, sizeof(*t)))) {
    lkv__gate_leave(s);
    return LKV_ENOMEM;
  }
  t->s = s;
  if (!t->txn) {
    rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn));
    if (rc) goto err;
    t->top = t->txn;
  }
  rc = lkv__meta_revs_get(s, t->txn, &t->rev, &t->compact_rev);
  if (rc) goto err;
  *out = t;
  return 0;

err:
  lkv_mvcc_txn_end(t);
  return rc;
}

int lkv_mvcc_write_begin(lkv_mvcc_t *s, lkv_mvcc_txn_t **out) {
  lkv_mvcc_txn_t *t = calloc(1, sizeof(*t));
  if (!t) return LKV_ENOMEM;
  lkv__gate_enter(s); /* left when the transaction ends */
  t->s = s;
  t->write = 1;
  int rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, 0, &t->top));
  if (rc) goto err_after_alloc;
  lkv__prefill(s);
  t->txn = t->top;
  rc = lkv__meta_revs_get(s, t->txn, &t->rev, &t->compact_rev);
  if (rc) goto err_after_txn;
  t->begin_rev = t->rev;
  t->begin_compact_rev = t->compact_rev;
  *out = t;
  return 0;

err_after_txn:
  mdb_txn_abort(t->top);
err_after_alloc:
  lkv__gate_leave(s);
  free(t);
  return rc;
}

int lkv_mvcc_write_commit(lkv_mvcc_txn_t *t) {
  int rc = (!t->write || t->in_req) ? LKV_EINVAL : 0;
  /* A batch that changed nothing leaves no dirty page, and LMDB then commits without writing. */
  if (!rc && (t->rev != t->begin_rev || t->compact_rev != t->begin_compact_rev))
    rc = lkv__meta_revs_put(t->s, t->top, t->rev, t->compact_rev);
  if (rc) {
    lkv_mvcc_txn_end(t);
    return rc;
  }
  lkv_mvcc_t *s = t->s;
  uint64_t start = lkv_clock_ns(CLOCK_MONOTONIC);
  rc = lkv__mdb_err(mdb_txn_commit(t->top)); /* frees the txn, also on failure */
  lkv_metric_observe_since(LKV_METRIC(backend_commit), 0, start);
  if (!rc && t->compact_mark != LKV__COMPACT_UNTOUCHED)
    atomic_store(&t->s->compact_pending, t->compact_mark == LKV__COMPACT_PENDING);
  if (!rc) lkv__touched_commit(t);
  lkv__touched_drop(t);
  free(t);
  lkv__gate_leave(s);
  return rc;
}

void lkv_mvcc_txn_end(lkv_mvcc_txn_t *t) {
  if (!t) return;
  lkv_mvcc_t *s = t->s;
  if (t->slot) {
    lkv__read_cache_give(t);
  } else {
    if (t->key_cur) mdb_cursor_close(t->key_cur);
    if (t->top) mdb_txn_abort(t->top); /* a write txn's open child goes with it */
    lkv__touched_drop(t);
    free(t);
  }
  lkv__gate_leave(s);
}

int lkv__key_cursor(lkv_mvcc_txn_t *t, MDB_cursor **out) {
  if (t->write) return lkv__mdb_err(mdb_cursor_open(t->txn, t->s->key_dbi, out));
  int rc = 0;
  if (!t->key_cur) {
    rc = lkv__mdb_err(mdb_cursor_open(t->txn, t->s->key_dbi, &t->key_cur));
  } else if (t->key_cur_stale) {
    rc = lkv__mdb_err(mdb_cursor_renew(t->txn, t->key_cur));
  }
  t->key_cur_stale = rc != 0;
  *out = t->key_cur;
  return rc;
}

void lkv__key_cursor_done(lkv_mvcc_txn_t *t, MDB_cursor *c) {
  if (t->write) mdb_cursor_close(c);
}

int lkv_mvcc_req_begin(lkv_mvcc_txn_t *t) {
  if (!t->write || t->in_req) return LKV_EINVAL;
  int rc = lkv__mdb_err(mdb_txn_begin(t->s->env, t->top, 0, &t->txn));
  if (rc) {
    t->txn = t->top;
    return rc;
  }
  t->in_req = 1;
  t->changes = 0;
  t->take_rev = 0;
  t->req_compact_rev = t->compact_rev;
  return 0;
}

int lkv_mvcc_req_end(lkv_mvcc_txn_t *t, int keep) {
  if (!t->in_req) return LKV_EINVAL;
  int rc = 0;
  if (keep) {
    rc = lkv__mdb_err(mdb_txn_commit(t->txn)); /* frees the child, also on failure */
  } else {
    mdb_txn_abort(t->txn);
  }
  if (keep && !rc) {
    if (t->changes > 0 || t->take_rev) t->rev++;
  } else {
    t->compact_rev = t->req_compact_rev;
    /* What the request did to a pending removal is undone: let the next step find out what is left. */
    if (t->compact_mark != LKV__COMPACT_UNTOUCHED) t->compact_mark = LKV__COMPACT_PENDING;
  }
  t->txn = t->top;
  t->in_req = 0;
  t->changes = 0;
  t->take_rev = 0;
  return rc;
}

int lkv_mvcc_req_take_rev(lkv_mvcc_txn_t *t) {
  if (!t->in_req) return LKV_EINVAL;
  t->take_rev = 1;
  return 0;
}

int64_t lkv_mvcc_txn_rev(const lkv_mvcc_txn_t *t) {
  return t->rev + (t->changes > 0 || t->take_rev ? 1 : 0);
}

int64_t lkv_mvcc_txn_compact_rev(const lkv_mvcc_txn_t *t) {
  return t->compact_rev;
}

int64_t lkv_mvcc_txn_changes(const lkv_mvcc_txn_t *t) {
  return t->changes;
}
