/* The Raft core's private state (struct lkv_raft_s) and the functions its files share. */
#ifndef LKV_RAFT_INTERNAL_H
#define LKV_RAFT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/*
 * Design notes.
 *
 * - The log (log.c) holds a base (index, term): the last entry discarded by compaction or covered by an
 *   installed snapshot, then the entries after it, each owning a copy of its data. `stable` is the last
 *   index the caller made durable (acknowledged by lkv_raft_advance), `committed` and `applied` the usual.
 *   The latest snapshot (r->snap) is separate from the base: set_snapshot records one, compact moves the
 *   base up to it.
 * - Memory handed out in a ready batch must stay valid until advance, yet the log may change in between
 *   (a follower truncates on a conflicting append, a snapshot replaces the log). So the batch copies the
 *   entry structs, and entry data freed while a batch is outstanding goes to a graveyard that advance
 *   empties. Outgoing messages own a deep copy of their entries and context (one block per message), so
 *   they never point into the log.
 * - Term rules run first in lkv_raft_step (election.c: lkv__step_term), then the role's handler.
 * - The leader's own progress (in the tracker like every member) has match = stable: it counts its own copy
 *   only when the caller says the entries are durable.
 * - rd.committed may include entries of the same batch's rd.entries: the caller makes them durable (step b)
 *   before it applies (step d), as etcd's RawNode does; nothing beyond the batch's last entry is handed out.
 * - A leader sends new entries and commit advances once per ready (bcast_pending), not once per proposal
 *   or ack: a burst of proposals leaves as one APP per follower, bounded by max_size_per_msg.
 * - Restore: CONF_CHANGE entries in (snapshot.index, applied] are put in force as accepted (the durable
 *   state does not say which ones the caller cancelled; a caller that cancels changes should restart
 *   from a snapshot at its applied index, or with applied = 0 and re-apply).
 * - Bug switches: LKV__BUG(r, NAME) is the test-build switch of raft.h's lkv_raft_bug_t; it is the
 *   constant 0 in release builds, so the deviations compile away.
 */

#ifdef LKV_RAFT_TESTING
#define LKV__BUG(r, b) (((r)->cfg.bugs & LKV_RAFT_BUG_##b) != 0)
#else
#define LKV__BUG(r, b) 0
#endif

#define LKV__READ_CTX_MAX 64

/* ---- log.c ---- */

typedef struct {
  uint64_t base_index; /* last discarded entry (0: none) */
  uint64_t base_term;
  lkv_raft_entry_t *ents; /* ents[i].index == base_index + 1 + i; data owned */
  size_t n, cap;
  uint64_t stable;    /* last durable index */
  uint64_t committed; /* last committed index */
  uint64_t applied;   /* last index handed out to apply and acknowledged */
} lkv__log_t;

uint64_t lkv__log_last(const lkv__log_t *l);
uint64_t lkv__log_last_term(const lkv__log_t *l);
/* Term of entry index into *term: 0, LKV_ECOMPACTED (below the base) or LKV_ENOENT (beyond the last). */
int lkv__log_term(const lkv__log_t *l, uint64_t index, uint64_t *term);
/* Term of index, or 0 when it is unavailable. */
uint64_t lkv__log_term_or0(const lkv__log_t *l, uint64_t index);
int lkv__log_match(const lkv__log_t *l, uint64_t index, uint64_t term);
/* The held entry at index (base < index <= last), or NULL. */
const lkv_raft_entry_t *lkv__log_at(const lkv__log_t *l, uint64_t index);
/* First entry of ents[0..n) whose index is beyond the last or whose term differs from ours; 0 if none. */
uint64_t lkv__log_find_conflict(const lkv__log_t *l, const lkv_raft_entry_t *ents, size_t n);
/* The largest index <= index whose term is <= term (stops at the base); *out_term gets its term. */
uint64_t lkv__log_conflict_by_term(const lkv__log_t *l, uint64_t index, uint64_t term, uint64_t *out_term);
/* Candidate's (last_term, last_index) is at least as up-to-date as ours. */
int lkv__log_up_to_date(const lkv__log_t *l, uint64_t last_index, uint64_t last_term);
/* Number of entries starting at lo (lo > base) whose data sums to at most max_bytes, at least one (0: no
 * limit); 0 if lo is beyond the last. */
size_t lkv__log_slice(const lkv__log_t *l, uint64_t lo, size_t max_bytes, size_t *bytes);
/* Removes entries >= from (from > base); their data goes to free_fn (the graveyard). */
void lkv__log_truncate(lkv__log_t *l, uint64_t from, void (*free_fn)(void *arg, void *p), void *arg);
/* Appends a copy of e at index last+1 with the given term. */
void lkv__log_append(lkv__log_t *l, uint64_t term, uint8_t type, const uint8_t *data, size_t len);
/* Discards entries <= index (base < index <= last), moving the base there. */
void lkv__log_compact(lkv__log_t *l, uint64_t index, void (*free_fn)(void *arg, void *p), void *arg);
/* Drops every entry and sets the base to (index, term) (snapshot install). */
void lkv__log_reset(lkv__log_t *l, uint64_t index, uint64_t term, void (*free_fn)(void *arg, void *p),
                    void *arg);
void lkv__log_free(lkv__log_t *l);

/* ---- tracker.c ---- */

typedef struct {
  uint64_t index;
  size_t bytes;
} lkv__inflight_t;

typedef struct {
  lkv__inflight_t *buf;
  size_t cap, start, count, bytes;
} lkv__inflights_t;

typedef struct {
  lkv_raft_id_t id;
  uint64_t match, next;
  uint64_t pending_snapshot; /* snapshot state: the index sent */
  uint64_t read_ack;         /* highest ReadIndex round this member confirmed */
  uint64_t sent_commit;      /* highest commit index sent to this member */
  uint8_t state;             /* lkv_raft_progress_state_t */
  uint8_t recent_active;
  uint8_t is_learner;
  uint8_t probe_sent; /* probe state: an APP went out since the last heartbeat answer */
  int8_t vote;        /* campaign tally: 0 unknown, 1 granted, -1 rejected */
  lkv__inflights_t infl;
} lkv__progress_t;

typedef struct {
  lkv__progress_t prs[LKV_RAFT_MAX_MEMBERS];
  uint32_t n;
} lkv__tracker_t;

lkv__progress_t *lkv__tracker_get(lkv__tracker_t *t, lkv_raft_id_t id);
/* Rebuilds the members from conf, keeping existing progress; new ones get next = next_index. */
void lkv__tracker_set_conf(lkv__tracker_t *t, const lkv_raft_conf_state_t *conf, uint64_t next_index);
void lkv__tracker_free(lkv__tracker_t *t);
size_t lkv__tracker_voters(const lkv__tracker_t *t);
/* The highest index a quorum of voters has (match), 0 without voters. */
uint64_t lkv__tracker_committed(const lkv__tracker_t *t);
/* Campaign result: 1 won, -1 lost, 0 pending. */
int lkv__tracker_tally(const lkv__tracker_t *t);
/* A quorum of voters has read_ack >= round (self_id always counts). */
int lkv__tracker_read_quorum(const lkv__tracker_t *t, lkv_raft_id_t self_id, uint64_t round);
/* A quorum of voters was recent_active. */
int lkv__tracker_quorum_active(const lkv__tracker_t *t);

void lkv__infl_reset(lkv__inflights_t *in);
int lkv__infl_full(const lkv__inflights_t *in, size_t max_msgs, size_t max_bytes);
void lkv__infl_add(lkv__inflights_t *in, size_t max_msgs, uint64_t index, size_t bytes);
void lkv__infl_free_le(lkv__inflights_t *in, uint64_t index);

void lkv__pr_become_probe(lkv__progress_t *pr);
void lkv__pr_become_replicate(lkv__progress_t *pr);
void lkv__pr_become_snapshot(lkv__progress_t *pr, uint64_t index);
/* An ack at index: returns 1 when match advanced. */
int lkv__pr_maybe_update(lkv__progress_t *pr, uint64_t index);
/* A rejection of the APP at rejected with hint: returns 1 unless it is stale. */
int lkv__pr_maybe_decr(lkv__progress_t *pr, uint64_t rejected, uint64_t hint);
int lkv__pr_paused(const lkv__progress_t *pr, size_t max_msgs, size_t max_bytes);

/* ---- message queues (ready.c) ---- */

typedef struct {
  lkv_raft_msg_t *v;
  void **mem; /* mem[i]: the block holding v[i]'s entries and context */
  size_t n, cap;
} lkv__msgq_t;

typedef struct {
  lkv_raft_read_state_t *v; /* contexts malloc'd */
  size_t n, cap;
} lkv__rsq_t;

typedef struct {
  uint8_t ctx[LKV__READ_CTX_MAX];
  size_t len;
  uint64_t index;
  uint64_t round;     /* 0: waits for the next round */
  lkv_raft_id_t from; /* NONE: this member asked */
} lkv__read_req_t;

typedef struct {
  int out; /* a batch is outstanding */
  lkv__msgq_t msgs, msgs_ap;
  lkv__rsq_t rs;
  lkv_raft_entry_t *ents, *committed;
  size_t n_ents, n_committed, cap_ents, cap_committed;
  uint8_t *snap_data;
  uint64_t last_index, applied_to;
  lkv_raft_hard_state_t hs;
  lkv_raft_id_t leader;
  lkv_raft_role_t role;
  size_t n_cc_applied; /* CONF_CHANGE entries of committed given to apply_conf_change */
  uint64_t trunc_from; /* lowest index the log dropped since the batch left (UINT64_MAX: none) */
} lkv__batch_t;

struct lkv_raft_s {
  lkv_raft_config_t cfg;
  uint64_t term;
  lkv_raft_id_t vote, leader;
  lkv_raft_role_t role;
  lkv__log_t log;
  lkv_raft_snapshot_meta_t snap; /* the latest snapshot (index >= log.base_index) */
  lkv_raft_conf_state_t conf;    /* membership in force */
  lkv__tracker_t trk;
  unsigned election_elapsed, heartbeat_elapsed, rand_timeout;
  uint64_t pending_conf_index; /* leader: a conf change may be pending up to here */
  size_t uncommitted;          /* leader: payload bytes appended and not yet applied */
  lkv_raft_id_t transferee;
  int bcast_pending; /* leader: new entries or commit to send, done once at the next ready */

  lkv__read_req_t *reads; /* leader: requests confirmed by rounds (or waiting for one) */
  size_t n_reads, cap_reads;
  lkv__read_req_t *waiting; /* leader: requests before the first commit of the term */
  size_t n_waiting, cap_waiting;
  uint64_t read_round, round_inflight;

  lkv__msgq_t msgs, msgs_ap;
  lkv__rsq_t rs;
  int snap_pending; /* an installed snapshot not yet handed out */
  lkv_raft_snapshot_t pending_snap;

  lkv__batch_t batch;
  lkv_raft_hard_state_t prev_hs;
  lkv_raft_id_t prev_leader;
  lkv_raft_role_t prev_role;
  void **grave; /* entry data freed while a batch is outstanding */
  size_t n_grave, cap_grave;
};

/* ---- raft.c ---- */
_Noreturn void lkv__fatal(const lkv_raft_t *r, const char *what, uint64_t a, uint64_t b);
void *lkv__xmalloc(size_t n);
void *lkv__xrealloc(void *p, size_t n);

/* ---- propose.c ---- */
/* Appends one entry of the current term on the leader (its own copy counts once durable). */
void lkv__leader_append(lkv_raft_t *r, uint8_t type, const uint8_t *data, size_t len);
/* Leader: appends a proposal after the checks. Returns 0, LKV_EPROPOSALDROPPED or LKV_ECONFPENDING. */
int lkv__leader_propose(lkv_raft_t *r, uint8_t type, const uint8_t *data, size_t len);
/* Leader: a PROP from a follower; refused entries are dropped. */
void lkv__step_prop(lkv_raft_t *r, const lkv_raft_msg_t *m);

/* ---- step.c ---- */
/* e[0..n) follow index contiguously with terms non-decreasing in [min_term, max_term]. */
int lkv__entries_follow(const lkv_raft_entry_t *e, size_t n, uint64_t index, uint64_t min_term,
                        uint64_t max_term);

/* ---- ready.c ---- */
/* free_fn for the log (arg is the lkv_raft_t): frees at once, or at advance while a batch is out. */
void lkv__grave_free(void *arg, void *p);
/* Queues m (copied with its entries and context) to leave at once (after_persist 0) or after the batch. */
void lkv__send(lkv_raft_t *r, const lkv_raft_msg_t *m, int after_persist);
void lkv__push_read_state(lkv_raft_t *r, uint64_t index, const uint8_t *ctx, size_t len);
void lkv__msgq_free(lkv__msgq_t *q);
void lkv__rsq_free(lkv__rsq_t *q);
void lkv__batch_free(lkv_raft_t *r);

/* ---- election.c ---- */
void lkv__reset(lkv_raft_t *r, uint64_t term);
void lkv__become_follower(lkv_raft_t *r, uint64_t term, lkv_raft_id_t leader);
void lkv__become_leader(lkv_raft_t *r);
int lkv__promotable(const lkv_raft_t *r);
int lkv__has_unapplied_conf(const lkv_raft_t *r);
enum { LKV__CAMPAIGN_PRE, LKV__CAMPAIGN_ELECT, LKV__CAMPAIGN_TRANSFER };
void lkv__campaign(lkv_raft_t *r, int kind);
/* Starts the configured kind of campaign if this member may. Returns 0 or LKV_EPERM. */
int lkv__hup(lkv_raft_t *r, int transfer);
/* The term rules; returns 1 when the message is to be processed further, 0 when consumed. */
int lkv__step_term(lkv_raft_t *r, const lkv_raft_msg_t *m);
void lkv__handle_vote(lkv_raft_t *r, const lkv_raft_msg_t *m);
void lkv__handle_vote_resp(lkv_raft_t *r, const lkv_raft_msg_t *m);
void lkv__tick_election(lkv_raft_t *r);
void lkv__tick_leader(lkv_raft_t *r);

/* ---- replicate.c ---- */
int lkv__send_append(lkv_raft_t *r, lkv_raft_id_t to, int send_if_empty);
void lkv__bcast_append(lkv_raft_t *r);
/* Leader: appends to every follower at the next lkv_raft_ready, so that proposals and acks arriving
 * between two batches leave as one APP per follower instead of one per proposal. */
void lkv__bcast_later(lkv_raft_t *r);
void lkv__bcast_heartbeat(lkv_raft_t *r);
/* Leader: commits the quorum index if its entry is of the current term. Returns 1 when commit moved. */
int lkv__maybe_commit(lkv_raft_t *r);
void lkv__commit_to(lkv_raft_t *r, uint64_t index);
void lkv__handle_append(lkv_raft_t *r, const lkv_raft_msg_t *m);
void lkv__handle_heartbeat(lkv_raft_t *r, const lkv_raft_msg_t *m);
void lkv__handle_append_resp(lkv_raft_t *r, const lkv_raft_msg_t *m);
void lkv__handle_heartbeat_resp(lkv_raft_t *r, const lkv_raft_msg_t *m);
int lkv__committed_in_term(const lkv_raft_t *r);
/* Leader, after advance: counts its own durable entries. */
void lkv__self_match(lkv_raft_t *r, uint64_t index);

/* ---- read_index.c ---- */
void lkv__read_request(lkv_raft_t *r, const uint8_t *ctx, size_t len, lkv_raft_id_t from);
void lkv__read_ack(lkv_raft_t *r, lkv_raft_id_t from, const uint8_t *ctx, size_t len);
void lkv__read_on_term_commit(lkv_raft_t *r);
void lkv__read_reset(lkv_raft_t *r);
/* Heartbeat context for the round in flight (8 bytes into buf), or 0 when none. */
size_t lkv__read_round_ctx(const lkv_raft_t *r, uint8_t buf[8]);

/* ---- membership.c ---- */
int lkv__is_voter(const lkv_raft_conf_state_t *c, lkv_raft_id_t id);
int lkv__is_learner(const lkv_raft_conf_state_t *c, lkv_raft_id_t id);
int lkv__conf_validate(const lkv_raft_conf_state_t *c);
/* Applies a decoded change to c. Returns 1 when it changed c. */
int lkv__conf_apply(lkv_raft_conf_state_t *c, const lkv_raft_conf_change_t *cc);
/* Puts r->conf in force in the tracker and handles what follows for a leader. */
void lkv__conf_switch(lkv_raft_t *r);
/* Leader: may an entry of this type be appended now (conf pending checks)? Returns 0 or ECONFPENDING. */
int lkv__conf_check(lkv_raft_t *r);

/* ---- transfer.c ---- */
void lkv__transfer(lkv_raft_t *r, lkv_raft_id_t to);
void lkv__transfer_check(lkv_raft_t *r, lkv_raft_id_t from);

/* ---- snapshot.c ---- */
void lkv__handle_snapshot(lkv_raft_t *r, const lkv_raft_msg_t *m);

#endif
