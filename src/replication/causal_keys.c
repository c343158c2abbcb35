/* The causal members' keys: this member's key file, the hello that announces a member's key and attributes,
 * and the record of the keys learned from peers (trust on first use). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/le.h"
#include "replication/causal_internal.h"

#define SEED_LEN 32
#define PEER_RECORD (8 + LKV_CAUSAL_PK_LEN) /* id u64 ‖ public key */

/* Reads exactly len bytes at the start of path: 0, LKV_ENOENT, LKV_ECORRUPT (another size) or -errno. */
static int read_exact(const char *path, uint8_t *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? LKV_ENOENT : -errno;
  ssize_t got = read(fd, buf, len);
  uint8_t extra;
  int rc = got < 0 ? -errno : (size_t)got != len || read(fd, &extra, 1) != 0 ? LKV_ECORRUPT : 0;
  close(fd);
  return rc;
}

/* An append that fails is taken back (a full disk may have cut it short): the next one must start a whole
 * record, or every record after it would be read askew. */
int lkv__causal_write_durable(const char *dir, const char *path, int flags, const uint8_t *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
  if (fd < 0) return -errno;
  struct stat st;
  int rc = fstat(fd, &st) ? -errno : 0;
  if (!rc) rc = write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : LKV_EIO;
  if (rc == LKV_EIO && (flags & O_APPEND) && ftruncate(fd, st.st_size) == 0) (void)fsync(fd);
  close(fd);
  return rc ? rc : lkv_fs_sync_dir(dir);
}

int lkv_causal_node_key(const char *dir, uint8_t pk[LKV_CAUSAL_PK_LEN], uint8_t sk[LKV_CAUSAL_SK_LEN],
                        char *err, size_t errlen) {
  char path[4096];
  uint8_t seed[SEED_LEN];
  if (snprintf(path, sizeof(path), "%s/member.key", dir) >= (int)sizeof(path)) return LKV_EINVAL;
  int rc = lkv_fs_mkdirs(dir, 0700);
  if (!rc && (rc = read_exact(path, seed, sizeof(seed))) == LKV_ENOENT) {
    /* Written aside and renamed: a crash leaves no key file, or a whole one. */
    char tmp[4100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    randombytes_buf(seed, sizeof(seed));
    rc = lkv__causal_write_durable(dir, tmp, O_TRUNC, seed, sizeof(seed));
    if (!rc) rc = rename(tmp, path) == 0 ? lkv_fs_sync_dir(dir) : -errno;
  }
  if (!rc) rc = lkv_causal_keypair_from_seed(seed, pk, sk);
  sodium_memzero(seed, sizeof(seed));
  if (rc) snprintf(err, errlen, "cannot read or create the causal key %s: %s", path, lkv_strerror(rc));
  return rc;
}

/* ---- keys learned from peers: <dir>/peers, records of PEER_RECORD bytes */

/* Reads the whole records of <dir>/peers into out[0..*n) (at most cap); *whole: their bytes, *torn: whether
 * a record cut short follows. No file: none. Returns 0, LKV_ECORRUPT (more than cap records) or -errno. */
static int read_peers(const char *dir, lkv_causal_peer_t *out, size_t cap, size_t *n, size_t *whole,
                      int *torn) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/peers", dir);
  *n = *whole = 0;
  *torn = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? 0 : -errno;
  uint8_t rec[PEER_RECORD];
  size_t got;
  int rc = 0;
  while (!rc && (got = fread(rec, 1, sizeof(rec), f)) == sizeof(rec)) {
    if (*n == cap) {
      rc = LKV_ECORRUPT;
      break;
    }
    *whole += sizeof(rec);
    out[*n].id = lkv_le64_get(rec);
    memcpy(out[(*n)++].pk, rec + 8, LKV_CAUSAL_PK_LEN);
  }
  if (!rc && ferror(f)) rc = LKV_EIO;
  *torn = !rc && got > 0;
  fclose(f);
  return rc;
}

int lkv__causal_keys_load(lkv__causal_node_t *n, char *err, size_t errlen) {
  lkv_causal_peer_t rec[LKV_CAUSAL_MAX_ORIGINS];
  size_t cnt, whole;
  int torn;
  char path[4096];
  snprintf(path, sizeof(path), "%s/peers", n->o.dir);
  int rc = read_peers(n->o.dir, rec, LKV_CAUSAL_MAX_ORIGINS, &cnt, &whole, &torn);
  for (size_t r = 0; !rc && r < cnt; r++)
    for (size_t i = 0; i < n->o.n_members; i++)
      if (n->members[i].id == rec[r].id && rec[r].id != n->o.member_id)
        memcpy(n->members[i].pk, rec[r].pk, LKV_CAUSAL_PK_LEN);
  /* A record cut short by a crash is cut off (the next append must start a whole record): its key was not
   * used yet, it is given to the core only once recorded. */
  if (!rc && torn && truncate(path, (off_t)whole) != 0) rc = -errno;
  if (rc) snprintf(err, errlen, "cannot read %s: %s", path, lkv_strerror(rc));
  return rc;
}

int lkv__causal_keys_recorded(const lkv__causal_node_t *n, uint64_t id, uint8_t pk[LKV_CAUSAL_PK_LEN]) {
  lkv_causal_peer_t rec[LKV_CAUSAL_MAX_ORIGINS];
  size_t cnt, whole;
  int torn;
  int rc = read_peers(n->o.dir, rec, LKV_CAUSAL_MAX_ORIGINS, &cnt, &whole, &torn);
  for (size_t r = 0; !rc && r < cnt; r++)
    if (rec[r].id == id) {
      memcpy(pk, rec[r].pk, LKV_CAUSAL_PK_LEN);
      return 0;
    }
  return rc ? rc : LKV_ENOENT;
}

int lkv_causal_node_keys_read(const char *dir, uint8_t self[LKV_CAUSAL_PK_LEN], int *has_self,
                              lkv_causal_peer_t *peers, size_t cap, size_t *n) {
  char path[4096];
  uint8_t seed[SEED_LEN], sk[LKV_CAUSAL_SK_LEN];
  size_t whole;
  int torn;
  if (snprintf(path, sizeof(path), "%s/member.key", dir) >= (int)sizeof(path)) return LKV_EINVAL;
  int rc = read_exact(path, seed, sizeof(seed));
  *has_self = rc == 0;
  if (!rc) rc = lkv_causal_keypair_from_seed(seed, self, sk);
  sodium_memzero(seed, sizeof(seed));
  sodium_memzero(sk, sizeof(sk));
  if (rc && rc != LKV_ENOENT) return rc;
  return read_peers(dir, peers, cap, n, &whole, &torn);
}

int lkv__causal_member_index(const lkv__causal_node_t *n, uint64_t id) {
  for (size_t i = 0; i < n->o.n_members; i++)
    if (n->members[i].id == id) return (int)i;
  return -1;
}

/* A peer's hello: its key, recorded durably before the core uses it the first time; a different key than
 * the one recorded is refused (its events stay refused: an operator replaced a member's key file, or
 * someone else speaks for it). Then its attributes, for MemberList. */
void lkv__causal_keys_take_hello(lkv__causal_node_t *n, uint64_t from, const uint8_t *data, size_t len) {
  int i = lkv__causal_member_index(n, from);
  if (i < 0 || from == n->o.member_id || len < LKV_CAUSAL_PK_LEN) return;
  static const uint8_t unknown[LKV_CAUSAL_PK_LEN];
  lkv_causal_peer_t *p = &n->members[i];
  if (memcmp(p->pk, unknown, sizeof(unknown)) == 0) {
    char path[4096];
    uint8_t rec[PEER_RECORD];
    lkv_le64_put(rec, from);
    memcpy(rec + 8, data, LKV_CAUSAL_PK_LEN);
    snprintf(path, sizeof(path), "%s/peers", n->o.dir);
    int rc = lkv__causal_write_durable(n->o.dir, path, O_APPEND, rec, sizeof(rec));
    if (rc) {
      fprintf(stderr, "ledgerkv: cannot record the key of causal member %016llx: %s\n",
              (unsigned long long)from, lkv_strerror(rc));
      return;
    }
    pthread_mutex_lock(&n->mu); /* node_members reads it */
    memcpy(p->pk, data, LKV_CAUSAL_PK_LEN);
    pthread_mutex_unlock(&n->mu);
    (void)lkv_causal_member_set_key(n->m, from, p->pk); /* unknown there too: cannot be refused */
  } else if (memcmp(p->pk, data, LKV_CAUSAL_PK_LEN) != 0) {
    if (!n->key_warned[i])
      fprintf(stderr,
              "ledgerkv: causal member %016llx announces another key than the one recorded in %s/peers: its "
              "events are refused\n",
              (unsigned long long)from, n->o.dir);
    n->key_warned[i] = 1;
    return;
  }
  uint8_t *attrs = malloc(len - LKV_CAUSAL_PK_LEN + 1);
  if (!attrs) return;
  memcpy(attrs, data + LKV_CAUSAL_PK_LEN, len - LKV_CAUSAL_PK_LEN);
  pthread_mutex_lock(&n->mu);
  free(n->peer_attrs[i]);
  n->peer_attrs[i] = attrs;
  n->peer_attrs_len[i] = len - LKV_CAUSAL_PK_LEN;
  pthread_mutex_unlock(&n->mu);
}

/* Every anti-entropy tick: this member's hello (kind ‖ public key ‖ its published attributes) to every peer.
 * Cheap (a few hundred bytes), and a peer that lost or never had it learns it within a tick. */
void lkv__causal_keys_hello(lkv__causal_node_t *n) {
  int self = lkv__causal_member_index(n, n->o.member_id);
  pthread_mutex_lock(&n->mu);
  size_t len = 1 + LKV_CAUSAL_PK_LEN + n->attrs_len;
  uint8_t *msg = malloc(len);
  if (msg) {
    msg[0] = LKV__CAUSAL_MSG_HELLO;
    memcpy(msg + 1, n->members[self].pk, LKV_CAUSAL_PK_LEN);
    if (n->attrs_len) memcpy(msg + 1 + LKV_CAUSAL_PK_LEN, n->attrs, n->attrs_len);
  }
  pthread_mutex_unlock(&n->mu);
  if (!msg) return;
  for (size_t i = 0; i < n->o.n_members; i++)
    if ((int)i != self && !lkv_causal_member_is_removed(n->m, n->members[i].id))
      n->o.send(n->o.send_arg, n->members[i].id, msg, len);
  free(msg);
}
