/* The causal member's event log file: recovery with torn tails cut, appends with one flush per batch. */
#include "replication/causal_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/grow.h"
#include "common/le.h"

#define HDR 8
#define BASE_LEN 16 /* "lkvcbase" ‖ base u64 */

static const uint8_t base_magic[8] = {'l', 'k', 'v', 'c', 'b', 'a', 's', 'e'};

struct lkv__causal_log_s {
  int fd;
  char *dir;
  uint64_t base, count;
  uint8_t *buf; /* a batch's records, reused */
  size_t cap;
};

static int read_all(int fd, uint8_t **data, size_t *len) {
  struct stat st;
  if (fstat(fd, &st)) return -errno;
  *len = (size_t)st.st_size;
  *data = malloc(*len ? *len : 1);
  if (!*data) return LKV_ENOMEM;
  for (size_t got = 0; got < *len;) {
    ssize_t r = pread(fd, *data + got, *len - got, (off_t)got);
    if (r <= 0) {
      free(*data);
      return r < 0 ? -errno : LKV_EIO;
    }
    got += (size_t)r;
  }
  return 0;
}

static int is_base(const uint8_t *body, size_t n) {
  return n == BASE_LEN && memcmp(body, base_magic, sizeof(base_magic)) == 0;
}

/* Walks the records of data: takes a first one that is the base, calls cb for each good event and sets
 * *end to where the good ones stop. */
static int recover(const uint8_t *data, size_t len, lkv__causal_log_cb cb, void *arg, size_t *end,
                   uint64_t *base, uint64_t *count) {
  size_t at = 0;
  while (at < len) {
    if (len - at < HDR) break; /* torn header */
    uint32_t n = lkv_le32_get(data + at);
    if (n > len - at - HDR) break; /* torn body */
    if (n == 0 || lkv_crc32c(0, data + at + HDR, n) != lkv_le32_get(data + at + 4)) {
      if (at + HDR + n < len) return LKV_ECORRUPT; /* more follows: not a torn tail */
      break;
    }
    const uint8_t *body = data + at + HDR;
    at += HDR + n;
    if (is_base(body, n)) {
      if (at != HDR + BASE_LEN) return LKV_ECORRUPT; /* a base after the first record */
      *base = lkv_le64_get(body + 8);
      continue;
    }
    int rc = cb(arg, *base + *count + 1, body, n);
    if (rc) return rc;
    (*count)++;
  }
  *end = at;
  return 0;
}

int lkv__causal_log_open(const char *dir, lkv__causal_log_cb cb, void *arg, lkv__causal_log_t **out) {
  char path[4096];
  int rc = lkv_fs_mkdirs(dir, 0700);
  if (rc) return rc;
  if ((size_t)snprintf(path, sizeof(path), "%s/events", dir) >= sizeof(path)) return LKV_EINVAL;
  lkv__causal_log_t *l = calloc(1, sizeof(*l));
  if (!l || !(l->dir = strdup(dir))) {
    free(l);
    return LKV_ENOMEM;
  }
  l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (l->fd < 0) {
    rc = -errno;
    goto err_after_alloc;
  }
  uint8_t *data = NULL;
  size_t len = 0, end = 0;
  rc = read_all(l->fd, &data, &len);
  if (rc) goto err_after_open;
  rc = recover(data, len, cb, arg, &end, &l->base, &l->count);
  free(data);
  if (rc) goto err_after_open;
  if (end < len && (ftruncate(l->fd, (off_t)end) || fdatasync(l->fd))) {
    rc = -errno;
    goto err_after_open;
  }
  if (lseek(l->fd, (off_t)end, SEEK_SET) < 0 || (rc = lkv_fs_sync_dir(dir)) != 0) {
    rc = rc ? rc : -errno;
    goto err_after_open;
  }
  *out = l;
  return 0;
err_after_open:
  close(l->fd);
err_after_alloc:
  free(l->dir);
  free(l);
  return rc;
}

/* One record of body (n bytes) at out. */
static size_t put_record(uint8_t *out, const uint8_t *body, size_t n) {
  lkv_le32_put(out, (uint32_t)n);
  lkv_le32_put(out + 4, lkv_crc32c(0, body, n));
  memcpy(out + HDR, body, n);
  return HDR + n;
}

int lkv__causal_log_append(lkv__causal_log_t *l, const uint8_t *const *ev, const size_t *len, size_t n) {
  size_t total = 0, at = 0;
  if (!n) return 0;
  if (l->fd < 0) return LKV_EIO; /* a rewrite could not reopen it */
  for (size_t i = 0; i < n; i++) total += HDR + len[i];
  if (lkv_grow((void **)&l->buf, &l->cap, total, 1)) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) at += put_record(l->buf + at, ev[i], len[i]);
  int rc = lkv_fs_write_all(l->fd, l->buf, total);
  if (!rc && fdatasync(l->fd)) rc = -errno;
  if (!rc) l->count += n;
  return rc;
}

/* Replaces <dir>/events durably by data[0..len): written aside, flushed, renamed, the directory flushed (a
 * crash leaves the old file or the new one); then reopened for appends. */
static int replace(lkv__causal_log_t *l, const uint8_t *data, size_t len) {
  char path[4096], tmp[4100];
  snprintf(path, sizeof(path), "%s/events", l->dir);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  int rc = lkv_fs_write_all(fd, data, len);
  if (!rc && fdatasync(fd)) rc = -errno;
  close(fd);
  if (!rc && rename(tmp, path)) rc = -errno;
  if (rc) {
    unlink(tmp);
    return rc;
  }
  if ((rc = lkv_fs_sync_dir(l->dir)) != 0) return rc;
  close(l->fd); /* the old file is gone: appends go to the new one, or fail */
  l->fd = open(path, O_RDWR | O_CLOEXEC);
  if (l->fd < 0 || lseek(l->fd, 0, SEEK_END) < 0) return -errno;
  return 0;
}

/* drop_front's walk: the records after base, re-encoded after a base record (l->buf, *at). */
typedef struct {
  lkv__causal_log_t *l;
  uint64_t base;
  size_t at;
  uint64_t kept;
} keep_t;

static int keep_after(void *arg, uint64_t rev, const uint8_t *ev, size_t len) {
  keep_t *k = arg;
  if (rev <= k->base) return 0;
  if (lkv_grow((void **)&k->l->buf, &k->l->cap, k->at + HDR + len, 1)) return LKV_ENOMEM;
  k->at += put_record(k->l->buf + k->at, ev, len);
  k->kept++;
  return 0;
}

int lkv__causal_log_drop_front(lkv__causal_log_t *l, uint64_t base) {
  if (base <= l->base) return 0;
  uint8_t *data;
  size_t len, end = 0;
  uint64_t old_base = 0, count = 0;
  int rc = read_all(l->fd, &data, &len);
  if (rc) return rc;
  keep_t k = {.l = l, .base = base, .at = HDR + BASE_LEN};
  rc = lkv_grow((void **)&l->buf, &l->cap, k.at, 1);
  if (!rc) rc = recover(data, len, keep_after, &k, &end, &old_base, &count);
  free(data);
  if (!rc && (old_base != l->base || count != l->count)) rc = LKV_ECORRUPT; /* not what was appended */
  if (rc) return rc;
  uint8_t b[BASE_LEN];
  memcpy(b, base_magic, sizeof(base_magic));
  lkv_le64_put(b + 8, base);
  put_record(l->buf, b, sizeof(b));
  if ((rc = replace(l, l->buf, k.at)) != 0) return rc;
  l->base = base;
  l->count = k.kept;
  return 0;
}

uint64_t lkv__causal_log_last(const lkv__causal_log_t *l) {
  return l->base + l->count;
}

uint64_t lkv__causal_log_base(const lkv__causal_log_t *l) {
  return l->base;
}

void lkv__causal_log_close(lkv__causal_log_t *l) {
  if (!l) return;
  if (l->fd >= 0) close(l->fd);
  free(l->buf);
  free(l->dir);
  free(l);
}
