/* The durable log's private state and the record/segment-header codecs shared by its files. */
#ifndef LKV_WAL_INTERNAL_H
#define LKV_WAL_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "wal/wal.h"

#define LKV__WAL_SEG_HDR 48 /* segment header bytes (layout in wal.h) */
#define LKV__WAL_REC_HDR 48 /* record header bytes */
#define LKV__WAL_MAGIC "lkvrwal1"
#define LKV__WAL_VERSION 1
#define LKV__WAL_FLAG_END 0x1u /* the last record of its save */
#define LKV__WAL_TMP_NAME "seg.tmp"

enum { LKV__WAL_ENTRY = 1, LKV__WAL_HARD_STATE = 2, LKV__WAL_SNAPSHOT = 3 };

/* A record's fields; payload points at len bytes (into the file image when parsed). */
typedef struct {
  uint8_t kind, flags, aux;
  uint32_t len;
  uint64_t epoch, save_start, index, term;
  const uint8_t *payload;
} lkv__wal_rec_t;

typedef struct {
  uint64_t seq, salt, prev_end;
} lkv__wal_seg_hdr_t;

/* The writer's memory of one stored entry: its term (to decide whether a snapshot keeps the log) and the
 * segment holding it (to decide what compaction may delete). */
typedef struct {
  uint64_t term;
  uint64_t seq;
} lkv__wal_slot_t;

struct lkv_wal_s {
  char dir[PATH_MAX - 32]; /* room left for "/<name>" */
  int dirfd, lockfd;
  const lkv_wal_ops_t *ops;
  void *ops_arg;
  uint64_t seg_size; /* for new segments */
  uint64_t salt;
  uint64_t first_seq;            /* oldest segment present */
  uint64_t seq, off, size;       /* current segment: number, next write offset, file size */
  int fd;                        /* current segment */
  uint64_t epoch;                /* of the next save */
  int halted;                    /* a flush failed: LKV_EHALTED from now on */
  lkv_raft_hard_state_t hs;      /* as saved */
  lkv_raft_snapshot_meta_t snap; /* as saved */
  lkv__wal_slot_t *slots;        /* stored entries slot_base .. slot_base + n_slots - 1 */
  size_t n_slots, cap_slots;
  uint64_t slot_base;
  uint8_t *wbuf; /* the records of the save being written */
  size_t wcap;
  lkv_raft_entry_t *restore_entries; /* what lkv_wal_open handed out, freed by the next call */
  uint8_t *restore_data;
};

/* Positions order the whole log: (segment seq << 32) | offset. */
static inline uint64_t lkv__wal_pos(uint64_t seq, uint64_t off) {
  return seq << 32 | off;
}

/* Bytes a record with len bytes of payload takes (header, payload, padding to 8). */
static inline uint64_t lkv__wal_rec_size(uint64_t len) {
  return LKV__WAL_REC_HDR + ((len + 7) & ~(uint64_t)7);
}

/* Writes record r (r->payload, r->len) at out, which lies at position pos of the log with this salt:
 * lkv__wal_rec_size(r->len) bytes, padding zeroed. */
void lkv__wal_rec_encode(uint8_t *out, uint64_t salt, uint64_t pos, const lkv__wal_rec_t *r);

/* Whether the avail bytes at p hold an intact record for position pos: known kind and flags, non-zero
 * epoch, the whole padded record within avail, both checksums right. Fills *r (payload points into p) and
 * returns 1, else returns 0. Never reads past p + avail. */
int lkv__wal_rec_parse(const uint8_t *p, uint64_t avail, uint64_t salt, uint64_t pos, lkv__wal_rec_t *r);

void lkv__wal_seg_hdr_encode(uint8_t out[LKV__WAL_SEG_HDR], const lkv__wal_seg_hdr_t *h);

/* Returns 0, or LKV_ECORRUPT (short, wrong magic or version, bad checksum). */
int lkv__wal_seg_hdr_parse(const uint8_t *p, uint64_t len, lkv__wal_seg_hdr_t *h);

/* "<seq as 16 hex digits>.wal"; out has room for 32 bytes. */
void lkv__wal_seg_name(char out[32], uint64_t seq);

/* Parses a segment file name. Returns 1 and *seq, or 0 for any other name. */
int lkv__wal_seg_name_parse(const char *name, uint64_t *seq);

/* Writes all of buf at off through the ops table. Returns 0 or a negated errno (LKV_EIO when a write
 * makes no progress). */
int lkv__wal_write_full(lkv_wal_t *w, int fd, const void *buf, uint64_t len, uint64_t off);

/* A flush of fd through the ops table; a failure halts the log for good. Returns 0 or LKV_EHALTED. */
int lkv__wal_sync(lkv_wal_t *w, int fd);

/* Creates segment seq of size bytes (header with prev_end, preallocated, synced, renamed into place, the
 * directory synced) and returns its descriptor in *fd. Returns 0, LKV_ENOSPC, LKV_EHALTED (a sync
 * failed) or a negated errno; on failure no segment file seq exists (or, after LKV_EHALTED, may). */
int lkv__wal_seg_create(lkv_wal_t *w, uint64_t seq, uint64_t size, uint64_t prev_end, int *fd);

/* Unlinks segment seq (a missing file is fine). Returns 0 or a negated errno. The caller syncs the
 * directory. */
int lkv__wal_seg_unlink(lkv_wal_t *w, uint64_t seq);

/* Syncs the directory (a failure halts the log). Returns 0 or LKV_EHALTED. */
int lkv__wal_sync_dir(lkv_wal_t *w);

/* Reads the log in w->dir as wal.h describes and sets up w for writing after it (current segment open,
 * epoch, state, slots); fills *restore (owned by w) and *rep. Returns as lkv_wal_open. */
int lkv__wal_recover(lkv_wal_t *w, lkv_raft_restore_t *restore, lkv_wal_recovery_t *rep);

#endif
