/* The write path's front door: proposals in, applied-and-durable outcomes out. */
#ifndef LKV_REPLICATION_REPLICATION_H
#define LKV_REPLICATION_REPLICATION_H

#include <stdint.h>

#include "apply/apply.h"
#include "ledger/ledger.h"

/*
 * A replicator orders write proposals, makes them durable and applies them through the state machine
 * (apply/apply.h), then reports each outcome through the proposal's done callback. The Raft replicator
 * (raft_node.h) replicates a log to the cluster's members and applies what is committed, on every member;
 * a single node is a one-member cluster on the same code. The API layer, the lessor and the watch hub use
 * only this interface, so they do not change when replication does (the causal mode of issue 16 is to be
 * its second implementation).
 *
 * Every implementation embeds lkv_replicator_t as its first member.
 */

typedef struct lkv_proposal_s lkv_proposal_t;

/* Called once per accepted proposal, on the replicator's thread, after the outcome is durable (or the
 * proposal failed as a whole: then p->req.err is negative and p->req.resp NULL). The callback owns p again.
 */
typedef void (*lkv_proposal_done_cb)(lkv_proposal_t *p);

struct lkv_proposal_s {
  lkv_apply_req_t req; /* in: kind and msg (valid and unchanged until done: it may be applied as is); out:
                          err, resp, resp_len */
  lkv_proposal_done_cb done; /* required */
  void *data;                /* the proposer's */
  lkv_proposal_t *next;      /* owned by the replicator while the proposal is queued */
  /* Owned by the replicator while the proposal is in flight. */
  uint64_t seq;         /* the Raft replicator's id for it */
  uint64_t deadline_ms; /* monotonic: when it fails with LKV_ETIMEDOUT if still unapplied */
};

typedef struct lkv_replicator_s lkv_replicator_t;

/* Told on the replicator's thread after each durable commit and before that batch's done callbacks run:
 * new revisions are visible to read transactions. Must be quick and must not propose (watch hubs use it to
 * wake their readers). */
typedef void (*lkv_commit_cb)(void *arg);

/* Told on the replicator's thread of every request that took effect (err == 0; for a lease revoke also
 * LKV_ELEASENOTFOUND), whoever proposed it and on whichever member, after its batch committed and before
 * the batch's done callbacks: the lessor learns of grants and revokes this way on every member. Must be
 * quick and must not propose. */
typedef void (*lkv_applied_cb)(void *arg, const lkv_apply_req_t *req);

/* The answer to a read barrier: err 0 means every write acknowledged (by any member) before the barrier
 * was asked for is now visible to read transactions on this member. Runs on the replicator's thread. */
typedef void (*lkv_read_cb)(void *arg, int err);

/* Told on the replicator's thread after each signing of the ledger's tree head: head is the new signed
 * head, durable (valid during the call), or NULL when signing failed. Must be quick and must not propose
 * (receipt waiters use it). */
typedef void (*lkv_sign_cb)(void *arg, const lkv_ledger_signed_head_t *head);

/* Told on the replicator's thread after the store's whole content was replaced (a cluster member too far
 * behind installed a snapshot from its leader), after the commit listener ran for it. Must not propose
 * (the lessor reloads its leases from the store). */
typedef void (*lkv_restored_cb)(void *arg);

/* What the replicator knows of the cluster right now (Maintenance.Status, response headers). */
typedef struct lkv_replication_status_s {
  uint64_t member_id;
  uint64_t leader;        /* member id, 0 when no leader is known */
  uint64_t term;          /* Raft term */
  uint64_t commit_index;  /* Raft commit index */
  uint64_t applied_index; /* Raft applied index */
  int is_learner;
  int single; /* the sole voter, leading: every acknowledged write is applied here, reads need no barrier */
} lkv_replication_status_t;

/* A member as MemberList shows it: its attributes (cluster/attrs.h encoding) as the cluster recorded them,
 * or NULL when it has published none yet. */
typedef struct lkv_replication_member_s {
  uint64_t id;
  int is_learner;
  uint8_t *attrs; /* malloc'd, or NULL */
  size_t attrs_len;
  int has_event_key;     /* causal mode: event_key is the key the member signs its events with */
  uint8_t event_key[32]; /* Ed25519 public key (causal/event.h's LKV_CAUSAL_PK_LEN) */
} lkv_replication_member_t;

/* A membership change (the Cluster service). */
typedef enum {
  LKV_MEMBER_ADD = 1,     /* a voter: id new, attrs its peer URLs */
  LKV_MEMBER_ADD_LEARNER, /* a learner: likewise */
  LKV_MEMBER_REMOVE,      /* id */
  LKV_MEMBER_PROMOTE,     /* learner id becomes a voter */
  LKV_MEMBER_UPDATE       /* id gets the peer URLs of attrs */
} lkv_member_change_type_t;

typedef struct lkv_member_change_s {
  lkv_member_change_type_t type;
  uint64_t id;
  const uint8_t *attrs; /* ADD, ADD_LEARNER, UPDATE: cluster/attrs.h encoding, peer URLs set */
  size_t attrs_len;
} lkv_member_change_t;

typedef struct lkv_replicator_ops_s {
  int (*propose)(lkv_replicator_t *r, lkv_proposal_t *p);
  int (*read_barrier)(lkv_replicator_t *r, lkv_read_cb cb, void *arg);
  void (*status)(lkv_replicator_t *r, lkv_replication_status_t *out);
  void (*listen)(lkv_replicator_t *r, lkv_commit_cb cb, void *arg);
  void (*on_applied)(lkv_replicator_t *r, lkv_applied_cb cb, void *arg);
  void (*on_sign)(lkv_replicator_t *r, lkv_sign_cb cb, void *arg);
  void (*on_restored)(lkv_replicator_t *r, lkv_restored_cb cb, void *arg); /* NULL: never replaces it */
  int (*publish)(lkv_replicator_t *r, const uint8_t *attrs, size_t len);
  int (*move_leader)(lkv_replicator_t *r, uint64_t to, lkv_read_cb cb, void *arg);
  int (*change_member)(lkv_replicator_t *r, const lkv_member_change_t *c, lkv_read_cb cb, void *arg);
  int (*members)(lkv_replicator_t *r, lkv_replication_member_t **out, size_t *n);
  void (*stop)(lkv_replicator_t *r);
} lkv_replicator_ops_t;

struct lkv_replicator_s {
  const lkv_replicator_ops_t *ops;
};

/* Hands p to the replicator; returns 0 and later calls p->done exactly once, or returns a negative LKV_E*
 * code (LKV_ESTOPPED after shutdown began, LKV_ENOLEADER, LKV_EPROPOSALDROPPED) and never calls p->done.
 * Any thread. */
static inline int lkv_replicator_propose(lkv_replicator_t *r, lkv_proposal_t *p) {
  return r->ops->propose(r, p);
}

/* Asks for a linearizable read barrier (etcd's ReadIndex): returns 0 and later calls cb exactly once
 * (err 0, or LKV_ENOLEADER / LKV_ETIMEDOUT / LKV_ESTOPPED), or returns a negative code and never calls cb.
 * Any thread. */
static inline int lkv_replicator_read_barrier(lkv_replicator_t *r, lkv_read_cb cb, void *arg) {
  return r->ops->read_barrier(r, cb, arg);
}

/* lkv_replicator_propose, then waits for the outcome, for a background thread of the server (never the
 * replicator's thread, which answers, nor a loop thread, which must not block). Sets p->done and p->data;
 * p->req.resp is freed (a caller that wants the answer proposes itself). Returns the propose error or the
 * proposal's p->req.err. (wait.c) */
int lkv_replicator_propose_wait(lkv_replicator_t *r, lkv_proposal_t *p);

/* lkv_replicator_read_barrier, then waits for it, on the same terms. Returns the barrier's outcome. */
int lkv_replicator_read_barrier_wait(lkv_replicator_t *r);

/* Fills *out. Any thread. */
static inline void lkv_replicator_status(lkv_replicator_t *r, lkv_replication_status_t *out) {
  r->ops->status(r, out);
}

/* Sets (or with cb NULL clears) the commit listener, see lkv_commit_cb. Any thread; when it returns, the
 * previous listener is no longer running and will not be called again. */
static inline void lkv_replicator_listen(lkv_replicator_t *r, lkv_commit_cb cb, void *arg) {
  r->ops->listen(r, cb, arg);
}

/* Sets (or with cb NULL clears) the applied listener, see lkv_applied_cb; as lkv_replicator_listen. */
static inline void lkv_replicator_on_applied(lkv_replicator_t *r, lkv_applied_cb cb, void *arg) {
  r->ops->on_applied(r, cb, arg);
}

/* Sets (or with cb NULL clears) the sign listener, see lkv_sign_cb; as lkv_replicator_listen. */
static inline void lkv_replicator_on_sign(lkv_replicator_t *r, lkv_sign_cb cb, void *arg) {
  r->ops->on_sign(r, cb, arg);
}

/* Sets (or with cb NULL clears) the restore listener, see lkv_restored_cb; as lkv_replicator_listen. A
 * replicator that never replaces the store's content (the single-node one) ignores it. */
static inline void lkv_replicator_on_restored(lkv_replicator_t *r, lkv_restored_cb cb, void *arg) {
  if (r->ops->on_restored) r->ops->on_restored(r, cb, arg);
}

/* Records this member's attributes (copied; cluster/attrs.h encoding) for MemberList: a cluster member
 * publishes them through its log until they are applied (again whenever they change, e.g. new client
 * URLs after a restart). Any thread. Returns 0 or LKV_ENOMEM. */
static inline int lkv_replicator_publish(lkv_replicator_t *r, const uint8_t *attrs, size_t len) {
  return r->ops->publish(r, attrs, len);
}

/* The members in force (voters, then learners) with their recorded attributes, in a malloc'd array;
 * free with lkv_replication_members_free. Any thread. Returns 0 or LKV_ENOMEM. */
static inline int lkv_replicator_members(lkv_replicator_t *r, lkv_replication_member_t **out, size_t *n) {
  return r->ops->members(r, out, n);
}

/* Hands leadership to voter `to` (Maintenance.MoveLeader): returns 0 and later calls cb(arg, err) once,
 * on the replicator's thread: 0 once `to` leads, LKV_ENOTLEADER (this member does not lead),
 * LKV_EBADTRANSFEREE (`to` is not a voter), LKV_ETRANSFERTIMEOUT; or returns a negative code and never
 * calls cb. Any thread. */
static inline int lkv_replicator_move_leader(lkv_replicator_t *r, uint64_t to, lkv_read_cb cb, void *arg) {
  return r->ops->move_leader(r, to, cb, arg);
}

/* Changes the membership as etcd's Cluster service does (c and its attrs are copied): returns 0 and later
 * calls cb(arg, err) once, on the replicator's thread, after the change was applied on this member (0) or
 * refused: LKV_EMEMBEREXIST, LKV_EPEERURLEXIST, LKV_EMEMBERNOTFOUND, LKV_ENOTENOUGHSTARTED and
 * LKV_EUNHEALTHY (etcd's strict reconfiguration check), LKV_ENOTLEARNER, LKV_ELEARNERNOTREADY,
 * LKV_ETOOMANYLEARNERS, LKV_ECONFPENDING, LKV_ENOLEADER, LKV_ETIMEDOUT, LKV_ENOTLEADER (promote asked of a
 * member that does not lead); or returns a negative code and never calls cb. */
static inline int lkv_replicator_change_member(lkv_replicator_t *r, const lkv_member_change_t *c,
                                               lkv_read_cb cb, void *arg) {
  return r->ops->change_member(r, c, cb, arg);
}

/* Frees what lkv_replicator_members returned. */
void lkv_replication_members_free(lkv_replication_member_t *m, size_t n);

/* Refuses new proposals (LKV_ESTOPPED), finishes or fails everything already accepted (every done
 * callback and read callback has run when this returns), joins its threads and frees r. */
static inline void lkv_replicator_stop(lkv_replicator_t *r) {
  r->ops->stop(r);
}

#endif
