/* The lease handoff between members: the leader's renewals recorded by a majority before they are
 * acknowledged, and a new leader's takeover of the remaining TTLs a majority recorded. */
#ifndef LKV_LEASE_SYNC_H
#define LKV_LEASE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "lease/lessor.h"
#include "replication/replication.h"

/*
 * Expiry times are not state-machine state (lessor.h), so a new leader learns of its predecessor's
 * renewals from the members, not from the log:
 *
 *  - recording (this member leads): each renewal (lkv_lease_sync_renewed, after lkv_lessor_renew) joins
 *    the next batch, sent at once to every other voter as remaining TTLs (sync_codec.h). Its callback
 *    runs when a majority of voters, this member included, has recorded it (lkv_lessor_record), so a
 *    renewal is acknowledged to a client only then. A batch is sent again every resend_ms to the voters
 *    that have not acknowledged it, and fails at timeout_ms (LKV_ETIMEDOUT), or at once when this member
 *    stops leading in the batch's term or a voter refuses it (LKV_ENOTLEADER: a later term's leader has
 *    asked that voter, so the renewal must be made again by that leader).
 *  - takeover (this member has just become leader in a term): it asks every voter for its recorded
 *    remaining TTLs (lkv_lessor_remaining, which fences older terms) and merges each answer as it arrives
 *    (lkv_lessor_takeover); the lessor expires nothing until a majority, itself included, has answered.
 *    Unanswered voters are asked again every query_resend_ms.
 *  - on every member: records are recorded and acknowledged, queries answered.
 *
 * Why no lease expires early: a renewal acknowledged to a client was recorded by a majority in its term
 * T, each record no earlier than the truth (remaining TTLs are measured when a message leaves and counted
 * from when it is handled). A leader of a later term merges the answers of a majority, which shares a
 * member with that one; that member answered after recording (a record arriving after its answer is
 * refused, and refusing it keeps the renewal from a majority), so its answer holds the renewal or a later
 * one. Answers are counted from when they are handled, which is after they were made. docs/cluster.md.
 *
 * Threads: one thread (batches, queries, resends, deadlines; it polls leadership every
 * LKV_LEASE_SYNC_POLL_MS). Every function may be called from any thread. Callbacks run without the
 * module's lock, on that thread, the thread that delivers messages, or the one calling lkv_lease_sync_stop.
 */

typedef struct lkv_lease_sync_s lkv_lease_sync_t;

/* Sends msg (len bytes, copied) to member `to` on the lease channel. Must not block; may fail or drop
 * (messages are sent again). */
typedef int (*lkv_lease_sync_send_fn)(void *arg, uint64_t to, const uint8_t *msg, size_t len);

/* A renewal's outcome: 0 (a majority recorded it), LKV_ENOTLEADER, LKV_ETIMEDOUT or LKV_ESTOPPED. */
typedef void (*lkv_lease_sync_cb)(void *arg, int err);

/* How often the thread looks at who leads (a new leader's takeover starts within this). */
#define LKV_LEASE_SYNC_POLL_MS 20

typedef struct lkv_lease_sync_options_s {
  lkv_lessor_t *lessor;         /* records, answers and takeovers; required, outlives the module */
  lkv_replicator_t *replicator; /* who leads in which term, and the voters; required, outlives it */
  lkv_lease_sync_send_fn send;  /* required */
  void *send_arg;
  unsigned timeout_ms; /* a renewal's deadline, > 0 */
  unsigned resend_ms;  /* unacknowledged records are sent again this often, > 0 */
  /* Unanswered queries are sent again this often (0: resend_ms). An answer lists every lease: asking a
   * slow member again too soon only makes it send that list again. */
  unsigned query_resend_ms;
} lkv_lease_sync_options_t;

/* Starts the module (its thread). Returns 0 and sets *out, or LKV_EINVAL (a required option missing, a
 * zero interval), LKV_ENOMEM. */
int lkv_lease_sync_start(lkv_lease_sync_t **out, const lkv_lease_sync_options_t *opts);

/* Stops the thread and fails every renewal waiting with LKV_ESTOPPED; from then on renewals are refused
 * (LKV_ESTOPPED) and messages ignored. s stays valid until lkv_lease_sync_free. NULL is ignored. */
void lkv_lease_sync_stop(lkv_lease_sync_t *s);

/* Frees a stopped module; no other thread may use it any more. NULL is ignored. */
void lkv_lease_sync_free(lkv_lease_sync_t *s);

/* Has a renewal recorded by a majority: lease id was renewed by this member's lessor, leading in `term`
 * (lkv_lessor_renew's term), with ttl seconds from now. Returns 0 and later calls cb exactly once (never
 * before returning), or LKV_ENOMEM / LKV_ESTOPPED and never calls cb. */
int lkv_lease_sync_renewed(lkv_lease_sync_t *s, uint64_t term, int64_t id, int64_t ttl, lkv_lease_sync_cb cb,
                           void *arg);

/* A handoff message of the lease channel from member `from` (an lkv__channel_cb; arg is the module):
 * records are recorded and acknowledged, queries answered, acks and answers matched to this member's
 * batches and query; malformed, stale or unmatched messages are dropped. */
void lkv_lease_sync_receive(void *s, uint64_t from, const uint8_t *data, size_t len);

#endif
