/* `ledgerkv backup save` and `backup restore`: a stopped member's store and ledger, kept verifiable. */
#include "server/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "apply/apply.h"
#include "cluster/attrs.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/grow.h"
#include "ledger/ledger.h"
#include "ledger/log_file.h"
#include "ledger/signer.h"
#include "replication/raft_node.h"
#include "server/backup_internal.h"
#include "server/restore_internal.h"

/* The data dir's files a backup carries, in this order (the store first: the ledger must not be older). */
static const char *const FILES[] = {"member/db/data.mdb", "ledger/ledger.log", "ledger/ledger.heads",
                                    "ledger/ledger.base"};
#define NODE_KEY "ledger/node.key"
#define OLD_HEADS "ledger/ledger.heads.before-restore"
#define STORE_COPY "member/db/backup.mdb.tmp"

/* out = a ‖ b; LKV_EINVAL when it does not fit a path. */
static int join(char out[PATH_MAX], const char *a, const char *b) {
  int n = snprintf(out, PATH_MAX, "%s%s", a, b);
  return n < 0 || n >= PATH_MAX ? LKV_EINVAL : 0;
}

/* ---- the KEYS section ---- */

typedef struct keys_s {
  uint8_t *buf; /* n (u32) ‖ the keys */
  size_t len, cap;
  uint32_t n;
  uint64_t self; /* the saving member's id: its own key is listed first, not again */
} keys_t;

static int keys_add(keys_t *k, uint64_t id, const char *name, const uint8_t key[LKV_LEDGER_KEY_LEN]) {
  size_t nl = strlen(name) > UINT16_MAX ? UINT16_MAX : strlen(name), need = 10 + nl + LKV_LEDGER_KEY_LEN;
  if (!k->len) k->len = 4;
  int rc = lkv_grow((void **)&k->buf, &k->cap, k->len + need, 1);
  if (rc) return rc;
  uint8_t *p = k->buf + k->len;
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(id >> (56 - 8 * i));
  p[8] = (uint8_t)(nl >> 8), p[9] = (uint8_t)nl;
  memcpy(p + 10, name, nl);
  memcpy(p + 10 + nl, key, LKV_LEDGER_KEY_LEN);
  k->len += need;
  k->n++;
  for (int i = 0; i < 4; i++) k->buf[i] = (uint8_t)(k->n >> (24 - 8 * i));
  return 0;
}

static int member_key(void *arg, uint64_t id, const uint8_t *attrs, size_t len) {
  keys_t *k = arg;
  lkv_cluster_attrs_t a;
  if (id == k->self || lkv_cluster_attrs_decode(attrs, len, &a)) return 0; /* listed first / no key */
  int rc = a.has_ledger_key ? keys_add(k, id, a.name, a.ledger_key) : 0;
  lkv_cluster_attrs_free(&a);
  return rc;
}

/* The node's key first (with its member id when it ran as one), then the other members' keys. */
static int collect_keys(lkv_mvcc_t *store, const char *data_dir, keys_t *k) {
  lkv_ledger_signer_t *s;
  uint64_t cid;
  if (lkv_raft_node_identity(store, &cid, &k->self)) k->self = 0;
  int rc = lkv_ledger_signer_open(&s, data_dir, 0, NULL);
  if (rc) return rc;
  rc = keys_add(k, k->self, "(this member)", lkv_ledger_signer_public_key(s));
  lkv_ledger_signer_close(s);
  return rc ? rc : lkv_raft_node_stored_members(store, member_key, k);
}

/* ---- save ---- */

/* Holds the Raft log's lock, as a running member does (wal.c), for the length of the copy. */
static int lock_wal(const char *data_dir, const char *wal_dir, int *fd, char *err, size_t errlen) {
  char path[PATH_MAX];
  *fd = -1;
  if (join(path, wal_dir ? wal_dir : data_dir, wal_dir ? "/LOCK" : "/member/wal/LOCK")) return LKV_EINVAL;
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0) return errno == ENOENT ? 0 : -errno; /* never ran on Raft: no member to race */
  if (flock(*fd, LOCK_EX | LOCK_NB) == 0) return 0;
  int rc = errno == EWOULDBLOCK ? LKV_EAGAIN : -errno;
  snprintf(err, errlen, "%s is locked: the data dir is in use by a running ledgerkv, stop it first", path);
  return rc;
}

int lkv_server_backup_save(const char *data_dir, const char *wal_dir, const char *file, int private_key,
                           lkv_backup_info_t *info, char *err, size_t errlen) {
  char path[PATH_MAX], tmp[PATH_MAX];
  int lock = -1, rc = lock_wal(data_dir, wal_dir, &lock, err, errlen);
  if (rc) goto out;
  lkv_mvcc_t *store;
  lkv_mvcc_options_t mo = {.dir = data_dir, .read_only = 1};
  if ((rc = lkv_mvcc_open(&store, &mo))) {
    snprintf(err, errlen, "cannot open the store of %s: %s%s", data_dir, lkv_strerror(rc),
             rc == LKV_ETORN ? " (start the server once to rebuild it)" : "");
    goto out;
  }
  lkv_mvcc_stat_t st;
  keys_t keys = {0};
  lkv__bw_t w = {.fd = -1};
  rc = lkv_mvcc_stat(store, &st);
  if (!rc && (rc = collect_keys(store, data_dir, &keys)))
    snprintf(err, errlen, "cannot read the members' public keys: %s", lkv_strerror(rc));
  if (!rc) rc = join(tmp, file, ".tmp");
  if (!rc) rc = lkv__bw_open(&w, tmp, private_key ? LKV__BACKUP_PRIVATE_KEY : 0);
  for (size_t i = 0; i <= sizeof(FILES) / sizeof(FILES[0]); i++) {
    const char *name = i < sizeof(FILES) / sizeof(FILES[0]) ? FILES[i] : private_key ? NODE_KEY : NULL;
    char rel[PATH_MAX];
    if (!rc && name && !(rc = join(rel, "/", name)) && !(rc = join(path, data_dir, rel)))
      rc = lkv__bw_file(&w, name, path, i == 3);
  }
  if (!rc) rc = lkv__bw_section(&w, LKV__BACKUP_KEYS, "keys", keys.buf, keys.len);
  if (!rc) rc = lkv__bw_finish(&w);
  if (!rc && rename(tmp, file)) rc = -errno;
  if (rc && !err[0]) snprintf(err, errlen, "cannot write %s: %s", file, lkv_strerror(rc));
  if (rc) lkv__bw_abandon(&w), unlink(tmp);
  if (!rc && info)
    *info = (lkv_backup_info_t){.revision = st.revision, .keys = keys.n, .private_key = private_key};
  free(keys.buf);
  lkv_mvcc_close(store);
out:
  if (lock >= 0) close(lock);
  return rc;
}

/* ---- restore ---- */

static int write_file(const char *dir, const char *name, const lkv__bsec_t *s) {
  char path[PATH_MAX], rel[PATH_MAX];
  int rc = join(rel, "/", name);
  return rc || (rc = join(path, dir, rel)) ? rc : lkv__bfile_extract(s, path);
}

/* The KEYS section as text lines "<id hex> <name> <key hex>". */
static int keys_text(const lkv__bsec_t *s, char **out, size_t *n_keys) {
  if (!s || s->len < 4) return LKV_ECORRUPT;
  const uint8_t *p = s->data + 4, *end = s->data + s->len;
  uint32_t n = (uint32_t)p[-4] << 24 | (uint32_t)p[-3] << 16 | (uint32_t)p[-2] << 8 | p[-1];
  size_t cap = (size_t)(s->len) * 3 + 64, len = 0;
  char *t = malloc(cap);
  if (!t) return LKV_ENOMEM;
  t[0] = '\0';
  for (uint32_t i = 0; i < n; i++) {
    if (end - p < 10) goto bad;
    uint64_t id = 0;
    for (int k = 0; k < 8; k++) id = id << 8 | p[k];
    size_t nl = (size_t)p[8] << 8 | p[9];
    if ((size_t)(end - p) < 10 + nl + LKV_LEDGER_KEY_LEN) goto bad;
    char hex[LKV_LEDGER_KEY_HEX_LEN];
    lkv_ledger_key_hex(p + 10 + nl, hex);
    len += (size_t)snprintf(t + len, cap - len, "%016llx %.*s %s\n", (unsigned long long)id, (int)nl,
                            (const char *)p + 10, hex);
    p += 10 + nl + LKV_LEDGER_KEY_LEN;
  }
  if (p != end) goto bad;
  *out = t;
  *n_keys = n;
  return 0;
bad:
  free(t);
  return LKV_ECORRUPT;
}

static int mark(void *arg, lkv_mvcc_txn_t *t) {
  const uint64_t *ids = arg;
  return lkv_raft_node_mark_restored(t, ids[0], ids[1]);
}

/* The store: the file's copy installed into a new store (the copy becomes its checkpoint), marked. */
static int restore_store(const char *dir, const lkv__bfile_t *f, const uint64_t ids[2], lkv_mvcc_t **store) {
  lkv_mvcc_options_t mo = {.dir = dir, .logged = 1};
  int rc = lkv_mvcc_open(store, &mo);
  if (rc) return rc;
  rc = write_file(dir, STORE_COPY, lkv__bfile_find(f, LKV__BACKUP_FILE, FILES[0]));
  char path[PATH_MAX];
  if (!rc && !(rc = join(path, dir, "/" STORE_COPY))) {
    rc = lkv_mvcc_install(*store, path, mark, (void *)ids);
    unlink(path); /* gone once installed */
  }
  return rc;
}

/* The ledger's files; without the old key its heads are kept aside and the new key signs one. */
static int restore_ledger(const char *dir, const lkv__bfile_t *f, lkv_mvcc_t *store,
                          lkv_backup_info_t *info) {
  int has_key = lkv__bfile_find(f, LKV__BACKUP_FILE, NODE_KEY) != NULL, rc = 0;
  const char *names[] = {FILES[1], FILES[2], FILES[3], NODE_KEY};
  for (size_t i = 0; !rc && i < 4; i++) {
    const lkv__bsec_t *s = lkv__bfile_find(f, LKV__BACKUP_FILE, names[i]);
    if (s) rc = write_file(dir, i == 1 && !has_key ? OLD_HEADS : names[i], s);
  }
  lkv_ledger_t *l;
  lkv_ledger_open_info_t oi;
  if (rc || (rc = lkv_ledger_open(&l, dir, &oi))) return rc;
  if (oi.key_changed) rc = LKV_ECORRUPT; /* node.key and ledger.heads come from the same member */
  /* The store and the ledger must tell the same history: replaying finds nothing it cannot apply. */
  if (!rc) rc = lkv_apply_replay(store, lkv_ledger_log(l), NULL);
  if (!rc && lkv_ledger_needs_sign(l)) {
    struct timespec now;
    lkv_ledger_signed_head_t sth;
    clock_gettime(CLOCK_REALTIME, &now);
    rc = lkv_ledger_sign(l, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000, &sth);
  }
  info->ledger_entries = lkv_ledger_log_count(lkv_ledger_log(l));
  info->private_key = has_key;
  lkv_ledger_close(l);
  return rc;
}

int lkv_server_backup_restore(const lkv_backup_restore_opts_t *o, lkv_backup_info_t *info, char **keys_out,
                              char *err, size_t errlen) {
  const char *name = o->name ? o->name : "default";
  char def_dir[PATH_MAX], sub[PATH_MAX], *keys = NULL;
  const char *dir = o->data_dir;
  if (!dir && join(def_dir, name, ".etcd")) return LKV_EINVAL;
  if (!dir) dir = def_dir;
  uint64_t ids[2];
  lkv__bfile_t f;
  lkv_backup_info_t local = {0};
  int existed,
      rc = lkv__restore_check_cluster(o->initial_cluster, o->token, name, &ids[0], &ids[1], err, errlen);
  if (!rc) rc = lkv__restore_check_dir(dir, &existed, err, errlen);
  if (rc) return rc;
  if ((rc = lkv__bfile_read(o->file, &f, err, errlen))) return rc;
  for (size_t i = 0; !rc && i < 3; i++)
    if (!lkv__bfile_find(&f, LKV__BACKUP_FILE, FILES[i])) rc = LKV_ECORRUPT;
  if (!rc) rc = keys_text(lkv__bfile_find(&f, LKV__BACKUP_KEYS, "keys"), &keys, &local.keys);
  if (rc) {
    snprintf(err, errlen, "backup file damaged: a section is missing or malformed");
    lkv__bfile_close(&f);
    return rc;
  }
  lkv_mvcc_t *store = NULL;
  if (!(rc = join(sub, dir, "/ledger")) && !(rc = lkv_fs_mkdirs(sub, 0700)) &&
      !(rc = restore_store(dir, &f, ids, &store)))
    rc = restore_ledger(dir, &f, store, &local);
  lkv_mvcc_stat_t st;
  if (!rc && !(rc = lkv_mvcc_stat(store, &st))) local.revision = st.revision;
  lkv_mvcc_close(store);
  lkv__bfile_close(&f);
  if (rc) {
    snprintf(err, errlen, "cannot write the store and ledger in %s: %s", dir, lkv_strerror(rc));
    lkv__restore_remove(dir, existed);
    free(keys);
    return rc;
  }
  if (info) *info = local;
  if (keys_out)
    *keys_out = keys;
  else
    free(keys);
  return 0;
}
