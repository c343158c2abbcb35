/* The causal member's durable event log (member/causal): applied events in local order, checksummed. */
#ifndef LKV_REPLICATION_CAUSAL_LOG_H
#define LKV_REPLICATION_CAUSAL_LOG_H

#include <stddef.h>
#include <stdint.h>

/*
 * One append-only file, <dir>/events, of records: len u32 ‖ crc32c(body) u32 ‖ body (len bytes), little-
 * endian. A body is an event, or, as the first record only, the log's base: "lkvcbase" ‖ base u64, the
 * revisions compacted off its front (docs/causal.md §7; none: base 0). The i-th event is the one the
 * member applied at its revision base + i + 1. A compaction rewrites the file (lkv__causal_log_rewrite:
 * written aside, flushed and renamed, so a crash leaves the old file or the new one). A batch's events are
 * appended with one write and made durable with one fdatasync before anything of the batch leaves the member
 * (causal/member.h's contract). Recovery reads records from the start: a last record cut short or failing
 * its checksum is a torn tail (a crash during the write) and is cut off; a bad record followed by more
 * data is damage and refused. Not thread-safe: the causal thread owns it.
 */

typedef struct lkv__causal_log_s lkv__causal_log_t;

/* Called for each recovered event in order with its revision; return 0 to go on, or a negative code that
 * ends the open with it. event is valid during the call. */
typedef int (*lkv__causal_log_cb)(void *arg, uint64_t rev, const uint8_t *event, size_t len);

/* Opens (creating dir and the file if needed) the log in dir, calls cb for every record in order, cuts a
 * torn tail off and leaves the file ready to append. Returns 0 and *out, LKV_ECORRUPT (damage before the
 * tail), a code from cb, or a negated errno. */
int lkv__causal_log_open(const char *dir, lkv__causal_log_cb cb, void *arg, lkv__causal_log_t **out);

/* Appends events ev[i] (len[i] bytes), i < n, with one write, then one fdatasync. Returns 0, or a negated
 * errno (then the file may hold a torn tail, which the next open cuts: the caller must stop using it). */
int lkv__causal_log_append(lkv__causal_log_t *l, const uint8_t *const *ev, const size_t *len, size_t n);

/* The revision of the log's last event (its base when it holds none). */
uint64_t lkv__causal_log_last(const lkv__causal_log_t *l);

/* The revisions compacted off the log's front. */
uint64_t lkv__causal_log_base(const lkv__causal_log_t *l);

/* Drops the events of revisions up to base from the log's front: the file is rewritten with base and the
 * later events (written to events.tmp, flushed, renamed over events, the directory flushed). A base beyond
 * the last event empties the log, which then goes on at base + 1 (a snapshot installed at base: its state
 * covers every event the log held). Returns 0 (also when nothing is to drop), or a negated errno,
 * LKV_ECORRUPT or LKV_ENOMEM: before the rename the old log stays in use; after it (the reopen failed)
 * appends fail and the caller must stop. */
int lkv__causal_log_drop_front(lkv__causal_log_t *l, uint64_t base);

/* Closes the log. NULL is allowed. */
void lkv__causal_log_close(lkv__causal_log_t *l);

#endif
