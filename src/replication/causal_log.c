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

#define HDR 8

struct lkv__causal_log_s {
  int fd;
  uint64_t count;
  uint8_t *buf; /* a batch's records, reused */
  size_t cap;
};

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

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

/* Walks the records of data: calls cb for each good one and sets *end to where the good ones stop. */
static int recover(const uint8_t *data, size_t len, lkv__causal_log_cb cb, void *arg, size_t *end,
                   uint64_t *count) {
  size_t at = 0;
  while (at < len) {
    if (len - at < HDR) break; /* torn header */
    uint32_t n = get32(data + at);
    if (n > len - at - HDR) break; /* torn body */
    if (n == 0 || lkv_crc32c(0, data + at + HDR, n) != get32(data + at + 4)) {
      if (at + HDR + n < len) return LKV_ECORRUPT; /* more follows: not a torn tail */
      break;
    }
    int rc = cb(arg, data + at + HDR, n);
    if (rc) return rc;
    at += HDR + n;
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
  if (!l) return LKV_ENOMEM;
  l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (l->fd < 0) {
    rc = -errno;
    goto err_after_alloc;
  }
  uint8_t *data = NULL;
  size_t len = 0, end = 0;
  rc = read_all(l->fd, &data, &len);
  if (rc) goto err_after_open;
  rc = recover(data, len, cb, arg, &end, &l->count);
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
  free(l);
  return rc;
}

int lkv__causal_log_append(lkv__causal_log_t *l, const uint8_t *const *ev, const size_t *len, size_t n) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += HDR + len[i];
  if (!total) return 0;
  if (lkv_grow((void **)&l->buf, &l->cap, total, 1)) return LKV_ENOMEM;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    put32(l->buf + at, (uint32_t)len[i]);
    put32(l->buf + at + 4, lkv_crc32c(0, ev[i], len[i]));
    memcpy(l->buf + at + HDR, ev[i], len[i]);
    at += HDR + len[i];
  }
  for (size_t done = 0; done < total;) {
    ssize_t w = write(l->fd, l->buf + done, total - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? -errno : LKV_EIO;
    done += (size_t)w;
  }
  if (fdatasync(l->fd)) return -errno;
  l->count += n;
  return 0;
}

uint64_t lkv__causal_log_count(const lkv__causal_log_t *l) {
  return l->count;
}

void lkv__causal_log_close(lkv__causal_log_t *l) {
  if (!l) return;
  close(l->fd);
  free(l->buf);
  free(l);
}
