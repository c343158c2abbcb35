/* The Raft replicator: this member's Raft core, its durable log and the state machine, behind replication.h.
 */
#ifndef LKV_REPLICATION_RAFT_NODE_H
#define LKV_REPLICATION_RAFT_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "raft/raft.h"
#include "replication/replication.h"

/*
 * One thread (the *raft thread*) owns the Raft core (src/raft), the durable log (src/wal) and the
 * store's writer side. It sleeps until something arrives or the next tick is due, feeds the core
 * (ticks every tick_ms, messages from peers, proposals, read requests) and handles each ready batch in
 * the order raft.h prescribes: messages that may leave at once go to the transport (so a leader sends
 * to its followers while its own flush runs), then entries and hard state are saved with one flush,
 * then the messages that promise durability leave, then committed entries are applied.
 *
 * Log entries carry the client's request bytes with (origin member, sequence) (raft_entry.h). Applying a
 * run of committed entries is one lkv_apply_batch_hooked call: every member computes the same responses
 * (made with member_id and raft_term 0, so nothing member-specific enters the ledger's claims) and the
 * same ledger entries, and records the applied index (and the ledger's length) in the same store
 * transaction ("repl/applied"), so a restart neither skips nor repeats entries. The proposing member
 * stamps its id and the term into the response (lkv_apply_stamp_header) and answers its client.
 *
 * Ledger: appended before the store commits, without a flush of its own (lkv_ledger_defer_sync: the Raft
 * log already holds every applied entry durably; heads and checkpoints flush it before they rely on it).
 * After a crash the ledger may hold entries of a batch the store did not commit, or (machine crash) lack a
 * tail the store rebuilt from its checkpoint does not need: either way the entries are applied again from
 * the Raft log and must come out byte-identical (checked leaf by leaf, not appended twice); a difference
 * is divergence and halts the member. Each member signs its own heads over the common tree every
 * sign_interval_ms (heads are kept outside the tree, ledger.h), and once more when stopping.
 *
 * Failure: a flush that fails (EIO) or a batch that cannot be applied (map full, I/O error) halts the
 * member (it stops taking part, answers LKV_EHALTED, and says why on stderr) rather than diverging.
 *
 * Membership changes (raft_conf.c): single-step, one pending at a time, validated as etcd validates them
 * when applied (a refused change is applied as cancelled: every member refuses it alike), with etcd's
 * strict reconfiguration check (started members, and the health of this member's peer connections:
 * health.h) before proposing.
 *
 * Snapshots (raft_snap.c, raft_install.c): the store's checkpoint is the snapshot (a compact, flushed copy
 * at a known applied index, which a machine crash rebuilds from anyway), so the log is compacted below
 * the latest checkpoint and nothing else is copied for it. A member that is new or too far behind
 * receives the leader's checkpoint file in chunks with the ledger's frontier, installs both (the file
 * becomes its own checkpoint first, then replaces the store in one transaction; the ledger restarts from
 * the frontier), then the log from there.
 */

/* Hands an encoded Raft message (raft/codec.h) to the peer transport for member `to`. Must not block;
 * may drop (Raft retries). Called on the raft thread. */
typedef int (*lkv_raft_node_send_fn)(void *arg, uint64_t to, const uint8_t *msg, size_t len);

/* What is known of a founding member before it publishes its attributes (etcd lists such a member with
 * its peer URLs and no name). */
typedef struct lkv_raft_node_seed_s {
  uint64_t id;
  const uint8_t *attrs; /* cluster/attrs.h encoding */
  size_t len;
} lkv_raft_node_seed_t;

typedef struct lkv_raft_node_options_s {
  lkv_mvcc_t *store;         /* required; must outlive the node */
  lkv_ledger_t *ledger;      /* NULL: none */
  unsigned sign_interval_ms; /* --ledger-sign-interval (0 counts as 1) */
  const char *wal_dir;       /* the Raft log's directory (<data-dir>/member/wal) */
  uint64_t member_id;        /* this member, never 0 */
  uint64_t cluster_id;       /* stamped into responses (it is the same on every member) */
  const uint64_t *voters;    /* a new cluster's founding voters, used only when the log and store are empty */
  size_t n_voters;
  int join;                    /* with an empty log: join a running cluster (its leader sends the log) instead
                                * of founding one from voters */
  int force_new_cluster;       /* --force-new-cluster: with a log, restart as the only voter of the same
                                * cluster, keeping what was committed (raft_force.c); with an empty log it
                                * has no effect (as in etcd) */
  unsigned tick_ms;            /* --heartbeat-interval */
  unsigned election_ticks;     /* --election-timeout / --heartbeat-interval, > 1 */
  int pre_vote;                /* --pre-vote */
  unsigned request_timeout_ms; /* proposals and read barriers unanswered this long fail (LKV_ETIMEDOUT) */
  const lkv_raft_node_seed_t *seeds; /* founding members' attributes until they publish (copied) */
  size_t n_seeds;
  /* Told on the raft thread after a membership change took effect on this member: member id joined or
   * changed its peer URLs (removed 0; attrs its recorded attributes, valid during the call) or left
   * (removed 1; when id is this member, it must stop: etcd's "the member has been permanently removed
   * from the cluster"). The member layer updates the peer transport. May be NULL. */
  void (*on_member_change)(void *arg, uint64_t id, int removed, const uint8_t *attrs, size_t len);
  void *member_arg;
  /* etcd's ActiveSince, for its "unhealthy cluster" check before MemberAdd and MemberRemove (health.h):
   * the CLOCK_MONOTONIC millisecond since which this member's connection to peer has been up, 0 while it
   * is down. Called on the raft thread with member_arg; must not block. NULL: no such check. */
  uint64_t (*connected_since)(void *arg, uint64_t peer);
  /* --strict-reconfig-check=false: membership changes are proposed without etcd's started-members and
   * health checks (a promote still needs a caught-up learner), as etcd does then. */
  int no_strict_reconfig;
  /* Sends a membership message (a MemberPromote a follower forwards to the leader, which alone knows
   * whether the learner caught up, and its answer) to member `to`; lkv_raft_node_receive_member is
   * given what arrives. Called on the raft thread with send_arg; may drop. NULL: promotes are decided
   * by the member asked only. */
  lkv_raft_node_send_fn send_member;
  /* Snapshots: a checkpoint of the store (server/checkpointer.h) is the member's snapshot. The log is
   * compacted below each new one (keeping catchup_entries, etcd's 5000 when 0), a member too far behind
   * is streamed it (send_snap: the peer connection's snapshot channel; lkv_raft_node_receive_snap is given
   * what arrives) with the ledger's frontier, and once the log grew by snapshot_count entries (etcd's
   * --snapshot-count; 0: 100000) since the last one, request_checkpoint(arg) asks for a new one (it must
   * not block; lkv_raft_node_checkpointed tells the node it was published). snap_dir holds transfers
   * (<data-dir>/member/snap). */
  const char *snap_dir;
  uint64_t snapshot_count;
  uint64_t catchup_entries;
  lkv_raft_node_send_fn send_snap;
  void (*request_checkpoint)(void *arg);
  void *checkpoint_arg;
  /* The disk alarm: while the file system holding disk_dir (the data dir: store and ledger) or the one
   * holding wal_dir has fewer than disk_reserve bytes free, writes that the quota would count are refused
   * with LKV_ENOSPACE and NOSPACE is raised through the log, as for the quota (0 or NULL: off). Looked at
   * most every LKV_RAFT_NODE_DISK_CHECK_MS. */
  const char *disk_dir;
  uint64_t disk_reserve;
  lkv_raft_node_send_fn send; /* required */
  void *send_arg;
} lkv_raft_node_options_t;

#define LKV_RAFT_NODE_DISK_CHECK_MS 100

/* Opens the log (recovering it), restores the core from it and the store's applied index, founds the
 * cluster when everything is empty, and starts the raft thread. On failure returns a negative LKV_E*
 * code with a message for the operator in err. */
int lkv_raft_node_start(lkv_replicator_t **out, const lkv_raft_node_options_t *opts, char *err,
                        size_t errlen);

/* The identity recorded in store by the member that first started on it (the member's id is not always
 * computable from its flags: MemberAdd hashes the time in). Returns 0, LKV_ENOENT (never started as a
 * cluster member) or a storage code. Any thread. */
int lkv_raft_node_identity(lkv_mvcc_t *store, uint64_t *cluster_id, uint64_t *member_id);

/* Marks a store that a restore wrote for member_id of cluster_id (write transaction t, outside a request;
 * restored.c), dropping what the store recorded of the member and cluster that wrote it (identity, applied
 * index, membership, members' attributes, removed members, installed snapshot), as a store copied from a
 * backup holds them. Its first start adopts the store as the state before the Raft log's first entry
 * whatever the number of founding voters (every member restored from the same file holds the same state),
 * and refuses to start as another member or cluster. Returns 0 or a storage code. */
int lkv_raft_node_mark_restored(lkv_mvcc_txn_t *t, uint64_t cluster_id, uint64_t member_id);

/* One member's attributes as the store recorded them (cluster/attrs.h's encoding, valid during the call).
 * Returns 0 to go on, or a code that stops the walk. */
typedef int (*lkv_raft_node_member_cb)(void *arg, uint64_t id, const uint8_t *attrs, size_t len);

/* Calls cb for every member whose attributes store records (none for a store that never ran as a cluster
 * member). Any thread. Returns 0, a code from cb, LKV_ECORRUPT or a storage code. */
int lkv_raft_node_stored_members(lkv_mvcc_t *store, lkv_raft_node_member_cb cb, void *arg);

/* A message from the peer transport (copied; decoded and checked on the raft thread: malformed ones are
 * dropped). Any thread. */
void lkv_raft_node_receive(lkv_replicator_t *r, uint64_t from, const uint8_t *data, size_t len);

/* A membership message from member `from` (see send_member; copied, decoded on the raft thread). */
void lkv_raft_node_receive_member(lkv_replicator_t *r, uint64_t from, const uint8_t *data, size_t len);

/* A message of the snapshot channel from member `from` (decoded on the calling thread; a received
 * transfer's chunks are written to snap_dir there). The peer thread. */
void lkv_raft_node_receive_snap(lkv_replicator_t *r, uint64_t from, const uint8_t *data, size_t len);

/* A new checkpoint of the store was published: it becomes the member's snapshot. Any thread. */
void lkv_raft_node_checkpointed(lkv_replicator_t *r);

/* The transport lost (up = 0) or regained (up = 1) its connection to peer: a follower whose leader's
 * connection broke campaigns at once (with pre-vote, so it cannot disrupt a live leader); a leader sends
 * that follower back to probing. Any thread. */
void lkv_raft_node_peer_state(lkv_replicator_t *r, uint64_t peer, int up);

/* The member is about to stop: requests still waiting are answered within ms (applied, or "request timed
 * out", which clients retry elsewhere) instead of the whole request timeout. Any thread. */
void lkv_raft_node_wind_down(lkv_replicator_t *r, unsigned ms);

/* A leader about to stop hands leadership to its most caught-up voter and waits until that member leads,
 * or at most the request timeout (etcd does this on SIGTERM), so clients see a short pause, not an
 * election timeout. Returns at once on a member that does not lead. Not from the raft thread. */
void lkv_raft_node_hand_over(lkv_replicator_t *r);

#endif
