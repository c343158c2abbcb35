/* File-system helpers (see fs.h). */
#include "common/fs.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

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
