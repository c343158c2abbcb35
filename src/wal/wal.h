/* The durable Raft log: segment files of checksummed records, one flush per save, crash recovery. */
#ifndef LKV_WAL_WAL_H
#define LKV_WAL_WAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "raft/raft.h"

/*
 * What it stores: the three things a Raft member must make durable (raft.h, step 2b of the ready
 * contract): log entries, the hard state and the latest snapshot's metadata, all in one stream of records.
 * One stream, not a separate state file, because then one flush covers a whole ready batch and the order
 * in which its parts take effect is simply the order they were written.
 *
 * Files (in one directory, which holds nothing else of ours):
 *   LOCK                   flock()ed while open: a second opener gets LKV_EAGAIN.
 *   <seq, 16 hex>.wal      segments, numbered consecutively. Each is preallocated (fallocate, or zeros
 *                          written where that is unsupported) to options.segment_size, or more for a
 *                          record that would not fit otherwise. A new segment is written under seg.tmp,
 *                          synced, renamed and the directory synced, so a segment name always has a good
 *                          header.
 *
 * Segment header (48 bytes, little-endian):
 *   0  "lkvrwal1"  8 bytes magic
 *   8  u32 version (1)      12 u32 0
 *   16 u64 seq              the number in the file name
 *   24 u64 salt             random per log, the same in every segment; a record's checksum covers it
 *   32 u64 prev_end         where data ended in segment seq-1 (the log continues here after it)
 *   40 u32 0                44 u32 crc32c of bytes 0..44
 *
 * Record (at 8-byte aligned offsets; 48-byte header, payload, zero padding to a multiple of 8):
 *   0  u32 hdr_crc    crc32c(salt ‖ position ‖ bytes 4..48): the header is bound to where it lies, so a
 *                     stale record left behind at another place never passes for a current one
 *   4  u32 data_crc   crc32c(payload); with hdr_crc covering it, the checksum covers header and payload
 *   8  u32 len        payload bytes
 *   12 u8  kind       1 entry, 2 hard state, 3 snapshot metadata (never 0: a zeroed header is no record)
 *   13 u8  flags      0x1: the last record of its save
 *   14 u8  aux        entry: lkv_raft_entry_type_t; snapshot: 1 if the log is kept after it (below)
 *   15 u8  0
 *   16 u64 epoch      the save's number: unique per save attempt, increasing
 *   24 u64 save_start the position of the save's first record
 *   32 u64 index      entry: its index (other kinds: 0)
 *   40 u64 term       entry: its term (other kinds: 0)
 *   A position is (segment seq << 32) | offset: positions grow along the log. Payloads: the entry's data;
 *   the hard state and the snapshot metadata in the codec's forms (raft/codec.h).
 *
 * A save is one batch of records written with one pwrite per segment it touches (normally one) and one
 * fdatasync each: the snapshot metadata, the entries, then the hard state, the last record flagged.
 * When a record does not fit in the current segment the next segment is created, and it begins with the
 * current hard state and snapshot metadata (a checkpoint), so a segment never needs an older one for
 * state: compaction can drop whole segments. Entry i replaces stored entries >= i. A snapshot record with
 * aux = 1 keeps the stored entries after its index (the log held the snapshot's entry with its term: a
 * member's own snapshot); with aux = 0 it discards every stored entry (an installed snapshot the log did
 * not match), exactly as the core's log does.
 *
 * Recovery: every segment is mapped and read (the time grows with the log: compact it); the records are
 * read in order and applied one whole save at a time (a save counts only once its
 * flagged last record has been read: a crash never leaves half of a save, so a truncated suffix comes back
 * either as the old one or as the new one, never a mix). Reading stops at the first position that does
 * not hold the next record of the log: a zeroed or half-written header, a bad checksum, a record of
 * another save attempt (a stale leftover: its epoch or save_start does not follow), or the end. Whether
 * that is a torn tail or damage is decided by this rule:
 *
 *   A save is written only after the previous save's fdatasync returned, and every record carries the
 *   position where its save began (save_start), i.e. how far the log was durable when it was written. So
 *   if any intact record anywhere from c on (c: the end of the last complete save read; every aligned
 *   offset up to the end of the files is probed) says save_start > c, then data beyond c was durable
 *   (flushed) and could not be read: that is damage
 *   and open fails with LKV_ECORRUPT (segment and offset in the recovery report), never dropping what was
 *   acknowledged. Otherwise nothing beyond c was ever flushed: zero-filled space, a half-written record,
 *   records the disk wrote out of order within the last unflushed save are all a torn tail and are
 *   dropped (the position of the next save is c; segments after c's are removed).
 *
 *   The one case this cannot tell apart: damage inside the very last save, after it was flushed, with no
 *   later save to prove it. That save is dropped as torn (no log without a later flush can prove it).
 *   Records that check out but make no sense (an entry index that leaves a gap, an undecodable hard
 *   state) were written that way and are refused with LKV_ECORRUPT too.
 *
 * After compaction the oldest segment's first save began in a removed segment: its records there are read
 * from the checkpoint on, and the entries of the oldest segment may start above the checkpoint's snapshot
 * (a later snapshot record covers the gap, or open refuses the log: entries missing).
 *
 * Epochs are never reused: after recovery the next epoch is above every epoch found anywhere in the
 * files, including stale leftovers, so a leftover can never be taken for part of a later save.
 *
 * Errors while saving: a failed fdatasync (EIO, or any other error) halts the log: the kernel may have
 * dropped the dirty pages, so retrying could report durable what is not. That call and every later save
 * and compact return LKV_EHALTED; the member must restart and recover. A write or preallocation that fails
 * (ENOSPC, EDQUOT: LKV_ENOSPC; other errors: their code) leaves the log as it was: the next save writes at
 * the same place with a new epoch, and whatever part of the failed one reached the file is a stale
 * leftover that recovery ignores. Such a call may be retried once space is freed.
 *
 * Threads: one caller at a time (the member's loop). Not async-signal-safe.
 */

typedef struct lkv_wal_s lkv_wal_t;

/* The file operations the log uses to change files, so tests can inject failures at exact points. Each
 * returns what the system call would, but as a negated errno instead of -1: */
typedef struct {
  ssize_t (*pwrite)(void *arg, int fd, const void *buf, size_t len, uint64_t off); /* bytes or -errno */
  int (*fdatasync)(void *arg, int fd);                                             /* 0 or -errno */
  int (*fsync)(void *arg, int fd); /* 0 or -errno; used on the directory */
  /* 0 or -errno: allocate [off, off + len) (mode 0). -EOPNOTSUPP makes the log write zeros instead. */
  int (*fallocate)(void *arg, int fd, uint64_t off, uint64_t len);
} lkv_wal_ops_t;

/* The real system calls (arg ignored). */
extern const lkv_wal_ops_t lkv_wal_default_ops;

/* What lkv_wal_open found. */
typedef struct {
  uint64_t segments;         /* segment files in use after recovery */
  uint64_t saves;            /* complete saves replayed */
  uint64_t torn_records;     /* intact records of an incomplete last save, dropped */
  uint64_t torn_bytes;       /* bytes between the end of the last complete save and where reading stopped */
  uint64_t removed_segments; /* segments holding only a torn tail, deleted */
  uint64_t next_epoch;       /* the epoch the next save will carry */
  /* When open fails with LKV_ECORRUPT: */
  uint64_t corrupt_segment; /* seq of the segment */
  uint64_t corrupt_offset;  /* byte offset in it */
  char message[256];        /* what is wrong, for the operator; "" when open succeeds */
} lkv_wal_recovery_t;

#define LKV_WAL_DEFAULT_SEGMENT_SIZE (64u << 20)
#define LKV_WAL_MIN_SEGMENT_SIZE 4096u
#define LKV_WAL_MAX_SEGMENT_SIZE (1u << 31)
#define LKV_WAL_MAX_ENTRY (1u << 30) /* bytes of data per entry */

typedef struct {
  uint64_t segment_size;        /* 0: LKV_WAL_DEFAULT_SEGMENT_SIZE; else in [MIN, MAX]. Used for new
                                   segments only: existing ones keep their size */
  const lkv_wal_ops_t *ops;     /* NULL: lkv_wal_default_ops */
  void *ops_arg;                /* passed to every op */
  lkv_wal_recovery_t *recovery; /* optional, filled by lkv_wal_open (also when it fails) */
} lkv_wal_options_t;

/* Opens the log in dir (created with its parents, mode 0700, when missing, and its parent directory
 * synced; a new log is empty), recovering
 * as the contract above says. opt may be NULL (defaults). On success *out is the log and *restore what
 * lkv_raft_new needs: hard state, latest snapshot metadata (index 0: none), the entries after it
 * (contiguous from snapshot.index + 1), applied = 0. restore's pointers are owned by the log and stay
 * valid until the next call on it (save, compact, close).
 * Returns 0, LKV_ECORRUPT (damage before the tail, a missing segment, a foreign or bad segment header,
 * records that contradict each other: opt->recovery says what and where), LKV_EAGAIN (another process
 * has it open), LKV_EINVAL (bad options, path too long), LKV_ENOMEM, LKV_ENOSPC (a first segment could not
 * be allocated) or a negated errno. */
int lkv_wal_open(const char *dir, const lkv_wal_options_t *opt, lkv_wal_t **out, lkv_raft_restore_t *restore);

/* Makes durable, in this order and with one fdatasync (per segment touched): snap (may be NULL), the n
 * entries (entries[0].index must be in (snapshot index, last index + 1], indexes consecutive; they replace
 * the stored entries >= entries[0].index), then hs (may be NULL). Returns after the flush. The caller keeps
 * its buffers. A save that fills the current segment also creates the next one (and syncs the directory).
 * Returns 0 (also when there is nothing to save), LKV_EINVAL (snapshot older than the saved one or with a
 * membership the codec refuses, entries at or below the snapshot, not consecutive, leaving a gap, of an
 * unknown type or larger than LKV_WAL_MAX_ENTRY), LKV_EHALTED (a flush failed, now or before), LKV_ENOSPC
 * (the log is unchanged), LKV_ENOMEM or another negated errno from a write (the log is unchanged). */
int lkv_wal_save(lkv_wal_t *wal, const lkv_raft_hard_state_t *hs, const lkv_raft_snapshot_meta_t *snap,
                 const lkv_raft_entry_t *entries, size_t n);

/* Deletes the segments that hold nothing needed any more: every one before the segment holding entry
 * index + 1 (or the first stored entry, when the log starts above it; or before the current segment when
 * no entry is stored), never the current one, oldest first, then syncs the directory. index must be at or
 * below the saved snapshot's index: entries up to it are covered by the snapshot. Returns 0, LKV_EINVAL
 * (index above the saved snapshot), LKV_EHALTED (now or before: a failed directory sync halts the log,
 * since removed names might come back) or a negated errno from unlink. */
int lkv_wal_compact(lkv_wal_t *wal, uint64_t index);

/* The last stored entry's index (the snapshot's index when no entry follows it) and the oldest segment
 * still present. */
uint64_t lkv_wal_last_index(const lkv_wal_t *wal);

/* The hard state as last saved (zeros before any). */
lkv_raft_hard_state_t lkv_wal_hard_state(const lkv_wal_t *wal);
uint64_t lkv_wal_first_segment(const lkv_wal_t *wal);

/* Closes the files and frees the log (everything durable already is). NULL is ignored. */
void lkv_wal_close(lkv_wal_t *wal);

#endif
