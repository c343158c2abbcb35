/* Defragment: the store copied into a compact file while it serves, then swapped in under a short pause. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/fs.h"
#include "metrics/catalog.h"
#include "mvcc/internal.h"

/*
 * LMDB never shrinks its file: pages freed by deletes and compaction are reused, not returned. A compact
 * copy is the only way to a smaller file, and the environment must then be reopened on it.
 *
 * 1. Under LMDB's writer lock (a write transaction begun and aborted, so no write straddles it), writes
 *    start recording the keys they touch (lkv__touched; a transaction's keys join the list once it has
 *    committed, so a round that takes them reads a snapshot holding the change), and a read snapshot is
 *    taken.
 * 2. That snapshot is copied into <db>/defrag.mdb, every database in key order (so its pages are dense),
 *    while readers and the writer go on.
 * 3. Catch-up rounds bring the touched keys over from the live store, each key's whole current state
 *    (which makes a key recorded twice, or by a request later rolled back, harmless).
 * 4. The swap: the gate closes (lkv__gate_close: no transaction may be open, waited for a bounded time,
 *    else retried after another round), the last touched keys and the whole meta database (small; it
 *    holds the revisions, alarms, auth and replication records) are brought over and flushed, the copy
 *    is renamed over data.mdb and the environment reopened on it. Only this step pauses readers and the
 *    writer.
 * A crash before the rename leaves data.mdb as it was (open deletes the stray copy); after it, the copy is
 * complete and flushed.
 */

/* How long the swap may wait for open transactions, how long between attempts, and how many. */
#define SWAP_WAIT_MS 100u
#define SWAP_RETRY_NS 20000000u
#define SWAP_ATTEMPTS 300

struct lkv__touched_s {
  struct lkv__touched_s *next;
  int db;
  size_t len;
  uint8_t key[];
};

typedef struct lkv__touched_s touched_t;

void lkv__touched(lkv_mvcc_txn_t *t, int db, const void *key, size_t len) {
  lkv_mvcc_t *s = t->s;
  if (!atomic_load(&s->tracking)) return;
  touched_t *n = malloc(sizeof(*n) + len);
  if (!n) {
    atomic_store(&s->defrag_spoiled, 1); /* the copy would miss this change */
    return;
  }
  n->db = db;
  n->len = len;
  memcpy(n->key, key, len);
  n->next = t->touched;
  t->touched = n;
}

static void free_touched(touched_t *n) {
  while (n) {
    touched_t *next = n->next;
    free(n);
    n = next;
  }
}

void lkv__touched_commit(lkv_mvcc_txn_t *t) {
  if (!t->touched) return;
  touched_t *last = t->touched;
  while (last->next) last = last->next;
  lkv_mvcc_t *s = t->s;
  pthread_mutex_lock(&s->touched_mu);
  last->next = s->touched;
  s->touched = t->touched;
  pthread_mutex_unlock(&s->touched_mu);
  t->touched = NULL;
}

void lkv__touched_drop(lkv_mvcc_txn_t *t) {
  free_touched(t->touched);
  t->touched = NULL;
}

static touched_t *take_touched(lkv_mvcc_t *s) {
  pthread_mutex_lock(&s->touched_mu);
  touched_t *list = s->touched;
  s->touched = NULL;
  pthread_mutex_unlock(&s->touched_mu);
  return list;
}

/* Gives key n in c (write txn ctxn) the state it has in s (read in live): its value, or all its
 * duplicates in the key index, or none. */
static int bring_key(lkv_mvcc_t *s, MDB_txn *live, lkv_mvcc_t *c, MDB_txn *ctxn, const touched_t *n) {
  MDB_dbi from = *lkv__db_handle(s, n->db), to = *lkv__db_handle(c, n->db);
  MDB_val k = {.mv_size = n->len, .mv_data = (void *)n->key}, v;
  int rc = mdb_del(ctxn, to, &k, NULL); /* every duplicate of the key */
  if (rc && rc != MDB_NOTFOUND) return lkv__mdb_err(rc);
  if (n->db != LKV__DB_KEY) {
    rc = mdb_get(live, from, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    return rc ? lkv__mdb_err(rc) : lkv__mdb_err(mdb_put(ctxn, to, &k, &v, 0));
  }
  MDB_cursor *cur;
  rc = lkv__mdb_err(mdb_cursor_open(live, from, &cur));
  if (rc) return rc;
  for (int op = MDB_SET; !rc; op = MDB_NEXT_DUP) {
    int got = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
    if (got == MDB_NOTFOUND) break;
    rc = lkv__mdb_err(got);
    if (!rc) rc = lkv__mdb_err(mdb_put(ctxn, to, &k, &v, MDB_APPENDDUP));
  }
  mdb_cursor_close(cur);
  return rc;
}

/* One write transaction of c: the touched keys' state in live (and the whole meta database with_meta). */
static int bring(lkv_mvcc_t *s, MDB_txn *live, lkv_mvcc_t *c, const touched_t *list, int with_meta) {
  MDB_txn *ctxn;
  int rc = lkv__mdb_err(mdb_txn_begin(c->env, NULL, 0, &ctxn));
  if (rc) return rc;
  for (const touched_t *n = list; n && !rc; n = n->next) rc = bring_key(s, live, c, ctxn, n);
  if (!rc && with_meta) rc = lkv__copy_db(c, ctxn, s, live, LKV__DB_META);
  if (rc) {
    mdb_txn_abort(ctxn);
    return rc;
  }
  return lkv__mdb_err(mdb_txn_commit(ctxn)); /* flushed: the copy is not opened with MDB_NOSYNC */
}

/* Steps 1 and 2: tracking on, the snapshot copied whole into c. */
static int first_copy(lkv_mvcc_t *s, lkv_mvcc_t *c) {
  MDB_txn *w, *r0 = NULL, *ctxn;
  lkv__gate_enter(s);
  int rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, 0, &w)); /* waits for the batch being written */
  if (!rc) {
    atomic_store(&s->tracking, 1);
    rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r0));
    mdb_txn_abort(w);
  }
  if (!rc) rc = lkv__mdb_err(mdb_txn_begin(c->env, NULL, 0, &ctxn));
  for (int i = 0; !rc && i < LKV__N_DBS; i++) {
    rc = lkv__copy_db(c, ctxn, s, r0, i);
    if (rc) mdb_txn_abort(ctxn);
  }
  if (!rc) rc = lkv__mdb_err(mdb_txn_commit(ctxn));
  if (r0) mdb_txn_abort(r0);
  lkv__gate_leave(s);
  return rc;
}

/* Step 3: one catch-up round from a fresh snapshot of the live store. */
static int catch_up(lkv_mvcc_t *s, lkv_mvcc_t *c) {
  touched_t *list = take_touched(s);
  MDB_txn *live;
  lkv__gate_enter(s);
  int rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &live));
  if (!rc) {
    rc = bring(s, live, c, list, 0);
    mdb_txn_abort(live);
  }
  lkv__gate_leave(s);
  free_touched(list);
  return rc;
}

static uint64_t file_size(lkv_mvcc_t *s) {
  uint64_t size;
  return lkv__store_file_size(s, &size) == 0 ? size : 0;
}

/* Step 4, the gate closed: the last changes, then the copy in place of data.mdb and env reopened on it.
 * c is closed (c->env NULL) once it was renamed. */
static int swap(lkv_mvcc_t *s, lkv_mvcc_t *c, const char *copy_path) {
  touched_t *list = take_touched(s);
  MDB_txn *live;
  int rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &live));
  if (!rc) {
    rc = bring(s, live, c, list, 1);
    mdb_txn_abort(live);
  }
  free_touched(list);
  if (!rc && atomic_load(&s->defrag_spoiled)) rc = LKV_EAGAIN;
  if (rc) return rc;
  mdb_env_close(c->env);
  c->env = NULL;
  char data[PATH_MAX];
  rc = lkv__db_path(s->db_dir, "data.mdb", data, sizeof(data));
  if (!rc && rename(copy_path, data) != 0) rc = -errno;
  if (rc) return rc;
  atomic_store(&s->tracking, 0);
  /* From here on data.mdb is the copy: the store must reopen on it or stop. */
  int sync_rc = lkv_fs_sync_dir(s->db_dir);
  lkv__read_cache_reset(s);
  mdb_env_close(s->env);
  rc = lkv__env_open(s);
  if (rc) {
    fprintf(stderr, "ledgerkv: defragment: reopening the store failed (%s): stopping\n", lkv_strerror(rc));
    abort(); /* a restart opens the new file */
  }
  return sync_rc;
}

/* Steps 3 and 4: catch-up rounds until a swap succeeds, is stopped, or the attempts are used up. */
static int catch_up_and_swap(lkv_mvcc_t *s, lkv_mvcc_t *c, const char *copy_path, const atomic_int *stop,
                             uint64_t *pause_ns) {
  for (int attempt = 0; attempt < SWAP_ATTEMPTS; attempt++) {
    if (stop && atomic_load(stop)) return LKV_ESTOPPED;
    int rc = catch_up(s, c);
    if (rc) return rc;
    uint64_t start = lkv_clock_ns(CLOCK_MONOTONIC);
    if (lkv__gate_close(s, SWAP_WAIT_MS) == 0) {
      rc = swap(s, c, copy_path);
      lkv__gate_open(s);
      *pause_ns = lkv_clock_ns(CLOCK_MONOTONIC) - start;
      return rc;
    }
    struct timespec nap = {.tv_sec = 0, .tv_nsec = SWAP_RETRY_NS};
    nanosleep(&nap, NULL);
  }
  return LKV_EAGAIN;
}

int lkv_mvcc_defrag(lkv_mvcc_t *s, const atomic_int *stop, lkv_mvcc_defrag_t *out) {
  if (s->read_only) return LKV_EINVAL;
  memset(out, 0, sizeof(*out));
  char copy_path[PATH_MAX];
  int rc = lkv__db_path(s->db_dir, LKV__DEFRAG_NAME, copy_path, sizeof(copy_path));
  if (rc) return rc;
  pthread_mutex_lock(&s->defrag_mu);
  uint64_t start = lkv_clock_ns(CLOCK_MONOTONIC);
  lkv_metric_set(LKV_METRIC(defrag_running), 0, 1);
  lkv__gate_enter(s);
  MDB_envinfo info;
  rc = lkv__mdb_err(mdb_env_info(s->env, &info));
  out->size_before = file_size(s);
  lkv__gate_leave(s);
  atomic_store(&s->defrag_spoiled, 0);
  if (!rc) rc = lkv__remove_file(s->db_dir, LKV__DEFRAG_NAME);
  lkv_mvcc_t c;
  if (!rc) rc = lkv__copy_open(&c, copy_path, info.me_mapsize, LKV__COPY_CREATE);
  if (!rc) {
    rc = first_copy(s, &c);
    if (!rc) rc = catch_up_and_swap(s, &c, copy_path, stop, &out->pause_ns);
    if (c.env) mdb_env_close(c.env);
  }
  atomic_store(&s->tracking, 0);
  free_touched(take_touched(s));
  if (rc) {
    lkv__remove_file(s->db_dir, LKV__DEFRAG_NAME);
  } else {
    lkv__gate_enter(s);
    out->size_after = file_size(s);
    lkv__gate_leave(s);
    /* Defragment answers etcd's clients with nothing: the operator sees the space reclaimed here and in
     * the log (api/defrag.c). */
    if (out->size_before > out->size_after)
      lkv_metric_add(LKV_METRIC(defrag_reclaimed), 0, (double)(out->size_before - out->size_after));
  }
  lkv_metric_observe_since(LKV_METRIC(defrag_seconds), 0, start);
  lkv_metric_set(LKV_METRIC(defrag_running), 0, 0);
  pthread_mutex_unlock(&s->defrag_mu);
  return rc;
}
