/* Whole-buffer pread/pwrite, ledger file headers and directory syncs (see internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "ledger/internal.h"

int lkv__pread_full(int fd, void *buf, size_t len, uint64_t off) {
  uint8_t *p = buf;
  while (len) {
    ssize_t r = pread(fd, p, len, (off_t)off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) return LKV_EIO;
    p += r;
    len -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

int lkv__pwrite_full(int fd, const void *buf, size_t len, uint64_t off) {
  const uint8_t *p = buf;
  while (len) {
    ssize_t w = pwrite(fd, p, len, (off_t)off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (w == 0) return LKV_EIO;
    p += w;
    len -= (size_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

int lkv__fsync_parent(const char *path) {
  char copy[PATH_MAX];
  if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy)) return LKV_EINVAL;
  int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -errno;
  int rc = fsync(dfd) ? -errno : 0;
  close(dfd);
  return rc;
}

int lkv__file_open(const char *path, const char *magic, uint32_t version, uint8_t *extra, int *fd,
                   uint64_t *size, int *fresh) {
  uint8_t want[LKV__FILE_HEADER_LEN + LKV__HEADER_EXTRA_LEN] = {0};
  uint8_t have[LKV__FILE_HEADER_LEN + LKV__HEADER_EXTRA_LEN] = {0};
  size_t hlen = LKV__FILE_HEADER_LEN + (extra ? LKV__HEADER_EXTRA_LEN : 0);
  struct stat st;
  int rc;
  memcpy(want, magic, 8);
  lkv__put_be32(want + 8, version);
  if (extra) memcpy(want + LKV__FILE_HEADER_LEN, extra, LKV__HEADER_EXTRA_LEN);
  *fresh = 0;
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (f < 0) return -errno;
  if (fstat(f, &st)) {
    rc = -errno;
    goto err_after_open;
  }
  size_t got = (uint64_t)st.st_size < hlen ? (size_t)st.st_size : hlen;
  size_t fixed = got < LKV__FILE_HEADER_LEN ? got : LKV__FILE_HEADER_LEN;
  if ((rc = lkv__pread_full(f, have, got, 0))) goto err_after_open;
  if (memcmp(have, want, fixed)) {
    rc = LKV_ECORRUPT;
    goto err_after_open;
  }
  if (got < hlen) {
    if ((rc = lkv__pwrite_full(f, want, hlen, 0))) goto err_after_open;
    if (ftruncate(f, (off_t)hlen) || fdatasync(f)) {
      rc = -errno;
      goto err_after_open;
    }
    if ((rc = lkv__fsync_parent(path))) goto err_after_open;
    *fresh = 1;
    *size = hlen;
  } else {
    if (extra) memcpy(extra, have + LKV__FILE_HEADER_LEN, LKV__HEADER_EXTRA_LEN);
    *size = (uint64_t)st.st_size;
  }
  *fd = f;
  return 0;

err_after_open:
  close(f);
  return rc;
}
