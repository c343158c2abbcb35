/* The ledger log's private state and its pure frame/index codecs, shared by log_*.c. */
#ifndef LKV_LEDGER_LOG_INTERNAL_H
#define LKV_LEDGER_LOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "ledger/frontier.h"
#include "ledger/internal.h"
#include "ledger/log_file.h"

#define LKV__FRAME_HDR 44 /* salt (8) ‖ len (4) ‖ leaf hash (32) */
#define LKV__META_LEN 24  /* one index entry */
#define LKV__LOG_MAGIC "lkvledgr"
/* Version 2 (written by every new log) holds state changes only; version 1 (written before signed heads
 * moved to ledger.heads) may also hold SIGNED_TREE_HEAD records and is still read and appended to. */
#define LKV__LOG_VERSION 2
#define LKV__LOG_VERSION_HEAD_LEAVES 1
#define LKV__LOG_HEADER_LEN (LKV__FILE_HEADER_LEN + LKV__SALT_LEN)
#define LKV__IDX_HEADER_LEN (LKV__FILE_HEADER_LEN + LKV__HEADER_EXTRA_LEN)

struct lkv_ledger_log_s {
  int fd;
  int idx_fd;
  uint32_t version;            /* of the file header: LKV__LOG_VERSION or LKV__LOG_VERSION_HEAD_LEAVES */
  uint8_t salt[LKV__SALT_LEN]; /* from the log header; starts every frame */
  _Atomic uint64_t end;        /* offset after the last record; published (before count) once it is written */
  _Atomic uint64_t count;      /* published after the records and their index entries are written */
  int64_t last_revision;       /* writer */
  uint64_t idx_synced;         /* writer: index entries known durable (the count in the index header) */
  _Atomic int failed;          /* sticky error after a failed sync (lkv_ledger_log_sync may set it too) */
  int deferred;                /* appends do not flush (lkv_ledger_log_defer_sync) */
  uint8_t *wbuf;               /* writer: frames of the batch being appended */
  size_t wcap;
  uint8_t *ibuf; /* writer: index entries being written */
  size_t icap;
  char *dir; /* holds ledger.base */
  /* The base (log_base.c): records below it are not stored. base is read lock-free (a record below it
   * is pruned); base_mu makes the other fields consistent with it for readers that need them. */
  _Atomic uint64_t base;
  _Atomic uint64_t epoch; /* odd while a reset replaces the records under readers' feet */
  pthread_mutex_t base_mu;
  uint64_t base_offset;  /* offset of record base's frame (the log's end when none is stored) */
  int64_t base_revision; /* revision of record base - 1 (0 when base is 0) */
  lkv_ledger_frontier_t base_frontier;
};

/* ledger.base, the durable record of the base (docs/ledger.md has the layout). */
typedef struct lkv__log_base_s {
  lkv_ledger_frontier_t f; /* of the records below the base; f.size is the base */
  uint64_t offset;         /* of record f.size's frame in ledger.log */
} lkv__log_base_t;

/* Reads dir/ledger.base into *b; a missing file is base 0 at the first frame. Returns 0, LKV_ECORRUPT
 * (bad header, checksum or frontier), LKV_EINVAL (path too long) or a negated errno. */
int lkv__log_base_load(const char *dir, lkv__log_base_t *b);

/* Replaces dir/ledger.base by *b atomically and durably (temporary file, flush, rename, directory flush).
 * Returns 0 or a negated errno / LKV_EINVAL. */
int lkv__log_base_store(const char *dir, const lkv__log_base_t *b);

/* What a read of record `index` that started at epoch `epoch` and ended with rc may return: the record
 * was pruned meanwhile (LKV_ELEDGERPRUNED), a reset ran meanwhile (LKV_EAGAIN), or rc. */
int lkv__log_settle(lkv_ledger_log_t *log, uint64_t epoch, uint64_t index, int rc);

/* Outcome of parsing a frame from memory. */
enum { LKV__FRAME_OK, LKV__FRAME_TORN, LKV__FRAME_BAD };

/* Parses the frame at p (avail bytes readable): LKV__FRAME_TORN when it does not fit in avail,
 * LKV__FRAME_BAD when it does not start with the log's salt, its length is impossible, the entry does not
 * decode or its leaf hash differs from the stored one; LKV__FRAME_OK otherwise, with *e (pointing into
 * p), *leaf and *frame_len set. */
int lkv__frame_parse(const uint8_t salt[LKV__SALT_LEN], const uint8_t *p, size_t avail, lkv_ledger_entry_t *e,
                     lkv_merkle_hash_t *leaf, size_t *frame_len);

/* Whether the bad or incomplete frame at map[pos] (of a file of `size` bytes, all mapped) is a torn
 * tail: no valid frame starts after it. Stored values cannot fake one: they do not know the salt.
 * Returns 1 or 0. */
int lkv__damage_is_tail(const uint8_t salt[LKV__SALT_LEN], const uint8_t *map, uint64_t pos, uint64_t size);

/* Writes the frame header of an entry of len bytes with the given leaf hash. */
void lkv__frame_header(const uint8_t salt[LKV__SALT_LEN], uint8_t out[LKV__FRAME_HDR], uint32_t len,
                       const lkv_merkle_hash_t *leaf);

/* The index entry of e, stored in a frame at offset. */
void lkv__meta_of(const lkv_ledger_entry_t *e, uint64_t offset, uint32_t len, lkv_ledger_log_meta_t *m);
void lkv__meta_encode(const lkv_ledger_log_meta_t *m, uint8_t out[LKV__META_LEN]);
/* Returns 0 or LKV_ECORRUPT (unknown kind, flags or padding). */
int lkv__meta_decode(const uint8_t in[LKV__META_LEN], lkv_ledger_log_meta_t *m);

/* Checks the order rules for e as record `index` of a log of the given version after a record of revision
 * last_revision (a SIGNED_TREE_HEAD record only in a version-1 log). Returns 0 or LKV_EINVAL. */
int lkv__order_check(uint32_t version, int64_t last_revision, uint64_t index, const lkv_ledger_entry_t *e);

/* Reads index entry `index` (no bound check against count). Returns 0, LKV_ECORRUPT, LKV_EIO or -errno. */
int lkv__meta_read(const lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_meta_t *m);

#endif
