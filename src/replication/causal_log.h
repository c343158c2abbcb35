/* The causal member's durable event log (member/causal): applied events in local order, checksummed. */
#ifndef LKV_REPLICATION_CAUSAL_LOG_H
#define LKV_REPLICATION_CAUSAL_LOG_H

#include <stddef.h>
#include <stdint.h>

/*
 * One append-only file, <dir>/events, of records: len u32 ‖ crc32c(event) u32 ‖ event (len bytes), little-
 * endian; record i is the event the member applied at its revision i + 1. A batch's events are appended
 * with one write and made durable with one fdatasync before anything of the batch leaves the member
 * (causal/member.h's contract). Recovery reads records from the start: a last record cut short or failing
 * its checksum is a torn tail (a crash during the write) and is cut off; a bad record followed by more
 * data is damage and refused. Not thread-safe: the causal thread owns it.
 */

typedef struct lkv__causal_log_s lkv__causal_log_t;

/* Called for each recovered event in order; return 0 to go on, or a negative code that ends the open with
 * it. event is valid during the call. */
typedef int (*lkv__causal_log_cb)(void *arg, const uint8_t *event, size_t len);

/* Opens (creating dir and the file if needed) the log in dir, calls cb for every record in order, cuts a
 * torn tail off and leaves the file ready to append. Returns 0 and *out, LKV_ECORRUPT (damage before the
 * tail), a code from cb, or a negated errno. */
int lkv__causal_log_open(const char *dir, lkv__causal_log_cb cb, void *arg, lkv__causal_log_t **out);

/* Appends events ev[i] (len[i] bytes), i < n, with one write, then one fdatasync. Returns 0, or a negated
 * errno (then the file may hold a torn tail, which the next open cuts: the caller must stop using it). */
int lkv__causal_log_append(lkv__causal_log_t *l, const uint8_t *const *ev, const size_t *len, size_t n);

/* Records in the log. */
uint64_t lkv__causal_log_count(const lkv__causal_log_t *l);

/* Closes the log. NULL is allowed. */
void lkv__causal_log_close(lkv__causal_log_t *l);

#endif
