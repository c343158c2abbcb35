/* Internal to the Raft replicator (raft_node.c, raft_ready.c, raft_apply.c): the node's state. */
#ifndef LKV_REPLICATION_RAFT_INTERNAL_H
#define LKV_REPLICATION_RAFT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "replication/raft_node.h"
#include "replication/signing.h"
#include "replication/snap_stream.h"
#include "wal/wal.h"

/* A message from a peer, copied, waiting for the raft thread. */
typedef struct lkv__raft_inmsg_s {
  struct lkv__raft_inmsg_s *next;
  uint64_t from;  /* the sending member (as its connection's hello said) */
  uint64_t at_ms; /* when it arrived (CLOCK_MONOTONIC): the raft thread ticks up to it before stepping it */
  size_t len;
  uint8_t data[];
} lkv__raft_inmsg_t;

/* A read barrier: asked (queued), then waiting for its read index, then for the applied index. */
typedef struct lkv__raft_read_s {
  struct lkv__raft_read_s *next;
  lkv_read_cb cb;
  void *arg;
  uint64_t seq;   /* the read-index context */
  uint64_t index; /* the read index, once known */
  int has_index;
  uint64_t deadline_ms;
} lkv__raft_read_t;

/* A leadership transfer asked for (MoveLeader, or a leader handing over as it stops). */
typedef struct lkv__raft_transfer_s {
  struct lkv__raft_transfer_s *next;
  uint64_t to;   /* 0: the most caught-up voter (hand over) */
  int hand_over; /* asked with to 0: give up as soon as this member no longer leads */
  lkv_read_cb cb;
  void *arg;
  uint64_t deadline_ms;
} lkv__raft_transfer_t;

/* A membership change asked for (the Cluster service), until it is applied or refused. */
typedef struct lkv__raft_change_s {
  struct lkv__raft_change_s *next;
  uint64_t from;                 /* a promote forwarded by member `from` (answered to it), else 0 */
  struct lkv__raft_node_s *node; /* forwarded: the node that answers it */
  uint64_t req;                  /* forwarded: the sender's request id */
  lkv_member_change_t c;         /* c.attrs points at attrs */
  uint8_t *attrs;
  lkv_read_cb cb;
  void *arg;
  uint64_t seq;
  uint64_t deadline_ms;
} lkv__raft_change_t;

/* A peer connection change reported by the transport. */
typedef struct lkv__raft_peer_event_s {
  struct lkv__raft_peer_event_s *next;
  uint64_t peer;
  int up;
} lkv__raft_peer_event_t;

/* A snapshot transfer to one member (raft_snap.c). */
typedef struct lkv__raft_snap_out_s {
  struct lkv__raft_snap_out_s *next;
  struct lkv__raft_node_s *node;
  uint64_t to;
  lkv_snap_sender_t *sender;
  int finished, ok; /* set by the sender's thread when it ended (node mu) */
} lkv__raft_snap_out_t;

/* A member's recorded attributes (cluster/attrs.h encoding). */
typedef struct lkv__raft_attrs_s {
  uint64_t id;
  uint8_t *data;
  size_t len;
} lkv__raft_attrs_t;

/* An encoding buffer for outgoing messages, one per sending thread. */
typedef struct lkv__raft_sendbuf_s {
  uint8_t *b;
  size_t cap;
} lkv__raft_sendbuf_t;

/* The flusher thread (raft_flush.c). */
typedef struct lkv__raft_flusher_s {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  const lkv_raft_ready_t *rd; /* the batch being saved (mu); NULL once saved */
  int rc;                     /* the save's result (mu) */
  int stop;                   /* (mu) */
  int started;                /* raft thread */
  lkv__raft_sendbuf_t out;    /* the flusher's own */
} lkv__raft_flusher_t;

typedef struct lkv__raft_node_s {
  lkv_replicator_t base; /* first: the interface's handle */
  lkv_raft_node_options_t o;
  lkv_raft_t *raft;
  lkv_wal_t *wal;
  pthread_t thread;

  pthread_mutex_t mu; /* guards the inbox, stopping and conf */
  pthread_cond_t wake;
  lkv_proposal_t *in_props, *in_props_tail;
  lkv__raft_inmsg_t *in_msgs, *in_msgs_tail;
  lkv__raft_read_t *in_reads, *in_reads_tail;
  lkv__raft_peer_event_t *in_peers;
  lkv__raft_transfer_t *in_transfers;
  uint64_t in_wind_down_ms; /* lkv_raft_node_wind_down's limit, taken by the raft thread (0: none) */
  lkv__raft_change_t *in_changes;
  lkv__raft_inmsg_t *in_member, *in_member_tail; /* membership messages (from ‖ payload) */
  int stopping;
  lkv_raft_conf_state_t conf;
  lkv__raft_attrs_t *attrs; /* recorded (applied) attributes, one per member that published */
  size_t n_attrs;
  lkv__raft_attrs_t self;   /* this member's to publish (data NULL: none yet) */
  lkv__raft_attrs_t *seeds; /* shown and dialed until the log records a member's own attributes; never */
  size_t n_seeds;           /* replicated state (validation uses the recorded table only) */
  uint64_t *removed;        /* members removed from the cluster: never let back */
  size_t n_removed;

  /* Snapshots (raft_snap.c, raft_install.c). */
  pthread_mutex_t rx_mu;           /* guards rx (fed by the peer thread) */
  lkv_snap_receiver_t rx;          /* the transfer being received */
  lkv_snap_received_t *in_snap;    /* received, waiting for the raft thread (mu) */
  int in_checkpointed;             /* a checkpoint was published (mu) */
  int in_snap_done;                /* a transfer to a member ended (mu) */
  lkv__raft_snap_out_t *snap_outs; /* transfers to members (the list: raft thread; finished, ok: mu) */
  lkv_snap_received_t stepped;     /* raft thread: the snapshot given to the core, until installed */
  uint64_t snap_index;             /* raft thread: the adopted checkpoint's applied index (the core's) */
  uint64_t snap_ledger;            /* ... and its ledger length */
  uint64_t ckpt_asked;             /* raft thread: the applied index when a checkpoint was last asked for */
  int alone_trimmed;               /* raft thread: a sole voter trimmed its log since this start */
  uint64_t log_bytes;              /* raft thread: bytes of entries applied since the adopted checkpoint */
  uint64_t log_bytes_asked;        /* ... when a checkpoint was last asked for because of them */

  pthread_mutex_t listen_mu; /* guards the listeners: cleared ones never run afterwards */
  lkv_commit_cb on_commit;
  void *on_commit_arg;
  lkv_applied_cb on_applied;
  void *on_applied_arg;
  lkv_restored_cb on_restored;
  void *on_restored_arg;

  lkv__signing_t signing; /* the member's own signed heads over the common tree */

  /* Raft thread only. */
  lkv_proposal_t *pending, *pending_tail; /* proposed, in sequence order, waiting to be applied */
  lkv_proposal_t *stalled;                /* dropped by a leader handing over: proposed again next round */
  lkv__raft_read_t *reads;                /* read barriers in the core or waiting for apply */
  lkv__raft_transfer_t *transfers;        /* started, waiting for their transferee to lead */
  lkv__raft_change_t *changes;            /* proposed, waiting to be applied */
  lkv__raft_change_t *forwarded;          /* promotes sent to the leader, waiting for its answer */
  uint64_t next_seq;
  uint64_t disk_checked_ms; /* when the free space was last looked at (raft_propose.c) */
  int disk_low;             /* it was below o.disk_reserve then */
  uint64_t applied;         /* the store's applied index */
  uint64_t ledger_pos;      /* ledger records the store's state accounts for */
  int restored;             /* a snapshot restore wrote the store for this member (raft_start.c) */
  uint64_t ledger_end;      /* the batch being applied: where its ledger entries end */
  uint64_t next_tick_ms;
  uint64_t next_publish_ms; /* when this member may propose its attributes again */
  uint64_t lost_leader;     /* the leader whose connection broke (0: none), reported at lost_at_ms */
  uint64_t lost_at_ms;
  uint64_t heard_leader; /* the leader last heard from, and when (monotonic ms) */
  uint64_t heard_at_ms;
  uint64_t retry_at_ms;    /* after a lost leader was reported: campaign again then if nobody won (0: no) */
  uint64_t retry_until_ms; /* and no later than this (then the core's election timeout retries) */
  uint64_t rng;
  int halted;             /* a flush or an apply failed: the member no longer takes part */
  uint64_t compact_at_ms; /* when the state machine's next background step is due (0: none pending) */
  lkv__raft_sendbuf_t out;
  lkv__raft_flusher_t flusher;

  /* Status, written by the raft thread, read by any. */
  _Atomic uint64_t st_leader, st_term, st_commit, st_applied;
  atomic_int st_learner;
  atomic_int st_single; /* the sole voter, leading: every acknowledged write is applied here */
} lkv__raft_node_t;

/* raft_members.c: loads the recorded attributes (start-up); applies a published attributes entry
 * (origin's attributes, recorded in the store with the applied index); proposes this member's attributes
 * when they differ from the recorded ones and a leader is known. */
int lkv__raft_node_load_attrs(lkv__raft_node_t *n);
int lkv__raft_node_seed_attrs(lkv__raft_node_t *n, const lkv_raft_node_seed_t *seed);
/* The attributes to show and dial for id: recorded, else seeded; NULL when neither. Lock held. */
const lkv__raft_attrs_t *lkv__raft_node_shown_attrs(lkv__raft_node_t *n, uint64_t id);
int lkv__raft_node_apply_attrs(lkv__raft_node_t *n, uint64_t origin, const uint8_t *data, size_t len,
                               uint64_t index);
void lkv__raft_node_publish_due(lkv__raft_node_t *n, uint64_t now_ms);
void lkv__raft_node_free_attrs(lkv__raft_node_t *n);

/* raft_transfer.c: starts the transfers asked for (answering those that cannot start); answers the
 * waiting ones whose transferee leads or whose time is up; fails all (stopping). */
void lkv__raft_node_start_transfers(lkv__raft_node_t *n, lkv__raft_transfer_t *list, uint64_t now_ms);
void lkv__raft_node_check_transfers(lkv__raft_node_t *n, uint64_t now_ms);
void lkv__raft_node_fail_transfers(lkv__raft_node_t *n, lkv__raft_transfer_t *list, int err);
int lkv__raft_node_move_leader(lkv_replicator_t *base, uint64_t to, lkv_read_cb cb, void *arg);

/* raft_conf.c: membership changes. start_changes checks and proposes what was asked for; apply_conf
 * applies a committed CONF_CHANGE entry (etcd's validation, then the core, the attributes table, the
 * store and the member layer); apply_peer_urls applies a MemberUpdate entry; expire_changes fails those
 * past their deadline; fail_changes answers a list with err. */
void lkv__raft_node_start_changes(lkv__raft_node_t *n, lkv__raft_change_t *list, uint64_t now_ms);
int lkv__raft_node_apply_conf(lkv__raft_node_t *n, const lkv_raft_entry_t *e);
int lkv__raft_node_apply_peer_urls(lkv__raft_node_t *n, uint64_t origin, uint64_t seq, const uint8_t *data,
                                   size_t len, uint64_t index);
void lkv__raft_node_expire_changes(lkv__raft_node_t *n, uint64_t now_ms);
void lkv__raft_node_fail_changes(lkv__raft_change_t *list, int err);
/* raft_conf.c: a membership message from a peer (a forwarded promote, or the answer to ours). */
void lkv__raft_node_member_message(lkv__raft_node_t *n, const lkv__raft_inmsg_t *m, uint64_t now_ms);
/* raft_conf.c: the context of a CONF_CHANGE entry written by member origin (its sequence number seq, 0 for
 * none; promote: a learner made a voter; attrs: an added member's attributes). *ctx is malloc'd. Returns 0
 * or LKV_ENOMEM. */
int lkv__raft_node_conf_context(uint64_t origin, uint64_t seq, int promote, const uint8_t *attrs,
                                size_t attrs_len, uint8_t **ctx, size_t *len);
int lkv__raft_node_change_member(lkv_replicator_t *base, const lkv_member_change_t *c, lkv_read_cb cb,
                                 void *arg);

/* raft_members.c: the attributes table (lock held for writes seen by other threads). */
lkv__raft_attrs_t *lkv__raft_node_find_attrs(lkv__raft_node_t *n, uint64_t id);
int lkv__raft_node_set_attrs(lkv__raft_node_t *n, uint64_t id, const uint8_t *data, size_t len);
void lkv__raft_node_drop_attrs(lkv__raft_node_t *n, uint64_t id);
/* Records the table, the removed members and the applied index (set to index) in an empty batch. */
int lkv__raft_node_record_members(lkv__raft_node_t *n, uint64_t index);

/* raft_snap.c: snapshots on the raft thread. take_checkpoint adopts a newly published checkpoint as the
 * core's snapshot and compacts the log below it (keeping catch-up entries), and asks for a checkpoint when
 * the log grew by --snapshot-count entries since the last; send_snapshot streams the snapshot a SNAP
 * message announces; reap_senders reports finished transfers to the core; step_received gives a received
 * snapshot to the core; stop_snapshots ends every transfer; snap_round does what arrived for the raft
 * thread (a checkpoint, a received snapshot, a finished transfer). read_copy reads a store copy's
 * position and (conf not NULL) membership. */
int lkv__raft_node_read_copy(const char *path, uint64_t *applied, uint64_t *ledger_len,
                             lkv_raft_conf_state_t *conf);
void lkv__raft_node_snap_round(lkv__raft_node_t *n);
void lkv__raft_node_take_checkpoint(lkv__raft_node_t *n);
void lkv__raft_node_maybe_checkpoint(lkv__raft_node_t *n);
void lkv__raft_node_send_snapshot(lkv__raft_node_t *n, const lkv_raft_msg_t *m);
void lkv__raft_node_reap_senders(lkv__raft_node_t *n);
void lkv__raft_node_step_received(lkv__raft_node_t *n, lkv_snap_received_t *rs);
void lkv__raft_node_stop_snapshots(lkv__raft_node_t *n);

/* raft_start.c: records this member's identity in t (a lkv_apply_hooks_t record hook, arg the node);
 * tells the member layer every member to dial and every removed one. */
int lkv__raft_node_put_identity(void *arg, lkv_mvcc_txn_t *t);
void lkv__raft_node_tell_membership(lkv__raft_node_t *n);

/* raft_force.c: --force-new-cluster (o.force_new_cluster) on the recovered log (restore, from n->wal):
 * discards the entries after the commit index and appends and commits the membership changes that leave
 * this member the only voter. Returns 0 (nothing to write: the log was empty, or already so), 1 when it
 * wrote to the log (restore is stale: open the log again), or an error with err saying why. */
int lkv__raft_node_force_alone(lkv__raft_node_t *n, const lkv_raft_restore_t *restore, char *err,
                               size_t errlen);

/* raft_install.c: installs the snapshot of rd (store, ledger, membership) before the log records it
 * (returns 0 or the code that halted the member); at start-up, finishes an install a crash interrupted
 * (the store holds a snapshot the log, as restore shows it, or the ledger does not): returns 0, 1 when
 * it wrote to the log (restore is stale: open the log again), or an error with err saying why. */
int lkv__raft_node_install(lkv__raft_node_t *n, const lkv_raft_ready_t *rd);
int lkv__raft_node_finish_install(lkv__raft_node_t *n, const lkv_raft_restore_t *restore, char *err,
                                  size_t errlen);
/* Records the membership in force (the core's) in t, as of the applied index; ensure_conf records it
 * (with the members' table) in a store that lacks it. */
int lkv__raft_node_put_conf(lkv__raft_node_t *n, lkv_mvcc_txn_t *t);
int lkv__raft_node_ensure_conf(lkv__raft_node_t *n);
/* The membership the store recorded with its applied index (LKV_ENOENT: none recorded yet). */
int lkv__raft_node_recorded_conf(lkv__raft_node_t *n, lkv_raft_conf_state_t *out);

/* Store records (lkv_mvcc_repl_put) of the replicator that a store copy carries too: the position
 * (applied index ‖ ledger length, u64 LE each) and the membership in force (raft/codec.h snapshot metadata).
 * The decoders serve the live store and copies alike; they return 0 or LKV_ECORRUPT. */
#define LKV__RAFT_POSITION_RECORD "applied"
#define LKV__RAFT_CONF_RECORD "conf"
/* The others: the member's identity (cluster id ‖ member id, u64 LE each; raft_start.c), the same for the
 * member a restore wrote the store for (restored.c), members' attributes (raft_members.c), removed members'
 * ids (raft_members.c) and an installed snapshot's metadata (raft_install.c). */
#define LKV__RAFT_IDENTITY_RECORD "identity"
#define LKV__RAFT_RESTORED_RECORD "restored"
#define LKV__RAFT_MEMBERS_RECORD "members"
#define LKV__RAFT_REMOVED_RECORD "removed"
#define LKV__RAFT_SNAPSHOT_RECORD "snapshot"
int lkv__raft_node_decode_position(const uint8_t *v, size_t len, uint64_t *applied, uint64_t *ledger_len);
int lkv__raft_node_decode_conf(const uint8_t *v, size_t len, lkv_raft_conf_state_t *conf);

/* raft_apply.c: writes the store's position (applied index, ledger length) in transaction t. */
int lkv__raft_node_put_position(lkv_mvcc_txn_t *t, uint64_t applied, uint64_t ledger_len);

/* raft_node.c: the thread (lkv__raft_node_main), the generator handed to the core, and the status other
 * threads read (published after each round). */
void *lkv__raft_node_main(void *arg);
uint64_t lkv__raft_node_rand(void *arg);
void lkv__raft_node_publish_status(lkv__raft_node_t *n);

/* raft_propose.c: proposes p (answering it at once when it cannot be; a proposal a handing-over leader
 * dropped waits in n->stalled for the next round), and asks the core for a read index for rd. */
void lkv__raft_node_propose(lkv__raft_node_t *n, lkv_proposal_t *p, uint64_t now);
void lkv__raft_node_ask_read(lkv__raft_node_t *n, lkv__raft_read_t *rd, uint64_t now);

/* raft_ops.c: the interface's operations, and freeing a node that no thread uses any more. */
extern const lkv_replicator_ops_t lkv__raft_node_ops;
void lkv__raft_node_free(lkv__raft_node_t *n);

/* raft_flush.c: encodes and sends msgs with buf (a SNAP message goes through the snapshot sender: the raft
 * thread only); starts and stops the flusher thread (without it, every batch is saved on the raft thread);
 * saves rd when must_save, sends its msgs_after_persist once it is durable and applies rd->committed: side
 * by side when the committed entries were durable before rd, else one after the other. Halts the member
 * and returns the code when the save or the apply fails. */
void lkv__raft_send(lkv__raft_node_t *n, lkv__raft_sendbuf_t *buf, const lkv_raft_msg_t *msgs, size_t count);
int lkv__raft_flusher_start(lkv__raft_node_t *n);
void lkv__raft_flusher_stop(lkv__raft_node_t *n);
int lkv__raft_save_and_apply(lkv__raft_node_t *n, const lkv_raft_ready_t *rd, int must_save);

/* Handles every ready batch the core has (raft_ready.c). */
void lkv__raft_node_drain_ready(lkv__raft_node_t *n);

/* Applies rd's committed entries (raft_apply.c). Returns 0 or the code that halted the member. */
int lkv__raft_node_apply(lkv__raft_node_t *n, const lkv_raft_ready_t *rd);

/* Runs one step of the state machine's background work (lkv_apply_background_step) after a round once
 * n->compact_at_ms is due, and sets when the next one is while more is pending (a round waits no longer). */
void lkv__raft_node_background(lkv__raft_node_t *n);

/* Stops the member taking part: says why once, fails everything waiting with LKV_EHALTED. */
void lkv__raft_node_halt(lkv__raft_node_t *n, const char *what, int rc);

/* Fails a proposal that will never be applied here (calls its done callback). */
void lkv__raft_node_fail(lkv_proposal_t *p, int err);

/* Answers the read barriers whose index has been applied, and those past their deadline. */
void lkv__raft_node_answer_reads(lkv__raft_node_t *n, uint64_t now_ms);

#endif
