/* The lease channel's handoff messages: renewals recorded by the members, a new leader's query and its
 * answers. */
#ifndef LKV_LEASE_SYNC_CODEC_H
#define LKV_LEASE_SYNC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "lease/remaining.h"

/*
 * They share the lease channel with the forwarder's messages (fwd_codec.h: kinds 1 and 2), told apart by
 * the first byte. Remaining TTLs travel as durations in ms, never as times: members' clocks differ. Pure
 * functions, no I/O. All integers little-endian, fixed sizes; an entry is i64 lease id ‖ i64 ms left.
 *
 *   record (21 + 16 n): u8 LKV_LEASE_SYNC_RECORD ‖ u64 term ‖ u64 batch ‖ u32 n ‖ n entries
 *     the leader of `term` renewed these leases; each has `ms` left as the message leaves
 *   ack (18):           u8 LKV_LEASE_SYNC_ACK ‖ u64 term ‖ u64 batch ‖ u8 ok
 *     ok 1: recorded; ok 0: refused (the member answered a later term's query)
 *   query (17):         u8 LKV_LEASE_SYNC_QUERY ‖ u64 term ‖ u64 query id
 *     the leader of `term` asks for every member's recorded remaining TTLs
 *   answer (29 + 16 n): u8 LKV_LEASE_SYNC_ANSWER ‖ u64 term ‖ u64 query id ‖ i64 uptime ms ‖ u32 n ‖
 *                       n entries  (lkv_lessor_remaining's output)
 */

#define LKV_LEASE_SYNC_RECORD 3
#define LKV_LEASE_SYNC_ACK 4
#define LKV_LEASE_SYNC_QUERY 5
#define LKV_LEASE_SYNC_ANSWER 6

#define LKV_LEASE_SYNC_ENTRY_LEN 16
/* Entries in one message at most (the peer transport carries far more; this bounds a decoder's work). */
#define LKV_LEASE_SYNC_MAX_ENTRIES (1u << 24)

typedef struct lkv_lease_sync_msg_s {
  uint8_t kind;
  uint64_t term;
  uint64_t seq;           /* record and ack: the batch; query and answer: the query id */
  uint8_t ok;             /* ack */
  int64_t uptime_ms;      /* answer */
  size_t n;               /* record and answer: entries */
  const uint8_t *entries; /* decode only: the n entries' bytes inside the decoded buffer */
} lkv_lease_sync_msg_t;

/* The bytes m takes encoded (m->kind and m->n), or 0 for an unknown kind or too many entries. */
size_t lkv_lease_sync_size(const lkv_lease_sync_msg_t *m);

/* Writes m into buf (lkv_lease_sync_size(m) bytes), the entries of a record or answer from v[0..m->n).
 * Returns the bytes written, or 0 (nothing written) when lkv_lease_sync_size is 0. */
size_t lkv_lease_sync_encode(const lkv_lease_sync_msg_t *m, const lkv_lease_remaining_t *v, uint8_t *buf);

/* Reads one message of exactly len bytes into *out; out->entries points into buf (valid while buf is).
 * Returns 0, or LKV_EBADMSG for an unknown kind, a length that does not match it, an ack's ok other than
 * 0 or 1, or too many entries. */
int lkv_lease_sync_decode(const uint8_t *buf, size_t len, lkv_lease_sync_msg_t *out);

/* Copies the decoded message's entries into v[0..m->n). */
void lkv_lease_sync_entries(const lkv_lease_sync_msg_t *m, lkv_lease_remaining_t *v);

#endif
