/* The lessor: lease expiry times in memory, renewals, and revocation of expired leases through the write
 * path. */
#ifndef LKV_LEASE_LESSOR_H
#define LKV_LEASE_LESSOR_H

#include <stddef.h>
#include <stdint.h>

#include "lease/remaining.h"
#include "mvcc/mvcc.h"
#include "replication/replication.h"

/*
 * Which leases exist (and which keys they hold) is state-machine state, in the store. When they expire is
 * not: time never enters the state machine. The lessor keeps, for every lease the store has, its granted
 * TTL and an expiry time on a monotonic clock, in a hash table and a min-heap by expiry. At start-up every
 * lease gets its full TTL again (etcd's Promote after a restart). A renewal (LeaseKeepAlive) moves the
 * expiry in memory only, as etcd's leader does. When a lease's time is up, the lessor proposes a
 * LeaseRevoke to the replicator like any client would, so the deletion of its keys is an ordinary revision
 * with DELETE events, replicated and recorded like every other write.
 *
 * The API layer tells the lessor about grants and revokes once they are applied (lkv_lessor_granted /
 * lkv_lessor_revoked, from the proposal's completion, before the client hears back).
 *
 * Only the member that leads expires leases (lkv_replicator_status says who leads; the single-node
 * replicator always does; the timer looks every LKV_LEASE_FOLLOWER_POLL_MS, renew and lookup look first).
 * Renewals and TTL queries that reach another member are forwarded to the leader (forward.h).
 *
 * What a member that becomes leader does with the expiry times depends on options.handoff:
 *  - 0 (a single node): every lease gets its full TTL again, as etcd's Promote does;
 *  - 1 (a cluster member, with lease/sync.h): the *handoff*. While it follows, a member records the
 *    renewals its leader reports (lkv_lessor_record: remaining TTLs, as durations); once it leads in a
 *    term it expires nothing until the remaining TTLs that a majority of voters recorded have been merged
 *    (lkv_lessor_takeover, each answer made by lkv_lessor_remaining), every lease keeping the latest
 *    expiry any answer gives it. Answering a term's query *fences* older terms: their leaders' renewals
 *    are refused from then on (by lkv_lessor_record, and by lkv_lessor_renew on this member), so no
 *    renewal acknowledged by a majority can be missed by a later leader's majority of answers.
 *
 * Thread-safety: every function may be called from any thread (one mutex inside), except open/start/close.
 */

typedef struct lkv_lessor_s lkv_lessor_t;

/* Smallest TTL a lease gets, in seconds. etcd's rule is ceil(1.5 x election timeout) = 2 s with its
 * default 1000 ms election timeout; ledgerkv has no elections but keeps the same floor, so clients see
 * the TTLs etcd would grant. */
#define LKV_LEASE_MIN_TTL 2

/* How long an expired lease whose revoke failed waits before the lessor tries again, in ms. */
#define LKV_LEASE_RETRY_MS 1000

/* How often a member that does not lead checks whether it became leader (then it starts expiring). */
#define LKV_LEASE_FOLLOWER_POLL_MS 100

/* A monotonic clock in milliseconds (tests inject their own). */
typedef int64_t (*lkv_lessor_clock_fn)(void *arg);

/* Whether this member owns lease id (causal mode: the id names its owner, causal/lease_id.h). */
typedef int (*lkv_lessor_owns_fn)(void *arg, int64_t id);

typedef struct lkv_lessor_options_s {
  lkv_mvcc_t *store;            /* leases to recover at open; required, must outlive the lessor */
  lkv_replicator_t *replicator; /* where revokes of expired leases go; required, must outlive the lessor */
  uint64_t member_id;           /* seeds server-assigned lease ids (as etcd's request id generator) */
  int64_t min_ttl;              /* seconds; 0 = LKV_LEASE_MIN_TTL */
  lkv_lessor_clock_fn clock;    /* NULL = CLOCK_MONOTONIC */
  void *clock_arg;
  int handoff; /* 1: a new leader's expiry times come from lkv_lessor_takeover (see above) */
  /* Causal mode (NULL otherwise): only the leases owns() accepts expire here and are renewed here; the
   * others are known (Leases lists them) but never expire on this member: their owner revokes them. */
  lkv_lessor_owns_fn owns;
  void *owns_arg;
} lkv_lessor_options_t;

/* Orphan records kept at most: renewals recorded for leases whose grant this member has not applied yet
 * (beyond it, lkv_lessor_record refuses a batch rather than forget a renewal). */
#define LKV_LEASE_MAX_ORPHANS 65536

/* Creates a lessor holding every lease of opts->store, each expiring its full TTL from now. Expiry is
 * not watched until lkv_lessor_start (or lkv_lessor_expire is called). Returns 0 and sets *out, or
 * LKV_EINVAL (missing store or replicator), LKV_ENOMEM, or a storage code. */
int lkv_lessor_open(lkv_lessor_t **out, const lkv_lessor_options_t *opts);

/* Starts the timer thread that calls lkv_lessor_expire whenever the earliest expiry is due.
 * Returns 0 or LKV_ENOMEM (no thread; the lessor still works without expiry). At most once. */
int lkv_lessor_start(lkv_lessor_t *l);

/* The store's content was replaced (a cluster member installed a snapshot): forgets every lease and takes
 * the store's, each expiring its full TTL from now (as after a restart). Any thread. Returns 0, LKV_ENOMEM
 * or a storage code. */
int lkv_lessor_reload(lkv_lessor_t *l, lkv_mvcc_t *store);

/* Stops the timer thread, waits until every revoke the lessor proposed has completed (the replicator must
 * still be running), and frees l. Call after no other thread uses l. NULL is ignored. */
void lkv_lessor_close(lkv_lessor_t *l);

/* The minimum TTL in seconds: a grant with a smaller TTL gets this one. */
int64_t lkv_lessor_min_ttl(const lkv_lessor_t *l);

/* A fresh lease id for a grant that asked for none: positive (63 bits), never 0, not a lease the lessor
 * knows. Chosen before proposing, as etcd does, so the state machine stays deterministic. */
int64_t lkv_lessor_next_id(lkv_lessor_t *l);

/* Records an applied grant: lease id with ttl seconds expires ttl seconds from now. Returns 0 or
 * LKV_ENOMEM (the lease then never expires until the next restart). */
int lkv_lessor_granted(lkv_lessor_t *l, int64_t id, int64_t ttl);

/* Forgets lease id (its revoke was applied). Unknown ids are ignored. */
void lkv_lessor_revoked(lkv_lessor_t *l, int64_t id);

/* Renews lease id: it expires its full TTL from now. Returns 0 with the granted TTL in *ttl and (term
 * may be NULL) the Raft term this member leads in (the term the renewal must be recorded under), or
 * LKV_ELEASENOTFOUND when the lease is unknown or already expired (its revoke is under way), or (handoff
 * only) LKV_ENOTLEADER when this member does not lead or has answered a later term's query, or (owns set)
 * LKV_ELEASEOWNER when another member owns the lease. */
int lkv_lessor_renew(lkv_lessor_t *l, int64_t id, int64_t *ttl, uint64_t *term);

/* The granted TTL and the whole seconds left (truncated toward zero, as etcd's int64(Seconds()); may be
 * <= 0 for an expired lease whose revoke is under way). Either output may be NULL. Returns 0 or
 * LKV_ELEASENOTFOUND. */
int lkv_lessor_lookup(lkv_lessor_t *l, int64_t id, int64_t *granted_ttl, int64_t *remaining);

/* Every known lease id, soonest expiry first (etcd's Leases order), in a malloc'd array the caller frees
 * (*ids may be NULL when *n is 0). Returns 0 or LKV_ENOMEM. */
int lkv_lessor_list(lkv_lessor_t *l, int64_t **ids, size_t *n);

/* Proposes a revoke for every lease whose expiry is due (the timer thread calls this; tests call it with
 * an injected clock). A proposed lease stops being renewable; it is forgotten when its revoke is applied
 * (or found already gone), and retried LKV_LEASE_RETRY_MS later when the revoke failed. Returns the
 * number of revokes proposed. */
size_t lkv_lessor_expire(lkv_lessor_t *l);

/* The lessor's clock now, in ms (the clock of every expiry time above). */
int64_t lkv_lessor_now(const lkv_lessor_t *l);

/* Handoff (handoff.c). Records renewals that the leader of `term` made: lease v[i].id has v[i].ms left,
 * counted from now (a message's age only makes it later). Each lease keeps the later of its expiry and
 * this one; a lease not granted here yet is kept as an orphan until its grant is applied (the grant then
 * keeps the later expiry) or its revoke. Returns 0 (acknowledge), LKV_ENOTLEADER (term is older than a
 * query this member answered: refuse) or LKV_ENOMEM / LKV_EAGAIN (too many orphans; nothing lost, refuse).
 */
int lkv_lessor_record(lkv_lessor_t *l, uint64_t term, const lkv_lease_remaining_t *v, size_t n);

/* Answers the query of the leader of `term`: fences every older term (see above), then sets *v to a
 * malloc'd array (caller frees; NULL when *n is 0) of every lease and orphan with the ms it has left, and
 * *uptime_ms to the ms since this lessor's table was filled from the store (open or reload: renewals
 * recorded before then are lost, but each lease counted its full TTL from then). Returns 0 or LKV_ENOMEM.
 */
int lkv_lessor_remaining(lkv_lessor_t *l, uint64_t term, lkv_lease_remaining_t **v, size_t *n,
                         int64_t *uptime_ms);

/* Merges one member's answer (lkv_lessor_remaining's v, n and uptime_ms, counted from now) while this
 * member leads in `term` and has not finished its takeover: each lease keeps the later of its expiry and
 * the answer's, and every lease expires no earlier than its full TTL after the answering member's table
 * was filled. With last set (a majority of voters has now answered) expiry starts. Returns 0, or
 * LKV_ENOTLEADER (this member does not lead in `term`, or its takeover of it is over: nothing merged),
 * LKV_ENOMEM (an orphan not kept: the takeover is not finished). */
int lkv_lessor_takeover(lkv_lessor_t *l, uint64_t term, const lkv_lease_remaining_t *v, size_t n,
                        int64_t uptime_ms, int last);

#endif
