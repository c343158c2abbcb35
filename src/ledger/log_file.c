/* The ledger log's lifecycle: open with crash recovery, batch append with one fdatasync, close. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "ledger/internal.h"
#include "ledger/log_internal.h"

#define IDX_MAGIC "lkvindex"
#define IDX_VERSION 1

static int reserve(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  uint8_t *b = realloc(*buf, c);
  if (!b) return LKV_ENOMEM;
  *buf = b;
  *cap = c;
  return 0;
}

static uint64_t meta_pos(uint64_t index) {
  return LKV__IDX_HEADER_LEN + (uint64_t)LKV__META_LEN * index;
}

/* Opens the index and reads its synced entry count; an index with a foreign header is derived data gone
 * bad: start it afresh. */
static int open_index(lkv_ledger_log_t *log, const char *path, uint64_t *size, uint64_t *synced,
                      lkv_ledger_log_info_t *info) {
  uint8_t extra[LKV__HEADER_EXTRA_LEN] = {0};
  int fresh;
  int rc = lkv__file_open(path, IDX_MAGIC, IDX_VERSION, extra, &log->idx_fd, size, &fresh);
  if (rc == LKV_ECORRUPT) {
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size > LKV__IDX_HEADER_LEN)
      info->index_dropped = ((uint64_t)st.st_size - LKV__IDX_HEADER_LEN) / LKV__META_LEN;
    if (unlink(path)) return -errno;
    memset(extra, 0, sizeof(extra));
    rc = lkv__file_open(path, IDX_MAGIC, IDX_VERSION, extra, &log->idx_fd, size, &fresh);
  }
  *synced = lkv__get_be64(extra);
  return rc;
}

/* Whether index entry i points at an intact record that chains to entry i-1 and keeps the order rules.
 * Returns 1, 0, or a negative code for an I/O failure. */
static int indexed_record_ok(lkv_ledger_log_t *log, uint64_t i, uint64_t log_size, lkv_ledger_log_meta_t *m) {
  lkv_ledger_log_meta_t prev = {.offset = 0, .revision = 0, .len = 0};
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t leaf;
  size_t flen;
  uint64_t base = atomic_load_explicit(&log->base, memory_order_relaxed);
  int rc = lkv__meta_read(log, i, m);
  if (rc) return rc == LKV_ECORRUPT || rc == LKV_EIO ? 0 : rc;
  if (i > base && (rc = lkv__meta_read(log, i - 1, &prev)))
    return rc == LKV_ECORRUPT || rc == LKV_EIO ? 0 : rc;
  /* Entries left from before a reset point below the base's offset; record `base` starts exactly there. */
  if (i == base) prev.revision = log->base_revision;
  uint64_t want = i > base ? prev.offset + LKV__FRAME_HDR + prev.len : log->base_offset;
  if (m->offset != want || m->offset < log->base_offset || m->offset > log_size ||
      LKV__FRAME_HDR + (uint64_t)m->len > log_size - m->offset)
    return 0;
  uint8_t *buf = malloc(LKV__FRAME_HDR + (size_t)m->len);
  if (!buf) return LKV_ENOMEM;
  rc = lkv__pread_full(log->fd, buf, LKV__FRAME_HDR + (size_t)m->len, m->offset);
  if (rc == 0) {
    lkv_ledger_log_meta_t have;
    int ok =
        lkv__frame_parse(log->salt, buf, LKV__FRAME_HDR + (size_t)m->len, &e, &leaf, &flen) == LKV__FRAME_OK;
    if (ok) lkv__meta_of(&e, m->offset, m->len, &have);
    rc = ok && have.revision == m->revision && have.kind == m->kind && have.produced == m->produced &&
         lkv__order_check(log->version, prev.revision, i, &e) == 0;
  }
  free(buf);
  return rc;
}

/* Verifies the records in [start, size), indexing them after index entry `count`; cuts a torn tail. */
static int scan_tail(lkv_ledger_log_t *log, uint64_t start, uint64_t size, uint64_t count, int64_t last_rev,
                     lkv_ledger_log_info_t *info) {
  uint64_t pos = start, idx = count;
  size_t ilen = 0;
  int rc = 0;
  if (start < size) {
    const uint8_t *map = mmap(NULL, size, PROT_READ, MAP_SHARED, log->fd, 0);
    if (map == MAP_FAILED) return -errno;
    for (;;) {
      lkv_ledger_entry_t e;
      lkv_merkle_hash_t leaf;
      lkv_ledger_log_meta_t m;
      size_t flen;
      int r =
          pos < size ? lkv__frame_parse(log->salt, map + pos, size - pos, &e, &leaf, &flen) : LKV__FRAME_TORN;
      if (r != LKV__FRAME_OK) break;
      /* A record that hashes right but breaks the order was written that way: not a torn write. */
      if (lkv__order_check(log->version, last_rev, idx, &e)) {
        info->corrupt_offset = pos;
        rc = LKV_ECORRUPT;
        break;
      }
      if ((rc = reserve(&log->ibuf, &log->icap, ilen + LKV__META_LEN))) break;
      lkv__meta_of(&e, pos, (uint32_t)(flen - LKV__FRAME_HDR), &m);
      lkv__meta_encode(&m, log->ibuf + ilen);
      ilen += LKV__META_LEN;
      pos += flen;
      idx++;
      last_rev = e.revision;
    }
    if (!rc && pos < size && !lkv__damage_is_tail(log->salt, map, pos, size)) {
      info->corrupt_offset = pos;
      rc = LKV_ECORRUPT;
    }
    munmap((void *)map, size);
    if (rc) return rc;
  }
  if (pos < size) {
    if (ftruncate(log->fd, (off_t)pos) || fdatasync(log->fd)) return -errno;
    info->truncated_bytes = size - pos;
  }
  if (ilen && (rc = lkv__pwrite_full(log->idx_fd, log->ibuf, ilen, meta_pos(count)))) return rc;
  info->scanned = idx - count;
  info->records = idx;
  atomic_store_explicit(&log->end, pos, memory_order_relaxed);
  atomic_store_explicit(&log->count, idx, memory_order_release);
  log->last_revision = last_rev;
  return 0;
}

int lkv_ledger_log_sync_index(lkv_ledger_log_t *log, uint64_t n) {
  uint8_t count[8];
  int rc;
  if (n == log->idx_synced) return 0;
  if (n > lkv_ledger_log_count(log)) return LKV_EINVAL;
  if (fdatasync(log->idx_fd)) return -errno;
  /* Written only once the entries it counts are durable; a lost update leaves an older, still true count. */
  lkv__put_be64(count, n);
  if ((rc = lkv__pwrite_full(log->idx_fd, count, sizeof(count), LKV__FILE_HEADER_LEN))) return rc;
  log->idx_synced = n;
  return 0;
}

static int recover(lkv_ledger_log_t *log, uint64_t log_size, uint64_t idx_size, uint64_t synced,
                   lkv_ledger_log_info_t *info) {
  uint64_t have = (idx_size - LKV__IDX_HEADER_LEN) / LKV__META_LEN, start = log->base_offset;
  uint64_t base = atomic_load_explicit(&log->base, memory_order_relaxed);
  uint64_t trusted = synced < have ? synced : have;
  int64_t last_rev = log->base_revision;
  lkv_ledger_log_meta_t m;
  if (start > log_size) { /* the records the base was set after are gone: not a torn tail */
    info->corrupt_offset = log_size;
    return LKV_ECORRUPT;
  }
  /* Entries past the synced count may be missing or garbage after a crash (pages reach the disk in any
   * order): only the synced prefix is kept, and only if its last entry matches the log. */
  if (trusted > base) {
    int rc = indexed_record_ok(log, trusted - 1, log_size, &m);
    if (rc < 0) return rc;
    if (rc) {
      start = m.offset + LKV__FRAME_HDR + m.len;
      last_rev = m.revision;
    } else {
      trusted = base;
    }
  } else {
    trusted = base;
  }
  info->index_dropped += have > trusted ? have - trusted : 0;
  if (ftruncate(log->idx_fd, (off_t)meta_pos(trusted))) return -errno;
  int rc = scan_tail(log, start, log_size, trusted, last_rev, info);
  if (rc) return rc;
  /* Make the header's count true again now, or a later crash could trust re-written, unsynced entries. */
  log->idx_synced = synced;
  return lkv_ledger_log_sync_index(log, lkv_ledger_log_count(log));
}

int lkv_ledger_log_open(lkv_ledger_log_t **out, const char *dir, lkv_ledger_log_info_t *info) {
  char path[PATH_MAX], ipath[PATH_MAX];
  lkv_ledger_log_info_t scratch;
  uint64_t size, isize, synced = 0;
  int fresh, rc;
  if (!info) info = &scratch;
  memset(info, 0, sizeof(*info));
  if (snprintf(path, sizeof(path), "%s/ledger.log", dir) >= (int)sizeof(path) ||
      snprintf(ipath, sizeof(ipath), "%s/ledger.idx", dir) >= (int)sizeof(ipath))
    return LKV_EINVAL;
  if ((rc = lkv_fs_mkdirs(dir, 0700))) return rc;
  if (sodium_init() < 0) return LKV_EIO;
  lkv__log_base_t base;
  if ((rc = lkv__log_base_load(dir, &base))) return rc;
  lkv_ledger_log_t *log = calloc(1, sizeof(*log));
  if (!log) return LKV_ENOMEM;
  if (!(log->dir = strdup(dir))) {
    free(log);
    return LKV_ENOMEM;
  }
  pthread_mutex_init(&log->base_mu, NULL);
  log->base_offset = base.offset;
  log->base_revision = base.f.last_revision;
  log->base_frontier = base.f;
  atomic_store(&log->base, base.f.size);
  randombytes_buf(log->salt, sizeof(log->salt)); /* used only if the log is new */
  /* A new log is version 2; a version-1 log (heads as leaves) is kept as it is: rewriting it would change
   * every root its heads signed. The ledger appends only state changes to it from now on. */
  log->version = LKV__LOG_VERSION;
  rc = lkv__file_open(path, LKV__LOG_MAGIC, LKV__LOG_VERSION, log->salt, &log->fd, &size, &fresh);
  if (rc == LKV_ECORRUPT) {
    log->version = LKV__LOG_VERSION_HEAD_LEAVES;
    rc = lkv__file_open(path, LKV__LOG_MAGIC, log->version, log->salt, &log->fd, &size, &fresh);
  }
  if (rc) goto err_after_alloc;
  if ((rc = open_index(log, ipath, &isize, &synced, info))) goto err_after_log;
  if ((rc = recover(log, size, isize, synced, info))) goto err_after_index;
  /* A crash may have come between a base change and freeing the space below it; a file system that
   * cannot punch holes keeps the bytes, which are never read. */
  if (base.f.size > 0) lkv_ledger_log_punch(log);
  *out = log;
  return 0;

err_after_index:
  close(log->idx_fd);
err_after_log:
  close(log->fd);
err_after_alloc:
  pthread_mutex_destroy(&log->base_mu);
  free(log->dir);
  free(log->ibuf);
  free(log);
  return rc;
}

void lkv_ledger_log_defer_sync(lkv_ledger_log_t *log) {
  log->deferred = 1;
}

int lkv_ledger_log_sync(lkv_ledger_log_t *log) {
  int failed = atomic_load(&log->failed);
  if (failed) return failed;
  if (fdatasync(log->fd) == 0) return 0;
  /* As after a failed append's flush: the pages may be gone, and a later flush might not say so. */
  atomic_store(&log->failed, LKV_EIO);
  return LKV_EIO;
}

void lkv_ledger_log_close(lkv_ledger_log_t *log) {
  if (!log) return;
  if (log->deferred) lkv_ledger_log_sync(log);
  if (lkv_ledger_log_sync_index(log, lkv_ledger_log_count(log)) == 0) fdatasync(log->idx_fd);
  close(log->idx_fd);
  close(log->fd);
  pthread_mutex_destroy(&log->base_mu);
  free(log->dir);
  free(log->wbuf);
  free(log->ibuf);
  free(log);
}

uint64_t lkv_ledger_log_count(const lkv_ledger_log_t *log) {
  return atomic_load_explicit(&((lkv_ledger_log_t *)log)->count, memory_order_acquire);
}

uint32_t lkv_ledger_log_version(const lkv_ledger_log_t *log) {
  return log->version;
}

int64_t lkv_ledger_log_last_revision(const lkv_ledger_log_t *log) {
  return log->last_revision;
}

/* Encodes the batch into wbuf (frames) and ibuf (index entries); returns the frames' total length. */
static int encode_batch(lkv_ledger_log_t *log, const lkv_ledger_entry_t *entries, size_t n,
                        lkv_merkle_hash_t *leaves, uint64_t count, uint64_t end, size_t *total) {
  int64_t rev = log->last_revision;
  size_t need = 0, pos = 0;
  int rc;
  for (size_t i = 0; i < n; i++) {
    if (lkv__order_check(log->version, rev, count + i, &entries[i])) return LKV_EINVAL;
    rev = entries[i].revision;
    size_t es = lkv_ledger_entry_size(&entries[i]);
    if (es > LKV_LEDGER_ENTRY_MAX || need > SIZE_MAX / 2) return LKV_EINVAL;
    need += LKV__FRAME_HDR + es;
  }
  if ((rc = reserve(&log->wbuf, &log->wcap, need)) ||
      (rc = reserve(&log->ibuf, &log->icap, n * LKV__META_LEN)))
    return rc;
  for (size_t i = 0; i < n; i++) {
    lkv_ledger_leaf_t l;
    lkv_ledger_log_meta_t m;
    lkv_merkle_hash_t h;
    size_t len;
    if (lkv_ledger_entry_encode(&entries[i], log->wbuf + pos + LKV__FRAME_HDR, need - pos - LKV__FRAME_HDR,
                                &len))
      return LKV_EINVAL;
    lkv_ledger_entry_leaf(&entries[i], &l);
    lkv_ledger_leaf_hash(&l, &h);
    lkv__frame_header(log->salt, log->wbuf + pos, (uint32_t)len, &h);
    lkv__meta_of(&entries[i], end + pos, (uint32_t)len, &m);
    lkv__meta_encode(&m, log->ibuf + i * LKV__META_LEN);
    if (leaves) leaves[i] = h;
    pos += LKV__FRAME_HDR + len;
  }
  *total = pos;
  return 0;
}

int lkv_ledger_log_append(lkv_ledger_log_t *log, const lkv_ledger_entry_t *entries, size_t n,
                          lkv_merkle_hash_t *leaves) {
  uint64_t count = atomic_load_explicit(&log->count, memory_order_relaxed);
  uint64_t end = atomic_load_explicit(&log->end, memory_order_relaxed);
  size_t total;
  int rc;
  int failed = atomic_load(&log->failed);
  if (failed) return failed;
  if (n == 0) return 0;
  if ((rc = encode_batch(log, entries, n, leaves, count, end, &total))) return rc;
  if ((rc = lkv__pwrite_full(log->fd, log->wbuf, total, end)) ||
      (rc = lkv__pwrite_full(log->idx_fd, log->ibuf, n * LKV__META_LEN, meta_pos(count))))
    goto err_rollback;
  if (!log->deferred && fdatasync(log->fd)) {
    /* The kernel may have dropped the pages it failed to write: nothing later can be trusted. */
    atomic_store(&log->failed, LKV_EIO);
    return LKV_EIO;
  }
  log->last_revision = entries[n - 1].revision;
  atomic_store_explicit(&log->end, end + total, memory_order_release);
  atomic_store_explicit(&log->count, count + n, memory_order_release);
  return 0;

err_rollback:
  if (ftruncate(log->fd, (off_t)end) || ftruncate(log->idx_fd, (off_t)meta_pos(count)))
    atomic_store(&log->failed, LKV_EIO);
  return rc;
}
