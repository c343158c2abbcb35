/* File-system helpers (see fs.h). */
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
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

int lkv_fs_sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}
