/* The log's base: records below it are summarised by a frontier (ledger.base) and their space is freed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "ledger/internal.h"
#include "ledger/log_internal.h"

#define BASE_MAGIC "lkvlbase"
#define BASE_VERSION 1
/* header ‖ offset (8) ‖ frontier length (4) ‖ frontier ‖ CRC-32C of everything before it (4) */
#define BASE_FIXED (LKV__FILE_HEADER_LEN + 12)
#define BASE_MAX (BASE_FIXED + LKV_LEDGER_FRONTIER_MAX + 4)

static int base_path(const char *dir, const char *name, char *out) {
  return snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX ? LKV_EINVAL : 0;
}

int lkv__log_base_load(const char *dir, lkv__log_base_t *b) {
  char path[PATH_MAX];
  uint8_t buf[BASE_MAX + 1];
  int rc = base_path(dir, "ledger.base", path);
  if (rc) return rc;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    memset(b, 0, sizeof(*b));
    b->offset = LKV__LOG_HEADER_LEN;
    return 0;
  }
  if (fd < 0) return -errno;
  ssize_t n = read(fd, buf, sizeof(buf));
  rc = n < 0 ? -errno : 0;
  close(fd);
  if (rc) return rc;
  /* Written whole through a rename: any damage is damage, not a torn write. */
  if (n < BASE_FIXED + 4 || memcmp(buf, BASE_MAGIC, 8) || lkv__get_be32(buf + 8) != BASE_VERSION ||
      lkv__get_be32(buf + 12))
    return LKV_ECORRUPT;
  uint32_t flen = lkv__get_be32(buf + LKV__FILE_HEADER_LEN + 8);
  if (flen > LKV_LEDGER_FRONTIER_MAX || (size_t)n != BASE_FIXED + flen + 4 ||
      lkv_crc32c(0, buf, BASE_FIXED + flen) != lkv__get_be32(buf + BASE_FIXED + flen) ||
      lkv_ledger_frontier_decode(buf + BASE_FIXED, flen, &b->f))
    return LKV_ECORRUPT;
  b->offset = lkv__get_be64(buf + LKV__FILE_HEADER_LEN);
  return b->offset >= LKV__LOG_HEADER_LEN ? 0 : LKV_ECORRUPT;
}

int lkv__log_base_store(const char *dir, const lkv__log_base_t *b) {
  char path[PATH_MAX], tmp[PATH_MAX];
  uint8_t buf[BASE_MAX] = {0};
  size_t flen;
  int rc;
  if ((rc = base_path(dir, "ledger.base", path)) || (rc = base_path(dir, "ledger.base.tmp", tmp)) ||
      (rc = lkv_ledger_frontier_encode(&b->f, buf + BASE_FIXED, LKV_LEDGER_FRONTIER_MAX, &flen)))
    return rc;
  memcpy(buf, BASE_MAGIC, 8);
  lkv__put_be32(buf + 8, BASE_VERSION);
  lkv__put_be64(buf + LKV__FILE_HEADER_LEN, b->offset);
  lkv__put_be32(buf + LKV__FILE_HEADER_LEN + 8, (uint32_t)flen);
  lkv__put_be32(buf + BASE_FIXED + flen, lkv_crc32c(0, buf, BASE_FIXED + flen));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  rc = lkv__pwrite_full(fd, buf, BASE_FIXED + flen + 4, 0);
  if (!rc && fdatasync(fd)) rc = -errno;
  close(fd);
  /* The rename is the moment the ledger changes its base: before it the old one holds, after it the new. */
  if (!rc && rename(tmp, path)) rc = -errno;
  if (!rc) rc = lkv__fsync_parent(path);
  if (rc) unlink(tmp);
  return rc;
}

/* Punches [from, to) of fd; nothing to do when the range is empty. */
static int punch(int fd, uint64_t from, uint64_t to) {
  if (to <= from) return 0;
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from, (off_t)(to - from)))
    return -errno;
  return 0;
}

int lkv_ledger_log_punch(lkv_ledger_log_t *log) {
  pthread_mutex_lock(&log->base_mu);
  uint64_t base = atomic_load(&log->base), offset = log->base_offset;
  pthread_mutex_unlock(&log->base_mu);
  int rc = punch(log->fd, LKV__LOG_HEADER_LEN, offset);
  return rc ? rc
            : punch(log->idx_fd, LKV__IDX_HEADER_LEN, LKV__IDX_HEADER_LEN + (uint64_t)LKV__META_LEN * base);
}

uint64_t lkv_ledger_log_base(const lkv_ledger_log_t *log) {
  return atomic_load_explicit(&((lkv_ledger_log_t *)log)->base, memory_order_acquire);
}

void lkv_ledger_log_base_frontier(lkv_ledger_log_t *log, lkv_ledger_frontier_t *out) {
  pthread_mutex_lock(&log->base_mu);
  *out = log->base_frontier;
  pthread_mutex_unlock(&log->base_mu);
}

int lkv__log_settle(lkv_ledger_log_t *log, uint64_t epoch, uint64_t index, int rc) {
  if (index < lkv_ledger_log_base(log)) return LKV_ELEDGERPRUNED;
  if ((epoch & 1) || atomic_load_explicit(&log->epoch, memory_order_acquire) != epoch) return LKV_EAGAIN;
  return rc;
}

/* Publishes a new base to readers (after it is durable). */
static void publish(lkv_ledger_log_t *log, const lkv__log_base_t *b) {
  pthread_mutex_lock(&log->base_mu);
  log->base_offset = b->offset;
  log->base_revision = b->f.last_revision;
  log->base_frontier = b->f;
  atomic_store_explicit(&log->base, b->f.size, memory_order_release);
  pthread_mutex_unlock(&log->base_mu);
}

int lkv_ledger_log_set_base(lkv_ledger_log_t *log, const lkv_ledger_frontier_t *f) {
  lkv__log_base_t b = {.f = *f};
  lkv_ledger_log_meta_t m;
  uint64_t count = lkv_ledger_log_count(log);
  int rc;
  if (f->size < lkv_ledger_log_base(log) || f->size > count) return LKV_EINVAL;
  if (f->size == lkv_ledger_log_base(log)) return 0;
  /* Record f->size's frame starts where record f->size - 1's ends (it may not exist yet). */
  if ((rc = lkv__meta_read(log, f->size - 1, &m))) return rc;
  b.offset = m.offset + LKV__FRAME_HDR + m.len;
  if ((rc = lkv__log_base_store(log->dir, &b))) return rc;
  publish(log, &b);
  return 0;
}

int lkv_ledger_log_reset(lkv_ledger_log_t *log, const lkv_ledger_frontier_t *f) {
  uint8_t count[8];
  /* Everything written so far goes below the new base: make it durable first, or a machine crash could
   * leave the file shorter than the base's offset. */
  int rc = lkv_ledger_log_sync(log);
  if (rc) return rc;
  lkv__log_base_t b = {.f = *f, .offset = atomic_load_explicit(&log->end, memory_order_relaxed)};
  if ((rc = lkv__log_base_store(log->dir, &b))) return rc;
  atomic_fetch_add_explicit(&log->epoch, 1, memory_order_acq_rel);
  publish(log, &b);
  log->last_revision = f->last_revision;
  atomic_store_explicit(&log->count, f->size, memory_order_release);
  /* Index entries from before the reset must not be taken for the new records': cut them, and say in the
   * header that exactly the records below the base are known (recovery also refuses entries that point
   * below the base's offset, should a crash come before this). */
  uint64_t idx_end = LKV__IDX_HEADER_LEN + (uint64_t)LKV__META_LEN * f->size;
  lkv__put_be64(count, f->size);
  if (ftruncate(log->idx_fd, LKV__IDX_HEADER_LEN) || ftruncate(log->idx_fd, (off_t)idx_end))
    rc = -errno;
  else
    rc = lkv__pwrite_full(log->idx_fd, count, sizeof(count), LKV__FILE_HEADER_LEN);
  if (!rc && fdatasync(log->idx_fd)) rc = -errno;
  if (!rc) log->idx_synced = f->size;
  /* The base is durable but the index may not match it: refuse appends until a reopen recovers it. */
  if (rc) atomic_store(&log->failed, LKV_EIO);
  atomic_fetch_add_explicit(&log->epoch, 1, memory_order_acq_rel);
  return rc;
}
