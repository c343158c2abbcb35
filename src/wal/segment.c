/* Segment files of the durable log: the default file operations, creating and removing segments. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "wal/internal.h"

static ssize_t sys_pwrite(void *arg, int fd, const void *buf, size_t len, uint64_t off) {
  (void)arg;
  ssize_t n = pwrite(fd, buf, len, (off_t)off);
  return n < 0 ? -errno : n;
}

static int sys_fdatasync(void *arg, int fd) {
  (void)arg;
  return fdatasync(fd) ? -errno : 0;
}

static int sys_fsync(void *arg, int fd) {
  (void)arg;
  return fsync(fd) ? -errno : 0;
}

static int sys_fallocate(void *arg, int fd, uint64_t off, uint64_t len) {
  (void)arg;
  return fallocate(fd, 0, (off_t)off, (off_t)len) ? -errno : 0;
}

const lkv_wal_ops_t lkv_wal_default_ops = {
    .pwrite = sys_pwrite,
    .fdatasync = sys_fdatasync,
    .fsync = sys_fsync,
    .fallocate = sys_fallocate,
};

int lkv__wal_write_full(lkv_wal_t *w, int fd, const void *buf, uint64_t len, uint64_t off) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t n = w->ops->pwrite(w->ops_arg, fd, p, (size_t)len, off);
    if (n == -EINTR) continue;
    if (n < 0) return (int)n;
    if (n == 0) return LKV_EIO;
    p += n;
    len -= (uint64_t)n;
    off += (uint64_t)n;
  }
  return 0;
}

int lkv__wal_sync(lkv_wal_t *w, int fd) {
  /* Never retried: after a failed flush the kernel may have marked the dirty pages clean. */
  uint64_t start = lkv_clock_ns(CLOCK_MONOTONIC);
  if (w->ops->fdatasync(w->ops_arg, fd)) w->halted = 1;
  lkv_metric_observe_since(LKV_METRIC(wal_fsync), 0, start);
  return w->halted ? LKV_EHALTED : 0;
}

int lkv__wal_sync_dir(lkv_wal_t *w) {
  if (w->ops->fsync(w->ops_arg, w->dirfd)) w->halted = 1;
  return w->halted ? LKV_EHALTED : 0;
}

static int is_nospace(int rc) {
  return rc == -ENOSPC || rc == -EDQUOT;
}

/* Preallocates [0, size): fallocate, or zeros written where the file system cannot. Zeros (not a sparse
 * file) so that later writes need no block allocation that could fail at flush time. */
static int preallocate(lkv_wal_t *w, int fd, uint64_t size) {
  int rc = w->ops->fallocate(w->ops_arg, fd, 0, size);
  if (rc != -EOPNOTSUPP) return rc;
  enum { CHUNK = 1 << 20 };
  uint8_t *zero = calloc(1, CHUNK);
  if (!zero) return LKV_ENOMEM;
  rc = 0;
  for (uint64_t off = 0; off < size && !rc; off += CHUNK)
    rc = lkv__wal_write_full(w, fd, zero, size - off < CHUNK ? size - off : CHUNK, off);
  free(zero);
  return rc;
}

int lkv__wal_seg_create(lkv_wal_t *w, uint64_t seq, uint64_t size, uint64_t prev_end, int *fd) {
  uint8_t hdr[LKV__WAL_SEG_HDR];
  char name[32];
  lkv__wal_seg_hdr_t h = {.seq = seq, .salt = w->salt, .prev_end = prev_end};
  int rc;
  lkv__wal_seg_name(name, seq);
  int f = openat(w->dirfd, LKV__WAL_TMP_NAME, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (f < 0) return is_nospace(-errno) ? LKV_ENOSPC : -errno;
  lkv__wal_seg_hdr_encode(hdr, &h);
  if ((rc = preallocate(w, f, size)) || (rc = lkv__wal_write_full(w, f, hdr, sizeof(hdr), 0))) {
    if (is_nospace(rc)) rc = LKV_ENOSPC;
    goto err_after_open;
  }
  /* The header must be durable before the name appears: a segment name always has a good header. */
  if ((rc = lkv__wal_sync(w, f))) goto err_after_open;
  if (renameat(w->dirfd, LKV__WAL_TMP_NAME, w->dirfd, name)) {
    rc = -errno;
    goto err_after_open;
  }
  if ((rc = lkv__wal_sync_dir(w))) {
    close(f);
    return rc;
  }
  *fd = f;
  return 0;

err_after_open:
  close(f);
  unlinkat(w->dirfd, LKV__WAL_TMP_NAME, 0);
  return rc;
}

int lkv__wal_seg_unlink(lkv_wal_t *w, uint64_t seq) {
  char name[32];
  lkv__wal_seg_name(name, seq);
  return unlinkat(w->dirfd, name, 0) && errno != ENOENT ? -errno : 0;
}
