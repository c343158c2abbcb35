/* The deterministic causal-mode simulator's types: members, their durable logs, the run and its checks. */
#ifndef LKV_CSIM_H
#define LKV_CSIM_H

#include <stddef.h>
#include <stdint.h>

#include "causal/member.h"
#include "sim.h" /* the Raft simulator's generators (rng.c) and packet queue (net.c), shared */

/*
 * One lkv__csim_t is one run of one seed: every choice (members, clock skews, bounds, faults, delays, the
 * workload) comes from generators seeded by it and time is simulated (milliseconds), so a seed replays
 * byte for byte. The fault phase writes through random members while packets are lost, duplicated,
 * delayed and reordered, links are cut, members crash (losing the batch they had not made durable) and
 * clocks are skewed; then everything heals and the members run anti-entropy until they agree, and the
 * checks of check.c run.
 */

#define LKV_CSIM_MAX 7  /* members */
#define LKV_CSIM_KEYS 6 /* the workload's key space: small, so that writes collide */

/* A write's token: the client's index, with LKV_CSIM_RESOLVE set for a resolve (docs/causal.md §13). */
#define LKV_CSIM_CLIENT_MASK 0xffffffffull
#define LKV_CSIM_RESOLVE (1ull << 32)
#define LKV_CSIM_REMOVAL (1ull << 33) /* a member removal's token: no client's write */

typedef struct {
  uint8_t *bytes;
  size_t len;
} lkv__csim_rec_t;

typedef struct {
  lkv__csim_rec_t *v;
  size_t n, cap;
} lkv__csim_log_t;

/* One change of a key's etcd view as a store following the member applies it: what a watch reports
 * (watch.c). Digests stand for the key and the winner's value. */
typedef struct {
  uint64_t rev, key, value, create_rev, mod_rev, version;
  int live;
} lkv__csim_change_t;

typedef struct {
  lkv__csim_change_t *v;
  size_t n, cap;
} lkv__csim_changes_t;

typedef struct {
  lkv_causal_member_t *m; /* NULL while down */
  uint64_t down_until;
  int64_t skew;       /* the member's physical clock = the run's time + skew */
  uint64_t next_tick; /* its next anti-entropy round */
  uint64_t period;
  lkv__csim_log_t log; /* durable events in local order: log.v[j] has revision log_base + j + 1 */
  uint64_t log_base;   /* revisions compacted off the durable log (compact.c) */
  uint8_t *ckpt;       /* the durable checkpoint (NULL: none yet) */
  size_t ckpt_len;
  /* The changes of its durable revisions, as first served (a watch from revision 1 would have reported
   * them), and those of the revisions applied but not yet durable. */
  lkv__csim_changes_t served, pending;
  lkv__csim_changes_t watched; /* per key, the last change served: what a watch from revision 1 holds */
  uint64_t lead;               /* events it holds beyond its revisions: installs take one for many */
  uint64_t next_snapshot[LKV_CSIM_MAX]; /* per peer: no snapshot sent to it before then (bandwidth) */
  int gone;                             /* removed, it learned so and stopped for good */
  /* Per member index x: the last of x's events its durable log held before its first event removing x (kept
   * by the simulator as batches are made durable: the log's front may be compacted). */
  uint64_t pre_removal[LKV_CSIM_MAX];
  uint8_t saw_removal[LKV_CSIM_MAX];
} lkv__csim_node_t;

/* A write some client had acknowledged: the event (origin, seq). */
typedef struct {
  uint64_t origin, seq;
} lkv__csim_ack_t;

/* A write of one key, as its origin made it durable (history.c). */
typedef struct {
  uint64_t origin, seq;
  lkv_causal_vv_t deps;
} lkv__csim_wrec_t;

typedef struct {
  lkv__csim_wrec_t *v;
  size_t n, cap;
} lkv__csim_writes_t;

/* A client pinned to one member, with the causal past of everything it wrote or read. */
typedef struct {
  int member;
  lkv_causal_vv_t seen;
} lkv__csim_client_t;

#define LKV_CSIM_CLIENTS (2 * LKV_CSIM_MAX)

typedef struct {
  uint64_t seed;
  unsigned bugs;
  int trace;
  uint64_t digest; /* of every scheduling decision and packet (determinism) */
  lkv__sim_rng_t rng;
  uint64_t now, steps;

  int n;
  lkv_causal_peer_t peers[LKV_CSIM_MAX];
  uint8_t sk[LKV_CSIM_MAX][LKV_CAUSAL_SK_LEN];
  lkv__csim_node_t nodes[LKV_CSIM_MAX];
  lkv__sim_net_t net; /* packets: kind = lkv_causal_msg_kind_t, from/to = member indexes */
  size_t max_held, max_ship;
  uint64_t max_ahead;
  uint64_t granularity; /* ms: members' clocks advance in steps of this */
  unsigned crash_pm, corrupt_pm;
  uint64_t fault_ms, next_fault, next_write, write_gap;
  uint64_t keep;         /* compaction keeps at least this many of a member's newest events (compact.c) */
  uint64_t silent_after; /* ms: a peer not heard from for longer is silent, and compaction leaves it behind */
  int healed;
  /* A removal (docs/causal.md §15), when the seed makes one: at remove_at the victim is cut off, then the
   * remover removes it while it keeps taking writes (stage 1 to 2); with mutual, the victim removes the
   * remover at the same time. */
  int victim, remover, mutual, remove_stage;
  uint64_t remove_at;
  /* An add (docs/causal.md §15b, join.c), when the seed makes one: joiner (the last member; 0: none) is not
   * the others' member until member 1 adds it at join_at (0: done), and starts then. */
  int joiner;
  uint64_t join_at;

  /* Every event made durable by its origin, by origin index and seq - 1 (for equivocation and deps). */
  lkv__csim_log_t origin_log[LKV_CSIM_MAX];
  lkv__csim_writes_t writes[LKV_CSIM_KEYS]; /* every durable write of each key */
  lkv__csim_client_t clients[LKV_CSIM_CLIENTS];
  int n_clients;
  lkv__csim_ack_t *acks;
  size_t n_acks, acks_cap;
  uint64_t next_value;

  /* Result and statistics. */
  int failed;
  const char *fail_inv; /* the check that failed: a string literal */
  char fail_msg[400];
  uint64_t n_writes, n_acked, n_reads, n_delivered, n_crashes, n_refused_ahead, n_refused_full,
      n_corrupt_refused, n_compactions, n_removals, n_refused_removed, n_snapshots, n_installs,
      n_refused_snapshots, n_refused_unknown, n_adds,
      n_refusals_unproven, /* "removed" refusals the refused member's core did not find proven */
      n_stable_compared;
  uint64_t quiesce_ms;
} lkv__csim_t;

/* What a run is asked for; everything else comes from the seed. */
typedef struct {
  uint64_t seed;
  unsigned bugs;     /* lkv_causal_bug_t bits */
  int trace;         /* print the run's events */
  int members;       /* 0: from the seed */
  uint64_t fault_ms; /* 0: from the seed */
  int mutual;        /* every seed removes a member, which removes its remover too when it can (4 members) */
} lkv__csim_opts_t;

/* run.c: one seed. Returns 0 when every check held, 1 on a violation (s->fail_*). */
int lkv__csim_run(lkv__csim_t *s, const lkv__csim_opts_t *o);
void lkv__csim_free(lkv__csim_t *s);
void lkv__csim_trace(lkv__csim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lkv__csim_fail(lkv__csim_t *s, const char *inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* member.c: members' lives, their batches and the network between them. */
lkv_causal_config_t lkv__csim_config(const lkv__csim_t *s, int i);
void lkv__csim_start(lkv__csim_t *s, int i); /* a new member, or a restart from its durable log */
void lkv__csim_crash(lkv__csim_t *s, int i, const char *why);
void lkv__csim_remove(lkv__csim_t *s);         /* the removal's next stage */
void lkv__csim_process(lkv__csim_t *s, int i); /* handles the member's batch (may crash inside it) */
/* join.c: a member added mid-run. */
void lkv__csim_join_plan(lkv__csim_t *s);               /* at setup: whether and when */
int lkv__csim_members_of(const lkv__csim_t *s, int i);  /* how many members member i starts with */
void lkv__csim_join(lkv__csim_t *s);                    /* member 1 adds the joiner, which starts */
void lkv__csim_join_keys(lkv__csim_t *s, int i);        /* member i learns the joiner's key once it knows it */
int lkv__csim_join_refused(const lkv__csim_t *s, int to, int rc); /* an expected refusal */
void lkv__csim_deliver(lkv__csim_t *s, lkv__sim_pkt_t *p); /* takes p's buffer */
/* Sends one message over the simulated links: cut, lost, corrupted, duplicated, delayed. */
void lkv__csim_send(lkv__csim_t *s, int from, const lkv_causal_msg_t *msg);
uint64_t lkv__csim_clock(const lkv__csim_t *s, int i); /* member i's physical clock */
void lkv__csim_log_push(lkv__csim_log_t *l, const uint8_t *bytes, size_t len);
void lkv__csim_log_free(lkv__csim_log_t *l);

/* compact.c: after member i's batch, compacts its stable events beyond the newest s->keep: a checkpoint
 * made durable, the durable log's prefix dropped, then the core's; crashes between the steps. */
void lkv__csim_compact(lkv__csim_t *s, int i);
/* compact.c: member i's durable state into the new member m, as a restart does: its checkpoint (if any),
 * then its durable log's events above the checkpoint's base. Returns 0, or 1 after failing the run (what
 * names the rebuild in the message). */
int lkv__csim_recover(lkv__csim_t *s, int i, lkv_causal_member_t *m, const char *what);

/* Packet kinds beyond lkv_causal_msg_kind_t: a snapshot (snapshot.c). */
#define LKV_CSIM_MSG_SNAPSHOT 3

/* snapshot.c: after member i's tick, a snapshot to each peer that is due one (at most one per peer every
 * few ticks), sent over the lossy network. */
void lkv__csim_offer_snapshots(lkv__csim_t *s, int i);
/* snapshot.c: member p->to installs a snapshot and makes it durable (checkpoint, log restarted), with crashes
 * before and after the checkpoint; returns the install's result. */
int lkv__csim_install(lkv__csim_t *s, const lkv__sim_pkt_t *p);

/* history.c: durable writes by key, clients' acknowledged writes and their reads (checked at once). */
void lkv__csim_history_write(lkv__csim_t *s, const lkv_causal_event_t *ev);
void lkv__csim_history_acked(lkv__csim_t *s, int client, const lkv_causal_event_t *ev);
void lkv__csim_history_read(lkv__csim_t *s, int client);
void lkv__csim_history_free(lkv__csim_t *s);

/* watch.c: the watch history. Every member's on_change appends to a changes list (arg); the pending
 * changes are served once their batch is durable and dropped by a crash before that; a replay of the
 * durable log must report exactly the served changes again (a watch resumed after a restart, or from
 * revision 1, sees the history the live watch saw). */
void lkv__csim_on_change(void *arg, uint64_t rev, const lkv_causal_key_t *k);
void lkv__csim_watch_durable(lkv__csim_t *s, int i, uint64_t first_rev, size_t n); /* batch flushed */
void lkv__csim_watch_replayed(lkv__csim_t *s, int i, const lkv__csim_changes_t *replayed, const char *when);
void lkv__csim_changes_free(lkv__csim_changes_t *c);
/* The keys' views of member i are what its watch reported (`watched`); fails the run if not. */
void lkv__csim_watch_state(lkv__csim_t *s, int i, const char *when);
/* compact.c: the watch history below a durable checkpoint at rev is compacted. */
void lkv__csim_served_from(lkv__csim_node_t *n, uint64_t rev);

/* check.c: the end-of-run checks over the quiesced members. */
void lkv__csim_check_final(lkv__csim_t *s);
/* 1 when every member is up with the same vector and nothing is in flight. */
int lkv__csim_agreed(const lkv__csim_t *s);
/* A key's state as one hash (flags 0: siblings and winner, not the local etcd view). */
uint64_t lkv__csim_key_hash(const lkv_causal_member_t *m, const lkv_causal_key_t *k, int flags);

/* stable.c: during the run, every pair of members up holds the same state of each key stable at their
 * common vector on both (the corruption check's premise, docs/causal.md §6). */
void lkv__csim_check_stable(lkv__csim_t *s);

#endif
