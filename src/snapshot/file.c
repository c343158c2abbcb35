/* A snapshot written to an unnamed temporary file, then read back as etcd's stream: chunks, then SHA-256. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/snapshot.h"

struct lkv_snapshot_file_s {
  int fd;
  uint64_t size, off;
  int digest_sent;
  crypto_hash_sha256_state sha;
};

/* An unnamed file in dir (O_TMPFILE), or a named one unlinked at once where the file system has none:
 * either way nothing is left behind, whatever happens to the process. */
static int temp_file(const char *dir) {
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd >= 0 ? fd : -errno;
  char path[4096];
  if (snprintf(path, sizeof(path), "%s/snapshot-XXXXXX", dir) >= (int)sizeof(path)) return LKV_EINVAL;
  fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) return -errno;
  unlink(path);
  return fd;
}

int lkv_snapshot_file_new(lkv_snapshot_file_t **out, lkv_mvcc_t *store, const char *dir,
                          const lkv_snapshot_meta_t *m) {
  lkv_snapshot_file_t *f = calloc(1, sizeof(*f));
  if (!f) return LKV_ENOMEM;
  f->fd = temp_file(dir);
  int rc = f->fd < 0 ? f->fd : 0;
  lkv_mvcc_txn_t *t = NULL;
  if (!rc) rc = lkv_mvcc_read_begin(store, &t);
  if (!rc) rc = lkv_snapshot_write(t, m, f->fd, &f->size);
  lkv_mvcc_txn_end(t); /* before the stream: a slow reader must not pin the store's pages */
  if (rc) {
    lkv_snapshot_file_free(f);
    return rc;
  }
  crypto_hash_sha256_init(&f->sha);
  *out = f;
  return 0;
}

uint64_t lkv_snapshot_file_size(const lkv_snapshot_file_t *f) {
  return f->size;
}

int lkv_snapshot_file_next(lkv_snapshot_file_t *f, uint8_t *buf, size_t cap, size_t *n, uint64_t *remaining) {
  *n = 0;
  *remaining = 0;
  if (f->off < f->size) {
    size_t want = f->size - f->off < cap ? (size_t)(f->size - f->off) : cap;
    ssize_t got;
    do got = pread(f->fd, buf, want, (off_t)f->off);
    while (got < 0 && errno == EINTR);
    if (got < 0) return -errno;
    if (got == 0) return LKV_EIO; /* the file is ours alone: it cannot have shrunk */
    crypto_hash_sha256_update(&f->sha, buf, (unsigned long long)got);
    f->off += (uint64_t)got;
    *n = (size_t)got;
    *remaining = f->size - f->off;
  } else if (!f->digest_sent && cap >= crypto_hash_sha256_BYTES) {
    crypto_hash_sha256_final(&f->sha, buf);
    f->digest_sent = 1;
    *n = crypto_hash_sha256_BYTES;
  }
  return 0;
}

void lkv_snapshot_file_free(lkv_snapshot_file_t *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  free(f);
}
