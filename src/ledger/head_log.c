/* ledger.heads: record codec, open with torn-tail recovery, durable append, reads (see head_log.h). */
#include "ledger/head_log.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "ledger/internal.h"

#define HEADS_MAGIC "lkvheads"
#define HEADS_VERSION 1
#define BODY_LEN LKV_LEDGER_SIGNED_HEAD_LEN

struct lkv_ledger_head_log_s {
  int fd;
  _Atomic uint64_t count; /* published after the record is durable */
  int failed;             /* writer: sticky error after a failed sync */
  int has_last;           /* writer: last is the last record */
  lkv_ledger_signed_head_t last;
};

static uint64_t record_pos(uint64_t index) {
  return LKV__FILE_HEADER_LEN + (uint64_t)LKV_LEDGER_HEAD_RECORD_LEN * index;
}

void lkv_ledger_head_record_encode(const lkv_ledger_signed_head_t *sh,
                                   uint8_t out[LKV_LEDGER_HEAD_RECORD_LEN]) {
  lkv_ledger_signed_head_encode(sh, out);
  lkv__put_be32(out + BODY_LEN, lkv_crc32c(0, out, BODY_LEN));
}

int lkv_ledger_head_record_decode(const uint8_t in[LKV_LEDGER_HEAD_RECORD_LEN],
                                  lkv_ledger_signed_head_t *out) {
  if (lkv__get_be32(in + BODY_LEN) != lkv_crc32c(0, in, BODY_LEN)) return LKV_ECORRUPT;
  lkv_ledger_signed_head_decode(in, out);
  return 0;
}

/* Reads and decodes record index; LKV_ECORRUPT for a checksum mismatch. */
static int read_record(int fd, uint64_t index, lkv_ledger_signed_head_t *out) {
  uint8_t b[LKV_LEDGER_HEAD_RECORD_LEN];
  int rc = lkv__pread_full(fd, b, sizeof(b), record_pos(index));
  return rc ? rc : lkv_ledger_head_record_decode(b, out);
}

/* Cuts a torn tail (see head_log.h) and loads the last record. */
static int recover(lkv_ledger_head_log_t *hl, uint64_t size, lkv_ledger_head_log_info_t *info) {
  uint64_t n = (size - LKV__FILE_HEADER_LEN) / LKV_LEDGER_HEAD_RECORD_LEN, keep = record_pos(n);
  int rc = 0;
  if (n > 0) {
    rc = read_record(hl->fd, n - 1, &hl->last);
    /* A whole but unreadable last record: an append whose pages only partly reached the disk. */
    if (rc == LKV_ECORRUPT) {
      keep = record_pos(--n);
      if (n > 0)
        rc = read_record(hl->fd, n - 1, &hl->last);
      else
        rc = 0;
    }
    if (rc) return rc;
    hl->has_last = n > 0;
  }
  if (keep < size) {
    if (ftruncate(hl->fd, (off_t)keep) || fdatasync(hl->fd)) return -errno;
    info->truncated_bytes = size - keep;
  }
  info->records = n;
  atomic_store_explicit(&hl->count, n, memory_order_release);
  return 0;
}

int lkv_ledger_head_log_open(lkv_ledger_head_log_t **out, const char *dir, lkv_ledger_head_log_info_t *info) {
  char path[PATH_MAX];
  lkv_ledger_head_log_info_t scratch;
  uint64_t size;
  int fresh, rc;
  if (!info) info = &scratch;
  memset(info, 0, sizeof(*info));
  if (snprintf(path, sizeof(path), "%s/ledger.heads", dir) >= (int)sizeof(path)) return LKV_EINVAL;
  lkv_ledger_head_log_t *hl = calloc(1, sizeof(*hl));
  if (!hl) return LKV_ENOMEM;
  if ((rc = lkv__file_open(path, HEADS_MAGIC, HEADS_VERSION, NULL, &hl->fd, &size, &fresh)))
    goto err_after_alloc;
  if ((rc = recover(hl, size, info))) goto err_after_open;
  *out = hl;
  return 0;

err_after_open:
  close(hl->fd);
err_after_alloc:
  free(hl);
  return rc;
}

void lkv_ledger_head_log_close(lkv_ledger_head_log_t *hl) {
  if (!hl) return;
  close(hl->fd);
  free(hl);
}

int lkv_ledger_head_log_append(lkv_ledger_head_log_t *hl, const lkv_ledger_signed_head_t *sh) {
  uint8_t b[LKV_LEDGER_HEAD_RECORD_LEN];
  uint64_t n = atomic_load_explicit(&hl->count, memory_order_relaxed);
  int rc;
  if (hl->failed) return hl->failed;
  if (hl->has_last &&
      (sh->head.tree_size < hl->last.head.tree_size || sh->head.revision < hl->last.head.revision))
    return LKV_EINVAL;
  lkv_ledger_head_record_encode(sh, b);
  if ((rc = lkv__pwrite_full(hl->fd, b, sizeof(b), record_pos(n)))) {
    if (ftruncate(hl->fd, (off_t)record_pos(n))) hl->failed = LKV_EIO;
    return rc;
  }
  if (fdatasync(hl->fd)) {
    /* The kernel may have dropped the page it failed to write: nothing later can be trusted. */
    hl->failed = LKV_EIO;
    return LKV_EIO;
  }
  hl->last = *sh;
  hl->has_last = 1;
  atomic_store_explicit(&hl->count, n + 1, memory_order_release);
  return 0;
}

uint64_t lkv_ledger_head_log_count(const lkv_ledger_head_log_t *hl) {
  return atomic_load_explicit(&((lkv_ledger_head_log_t *)hl)->count, memory_order_acquire);
}

int lkv_ledger_head_log_read(lkv_ledger_head_log_t *hl, uint64_t index, lkv_ledger_signed_head_t *out) {
  if (index >= lkv_ledger_head_log_count(hl)) return LKV_ENOENT;
  return read_record(hl->fd, index, out);
}
