/* Store copies (a checkpoint, or one received from a peer): reading their records, installing one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fs.h"
#include "mvcc/internal.h"

/*
 * A copy is a whole LMDB data file (checkpoint.c writes one). It is opened here as an environment of its
 * own without a lock file (MDB_NOSUBDIR | MDB_NOLOCK): nothing else opens it while we do.
 */

int lkv__copy_open(lkv_mvcc_t *c, const char *path, uint64_t map, int mode) {
  memset(c, 0, sizeof(*c));
  int rc = lkv__mdb_err(mdb_env_create(&c->env));
  if (rc) return rc;
  rc = lkv__mdb_err(mdb_env_set_maxdbs(c->env, 6));
  if (!rc && map) rc = lkv__mdb_err(mdb_env_set_mapsize(c->env, map));
  unsigned flags = MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS | (mode == LKV__COPY_READ ? MDB_RDONLY : 0);
  if (!rc) rc = lkv__mdb_err(mdb_env_open(c->env, path, flags, 0600));
  MDB_txn *txn = NULL;
  unsigned create = mode == LKV__COPY_CREATE ? MDB_CREATE : 0;
  if (!rc) rc = lkv__mdb_err(mdb_txn_begin(c->env, NULL, create ? 0 : MDB_RDONLY, &txn));
  if (!rc) rc = lkv__dbs_open(c, txn, create);
  if (rc == LKV_ENOENT) rc = LKV_ECORRUPT; /* not a store copy */
  /* Committed, not aborted: an aborted transaction closes the handles it opened. */
  if (txn && !rc)
    rc = lkv__mdb_err(mdb_txn_commit(txn));
  else if (txn)
    mdb_txn_abort(txn);
  if (rc) mdb_env_close(c->env);
  return rc;
}

int lkv_mvcc_copy_repl_get(const char *path, const char *name, uint8_t **val, size_t *len) {
  lkv_mvcc_t c;
  int rc = lkv__copy_open(&c, path, 0, LKV__COPY_READ);
  if (rc) return rc;
  lkv_mvcc_txn_t t = {.s = &c};
  rc = lkv__mdb_err(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &t.txn));
  if (!rc) {
    t.top = t.txn;
    rc = lkv_mvcc_repl_get(&t, name, val, len);
    mdb_txn_abort(t.txn);
  }
  mdb_env_close(c.env);
  return rc;
}

int lkv_mvcc_checkpoint_path(const lkv_mvcc_t *s, char *out, size_t cap) {
  return lkv__db_path(s->db_dir, LKV__CHECKPOINT_NAME, out, cap);
}

/* Makes the copy this store's own: its identity, and the caller's records, flushed (a commit of an
 * environment opened without MDB_NOSYNC is durable when it returns). */
static int adopt(lkv_mvcc_t *s, lkv_mvcc_t *c, int (*record)(void *, lkv_mvcc_txn_t *), void *arg) {
  lkv_mvcc_txn_t t = {.s = c, .write = 1};
  int rc = lkv__mdb_err(mdb_txn_begin(c->env, NULL, 0, &t.top));
  if (rc) return rc;
  t.txn = t.top;
  uint8_t id[16];
  for (int i = 0; i < 8; i++) {
    id[i] = (uint8_t)(s->cluster_id >> (56 - 8 * i));
    id[8 + i] = (uint8_t)(s->member_id >> (56 - 8 * i));
  }
  MDB_val k = {.mv_size = strlen(LKV__META_IDENTITY), .mv_data = LKV__META_IDENTITY};
  MDB_val v = {.mv_size = sizeof(id), .mv_data = id};
  rc = lkv__mdb_err(mdb_put(t.top, c->meta_dbi, &k, &v, 0));
  if (!rc && record) rc = record(arg, &t);
  if (rc) {
    mdb_txn_abort(t.top);
    return rc;
  }
  return lkv__mdb_err(mdb_txn_commit(t.top));
}

int lkv__copy_db(lkv_mvcc_t *s, MDB_txn *txn, lkv_mvcc_t *c, MDB_txn *from, int i) {
  MDB_dbi dst = *lkv__db_handle(s, i);
  int rc = lkv__mdb_err(mdb_drop(txn, dst, 0));
  MDB_cursor *cur = NULL;
  if (!rc) rc = lkv__mdb_err(mdb_cursor_open(from, *lkv__db_handle(c, i), &cur));
  /* The copy's order is the store's: every record goes at the end (MDB_APPEND), page after page. */
  unsigned put = (lkv__db_flags(i) & MDB_DUPSORT) ? MDB_APPENDDUP : MDB_APPEND;
  MDB_val k, v;
  for (int op = MDB_FIRST; !rc; op = MDB_NEXT) {
    int got = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
    if (got == MDB_NOTFOUND) break;
    rc = lkv__mdb_err(got);
    if (!rc) rc = lkv__mdb_err(mdb_put(txn, dst, &k, &v, put));
  }
  if (cur) mdb_cursor_close(cur);
  return rc;
}

/* One write transaction: every database of s gets the copy's content. */
static int replace_all(lkv_mvcc_t *s, lkv_mvcc_t *c) {
  MDB_txn *from, *txn;
  int rc = lkv__mdb_err(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &from));
  if (rc) return rc;
  rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, 0, &txn));
  for (int i = 0; !rc && i < LKV__N_DBS; i++) rc = lkv__copy_db(s, txn, c, from, i);
  if (!rc) rc = lkv__compact_load(s, txn); /* the copy's pending removal, if any, is the writer's now */
  mdb_txn_abort(from);
  if (rc) {
    mdb_txn_abort(txn);
    return rc;
  }
  return lkv__mdb_err(mdb_txn_commit(txn));
}

static int install(lkv_mvcc_t *s, const char *path, int (*record)(void *arg, lkv_mvcc_txn_t *t), void *arg) {
  MDB_envinfo info;
  int rc = lkv__mdb_err(mdb_env_info(s->env, &info));
  lkv_mvcc_t c;
  if (!rc) rc = lkv__copy_open(&c, path, info.me_mapsize, LKV__COPY_WRITE);
  if (rc) return rc;
  rc = adopt(s, &c, record, arg);
  if (!rc) rc = lkv__mdb_err(mdb_env_sync(c.env, 1));
  /* A logged store is rebuilt from its checkpoint after a machine crash: the copy becomes it before the
   * store changes, so a rebuild never starts from a state older than one the caller already relied on. */
  char ckpt[PATH_MAX];
  if (!rc && s->logged) rc = lkv__db_path(s->db_dir, LKV__CHECKPOINT_NAME, ckpt, sizeof(ckpt));
  if (!rc && s->logged) {
    pthread_mutex_lock(&s->ckpt_mu);
    s->installs++;
    if (rename(path, ckpt) != 0) rc = -errno;
    if (!rc) rc = lkv_fs_sync_dir(s->db_dir);
    pthread_mutex_unlock(&s->ckpt_mu);
  }
  if (!rc) rc = replace_all(s, &c);
  mdb_env_close(c.env);
  return rc;
}

int lkv_mvcc_install(lkv_mvcc_t *s, const char *path, int (*record)(void *arg, lkv_mvcc_txn_t *t),
                     void *arg) {
  if (s->read_only) return LKV_EINVAL;
  atomic_store(&s->defrag_spoiled, 1); /* a defragment's copy predates this: it must not replace it */
  lkv__gate_enter(s);
  int rc = install(s, path, record, arg);
  lkv__gate_leave(s);
  return rc;
}
