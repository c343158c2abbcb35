/* The lease channel's messages between members: keep-alives and TTL queries forwarded to the leader. */
#ifndef LKV_LEASE_FWD_CODEC_H
#define LKV_LEASE_FWD_CODEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * A member that does not lead forwards LeaseKeepAlive renewals and LeaseTimeToLive queries to the leader
 * (etcd's leasehttp), which alone keeps the expiry times that count. Each request carries an id chosen by
 * the sender; the answer repeats it, with the op and lease id, so a late or duplicated answer is matched or
 * dropped. Pure functions, no I/O. All integers little-endian, fixed sizes:
 *
 *   request (18 bytes): u8 LKV_LEASE_FWD_REQUEST ‖ u8 op ‖ u64 request id ‖ i64 lease id
 *   answer  (35 bytes): u8 LKV_LEASE_FWD_ANSWER  ‖ u8 op ‖ u64 request id ‖ i64 lease id ‖ u8 status ‖
 *                       i64 ttl ‖ i64 granted ttl
 *
 * ttl is the renewed lease's TTL (RENEW) or the whole seconds left (TIME_TO_LIVE); granted ttl is the TTL
 * the lease was granted with (TIME_TO_LIVE; 0 for RENEW). Both are 0 unless status is OK.
 */

#define LKV_LEASE_FWD_REQUEST 1
#define LKV_LEASE_FWD_ANSWER 2

#define LKV_LEASE_FWD_REQUEST_LEN 18
#define LKV_LEASE_FWD_ANSWER_LEN 35
#define LKV_LEASE_FWD_MAX_LEN LKV_LEASE_FWD_ANSWER_LEN

typedef enum {
  LKV_LEASE_FWD_RENEW = 1,       /* LeaseKeepAlive: renew the lease, answer its TTL */
  LKV_LEASE_FWD_TIME_TO_LIVE = 2 /* LeaseTimeToLive: the remaining and granted TTL */
} lkv_lease_fwd_op_t;

typedef enum {
  LKV_LEASE_FWD_OK = 0,
  LKV_LEASE_FWD_NOT_FOUND = 1, /* no such lease (or it expired): the client hears TTL 0 / -1 */
  LKV_LEASE_FWD_NOT_LEADER = 2 /* the receiver does not lead (any more): ask the current leader */
} lkv_lease_fwd_status_t;

typedef struct lkv_lease_fwd_msg_s {
  uint8_t kind;   /* LKV_LEASE_FWD_REQUEST or LKV_LEASE_FWD_ANSWER */
  uint8_t op;     /* lkv_lease_fwd_op_t */
  uint8_t status; /* answers: lkv_lease_fwd_status_t */
  uint64_t request_id;
  int64_t lease_id;
  int64_t ttl;         /* answers */
  int64_t granted_ttl; /* answers */
} lkv_lease_fwd_msg_t;

/* Writes m into buf (room for LKV_LEASE_FWD_MAX_LEN bytes) and returns the bytes written:
 * LKV_LEASE_FWD_REQUEST_LEN or LKV_LEASE_FWD_ANSWER_LEN by m->kind. Returns 0 (nothing written) when
 * m->kind, m->op or an answer's m->status is not one of the values above. */
size_t lkv_lease_fwd_encode(const lkv_lease_fwd_msg_t *m, uint8_t *buf);

/* Reads one message of exactly len bytes into *out. Returns 0, or LKV_EBADMSG for a length that does not
 * match its kind, an unknown kind, op or status (a newer member's message is dropped, never guessed at). */
int lkv_lease_fwd_decode(const uint8_t *buf, size_t len, lkv_lease_fwd_msg_t *out);

#endif
