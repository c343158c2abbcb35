/* The deterministic Raft simulator's internal types and functions: one run of one seed, no global state. */
#ifndef LKV_SIM_SIM_H
#define LKV_SIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/*
 * One lkv__sim_t is one run: every random choice (cluster size, config, faults, timing, workload, each
 * member's own generator) comes from generators seeded by the run's seed, time is simulated, nothing is
 * iterated in hash order, so a seed replays byte for byte. The run loop (run.c) picks the earliest event
 * (a member's tick, a packet, a fault, a client request), hands it to the member, drives the member's
 * ready batches through the simulated disk and network (node.c), then checks every invariant (check.c).
 */

#define LKV_SIM_MAX_NODES 10 /* slots: founding voters (3..7) plus fresh members to add */
#define LKV_SIM_TICK 100     /* time units per nominal tick; members tick at uneven rates around it */

/* ---- rng.c: splitmix64 seeding, xoshiro256** stream, hashing helpers. */
typedef struct {
  uint64_t s[4];
} lkv__sim_rng_t;

void lkv__sim_rng_seed(lkv__sim_rng_t *g, uint64_t seed);
uint64_t lkv__sim_rng_next(lkv__sim_rng_t *g);
uint64_t lkv__sim_rng_below(lkv__sim_rng_t *g, uint64_t n); /* [0, n); n > 0 */
int lkv__sim_rng_chance(lkv__sim_rng_t *g, unsigned per_mille);
uint64_t lkv__sim_rng_core(void *arg); /* lkv_raft_rand_fn over an lkv__sim_rng_t */
uint64_t lkv__sim_mix(uint64_t a, uint64_t b);
uint64_t lkv__sim_hash_bytes(const uint8_t *p, size_t n);
/* The chain hash of a log after entry (term, type, data) given the chain before it. */
uint64_t lkv__sim_chain(uint64_t prev, const lkv_raft_entry_t *e);
#define LKV_SIM_CHAIN0 0x6c6b767261667431ull /* the chain of the empty log */

/* ---- disk.c: a member's durable state and its unflushed write. */

/* The state machine's snapshot: the applied sequence as its length (index) and chain hash. */
typedef struct {
  uint64_t index;
  uint64_t term;
  uint64_t chain;
} lkv__sim_snapdata_t;
#define LKV_SIM_SNAPDATA_SIZE 24

typedef struct {
  uint64_t term;
  uint64_t index;
  uint8_t type;
  uint8_t *data;
  size_t len;
  uint64_t chain; /* the log's chain hash through this entry (simulator bookkeeping, not on "disk") */
} lkv__sim_dentry_t;

typedef struct {
  lkv_raft_hard_state_t hs;
  lkv_raft_snapshot_meta_t snap; /* index 0: none */
  lkv__sim_snapdata_t snap_data;
  lkv__sim_dentry_t *ents; /* contiguous indexes */
  size_t n, cap;
} lkv__sim_store_t;

typedef struct {
  lkv__sim_store_t durable;
  /* The unflushed write, as records in the order they reach the disk: snapshot, entries, hard state. */
  int pending;
  int p_has_snap;
  lkv_raft_snapshot_meta_t p_snap;
  lkv__sim_snapdata_t p_snap_data;
  lkv__sim_dentry_t *p_ents;
  size_t p_n, p_cap;
  int p_has_hs;
  lkv_raft_hard_state_t p_hs;
} lkv__sim_disk_t;

void lkv__sim_snapdata_encode(const lkv__sim_snapdata_t *d, uint8_t out[LKV_SIM_SNAPDATA_SIZE]);
int lkv__sim_snapdata_decode(const uint8_t *buf, size_t len, lkv__sim_snapdata_t *d);
/* Buffers one ready batch's write (entries carry their chain hashes in chains[]). */
void lkv__sim_disk_write(lkv__sim_disk_t *d, const lkv_raft_ready_t *rd, const lkv__sim_snapdata_t *snap,
                         const uint64_t *chains);
/* Makes the buffered write durable. Returns NULL or a description of an impossible write (a gap). */
const char *lkv__sim_disk_flush(lkv__sim_disk_t *d);
/* A crash: the unflushed write is lost (torn == 0) or only its first keep records land (torn). */
void lkv__sim_disk_crash(lkv__sim_disk_t *d, lkv__sim_rng_t *g, int *torn_out, size_t *kept_out);
/* The member's own snapshot (made durable at once) and log compaction up to upto. */
void lkv__sim_disk_save_snapshot(lkv__sim_disk_t *d, const lkv_raft_snapshot_meta_t *meta,
                                 const lkv__sim_snapdata_t *data);
void lkv__sim_disk_compact(lkv__sim_disk_t *d, uint64_t upto);
void lkv__sim_disk_free(lkv__sim_disk_t *d);

/* ---- net.c: packets in flight, faults on links, local reports to a sender. */
typedef enum {
  LKV_SIM_PKT_MSG = 0,         /* an encoded raft message */
  LKV_SIM_PKT_UNREACHABLE = 1, /* tell `to` that `from` could not be reached */
  LKV_SIM_PKT_SNAP_STATUS = 2, /* tell `to` how sending a snapshot to `from` went (ok) */
  LKV_SIM_PKT_NEW_LEADER = 3,  /* `to` became leader: the workload may test it at once */
} lkv__sim_pkt_kind_t;

typedef struct {
  uint64_t at, seq; /* delivery order: time, then send order */
  uint8_t kind;
  uint8_t ok;
  int from, to;  /* slots */
  uint64_t life; /* MSG: the sender's life; reports: only this life of `to` hears it */
  uint8_t *buf;
  size_t len;
} lkv__sim_pkt_t;

typedef struct {
  lkv__sim_pkt_t *heap;
  size_t n, cap;
  uint64_t seq;
  uint8_t cut[LKV_SIM_MAX_NODES][LKV_SIM_MAX_NODES]; /* cut[a][b]: packets from a to b are lost */
  unsigned loss_pm, dup_pm, long_pm;                 /* per mille */
  uint64_t delay_max, long_delay_max;                /* time units */
} lkv__sim_net_t;

void lkv__sim_net_push(lkv__sim_net_t *n, const lkv__sim_pkt_t *p);
int lkv__sim_net_pop(lkv__sim_net_t *n, lkv__sim_pkt_t *out); /* earliest packet; 0 when empty */
void lkv__sim_net_free(lkv__sim_net_t *n);

/* ---- the run. */
typedef struct {
  lkv__sim_rng_t core_rng;
  lkv_raft_config_t cfg;
  lkv_raft_t *raft;
  lkv_raft_id_t id;
  int used;    /* started at least once */
  int up;      /* running (not crashed) */
  int retired; /* removed and shut down for good */
  uint64_t life;
  uint64_t tick_period, next_tick, paused_until, down_until;
  int was_member;  /* saw itself in its membership */
  int crash_phase; /* armed crash: before this phase (1..6) of the next batch that writes; 0 none */
  int crash_on_hs; /* ... only a batch that changes the hard state's term or vote (an election) */
  lkv__sim_disk_t disk;
  /* The state machine: the applied sequence as (length, chain hash). */
  uint64_t applied, sm_chain;
  /* Shadow of the member's in-memory log: chain hashes of [s_first, s_first + s_n). */
  uint64_t s_first, s_base, s_base_term;
  uint64_t s_good; /* its log agrees with the committed history through here */
  uint64_t *s_term, *s_chain;
  size_t s_n, s_cap;
  /* Observed soft and hard state. */
  uint64_t commit, term;
  lkv_raft_role_t role;
  lkv_raft_id_t leader;
} lkv__sim_node_t;

typedef struct {
  uint64_t term, chain, commit_term;
} lkv__sim_hist_t;

typedef struct {
  uint64_t term, chain;
} lkv__sim_seen_t;

typedef struct {
  lkv__sim_seen_t *v;
  uint32_t n, cap;
} lkv__sim_seenv_t;

/* A ReadIndex request: asked at slot when floor was the highest commit index anywhere. */
typedef struct {
  int slot;
  uint64_t floor;
  int answered;
} lkv__sim_read_t;

typedef struct {
  uint64_t seed;
  unsigned bugs;
  int trace, digest_on;
  uint64_t digest;
  uint64_t fault_ticks; /* length of the fault phase in nominal ticks */

  int rules; /* also check the rules whose breach is not yet damage (durable promises, commit
                rule, membership proposals); 0: only consequences (--consequences-only) */

  lkv__sim_rng_t rng; /* faults, timing, workload */
  uint64_t now, steps;
  int n_slots, n_founders;
  lkv__sim_node_t nodes[LKV_SIM_MAX_NODES];
  lkv__sim_net_t net;

  /* The run's configuration (from the seed). */
  unsigned election_tick, heartbeat_tick;
  int pre_vote, check_quorum;
  size_t max_size_per_msg, max_inflight_msgs, max_uncommitted;
  unsigned crash_pm, pause_pm, snap_pm;

  /* Global history: committed entries 1..gmax (index i at hist[i]) and every (index, term) ever held. */
  lkv__sim_hist_t *hist;
  uint64_t gmax, hist_cap;
  lkv__sim_seenv_t *seen;
  uint64_t seen_cap;
  lkv_raft_id_t *term_leader; /* leader seen in each term */
  uint64_t term_cap;

  uint64_t removed_at[LKV_SIM_MAX_NODES + 1]; /* committed index that removed each id (0: never) */
  lkv__sim_read_t *reads;
  size_t n_reads, reads_cap;
  uint64_t next_prop;
  uint64_t next_fault, next_work;
  int healed; /* liveness phase: no new faults */

  /* Result. */
  int failed;
  char fail_inv[48];
  char fail_msg[400];
  uint64_t fail_step;
  /* Stats. */
  uint64_t n_delivered, n_crashes, n_reads_ok, n_conf_applied, n_snap_installs;
  uint64_t n_transfers_ok;
  uint64_t *scratch; /* chain hashes of one batch's entries */
  size_t scratch_cap;
} lkv__sim_t;

/* trace.c */
void lkv__sim_trace(lkv__sim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a violation of invariant inv (first one wins) and stops the run. */
void lkv__sim_fail(lkv__sim_t *s, const char *inv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* node.c */
int lkv__sim_slot(const lkv__sim_t *s, lkv_raft_id_t id); /* -1 when id is no slot */
void lkv__sim_node_start(lkv__sim_t *s, int slot, int bootstrap);
void lkv__sim_node_crash(lkv__sim_t *s, int slot, const char *where);
void lkv__sim_node_stop(lkv__sim_t *s, int slot); /* retire: shut down for good */
/* Drives the member's ready batches until it has no work (or crashed). */
void lkv__sim_node_process(lkv__sim_t *s, int slot);
void lkv__sim_node_free(lkv__sim_node_t *n);

/* logs.c: the member's shadow chain hash at index (1 and *chain) when it holds that index in memory;
 * appending to the shadow. */
int lkv__sim_shadow_chain(const lkv__sim_node_t *n, uint64_t index, uint64_t *chain);
void lkv__sim_shadow_push(lkv__sim_node_t *n, uint64_t term, uint64_t chain);

/* apply.c: the state machine, snapshots and compaction; membership lookups. */
lkv_raft_id_t lkv__sim_conf_member(const lkv_raft_conf_state_t *c, uint32_t i); /* voters, then learners */
int lkv__sim_conf_has(const lkv_raft_conf_state_t *c, lkv_raft_id_t id, int learners_too);
void lkv__sim_apply(lkv__sim_t *s, int slot, const lkv_raft_ready_t *rd);
void lkv__sim_install_snapshot(lkv__sim_t *s, int slot, const lkv_raft_snapshot_t *snap);
void lkv__sim_maybe_snapshot(lkv__sim_t *s, int slot);

/* send.c */
void lkv__sim_send(lkv__sim_t *s, int from, const lkv_raft_msg_t *msgs, size_t n);
/* Queues a local report (lkv__sim_pkt_kind_t) about peer for member to's life `life`. */
void lkv__sim_report(lkv__sim_t *s, uint8_t kind, int to, uint64_t life, int peer, int ok);
/* Hands packet p (whose buffer it then owns) to its member, or holds it while the member is paused. */
void lkv__sim_node_deliver(lkv__sim_t *s, lkv__sim_pkt_t *p);

/* check.c: commits, leaders, reads, membership proposals. */
/* Shadows (logs.c): a batch's new entries (their chains into chains[]), a snapshot replacing the log. */
void lkv__sim_check_snapshot_log(lkv__sim_t *s, int slot, const lkv__sim_snapdata_t *d);
void lkv__sim_check_new_entries(lkv__sim_t *s, int slot, const lkv_raft_entry_t *ents, size_t n,
                                uint64_t *chains);
void lkv__sim_check_node(lkv__sim_t *s, int slot);
void lkv__sim_check_restart(lkv__sim_t *s, int slot);
void lkv__sim_check_read_state(lkv__sim_t *s, int slot, const lkv_raft_read_state_t *rs);
void lkv__sim_check_leader_append(lkv__sim_t *s, int slot, const lkv_raft_entry_t *e);
void lkv__sim_check_free(lkv__sim_t *s);

/* durable.c */
void lkv__sim_check_promise(lkv__sim_t *s, int slot, const lkv_raft_msg_t *m);
void lkv__sim_check_leader_commit(lkv__sim_t *s, int slot, uint64_t from, const lkv_raft_status_t *st);

/* workload.c */
void lkv__sim_work(lkv__sim_t *s);
void lkv__sim_work_new_leader(lkv__sim_t *s, int slot);
uint64_t lkv__sim_propose(lkv__sim_t *s, int slot); /* returns the proposal id, 0 when refused */
int lkv__sim_read(lkv__sim_t *s, int slot);         /* returns the read id, or -1 */

/* faults.c */
void lkv__sim_fault(lkv__sim_t *s);
void lkv__sim_heal_all(lkv__sim_t *s);
/* Shuts down members the latest membership no longer has (etcd stops a removed member). */
void lkv__sim_retire_removed(lkv__sim_t *s);

/* run.c */
typedef struct {
  uint64_t seed;
  unsigned bugs;
  int trace, digest;
  int nodes;             /* 0: from the seed */
  uint64_t fault_ticks;  /* 0: from the seed */
  int consequences_only; /* skip the rule checks (lkv__sim_t.rules) */
} lkv__sim_opts_t;

/* Runs one seed. Returns 0 when every invariant held, 1 on a violation (s->fail_*). s is freed by
 * lkv__sim_free; s->digest holds the trace digest when opts->digest. */
int lkv__sim_run(lkv__sim_t *s, const lkv__sim_opts_t *opts);
void lkv__sim_free(lkv__sim_t *s);
/* Steps the event loop until time `until` (or a failure). */
void lkv__sim_loop(lkv__sim_t *s, uint64_t until);

#endif
