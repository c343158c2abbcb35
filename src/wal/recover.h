/* Recovery's shared state: what reading the segments found, and the replay of whole saves into it. */
#ifndef LKV_WAL_RECOVER_H
#define LKV_WAL_RECOVER_H

#include "wal/internal.h"

/* A segment file, mapped read-only for the whole recovery. */
typedef struct {
  uint64_t seq;
  const uint8_t *map;
  uint64_t size;
  lkv__wal_seg_hdr_t hdr;
} lkv__wal_seg_t;

/* An entry as replayed: data points into a segment's image. */
typedef struct {
  uint64_t index, term, seq;
  const uint8_t *data;
  uint32_t len;
  uint8_t type;
} lkv__wal_entry_t;

/* A record of the save being read, applied once its last record is read. */
typedef struct {
  lkv__wal_rec_t rec;
  uint64_t seq, off; /* where it lies */
} lkv__wal_pending_t;

/* What recovery has read and replayed so far. */
typedef struct {
  lkv_wal_t *w;
  lkv_wal_recovery_t *rep;
  lkv__wal_seg_t *segs;
  size_t n_segs;
  lkv__wal_entry_t *ents; /* the stored log, contiguous */
  size_t n_ents, cap_ents;
  int seen_entry; /* the first entry replayed may follow a gap (its predecessors were compacted away) */
  lkv_raft_hard_state_t hs;
  lkv_raft_snapshot_meta_t snap;
  lkv__wal_pending_t *pending; /* the records of the save being read */
  size_t n_pending, cap_pending;
} lkv__wal_scan_t;

/* Records damage at (seq, off) of what kind (printf-style) in the recovery report. Returns LKV_ECORRUPT. */
int lkv__wal_corrupt(lkv__wal_scan_t *s, uint64_t seq, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Applies the records of one complete save (s->pending), in order, to the replayed log. Returns 0,
 * LKV_ECORRUPT (records that contradict the log: written that way) or LKV_ENOMEM. */
int lkv__wal_apply_save(lkv__wal_scan_t *s);

/* Hands the entries after the snapshot to the caller (copied into buffers the log owns) and sets up the
 * writer's memory of the stored log. Returns 0, LKV_ECORRUPT (entries missing after the snapshot) or
 * LKV_ENOMEM. */
int lkv__wal_build_state(lkv__wal_scan_t *s, lkv_raft_restore_t *restore);

#endif
