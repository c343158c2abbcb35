/* `snapshot restore`: reads an etcd 3.4 snapshot and writes the ledger a new data dir starts from. */
#include "server/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply/apply.h"
#include "cluster/initial_cluster.h"
#include "common/error.h"
#include "common/fs.h"
#include "etcd/lease/leasepb/lease.pb-c.h"
#include "etcd/mvcc/mvccpb/kv.pb-c.h"
#include "ledger/ledger.h"
#include "replication/raft_node.h"
#include "server/restore_internal.h"
#include "snapshot/bbolt.h"

/* A user or role of the snapshot (copies). */
typedef struct lkv_restore_auth_s {
  lkv_mvcc_auth_kind_t kind;
  uint8_t *name, *val;
  size_t name_len, val_len;
} lkv_restore_auth_t;

/* What the walk of the snapshot collected. */
typedef struct restore_s {
  const char *bucket;             /* the top-level bucket being walked, or NULL */
  lkv__rhist_t hist;              /* the key history and leases, then the ledger records they plan */
  uint64_t cluster_id, member_id; /* the member the data dir is restored for (etcd's ids from the flags) */
  int auth_enabled;
  uint64_t auth_revision;
  lkv_restore_auth_t *auth; /* users and roles, etcd's authpb messages as the store keeps them */
  size_t n_auth, cap_auth;
  char *err;
  size_t errlen;
} restore_t;

static int64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return (int64_t)v;
}

static int refuse(restore_t *r, int rc, const char *msg) {
  snprintf(r->err, r->errlen, "%s", msg);
  return rc;
}

static int on_auth(restore_t *r, lkv_mvcc_auth_kind_t kind, const uint8_t *key, size_t key_len,
                   const uint8_t *val, size_t val_len) {
  if (r->n_auth == r->cap_auth) {
    size_t ncap = r->cap_auth ? r->cap_auth * 2 : 16;
    lkv_restore_auth_t *b = realloc(r->auth, ncap * sizeof(*b));
    if (!b) return LKV_ENOMEM;
    r->auth = b;
    r->cap_auth = ncap;
  }
  lkv_restore_auth_t *a = &r->auth[r->n_auth];
  *a = (lkv_restore_auth_t){.kind = kind,
                            .name = malloc(key_len + 1),
                            .val = malloc(val_len + 1),
                            .name_len = key_len,
                            .val_len = val_len};
  if (!a->name || !a->val) {
    free(a->name);
    free(a->val);
    return LKV_ENOMEM;
  }
  memcpy(a->name, key, key_len);
  if (val_len) memcpy(a->val, val, val_len);
  r->n_auth++;
  return 0;
}

/* The "auth" bucket: whether auth is on, and its revision (8 B BE). */
static int on_auth_state(restore_t *r, const uint8_t *key, size_t key_len, const uint8_t *val,
                         size_t val_len) {
  if (key_len == 11 && memcmp(key, "authEnabled", 11) == 0) r->auth_enabled = val_len == 1 && val[0] == 1;
  if (key_len == 12 && memcmp(key, "authRevision", 12) == 0) {
    if (val_len != 8) return refuse(r, LKV_ECORRUPT, "the auth bucket's authRevision is not 8 bytes");
    r->auth_revision = (uint64_t)be64(val);
  }
  return 0;
}

static int visit(void *arg, lkv_bbolt_event_t ev, size_t depth, const uint8_t *key, size_t key_len,
                 const uint8_t *value, size_t value_len) {
  restore_t *r = arg;
  static const char *const names[] = {"key", "lease", "meta", "auth", "authUsers", "authRoles"};
  if (depth != 0) return 0; /* etcd 3.4 nests no bucket */
  if (ev == LKV_BBOLT_BUCKET_END) {
    r->bucket = NULL;
    return 0;
  }
  if (ev == LKV_BBOLT_BUCKET_BEGIN) {
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
      if (key_len == strlen(names[i]) && memcmp(key, names[i], key_len) == 0) r->bucket = names[i];
    return 0;
  }
  if (!r->bucket) return 0;
  if (strcmp(r->bucket, "key") == 0)
    return lkv__rhist_key(&r->hist, key, key_len, value, value_len, r->err, r->errlen);
  if (strcmp(r->bucket, "lease") == 0) return lkv__rhist_lease(&r->hist, value, value_len, r->err, r->errlen);
  if (strcmp(r->bucket, "meta") == 0) {
    static const char sched[] = "scheduledCompactRev", fin[] = "finishedCompactRev";
    if ((key_len == sizeof(sched) - 1 && memcmp(key, sched, key_len) == 0) ||
        (key_len == sizeof(fin) - 1 && memcmp(key, fin, key_len) == 0))
      return lkv__rhist_compact(&r->hist, value, value_len, r->err, r->errlen);
    return 0;
  }
  if (strcmp(r->bucket, "auth") == 0) return on_auth_state(r, key, key_len, value, value_len);
  return on_auth(r, strcmp(r->bucket, "authUsers") == 0 ? LKV_MVCC_AUTH_USER : LKV_MVCC_AUTH_ROLE, key,
                 key_len, value, value_len);
}

static void restore_free(restore_t *r) {
  lkv__rhist_free(&r->hist);
  for (size_t i = 0; i < r->n_auth; i++) free(r->auth[i].name), free(r->auth[i].val);
  free(r->auth);
}

/* etcdctl's check of the SHA-256 etcd appends: a file of 512-byte multiples plus 32 bytes carries one. */
static int check_hash(const uint8_t *buf, size_t *len, int skip, char *err, size_t errlen) {
  int has = *len % 512 == crypto_hash_sha256_BYTES;
  if (!has && !skip) {
    snprintf(err, errlen, "snapshot missing hash but --skip-hash-check=false");
    return LKV_EINVAL;
  }
  if (!has) return 0;
  *len -= crypto_hash_sha256_BYTES;
  if (skip) return 0;
  uint8_t got[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(got, buf, *len);
  if (memcmp(got, buf + *len, sizeof(got)) == 0) return 0;
  /* Go prints byte slices as [n n ...]. */
  size_t off = (size_t)snprintf(err, errlen, "expected sha256 [");
  for (int pass = 0; pass < 2; pass++) {
    const uint8_t *h = pass ? got : buf + *len;
    for (size_t i = 0; i < sizeof(got) && off < errlen; i++)
      off += (size_t)snprintf(err + off, errlen - off, "%s%u", i ? " " : "", h[i]);
    if (off < errlen) off += (size_t)snprintf(err + off, errlen - off, pass ? "]" : "], got [");
  }
  return LKV_EINVAL;
}

/* Walks the mapped snapshot into r. */
static int read_snapshot(const lkv_restore_opts_t *o, restore_t *r, char *err, size_t errlen) {
  int fd = open(o->snapshot, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int rc = -errno;
    snprintf(err, errlen, "%s: %s", o->snapshot, strerror(errno));
    return rc;
  }
  struct stat st;
  int rc = fstat(fd, &st) ? -errno : 0;
  size_t len = rc ? 0 : (size_t)st.st_size;
  uint8_t *buf = NULL;
  if (!rc && len) {
    buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (buf == MAP_FAILED) rc = -errno, buf = NULL;
  }
  close(fd);
  if (rc) {
    snprintf(err, errlen, "%s: %s", o->snapshot, strerror(-rc));
    return rc;
  }
  size_t db_len = len;
  rc = check_hash(buf, &db_len, o->skip_hash_check, err, errlen);
  if (!rc) {
    char why[256] = "";
    r->err = why;
    r->errlen = sizeof(why);
    rc = lkv_bbolt_read_buf(buf, db_len, NULL, visit, r, why, sizeof(why));
    if (!rc) rc = lkv__rhist_plan(&r->hist, o->bump_revision, o->mark_compacted, why, sizeof(why));
    if (rc) snprintf(err, errlen, "%s: %s", o->snapshot, why[0] ? why : lkv_strerror(rc));
  }
  if (buf) munmap(buf, len);
  return rc;
}

/* etcdctl's cluster checks: --initial-cluster parses, bootstraps with the token and names this member,
 * whose ids (etcd's, from the flags) the store is marked with. */
int lkv__restore_check_cluster(const char *initial_cluster, const char *token, const char *name,
                               uint64_t *cluster_id, uint64_t *member_id, char *err, size_t errlen) {
  const char *ic_text = initial_cluster ? initial_cluster : "default=http://localhost:2380";
  lkv_cluster_initial_t ic;
  int rc = lkv_cluster_initial_parse(ic_text, &ic, err, errlen);
  if (rc) return rc;
  rc = lkv_cluster_bootstrap(&ic, token ? token : "etcd-cluster", cluster_id, err, errlen);
  const lkv_cluster_member_t *me = rc ? NULL : lkv_cluster_initial_find(&ic, name);
  if (!rc && !me) {
    snprintf(err, errlen, "couldn't find local name \"%s\" in the initial cluster configuration", name);
    rc = LKV_EINVAL;
  }
  if (me) *member_id = me->id;
  lkv_cluster_initial_free(&ic);
  return rc;
}

int lkv__restore_check_dir(const char *dir, int *existed, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  *existed = d != NULL;
  if (!d) return errno == ENOENT ? 0 : (snprintf(err, errlen, "data-dir \"%s\" exists", dir), LKV_EINVAL);
  struct dirent *e;
  int empty = 1;
  while (empty && (e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
  closedir(d);
  if (empty) return 0;
  snprintf(err, errlen, "data-dir \"%s\" exists", dir);
  return LKV_EINVAL;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

void lkv__restore_remove(const char *dir, int existed) {
  char sub[4200];
  snprintf(sub, sizeof(sub), "%s/ledger", dir);
  nftw(sub, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  snprintf(sub, sizeof(sub), "%s/member", dir);
  nftw(sub, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  if (!existed) rmdir(dir);
}

/* The store the first start would replay from the ledger, built now so that the users and roles (not
 * ledger records: docs/auth.md) go in beside it, marked as restored for this member of this cluster: the
 * first start takes its identity from the flags, which must name that member, and adopts the store as the
 * state before its Raft log, with every other member restored from the same file (raft_start.c). */
static int write_store(const char *dir, lkv_ledger_t *l, const restore_t *r) {
  lkv_mvcc_t *store;
  lkv_mvcc_options_t mo = {.dir = dir, .logged = 1};
  int rc = lkv_mvcc_open(&store, &mo);
  if (rc) return rc;
  rc = lkv_apply_replay(store, lkv_ledger_log(l), NULL);
  lkv_mvcc_txn_t *t;
  if (!rc && !(rc = lkv_mvcc_write_begin(store, &t))) {
    rc = lkv_raft_node_mark_restored(t, r->cluster_id, r->member_id);
    if (!rc && (r->n_auth || r->auth_revision || r->auth_enabled) && !(rc = lkv_mvcc_req_begin(t))) {
      for (size_t i = 0; !rc && i < r->n_auth; i++)
        rc = lkv_mvcc_auth_put(t, r->auth[i].kind, r->auth[i].name, r->auth[i].name_len, r->auth[i].val,
                               r->auth[i].val_len);
      if (!rc) rc = lkv_mvcc_auth_state_set(t, r->auth_enabled, r->auth_revision);
      int end = lkv_mvcc_req_end(t, rc == 0);
      if (!rc) rc = end;
    }
    if (!rc)
      rc = lkv_mvcc_write_commit(t);
    else
      lkv_mvcc_txn_end(t);
  }
  lkv_mvcc_close(store);
  return rc;
}

static int write_ledger(const char *dir, restore_t *r) {
  lkv_ledger_t *l;
  int rc = lkv_ledger_open(&l, dir, NULL);
  if (rc) return rc;
  const lkv__rhist_t *h = &r->hist;
  for (size_t i = 0; !rc && i < h->n_entries; i += 1024)
    rc = lkv_ledger_append(l, h->entries + i, h->n_entries - i < 1024 ? h->n_entries - i : 1024);
  if (!rc && lkv_ledger_needs_sign(l)) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lkv_ledger_signed_head_t sth;
    rc = lkv_ledger_sign(l, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000, &sth);
  }
  if (!rc) rc = write_store(dir, l, r);
  lkv_ledger_close(l);
  return rc;
}

int lkv_server_restore(const lkv_restore_opts_t *o, lkv_restore_info_t *info, char *err, size_t errlen) {
  const char *name = o->name ? o->name : "default";
  char def_dir[4096];
  const char *dir = o->data_dir;
  if (!dir) {
    snprintf(def_dir, sizeof(def_dir), "%s.etcd", name);
    dir = def_dir;
  }
  int existed;
  if (o->bump_revision < 0 || (o->bump_revision > 0 && !o->mark_compacted)) {
    snprintf(err, errlen, "%s",
             o->bump_revision < 0 ? "--bump-revision must not be negative"
                                  : "--mark-compacted required if --bump-revision > 0");
    return LKV_EINVAL;
  }
  restore_t r = {0};
  int rc = lkv__restore_check_cluster(o->initial_cluster, o->token, name, &r.cluster_id, &r.member_id, err,
                                      errlen);
  if (!rc) rc = lkv__restore_check_dir(dir, &existed, err, errlen);
  if (rc) return rc;
  rc = read_snapshot(o, &r, err, errlen);
  if (!rc) {
    rc = lkv_fs_mkdirs(dir, 0700);
    if (!rc) rc = write_ledger(dir, &r);
    if (rc) {
      snprintf(err, errlen, "cannot write the ledger and store in %s: %s", dir, lkv_strerror(rc));
      lkv__restore_remove(dir, existed);
    }
  }
  if (!rc && info)
    *info = (lkv_restore_info_t){.revision = r.hist.revision,
                                 .revisions = r.hist.revisions,
                                 .leases = r.hist.n_leases,
                                 .compacted = r.hist.has_state};
  restore_free(&r);
  return rc;
}
