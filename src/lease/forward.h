/* Lease renewals and TTL queries forwarded from a member that does not lead to the one that does. */
#ifndef LKV_LEASE_FORWARD_H
#define LKV_LEASE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "lease/lessor.h"
#include "lease/sync.h"
#include "replication/replication.h"

/*
 * Only the leader's lessor expires leases (lessor.h), so a renewal or a TTL query that reaches another
 * member must be answered by the leader, as etcd's followers do over leasehttp. The forwarder is both
 * sides of that exchange on one member:
 *
 *  - asking (this member does not lead): lkv_lease_fwd_renew / lkv_lease_fwd_time_to_live park a request
 *    with an id and a deadline and send it to the leader (fwd_codec.h) through the send function. The
 *    answer completes it. A request waits while no leader is known, is sent again to the new leader when
 *    leadership moves or when the leader says it does not lead, and again after resend_ms without an
 *    answer (messages may be lost). At its deadline it fails: LKV_ENOLEADER when no leader is known then
 *    (etcd's "etcdserver: no leader"), LKV_ETIMEDOUT otherwise ("etcdserver: request timed out").
 *  - answering (this member leads): lkv_lease_fwd_receive hands requests to the lessor. A lease the lessor
 *    does not know may be one whose grant is committed and not yet applied here: the answer then waits for
 *    a read barrier (etcd's wait for the applied index) before it says "not found". With a handoff module
 *    (sync.h) a renewal is answered once a majority of voters recorded it; if that fails the asker is told
 *    that this member does not lead, and asks the leader of then.
 *
 * The number of parked requests is bounded (max_pending); beyond it requests fail at once with
 * LKV_EAGAIN. A member that leads itself never parks: the API serves it from the local lessor (single
 * nodes have no forwarder at all). A cluster member that leads may still send its own renewals through the
 * forwarder: they are served here at once, and one that fails because leadership moved goes to the new
 * leader like any other.
 *
 * Causal mode (options.owner set): there is no leader; a lease belongs to the member its id names
 * (causal/lease_id.h), which alone renews it and knows its TTL. Each request goes to its lease's owner (this
 * member: served here at once), is sent again after resend_ms without an answer, and fails at its deadline
 * with LKV_ELEASEOWNERDOWN (the owner is unreachable); a lease whose id names no member (options.owner
 * answers 0: also a removed member's) is answered LKV_ELEASENOTFOUND at once, or at the deadline when its
 * owner stopped being named meanwhile. A member answers requests for the leases it owns only.
 *
 * Threads: one timer thread (deadlines, resends, waiting for a leader). Every function may be called from
 * any thread. Callbacks run without the forwarder's lock, on the peer thread (answers), the timer thread,
 * the replicator's thread (this member became leader meanwhile) or the thread calling lkv_lease_fwd_stop.
 */

typedef struct lkv_lease_fwd_s lkv_lease_fwd_t;

/* Sends msg (len bytes, copied) to member `to` on the lease channel. Must not block; may fail or drop
 * (requests are sent again). */
typedef int (*lkv_lease_fwd_send_fn)(void *arg, uint64_t to, const uint8_t *msg, size_t len);

/* The outcome of a forwarded request: err 0 with ttl (RENEW: the lease's TTL; TIME_TO_LIVE: whole seconds
 * left) and granted_ttl (TIME_TO_LIVE only), or err LKV_ELEASENOTFOUND, LKV_ENOLEADER, LKV_ETIMEDOUT or
 * LKV_ESTOPPED. Called exactly once per accepted request. */
typedef void (*lkv_lease_fwd_cb)(void *arg, int err, int64_t ttl, int64_t granted_ttl);

/* Requests parked at most, by default. */
#define LKV_LEASE_FWD_DEFAULT_PENDING 4096
/* How often parked requests look for a leader (and for deadlines). */
#define LKV_LEASE_FWD_POLL_MS 100

/* Causal mode: the member that owns lease id, or 0 when none does. */
typedef uint64_t (*lkv_lease_fwd_owner_fn)(void *arg, int64_t id);

typedef struct lkv_lease_fwd_options_s {
  lkv_lessor_t *lessor; /* answers requests while this member leads; required, outlives the forwarder */
  lkv_replicator_t *replicator; /* who leads, and read barriers; required, outlives the forwarder */
  lkv_lease_sync_t *sync;       /* renewals recorded by a majority before they are answered; NULL: none */
  lkv_lease_fwd_send_fn send;   /* required */
  void *send_arg;
  unsigned timeout_ms;          /* a request's deadline (etcd's request timeout), > 0 */
  unsigned resend_ms;           /* a request unanswered this long is sent again, > 0 (an election timeout) */
  size_t max_pending;           /* 0 = LKV_LEASE_FWD_DEFAULT_PENDING */
  lkv_lease_fwd_owner_fn owner; /* causal mode (see above; sync must be NULL), or NULL: to the leader */
  void *owner_arg;
} lkv_lease_fwd_options_t;

/* Starts a forwarder (its timer thread). Returns 0 and sets *out, or LKV_EINVAL (a required option
 * missing, a zero interval), LKV_ENOMEM. */
int lkv_lease_fwd_start(lkv_lease_fwd_t **out, const lkv_lease_fwd_options_t *opts);

/* Stops the timer, fails every parked request with LKV_ESTOPPED, waits for the read barriers of answers
 * in progress (the replicator must still run), and frees f. No other thread may use f any more (clear the
 * channel receiver first). NULL is ignored. */
void lkv_lease_fwd_stop(lkv_lease_fwd_t *f);

/* 1 when requests about lease id must be forwarded: another member leads, or no leader is known (causal
 * mode: this member does not own the lease); 0 when this member leads (owns it): serve them from the local
 * lessor. */
int lkv_lease_fwd_remote(lkv_lease_fwd_t *f, int64_t id);

/* Forwards a renewal of lease id (LeaseKeepAlive). Returns 0 and calls cb exactly once, or LKV_EAGAIN
 * (too many requests parked), LKV_ESTOPPED, LKV_ENOMEM and never calls cb. When this member leads the
 * request is served at once, so cb may run on the calling thread before this returns (set up everything
 * cb needs first). */
int lkv_lease_fwd_renew(lkv_lease_fwd_t *f, int64_t id, lkv_lease_fwd_cb cb, void *arg);

/* Forwards a TTL query of lease id (LeaseTimeToLive); as lkv_lease_fwd_renew. */
int lkv_lease_fwd_time_to_live(lkv_lease_fwd_t *f, int64_t id, lkv_lease_fwd_cb cb, void *arg);

/* A message of the lease channel from member `from` (an lkv__channel_cb; arg is the forwarder): requests
 * are answered, answers complete their request; malformed or unmatched messages are dropped. */
void lkv_lease_fwd_receive(void *f, uint64_t from, const uint8_t *data, size_t len);

#endif
