/* The append-only ledger file: framed entries, batch append with one fsync, crash recovery, lookups. */
#ifndef LKV_LEDGER_LOG_FILE_H
#define LKV_LEDGER_LOG_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/entry.h"
#include "ledger/frontier.h"
#include "ledger/merkle.h"

/*
 * Two files in one directory (docs/ledger.md has the byte layouts):
 *  - ledger.log: "lkvledgr" ‖ u32 BE version ‖ u32 0 ‖ salt (8 random bytes), then one frame per
 *    entry: salt ‖ len (u32 BE) ‖ leaf hash (32) ‖ entry (len bytes, entry.h's encoding).
 *    The leaf hash doubles as the frame's checksum: it commits to every byte of the entry. The salt
 *    makes frames impossible to fake inside stored values. Record i (0-based) is leaf i of the tree.
 *    Version 2 (every new log) holds no SIGNED_TREE_HEAD record: signed heads live in ledger.heads
 *    (head_log.h). Version 1, written before that, may hold them; it is still opened, read and appended
 *    to (it stays version 1, its head records stay leaves).
 *  - ledger.idx: "lkvindex" ‖ version ‖ 0 ‖ synced count (u64), then 24 bytes per record: offset (u64)
 *    ‖ revision (i64) ‖ len (u32) ‖ kind (u8) ‖ flags (u8, bit 0: the entry produced its revision) ‖
 *    0 (2). Derived data, not synced on append: lkv_ledger_log_sync_index (and close) sync it and
 *    record how many entries are durable.
 *
 * Order rules, checked on append and on recovery: an entry that produces a revision has a revision
 * greater than every earlier entry's; any other entry's revision is at least the previous one; a
 * SIGNED_TREE_HEAD entry appears only in a version-1 log, and at record i has tree_size i (it signs exactly
 * the records before it).
 *
 * Durability: lkv_ledger_log_append returns after one fdatasync covering the whole batch; the log
 * holds everything needed to replay the state (it can serve as the write-ahead log). After a failed
 * sync the log refuses further appends (the kernel may have dropped the unsynced pages).
 *
 * Recovery on open: the index's synced entries are kept if the last of them describes an intact record
 * (otherwise the whole index is rebuilt); the records after them are scanned and verified (salt,
 * length, decoding, leaf hash, order rules) and indexed again. A bad or
 * incomplete record ends the scan: if no valid frame starts anywhere after it, it is a torn tail and
 * is cut off (info->truncated_bytes says how much); otherwise the damage is not at the tail and open
 * fails with LKV_ECORRUPT (info->corrupt_offset says where) instead of dropping acknowledged entries.
 * Records covered by the synced index are not re-read on open; lkv_ledger_log_read and the iterator verify
 * every record they return, so damage there surfaces on use (and in an audit).
 *
 * Threads: one writer (append) at a time; reads (count, meta, find, read, iterators) from any thread,
 * concurrently with it, seeing every record whose append has returned.
 */

typedef struct lkv_ledger_log_s lkv_ledger_log_t;

typedef struct lkv_ledger_log_info_s {
  uint64_t records;         /* records in the log after recovery */
  uint64_t scanned;         /* records verified by the scan (those the synced index did not cover) */
  uint64_t truncated_bytes; /* torn tail cut off */
  uint64_t corrupt_offset;  /* when open fails with LKV_ECORRUPT: file offset of the damage */
  uint64_t index_dropped;   /* index entries not trusted (unsynced or damaged; rebuilt from the log) */
} lkv_ledger_log_info_t;

/* What the index knows of a record. */
typedef struct lkv_ledger_log_meta_s {
  uint64_t offset; /* of the frame in ledger.log */
  int64_t revision;
  uint32_t len; /* of the entry */
  lkv_ledger_kind_t kind;
  int produced; /* the entry produced its revision (lkv_ledger_entry_is_revision) */
} lkv_ledger_log_meta_t;

/* A record read from the log. Zero-initialise; the buffer is reused by later reads into the same record
 * and freed by lkv_ledger_log_record_free. entry's pointers point into it. */
typedef struct lkv_ledger_log_record_s {
  lkv_ledger_entry_t entry;
  lkv_merkle_hash_t leaf; /* verified: equals the hash of entry */
  uint64_t index;
  uint8_t *buf;
  size_t cap;
} lkv_ledger_log_record_t;

/* Sequential reader (audit, replay). Fields are private. */
typedef struct lkv_ledger_log_iter_s {
  lkv_ledger_log_t *log;
  uint64_t index;  /* next record */
  uint64_t offset; /* of its frame */
  uint8_t *buf;    /* window of the file: [buf_off, buf_off + have) */
  size_t cap, have;
  uint64_t buf_off;
} lkv_ledger_log_iter_t;

/* Opens the ledger in dir (created with parents, mode 0700, if missing; a new log is version 2),
 * recovering as described above.
 * info (may be NULL) is filled on success and, for LKV_ECORRUPT, its corrupt_offset. Returns 0 and sets
 * *out, or LKV_ECORRUPT (not a ledger file, an unknown version, damage before the tail, or records out
 * of order, including a SIGNED_TREE_HEAD record in a version-2 log), LKV_ENOMEM, LKV_EINVAL (path too long)
 * or a negated errno. */
int lkv_ledger_log_open(lkv_ledger_log_t **out, const char *dir, lkv_ledger_log_info_t *info);

/* Syncs the index and closes. NULL is ignored. */
void lkv_ledger_log_close(lkv_ledger_log_t *log);

/* Appends entries[0..n) as records count..count+n-1 in one write and one fdatasync, and updates the
 * index. leaves (may be NULL; room for n) receives their leaf hashes. All or nothing: on error no entry
 * is visible to readers. Returns 0, LKV_EINVAL (an entry the codec refuses, or that breaks the order
 * rules), LKV_ENOMEM, LKV_EIO (also: the log failed a sync before and refuses appends) or a negated
 * errno. */
int lkv_ledger_log_append(lkv_ledger_log_t *log, const lkv_ledger_entry_t *entries, size_t n,
                          lkv_merkle_hash_t *leaves);

/* From now on appends return without their fdatasync: for a caller whose own write-ahead log already holds
 * what the records hold (a cluster member's Raft log), so that a lost tail is made again identically.
 * lkv_ledger_log_sync (and close) make them durable. Writer thread, before appending. */
void lkv_ledger_log_defer_sync(lkv_ledger_log_t *log);

/* Makes every record appended before the call durable (one fdatasync). Any thread. A failure is sticky:
 * it and every later append and sync return LKV_EIO. Returns 0 or LKV_EIO. */
int lkv_ledger_log_sync(lkv_ledger_log_t *log);

/* Makes the index durable up to record n (at most the count: entries are written before they are counted)
 * and records n in its header, so the next open only scans the records after it. One thread at a time,
 * while appends go on (the ledger calls it before each signed head, with the head's size), never with a
 * reset. Returns 0, LKV_EINVAL (n above the count) or a negated errno. */
int lkv_ledger_log_sync_index(lkv_ledger_log_t *log, uint64_t n);

/* Number of records. Any thread. */
uint64_t lkv_ledger_log_count(const lkv_ledger_log_t *log);

/* The version of the log's header: 2, or 1 for a log written before signed heads left the tree (it may
 * hold SIGNED_TREE_HEAD records). Any thread. */
uint32_t lkv_ledger_log_version(const lkv_ledger_log_t *log);

/* The revision of the last record (0 for an empty log). Writer thread. */
int64_t lkv_ledger_log_last_revision(const lkv_ledger_log_t *log);

/* The index's view of record `index`. Returns 0, LKV_ENOENT (index >= count), LKV_EIO or a negated errno. */
int lkv_ledger_log_meta(lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_meta_t *out);

/* The stored leaf hash of record `index` (the frame header only, not re-verified). Returns as _meta. */
int lkv_ledger_log_leaf(lkv_ledger_log_t *log, uint64_t index, lkv_merkle_hash_t *out);

/* *index = the first record whose revision is >= revision (count when there is none): where a replay of
 * everything after revision - 1 starts. O(log n) index reads. Returns 0, LKV_EIO or a negated errno. */
int lkv_ledger_log_lower_bound(lkv_ledger_log_t *log, int64_t revision, uint64_t *index);

/* *index = the first stored record whose frame starts at or after `offset` in ledger.log (count when
 * there is none): where the newest records that fit in a given number of bytes begin. O(log n) index
 * reads. Returns 0, LKV_EIO or a negated errno. */
int lkv_ledger_log_offset_bound(lkv_ledger_log_t *log, uint64_t offset, uint64_t *index);

/* *index = the record that produced `revision`. Returns 0, LKV_ENOENT (no record produced it), LKV_EIO or
 * a negated errno. */
int lkv_ledger_log_find_revision(lkv_ledger_log_t *log, int64_t revision, uint64_t *index);

/* *index = the last record of the given kind (e.g. the latest signed tree head). Reads the index backwards
 * in large chunks. Returns 0, LKV_ENOENT (none), LKV_ENOMEM, LKV_ECORRUPT, LKV_EIO or a negated errno. */
int lkv_ledger_log_find_last(lkv_ledger_log_t *log, lkv_ledger_kind_t kind, uint64_t *index);

/* Reads and verifies record `index` into rec. Returns 0, LKV_ENOENT (index >= count), LKV_ECORRUPT (the
 * record does not match its index entry or its leaf hash), LKV_ENOMEM, LKV_EIO or a negated errno. */
int lkv_ledger_log_read(lkv_ledger_log_t *log, uint64_t index, lkv_ledger_log_record_t *rec);

/* Frees rec's buffer (the struct itself is the caller's). */
void lkv_ledger_log_record_free(lkv_ledger_log_record_t *rec);

/* Positions it at record `start` (<= count). Returns 0, LKV_ENOENT (start > count), LKV_EIO or a negated
 * errno. */
int lkv_ledger_log_iter_init(lkv_ledger_log_iter_t *it, lkv_ledger_log_t *log, uint64_t start);

/* Reads the next record: its entry (pointers valid until the next call or free) and verified leaf hash
 * (leaf may be NULL). Returns 1, 0 (no more records for now: records appended later are returned by
 * later calls), LKV_ECORRUPT, LKV_ENOMEM, LKV_EIO or a negated errno. it->index - 1 is the record just
 * returned. */
int lkv_ledger_log_iter_next(lkv_ledger_log_iter_t *it, lkv_ledger_entry_t *e, lkv_merkle_hash_t *leaf);

/* Frees the iterator's buffer. */
void lkv_ledger_log_iter_free(lkv_ledger_log_iter_t *it);

/*
 * The base (docs/ledger.md, "The base"): the log may start at record `base` > 0, the records below it
 * summarised by a frontier kept in ledger.base (written whole through a rename: the moment the base
 * changes). Record numbers, file offsets and index positions stay absolute; what lies below the base is
 * a hole in the files. Every function above that is given a record below the base returns
 * LKV_ELEDGERPRUNED (lower_bound and find_revision too when the revision asked for is older than the
 * base's), and one that raced with a reset returns LKV_EAGAIN rather than what it read meanwhile.
 */

/* The first stored record (0 unless retention or a reset moved it). Any thread. */
uint64_t lkv_ledger_log_base(const lkv_ledger_log_t *log);

/* *out = the frontier of the records below the base (size 0 for a log that starts at record 0). Any
 * thread. */
void lkv_ledger_log_base_frontier(lkv_ledger_log_t *log, lkv_ledger_frontier_t *out);

/* Moves the base up to f->size (at most the record count), durably; f must be the frontier of the records
 * below it (the ledger computes it from its node store). Records below it are refused from then on, but
 * their space is freed only by lkv_ledger_log_punch. Any thread, concurrently with appends and readers;
 * never concurrently with itself or lkv_ledger_log_reset. Returns 0 (also when f->size is the base
 * already), LKV_EINVAL (f->size below the base or beyond the records), or the I/O errors of reading the
 * index and writing ledger.base. */
int lkv_ledger_log_set_base(lkv_ledger_log_t *log, const lkv_ledger_frontier_t *f);

/* Replaces every record by f: the log then holds f->size records, all below its base, none stored; the
 * next append is record f->size. Durable and atomic across a crash (the rename of ledger.base); the log
 * is flushed first. Writer thread. Returns 0, the errors of lkv_ledger_log_sync and of writing
 * ledger.base (then nothing changed), or a negated errno from cutting the index (then the new base holds
 * but appends fail with LKV_EIO until the log is opened again, which recovers the index). */
int lkv_ledger_log_reset(lkv_ledger_log_t *log, const lkv_ledger_frontier_t *f);

/* Frees the disk space of the records below the base: holes punched in ledger.log and ledger.idx (the
 * offsets of the later records do not move). Any thread; never concurrently with itself or a reset.
 * Returns 0 or a negated errno (-EOPNOTSUPP: the file system cannot punch holes; the records stay
 * refused). */
int lkv_ledger_log_punch(lkv_ledger_log_t *log);

#endif
