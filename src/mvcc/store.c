/* Opening and closing the LMDB environment, metadata (revisions, identity) and store statistics. */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "mvcc/internal.h"

/* LMDB reader-table size: every thread may keep a cached read txn, plus short-lived ones. */
#define LKV__MAX_READERS 1024
/* Address space reserved beyond twice the quota, so deletes and compaction still find free pages
 * after puts were refused for the quota. The map is virtual: the file grows only as pages are used. */
#define LKV__MAP_HEADROOM ((uint64_t)64 * 1024 * 1024)
/* Largest map: a quota beyond half of it is in effect no quota (the map may still fill up). */
#define LKV__MAP_MAX ((uint64_t)1 << 40)

static size_t map_size(uint64_t quota) {
  if (quota > (LKV__MAP_MAX - LKV__MAP_HEADROOM) / 2) return (size_t)LKV__MAP_MAX;
  return (size_t)(2 * quota + LKV__MAP_HEADROOM);
}

static atomic_uint_fast64_t store_serials = 1;

int lkv__mdb_err(int rc) {
  switch (rc) {
    case 0:
      return 0;
    case MDB_MAP_FULL:
      return LKV_ENOSPACE;
    case MDB_READERS_FULL:
      return LKV_EAGAIN;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
      return LKV_ECORRUPT;
    case ENOMEM:
      return LKV_ENOMEM;
    case ENOENT:
    case EACCES:
    case EPERM:
    case ENOTDIR:
    case EROFS:
    case ENOSPC:
      return -rc;
    default:
      return LKV_EIO;
  }
}

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

static MDB_val cstr_val(const char *s) {
  return (MDB_val){.mv_size = strlen(s), .mv_data = (void *)s};
}

int lkv__meta_revs_get(lkv_mvcc_t *s, MDB_txn *txn, int64_t *rev, int64_t *compact) {
  MDB_val k = cstr_val(LKV__META_REVS), v;
  int rc = mdb_get(txn, s->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return LKV_ECORRUPT;
  if (rc) return lkv__mdb_err(rc);
  if (v.mv_size != 16) return LKV_ECORRUPT;
  *rev = (int64_t)get_be64(v.mv_data);
  *compact = (int64_t)get_be64((const uint8_t *)v.mv_data + 8);
  return 0;
}

int lkv__meta_revs_put(lkv_mvcc_t *s, MDB_txn *txn, int64_t rev, int64_t compact) {
  uint8_t buf[16];
  put_be64(buf, (uint64_t)rev);
  put_be64(buf + 8, (uint64_t)compact);
  MDB_val k = cstr_val(LKV__META_REVS), v = {.mv_size = sizeof(buf), .mv_data = buf};
  return lkv__mdb_err(mdb_put(txn, s->meta_dbi, &k, &v, 0));
}

/* mkdir -p with mode 0700 for created components. */
static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(buf)) return LKV_EINVAL;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -errno;
    buf[i] = saved;
  }
  struct stat st;
  if (stat(path, &st) != 0) return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Loads the identity, generating it on first open; ensures the revision pair exists. A read-only store
 * must have both. */
static int init_meta(lkv_mvcc_t *s, MDB_txn *txn) {
  int64_t rev, compact;
  int rc = lkv__meta_revs_get(s, txn, &rev, &compact);
  if (rc == LKV_ECORRUPT && !s->read_only) {
    MDB_val k = cstr_val(LKV__META_REVS), v;
    if (mdb_get(txn, s->meta_dbi, &k, &v) != MDB_NOTFOUND) return LKV_ECORRUPT;
    rc = lkv__meta_revs_put(s, txn, 1, -1); /* etcd starts at revision 1, never compacted */
  }
  if (rc) return rc;

  MDB_val k = cstr_val(LKV__META_IDENTITY), v;
  rc = mdb_get(txn, s->meta_dbi, &k, &v);
  if (rc == 0) {
    if (v.mv_size != 16) return LKV_ECORRUPT;
    s->cluster_id = get_be64(v.mv_data);
    s->member_id = get_be64((const uint8_t *)v.mv_data + 8);
    return (s->cluster_id && s->member_id) ? 0 : LKV_ECORRUPT;
  }
  if (rc != MDB_NOTFOUND) return lkv__mdb_err(rc);
  if (s->read_only) return LKV_ECORRUPT;
  /* A store rebuilt after a torn one keeps the identity its marker saved (s->*_id set by the opener). */
  while (s->cluster_id == 0) randombytes_buf(&s->cluster_id, sizeof(s->cluster_id));
  while (s->member_id == 0) randombytes_buf(&s->member_id, sizeof(s->member_id));
  uint8_t buf[16];
  put_be64(buf, s->cluster_id);
  put_be64(buf + 8, s->member_id);
  v = (MDB_val){.mv_size = sizeof(buf), .mv_data = buf};
  return lkv__mdb_err(mdb_put(txn, s->meta_dbi, &k, &v, 0));
}

/* The named databases, with the flags they are created with, and where s keeps each one's handle (in the
 * order of LKV__DB_*). */
static const struct {
  const char *name;
  unsigned flags;
  size_t off; /* of the handle in lkv_mvcc_t */
} dbs[] = {
    {"rev", 0, offsetof(lkv_mvcc_t, rev_dbi)},
    {"key", MDB_DUPSORT, offsetof(lkv_mvcc_t, key_dbi)},
    {"meta", 0, offsetof(lkv_mvcc_t, meta_dbi)},
    {"lease", 0, offsetof(lkv_mvcc_t, lease_dbi)},
    {"lease_key", 0, offsetof(lkv_mvcc_t, lease_key_dbi)},
};
_Static_assert(sizeof(dbs) / sizeof(dbs[0]) == LKV__N_DBS, "the table lists every database");

MDB_dbi *lkv__db_handle(lkv_mvcc_t *s, int i) {
  return (MDB_dbi *)((char *)s + dbs[i].off);
}

unsigned lkv__db_flags(int i) {
  return dbs[i].flags;
}

int lkv__dbs_open(lkv_mvcc_t *s, MDB_txn *txn, unsigned create) {
  for (int i = 0; i < LKV__N_DBS; i++) {
    int rc = mdb_dbi_open(txn, dbs[i].name, dbs[i].flags | create, lkv__db_handle(s, i));
    if (rc) return rc == MDB_NOTFOUND ? LKV_ENOENT : lkv__mdb_err(rc);
  }
  return 0;
}

static int open_dbs(lkv_mvcc_t *s) {
  MDB_txn *txn;
  int rc = lkv__mdb_err(mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn));
  if (rc) return rc;
  unsigned create = s->read_only ? 0 : MDB_CREATE;
  rc = lkv__mdb_err(mdb_dbi_open(txn, NULL, 0, &s->main_dbi));
  if (!rc) rc = lkv__dbs_open(s, txn, create);
  if (!rc) rc = init_meta(s, txn);
  if (!rc) rc = lkv__compact_load(s, txn);
  if (rc) {
    mdb_txn_abort(txn);
    return rc;
  }
  return lkv__mdb_err(mdb_txn_commit(txn));
}

int lkv__env_open(lkv_mvcc_t *s) {
  s->prefill_end = 0; /* a new file, or the defragmented one */
  int rc = lkv__mdb_err(mdb_env_create(&s->env));
  if (rc) return rc;
  rc = lkv__mdb_err(mdb_env_set_maxdbs(s->env, 6));
  if (!rc) rc = lkv__mdb_err(mdb_env_set_maxreaders(s->env, LKV__MAX_READERS));
  if (!rc) rc = lkv__mdb_err(mdb_env_set_mapsize(s->env, map_size(s->quota)));
  /* MDB_NOTLS: read txns are not bound to threads (they are cached per thread and may be reused by
   * another). Default sync: a commit is on disk when it returns; with a log in front, commits do not
   * flush at all and the unsynced marker guards the file (unsynced.c). */
  /* MDB_NORDAHEAD: pages faulted in from disk (after a restore or an install, written around the page
   * cache) come in one at a time, not in the large folios readahead builds, into which LMDB's later
   * one-page writes are slow (prefill.c). */
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (s->logged ? MDB_NOSYNC : 0) | (s->read_only ? MDB_RDONLY : 0);
  if (!rc) rc = lkv__mdb_err(mdb_env_open(s->env, s->db_dir, flags, 0600));
  if (!rc) rc = open_dbs(s);
  if (rc) mdb_env_close(s->env);
  return rc;
}

static void destroy_mutexes(lkv_mvcc_t *s) {
  pthread_mutex_destroy(&s->slots_mu);
  pthread_mutex_destroy(&s->ckpt_mu);
  pthread_mutex_destroy(&s->gate_mu);
  pthread_cond_destroy(&s->gate_cv);
  pthread_mutex_destroy(&s->touched_mu);
  pthread_mutex_destroy(&s->defrag_mu);
}

int lkv_mvcc_open(lkv_mvcc_t **out, const lkv_mvcc_options_t *opts) {
  char path[PATH_MAX];
  int rc;
  if (!out || !opts || !opts->dir || !opts->dir[0]) return LKV_EINVAL;
  if (snprintf(path, sizeof(path), "%s/member/db", opts->dir) >= (int)sizeof(path)) return LKV_EINVAL;
  if (sodium_init() < 0) return LKV_EIO;
  if (opts->logged && opts->read_only) return LKV_EINVAL;
  struct stat st;
  rc = opts->read_only ? (stat(path, &st) == 0 ? 0 : -errno) : mkdir_p(path);
  if (rc) return rc;
  lkv__unsynced_open_t uo;
  rc = lkv__unsynced_before_open(path, opts->boot_id, opts->logged, &uo);
  if (rc) return rc;

  lkv_mvcc_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  snprintf(s->db_dir, sizeof(s->db_dir), "%s", path);
  s->logged = opts->logged != 0;
  s->read_only = opts->read_only != 0;
  s->rebuilt = uo.torn;
  if (uo.torn) {
    s->cluster_id = uo.marker.cluster_id;
    s->member_id = uo.marker.member_id;
  }
  s->quota = opts->quota_bytes ? opts->quota_bytes : LKV_MVCC_DEFAULT_QUOTA;
  s->serial = atomic_fetch_add(&store_serials, 1);
  if (pthread_mutex_init(&s->slots_mu, NULL) != 0 || pthread_mutex_init(&s->ckpt_mu, NULL) != 0 ||
      pthread_mutex_init(&s->gate_mu, NULL) != 0 || pthread_cond_init(&s->gate_cv, NULL) != 0 ||
      pthread_mutex_init(&s->touched_mu, NULL) != 0 || pthread_mutex_init(&s->defrag_mu, NULL) != 0) {
    rc = LKV_ENOMEM;
    goto err_after_alloc;
  }
  /* A defragment's copy left by a crash is of no use: the file it was to replace is still there. */
  if (!s->read_only && (rc = lkv__remove_file(s->db_dir, LKV__DEFRAG_NAME)) != 0) goto err_after_mutex;
  rc = lkv__env_open(s);
  if (rc) goto err_after_mutex;
  rc = lkv__unsynced_after_open(s, &uo);
  if (rc) goto err_after_env;
  *out = s;
  return 0;

err_after_env:
  mdb_env_close(s->env);
err_after_mutex:
  destroy_mutexes(s);
err_after_alloc:
  free(s);
  return rc;
}

void lkv_mvcc_close(lkv_mvcc_t *s) {
  if (!s) return;
  lkv__read_cache_close(s);
  lkv__unsynced_at_close(s);
  mdb_env_close(s->env);
  destroy_mutexes(s);
  free(s);
}

int lkv_mvcc_rebuilt(const lkv_mvcc_t *s) {
  return s->rebuilt;
}

int lkv_mvcc_identity(lkv_mvcc_t *s, uint64_t *cluster_id, uint64_t *member_id) {
  if (cluster_id) *cluster_id = s->cluster_id;
  if (member_id) *member_id = s->member_id;
  return 0;
}

/* Pages reachable from the trees (data, branch, overflow of every database, the freelist tree) plus the
 * two meta pages: what LMDB would keep if it were copied compactly. */
static int in_use_bytes(lkv_mvcc_t *s, MDB_txn *txn, uint64_t *out) {
  MDB_dbi dbis[] = {0 /* freelist */, s->main_dbi,  s->rev_dbi,      s->key_dbi,
                    s->meta_dbi,      s->lease_dbi, s->lease_key_dbi};
  uint64_t pages = 2, psize = 0;
  for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
    MDB_stat st;
    int rc = mdb_stat(txn, dbis[i], &st);
    if (rc) return lkv__mdb_err(rc);
    pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    psize = st.ms_psize;
  }
  *out = pages * psize;
  return 0;
}

int lkv_mvcc_quota_check(lkv_mvcc_txn_t *t, uint64_t cost) {
  uint64_t used;
  int rc = in_use_bytes(t->s, t->txn, &used);
  if (rc) return rc;
  return cost >= t->s->quota || used >= t->s->quota - cost ? LKV_ENOSPACE : 0; /* no overflow */
}

int lkv_mvcc_stat(lkv_mvcc_t *s, lkv_mvcc_stat_t *out) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(s, &t);
  if (rc) return rc;
  out->revision = t->rev;
  out->compact_revision = t->compact_rev;
  out->quota_bytes = s->quota;
  rc = in_use_bytes(s, t->txn, &out->db_size_in_use);
  MDB_stat ms;
  if (!rc) rc = lkv__mdb_err(mdb_stat(t->txn, s->rev_dbi, &ms));
  if (!rc) out->records = ms.ms_entries;
  if (!rc) rc = lkv_mvcc_alarms_get(t, &out->alarms);
  /* inside the transaction: a defragment may swap the file once it ends */
  if (!rc) rc = lkv__store_file_size(s, &out->db_size);
  lkv_mvcc_txn_end(t);
  return rc;
}
