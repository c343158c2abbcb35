/* Reading cgroup CPU quotas (v2 cpu.max, v1 cpu.cfs_quota_us/cpu.cfs_period_us) level by level. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "pool/cgroup.h"

/* Why a level's file was skipped; only the first reason is kept, the rest are alike in practice. */
static void note_first(lkv_cpu_source_t *src, const char *fmt, ...) {
  if (src->note[0] != '\0') return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(src->note, sizeof(src->note), fmt, ap);
  va_end(ap);
}

/* Reads a small file into buf (NUL-terminated) without stdio: these files are a few bytes.
 * Returns 0, a negated errno, or LKV_EMSGSIZE when the file does not fit (not a quota file then). */
static int read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  int rc = 0;
  while (len < size) {
    ssize_t n = read(fd, buf + len, size - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -errno;
      break;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (rc == 0 && len == size) rc = LKV_EMSGSIZE;
  if (rc == 0) buf[len] = '\0';
  return rc;
}

/* Strict decimal integer of [s, end): optional '-', digits only, no overflow. Returns 0 or -1. */
static int parse_ll(const char *s, const char *end, long long *out) {
  int neg = s < end && *s == '-';
  if (neg) s++;
  if (s == end) return -1;
  long long v = 0;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9') return -1;
    int d = *s - '0';
    if (v > (LLONG_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  return 0;
}

/* Parses a whole file's text holding one integer and a trailing newline. */
static int parse_file_ll(const char *text, long long *out) {
  const char *end = text + strlen(text);
  while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
  return parse_ll(text, end, out);
}

typedef struct level_s {
  long long quota;  /* > 0 when the level limits, else -1 */
  long long period; /* > 0 when quota is */
  char file[PATH_MAX];
} level_t;

/* Reads dir/name into buf. Returns 1 when read, 0 when absent (the level sets no limit), -1 when skipped. */
static int read_level_file(const char *dir, const char *name, char *file, char *buf, size_t size,
                           lkv_cpu_source_t *src) {
  int n = snprintf(file, PATH_MAX, "%s/%s", dir, name);
  if (n < 0 || n >= PATH_MAX) {
    note_first(src, "skipped %s: path too long", dir);
    return -1;
  }
  int rc = read_small(file, buf, size);
  if (rc == LKV_ENOENT) return 0;
  if (rc != 0) {
    note_first(src, "skipped %s: %s", file, rc == LKV_EMSGSIZE ? "not a quota file" : strerror(-rc));
    return -1;
  }
  return 1;
}

/* cpu.max: "max <period>" or "<quota> <period>". Returns 1 (limit), 0 (no limit) or -1 (skipped). */
static int read_level_v2(const char *dir, level_t *lv, lkv_cpu_source_t *src) {
  char buf[64];
  int rc = read_level_file(dir, "cpu.max", lv->file, buf, sizeof(buf), src);
  if (rc <= 0) return rc;
  const char *end = buf + strlen(buf);
  while (end > buf && end[-1] == '\n') end--;
  const char *space = memchr(buf, ' ', (size_t)(end - buf));
  int is_max = space != NULL && space - buf == 3 && memcmp(buf, "max", 3) == 0;
  if (space == NULL || parse_ll(space + 1, end, &lv->period) != 0 || lv->period <= 0 ||
      (!is_max && (parse_ll(buf, space, &lv->quota) != 0 || lv->quota <= 0))) {
    note_first(src, "skipped %s: unparsable \"%.*s\"", lv->file, (int)(end - buf), buf);
    return -1;
  }
  if (is_max) lv->quota = -1;
  return is_max ? 0 : 1;
}

/* cpu.cfs_quota_us (-1 or > 0) and, when limited, cpu.cfs_period_us (> 0). Returns as read_level_v2. */
static int read_level_v1(const char *dir, level_t *lv, lkv_cpu_source_t *src) {
  char buf[32];
  int rc = read_level_file(dir, "cpu.cfs_quota_us", lv->file, buf, sizeof(buf), src);
  if (rc <= 0) return rc;
  if (parse_file_ll(buf, &lv->quota) != 0 || lv->quota == 0 || lv->quota < -1) {
    note_first(src, "skipped %s: unparsable \"%.20s\"", lv->file, buf);
    return -1;
  }
  if (lv->quota == -1) return 0;

  char period_file[PATH_MAX];
  rc = read_level_file(dir, "cpu.cfs_period_us", period_file, buf, sizeof(buf), src);
  if (rc == 0) note_first(src, "skipped %s: no cpu.cfs_period_us beside it", lv->file);
  if (rc <= 0) return -1;
  if (parse_file_ll(buf, &lv->period) != 0 || lv->period <= 0) {
    note_first(src, "skipped %s: unparsable \"%.20s\"", period_file, buf);
    return -1;
  }
  return 1;
}

/* CPUs a quota allows: a fraction of a CPU still needs a whole thread. */
static int quota_cpus(long long quota, long long period) {
  long long cpus = quota / period + (quota % period != 0);
  return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

void lkv__cgroup_read_quota(lkv__cgroup_version_t v, const char *leaf, const char *top,
                            lkv_cpu_source_t *src) {
  src->found = 0;
  src->cpus = 0;
  src->quota_us = -1;
  src->period_us = 0;
  src->levels = 0;
  src->path[0] = '\0';
  src->note[0] = '\0';

  struct stat st;
  if (stat(leaf, &st) != 0) {
    note_first(src, "cannot open cgroup directory %s: %s", leaf, strerror(errno));
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    note_first(src, "cgroup path %s is not a directory", leaf);
    return;
  }

  /* leaf is top followed by "/..." (lkv__cgroup_locate builds it so), so stripping components from leaf
   * reaches top exactly. */
  char dir[PATH_MAX];
  size_t top_len = strlen(top);
  size_t len = strlen(leaf);
  memcpy(dir, leaf, len + 1);

  int readable = 0;
  level_t lv;
  for (;;) {
    src->levels++;
    lv.quota = -1;
    int rc = v == LKV__CGROUP_V2 ? read_level_v2(dir, &lv, src) : read_level_v1(dir, &lv, src);
    if (rc >= 0) readable++;
    /* The tightest level by its exact share (0.5 and 0.8 CPUs both round to 1); ties keep the deeper
     * level: it is the one closest to the process. */
    if (rc == 1 && (src->cpus == 0 || (double)lv.quota / (double)lv.period <
                                          (double)src->quota_us / (double)src->period_us)) {
      src->cpus = quota_cpus(lv.quota, lv.period);
      src->quota_us = lv.quota;
      src->period_us = lv.period;
      memcpy(src->path, lv.file, strlen(lv.file) + 1);
    }
    if (len <= top_len) break;
    char *slash = strrchr(dir, '/');
    len = slash == dir ? 1 : (size_t)(slash - dir);
    dir[len] = '\0';
  }

  src->found = readable > 0;
  if (src->found && src->cpus == 0) memcpy(src->path, leaf, strlen(leaf) + 1);
}

int lkv__cgroup_read_throttled(const char *limit_file, uint64_t *out) {
  char path[PATH_MAX];
  const char *slash = strrchr(limit_file, '/');
  if (slash == NULL) return LKV_EINVAL;
  int n = snprintf(path, sizeof(path), "%.*s/cpu.stat", (int)(slash - limit_file), limit_file);
  if (n < 0 || n >= (int)sizeof(path)) return LKV_EINVAL;
  char buf[1024]; /* v2's cpu.stat is ~10 short lines, v1's 3 */
  int rc = read_small(path, buf, sizeof(buf));
  if (rc != 0) return rc;
  for (const char *line = buf; *line != '\0';) {
    const char *end = strchr(line, '\n');
    if (end == NULL) end = line + strlen(line);
    static const char key[] = "nr_throttled ";
    long long v;
    if ((size_t)(end - line) > sizeof(key) - 1 && memcmp(line, key, sizeof(key) - 1) == 0) {
      if (parse_ll(line + sizeof(key) - 1, end, &v) != 0 || v < 0) return LKV_ECORRUPT;
      *out = (uint64_t)v;
      return 0;
    }
    line = *end == '\n' ? end + 1 : end;
  }
  return LKV_ECORRUPT;
}
