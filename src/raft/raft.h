/* The Raft consensus core: an I/O-free state machine. Ticks, messages and proposals in; ready batches out. */
#ifndef LKV_RAFT_RAFT_H
#define LKV_RAFT_RAFT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The contract (docs/raft.md has the design).
 *
 * The core does no I/O: no threads, clocks, sockets, files or global state. Time is ticks
 * (lkv_raft_tick), randomness comes from the caller's seeded generator (config.rand), and storage and
 * network are the caller's. One lkv_raft_t is one member; it is not thread-safe (one caller at a time).
 * Allocation failure aborts the process: a consensus member that half-applied a step is worse than one
 * that stopped (the member restarts from its durable state).
 *
 * The caller's loop:
 *   1. Feed input: lkv_raft_tick, lkv_raft_step (messages from peers), lkv_raft_propose...,
 *      lkv_raft_read_index, lkv_raft_transfer_leader, lkv_raft_report_*.
 *   2. When lkv_raft_ready returns 1, handle the batch in this order:
 *      a. send rd.msgs at once (they never depend on this batch being durable: a leader's appends,
 *         heartbeats and snapshots may leave while the leader writes the same entries, Raft thesis
 *         §10.2.1);
 *      b. make durable, with one flush: rd.snapshot's metadata (if has_snapshot; the caller installs the
 *         snapshot's data first), then rd.entries (writing entry i discards stored entries >= i), then
 *         rd.hard_state (if has_hard_state);
 *      c. only then send rd.msgs_after_persist (votes, append acknowledgements, forwarded requests: each
 *         promises something about durable state);
 *      d. apply rd.committed in order; for each entry of type LKV_RAFT_ENTRY_CONF_CHANGE call
 *         lkv_raft_apply_conf_change before applying the next entry; hand rd.read_states to their
 *         readers once the applied index reaches each one's index;
 *      e. call lkv_raft_advance(r, &rd). The core then takes the batch's entries as durable (a leader counts
 *         its own copy toward the commit only now) and rd.committed as applied.
 *   Only one batch is outstanding: lkv_raft_ready returns 0 until the previous one was advanced.
 *
 * Memory: everything a ready batch points to (entries, messages and their entries, read-state contexts,
 * snapshot data) is owned by the core and stays valid until lkv_raft_advance. Input given to step,
 * propose and read_index is copied; the caller keeps ownership of its buffers.
 *
 * Snapshots: the core knows snapshot metadata only (index, term, membership). A message of type
 * LKV_RAFT_MSG_SNAP leaves the core with empty data: the caller's transport attaches the state machine's
 * snapshot (or a handle to it, such as a file name) before sending. When a SNAP is stepped in, the core
 * copies its data into rd.snapshot if it accepts it; snapshots at or below the commit index are refused.
 *
 * Membership: single-step changes (add a voter, add a learner, promote a learner by adding it as a
 * voter, remove a member). At most one is pending (proposed and not applied); a change takes effect when the
 * caller applies it (lkv_raft_apply_conf_change), on every member. A new cluster is created by calling
 * lkv_raft_bootstrap with the same voter list on every founding member; a member that joins an existing
 * cluster starts empty and learns its membership from the leader.
 */

typedef uint64_t lkv_raft_id_t;
#define LKV_RAFT_NONE ((lkv_raft_id_t)0) /* no member: node ids are never 0 */

/* The most voters plus learners a cluster may have (etcd recommends up to 7 voters). */
#define LKV_RAFT_MAX_MEMBERS 32

typedef enum {
  LKV_RAFT_FOLLOWER = 0,
  LKV_RAFT_PRE_CANDIDATE = 1,
  LKV_RAFT_CANDIDATE = 2,
  LKV_RAFT_LEADER = 3,
} lkv_raft_role_t;

typedef enum {
  LKV_RAFT_ENTRY_NORMAL = 0,      /* caller's data; an empty one is the leader's entry of its term */
  LKV_RAFT_ENTRY_CONF_CHANGE = 1, /* data is an encoded lkv_raft_conf_change_t (codec.h) */
} lkv_raft_entry_type_t;

typedef struct {
  uint64_t term;
  uint64_t index;
  uint8_t type; /* lkv_raft_entry_type_t */
  const uint8_t *data;
  size_t len;
} lkv_raft_entry_t;

/* What must be durable before a member answers votes and appends. */
typedef struct {
  uint64_t term;
  lkv_raft_id_t vote; /* LKV_RAFT_NONE when it has not voted in term */
  uint64_t commit;
} lkv_raft_hard_state_t;

/* The membership: voters and learners, each list without duplicates, no id in both. */
typedef struct {
  lkv_raft_id_t voters[LKV_RAFT_MAX_MEMBERS];
  uint32_t n_voters;
  lkv_raft_id_t learners[LKV_RAFT_MAX_MEMBERS];
  uint32_t n_learners;
} lkv_raft_conf_state_t;

typedef struct {
  uint64_t index; /* the last entry the snapshot covers (0: none) */
  uint64_t term;  /* that entry's term */
  lkv_raft_conf_state_t conf;
} lkv_raft_snapshot_meta_t;

typedef struct {
  lkv_raft_snapshot_meta_t meta;
  const uint8_t *data; /* opaque to the core */
  size_t len;
} lkv_raft_snapshot_t;

typedef enum {
  LKV_RAFT_CC_ADD_NODE = 0,    /* add a voter, or promote a learner */
  LKV_RAFT_CC_ADD_LEARNER = 1, /* add a non-voting member */
  LKV_RAFT_CC_REMOVE_NODE = 2, /* remove a voter or a learner */
} lkv_raft_conf_change_type_t;

typedef struct {
  uint8_t type; /* lkv_raft_conf_change_type_t */
  lkv_raft_id_t node;
  const uint8_t *context; /* the caller's (etcd puts the member's attributes here) */
  size_t context_len;
} lkv_raft_conf_change_t;

typedef enum {
  LKV_RAFT_MSG_APP = 1,            /* leader → follower: entries after (index, log_term), commit */
  LKV_RAFT_MSG_APP_RESP = 2,       /* index = last matching index, or reject with reject_hint/log_term */
  LKV_RAFT_MSG_VOTE = 3,           /* candidate: term, (index, log_term) = its last entry */
  LKV_RAFT_MSG_VOTE_RESP = 4,      /* reject = 0 grants the vote */
  LKV_RAFT_MSG_PRE_VOTE = 5,       /* term = the term it would campaign in; the sender's term is unchanged */
  LKV_RAFT_MSG_PRE_VOTE_RESP = 6,  /* term = the pre-vote's term when granted */
  LKV_RAFT_MSG_HEARTBEAT = 7,      /* commit = min(follower's match, leader's commit); context: read round */
  LKV_RAFT_MSG_HEARTBEAT_RESP = 8, /* context echoed */
  LKV_RAFT_MSG_SNAP = 9,           /* snapshot (metadata; the caller attaches data) */
  LKV_RAFT_MSG_PROP = 10,          /* a follower forwards proposals to the leader */
  LKV_RAFT_MSG_READ_INDEX = 11,    /* a follower forwards a read request (context) to the leader */
  LKV_RAFT_MSG_READ_INDEX_RESP = 12, /* index = the read index for context */
  LKV_RAFT_MSG_TRANSFER_LEADER = 13, /* a follower forwards a transfer request; from = the transferee */
  LKV_RAFT_MSG_TIMEOUT_NOW = 14,     /* leader → transferee: campaign at once */
} lkv_raft_msg_type_t;

/* Message flags. */
#define LKV_RAFT_MSG_FLAG_TRANSFER 0x1u /* a (pre-)vote of a campaign forced by leadership transfer */

typedef struct {
  uint8_t type; /* lkv_raft_msg_type_t */
  uint8_t reject;
  uint8_t flags;
  lkv_raft_id_t from;
  lkv_raft_id_t to;
  uint64_t term;
  uint64_t log_term;
  uint64_t index;
  uint64_t commit;
  uint64_t reject_hint;
  const lkv_raft_entry_t *entries; /* APP, PROP */
  size_t n_entries;
  lkv_raft_snapshot_t snapshot; /* SNAP */
  const uint8_t *context;       /* HEARTBEAT(_RESP), READ_INDEX(_RESP) */
  size_t context_len;
} lkv_raft_msg_t;

/* A linearizable read's answer: once the state machine has applied index, the read may be served. */
typedef struct {
  uint64_t index;
  const uint8_t *context; /* the context given to lkv_raft_read_index */
  size_t context_len;
} lkv_raft_read_state_t;

/* One batch of work for the caller (the order of handling is in the contract above). */
typedef struct {
  /* Soft state: who leads as far as this member knows, and its role. */
  lkv_raft_id_t leader;
  lkv_raft_role_t role;
  int soft_state_changed;

  int has_hard_state;
  lkv_raft_hard_state_t hard_state;
  int has_snapshot;
  lkv_raft_snapshot_t snapshot;
  const lkv_raft_entry_t *entries; /* to make durable */
  size_t n_entries;
  int must_sync; /* 1 when entries, hard state or snapshot must be flushed before continuing */

  const lkv_raft_msg_t *msgs; /* may leave at once */
  size_t n_msgs;
  const lkv_raft_msg_t *msgs_after_persist; /* only after this batch is durable */
  size_t n_msgs_after_persist;

  const lkv_raft_entry_t *committed; /* to apply, in order */
  size_t n_committed;
  const lkv_raft_read_state_t *read_states;
  size_t n_read_states;
} lkv_raft_ready_t;

/* The caller's random generator: a uniformly distributed 64-bit value. Must be deterministic for a seed
 * when the caller wants reproducible runs (the simulator does). */
typedef uint64_t (*lkv_raft_rand_fn)(void *arg);

#ifdef LKV_RAFT_TESTING
/* Classic Raft bugs, switchable only in test builds (the lkv_raft_testing library), so the tests prove
 * they catch each one. docs/raft.md lists which invariant or test catches each. */
typedef enum {
  LKV_RAFT_BUG_COMMIT_OLD_TERM = 1u << 0,       /* commit earlier-term entries by counting replicas */
  LKV_RAFT_BUG_VOTE_BEFORE_DURABLE = 1u << 1,   /* vote answers leave before term and vote are durable */
  LKV_RAFT_BUG_ACK_BEFORE_DURABLE = 1u << 2,    /* append acks (and the leader's own count) before durable */
  LKV_RAFT_BUG_TRUNCATE_STALE_APPEND = 1u << 3, /* a stale/reordered append truncates past the match point */
  LKV_RAFT_BUG_READ_BEFORE_TERM_COMMIT = 1u
                                         << 4, /* ReadIndex served before committing in the leader's term */
  LKV_RAFT_BUG_LEASE_READ_NO_QUORUM = 1u << 5, /* reads answered from the leader's commit, no quorum round */
  LKV_RAFT_BUG_TWO_CONF_PENDING = 1u << 6,     /* a second membership change accepted while one is pending */
  LKV_RAFT_BUG_CONF_BEFORE_TERM_COMMIT = 1u
                                         << 7,  /* membership change before an entry of the term committed */
  LKV_RAFT_BUG_ACCEPT_STALE_SNAPSHOT = 1u << 8, /* install a snapshot at or below the commit index */
  LKV_RAFT_BUG_KEEP_VOTE_ON_NEW_TERM = 1u << 9, /* the vote is not reset when the term advances */
  LKV_RAFT_BUG_REMOVED_LEADER_STAYS = 1u << 10, /* a leader removed from the membership keeps leading */
  LKV_RAFT_BUG_TRANSFER_BLOCKED_BY_LEASE = 1u
                                           << 11, /* a transferee's votes are ignored under the vote lease */
} lkv_raft_bug_t;
#define LKV_RAFT_BUG_COUNT 12
/* The switch's name ("COMMIT_OLD_TERM"), or NULL for a value that is not exactly one bug. */
const char *lkv_raft_bug_name(unsigned bug);
#endif

typedef struct {
  lkv_raft_id_t id;            /* this member; never LKV_RAFT_NONE */
  unsigned election_tick;      /* > heartbeat_tick; randomized timeouts are drawn in [election, 2*election) */
  unsigned heartbeat_tick;     /* >= 1 */
  int pre_vote;                /* campaign with a pre-vote round that does not raise terms */
  int check_quorum;            /* a leader without an active quorum for an election timeout steps down; a
                                  member that heard a leader within the election timeout ignores votes */
  size_t max_size_per_msg;     /* bytes of entries per APP, at least one entry (0: no limit, unlike etcd) */
  size_t max_inflight_msgs;    /* APPs in flight per follower in replicate state (>= 1) */
  size_t max_inflight_bytes;   /* bytes of entries in flight per follower (0: no byte limit) */
  size_t max_uncommitted_size; /* a leader drops proposals beyond this many uncommitted bytes (0: no limit) */
  lkv_raft_rand_fn rand;       /* required */
  void *rand_arg;
#ifdef LKV_RAFT_TESTING
  unsigned bugs; /* lkv_raft_bug_t bits */
#endif
} lkv_raft_config_t;

/* Durable state a member restarts from (what the durable log recovered). All pointers borrowed for the
 * duration of lkv_raft_new. entries follow snapshot.index contiguously. */
typedef struct {
  lkv_raft_hard_state_t hard_state;
  lkv_raft_snapshot_meta_t snapshot; /* index 0 when there is none */
  const lkv_raft_entry_t *entries;
  size_t n_entries;
  uint64_t applied; /* the state machine's applied index (>= snapshot.index); 0 means snapshot.index */
  /* The membership in force at applied, as the state machine recorded it when it applied the changes.
   * Required when applied > snapshot.index and the caller ever cancels a change (accept = 0): the log
   * cannot tell which changes were cancelled. NULL derives it from snapshot.conf and the changes in
   * (snapshot.index, applied], all taken as accepted. */
  const lkv_raft_conf_state_t *conf;
} lkv_raft_restore_t;

typedef struct lkv_raft_s lkv_raft_t;

/* Fills cfg with defaults (election 10, heartbeat 1, pre_vote and check_quorum on, 1 MiB per message,
 * 256 messages in flight, no byte limits) for member id with the given generator. */
void lkv_raft_config_default(lkv_raft_config_t *cfg, lkv_raft_id_t id, lkv_raft_rand_fn rand, void *rand_arg);

/* Checks cfg. Returns 0 or LKV_EINVAL. */
int lkv_raft_config_validate(const lkv_raft_config_t *cfg);

/* Creates a member from cfg (copied) and its durable state (NULL: a fresh member with an empty log).
 * Returns 0 and *out, or LKV_EINVAL (bad config, or restore inconsistent: commit beyond the last entry,
 * entries not following the snapshot, applied beyond commit). Free with lkv_raft_free. */
int lkv_raft_new(const lkv_raft_config_t *cfg, const lkv_raft_restore_t *restore, lkv_raft_t **out);
void lkv_raft_free(lkv_raft_t *r);

/* Founds a cluster on a fresh member: appends one ADD_NODE entry per voter at term 1 (indexes 1..n, in the
 * given order) and commits them; the next ready batch carries them to persist and to apply. Every founding
 * member must get the same list. Returns 0, or LKV_EINVAL (not fresh, n == 0, n > LKV_RAFT_MAX_MEMBERS,
 * duplicate or zero ids). */
int lkv_raft_bootstrap(lkv_raft_t *r, const lkv_raft_id_t *voters, size_t n);

/* Advances the logical clock by one tick: election timeouts, heartbeats, CheckQuorum, transfer timeout. */
void lkv_raft_tick(lkv_raft_t *r);

/* Steps a message from a peer (m->to must be this member). Stale messages (lower term) are ignored or
 * answered as Raft says. The sender's membership is not checked: the transport refuses messages from
 * removed members and other clusters. Returns 0, or LKV_EINVAL for a malformed message (unknown type, wrong
 * recipient, entries not contiguous): the member's state is unchanged then. */
int lkv_raft_step(lkv_raft_t *r, const lkv_raft_msg_t *m);

/* Proposes data as a normal entry. A leader appends it (*index and *term, when not NULL, say where it
 * landed; a later leader may still overwrite it if it is not committed); a follower forwards it to its
 * leader (*index = 0). Returns 0, LKV_ENOLEADER (no known leader), LKV_EPROPOSALDROPPED (leadership
 * transfer in progress, the uncommitted-size limit, or this member is a learner or removed). */
int lkv_raft_propose(lkv_raft_t *r, const uint8_t *data, size_t len, uint64_t *index, uint64_t *term);

/* Proposes a membership change (leader only; followers forward it like a proposal). Returns 0,
 * LKV_EINVAL (malformed), LKV_ENOLEADER, LKV_EPROPOSALDROPPED, or LKV_ECONFPENDING (a change is pending, or
 * the leader has not yet committed an entry of its term). */
int lkv_raft_propose_conf_change(lkv_raft_t *r, const lkv_raft_conf_change_t *cc);

/* Puts into force the membership change in committed entry e (of type CONF_CHANGE, handed out in the
 * current ready batch). With accept == 0 the change is cancelled (the caller's validation refused it: etcd
 * refuses duplicate members and the like at apply time) but still counts as applied. The caller must
 * refuse what the core cannot carry out: removing or demoting the last voter, or a member beyond
 * LKV_RAFT_MAX_MEMBERS, are no-ops when accepted, and ADD_LEARNER on a voter demotes it. A leader that is
 * removed steps down. *conf (optional) receives the resulting membership. Returns 0, LKV_EINVAL (e is not
 * the next unapplied conf change of the batch) or LKV_ECORRUPT (undecodable data). */
int lkv_raft_apply_conf_change(lkv_raft_t *r, const lkv_raft_entry_t *e, int accept,
                               lkv_raft_conf_state_t *conf);

/* Asks for a linearizable read index for context (copied; 1..64 bytes, unique per outstanding request).
 * The answer arrives as a read state in a later ready batch, or never (leader changed, request lost): callers
 * retry after a timeout. Requests asked while a confirmation round is in flight share the next round.
 * Returns 0, LKV_EINVAL or LKV_ENOLEADER. */
int lkv_raft_read_index(lkv_raft_t *r, const uint8_t *context, size_t len);

/* Transfers leadership to voter to: the leader catches it up, then tells it to campaign at once; proposals
 * are dropped meanwhile; the transfer is abandoned after an election timeout. On a follower the request is
 * forwarded to the leader. Returns 0, LKV_EINVAL (to is not a voter, or is this member), LKV_ENOLEADER. */
int lkv_raft_transfer_leader(lkv_raft_t *r, lkv_raft_id_t to);

/* Starts a campaign now (pre-vote first when enabled), as if the election timeout elapsed. Returns 0 or
 * LKV_EPERM (a learner, not a member, or has an unapplied membership change). */
int lkv_raft_campaign(lkv_raft_t *r);

/* The transport failed to reach id: a leader sends that follower back to probing. */
void lkv_raft_report_unreachable(lkv_raft_t *r, lkv_raft_id_t id);

/* The transport finished (ok = 1) or failed (ok = 0) sending a snapshot to id. */
void lkv_raft_report_snapshot(lkv_raft_t *r, lkv_raft_id_t id, int ok);

/* Fast failover: the connection to the leader broke. A follower forgets the leader and, when pre-vote is
 * on, starts a pre-vote at once (a member that only lost its own link cannot win one against a live
 * leader, so it cannot disrupt it). Without pre-vote it does nothing: the fast path needs pre-vote (the
 * cluster layer turns pre-vote on whenever it reports lost leaders). */
void lkv_raft_report_leader_lost(lkv_raft_t *r);

/* Records that the state machine has a snapshot at meta->index (<= applied; meta->term is filled by the
 * core, meta->conf is the membership as of that index). Lagging followers get this snapshot. Returns 0,
 * LKV_EINVAL (beyond applied) or LKV_ECOMPACTED (older than the current one). */
int lkv_raft_set_snapshot(lkv_raft_t *r, const lkv_raft_snapshot_meta_t *meta);

/* Discards log entries up to index (<= the snapshot's index). Returns 0, LKV_EINVAL or LKV_ECOMPACTED. */
int lkv_raft_compact(lkv_raft_t *r, uint64_t index);

/* Returns 1 and fills *rd when there is work for the caller (see the contract), otherwise 0. Returns 0
 * while a batch is outstanding. */
int lkv_raft_ready(lkv_raft_t *r, lkv_raft_ready_t *rd);

/* Acknowledges rd, handled as the contract says. Returns 0, or LKV_EINVAL (rd is not the outstanding
 * batch, or a CONF_CHANGE entry of rd.committed was not given to lkv_raft_apply_conf_change). */
int lkv_raft_advance(lkv_raft_t *r, const lkv_raft_ready_t *rd);

typedef enum {
  LKV_RAFT_PROGRESS_PROBE = 0,
  LKV_RAFT_PROGRESS_REPLICATE = 1,
  LKV_RAFT_PROGRESS_SNAPSHOT = 2,
} lkv_raft_progress_state_t;

typedef struct {
  lkv_raft_id_t id;
  lkv_raft_id_t leader;
  lkv_raft_role_t role;
  lkv_raft_hard_state_t hard_state;
  uint64_t applied;
  uint64_t first_index; /* first entry held in memory (snapshot.index + 1) */
  uint64_t last_index;
  uint64_t snapshot_index;
  lkv_raft_conf_state_t conf; /* in force (applied) */
  lkv_raft_id_t transferee;   /* leader: a transfer in progress, or NONE */
} lkv_raft_status_t;

void lkv_raft_status(const lkv_raft_t *r, lkv_raft_status_t *out);

typedef struct {
  uint64_t match;
  uint64_t next;
  uint8_t state;         /* lkv_raft_progress_state_t */
  uint8_t recent_active; /* heard from within the current CheckQuorum window */
  uint8_t is_learner;
  size_t inflight_msgs;
  size_t inflight_bytes;
} lkv_raft_progress_t;

/* A leader's view of member id. Returns 0, LKV_EPERM (not leader) or LKV_ENOENT (not a member). */
int lkv_raft_progress(const lkv_raft_t *r, lkv_raft_id_t id, lkv_raft_progress_t *out);

/* The entry at index as the member holds it (data borrowed until the next call that changes the log).
 * Returns 0, LKV_ECOMPACTED (at or below the snapshot) or LKV_ENOENT (beyond the last index). */
int lkv_raft_entry(const lkv_raft_t *r, uint64_t index, lkv_raft_entry_t *out);

/* Role and message-type names for traces ("leader", "MsgApp"). Never NULL. */
const char *lkv_raft_role_name(lkv_raft_role_t role);
const char *lkv_raft_msg_type_name(uint8_t type);

#endif
