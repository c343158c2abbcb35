/* File-system helpers (see fs.h). */
#include "common/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"

int lkv_fs_mkdirs(const char *path, mode_t mode) {
  char copy[PATH_MAX];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof(copy)) return LKV_EINVAL;
  memcpy(copy, path, len + 1);
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(copy, mode) && errno != EEXIST) return -errno;
    *p = '/';
  }
  if (mkdir(copy, mode) && errno != EEXIST) return -errno;
  return 0;
}

int lkv_fs_write_all(int fd, const void *buf, size_t len) {
  for (const char *p = buf; len;) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? -errno : LKV_EIO;
    p += w, len -= (size_t)w;
  }
  return 0;
}

int lkv_fs_sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

int lkv_fs_free_bytes(const char *path, uint64_t *out) {
  struct statvfs v;
  if (statvfs(path, &v)) return -errno;
  *out = (uint64_t)v.f_bavail * v.f_frsize;
  return 0;
}

int lkv_fs_tree_bytes(const char *dir, uint64_t *out) {
  DIR *d = opendir(dir);
  if (!d) return -errno;
  uint64_t sum = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
        lstat(path, &st) != 0)
      continue;
    uint64_t below = 0;
    if (S_ISDIR(st.st_mode) && lkv_fs_tree_bytes(path, &below) == 0) sum += below;
    sum += (uint64_t)st.st_blocks * 512;
  }
  closedir(d);
  *out = sum;
  return 0;
}
