/* A scripted in-memory Raft cluster for the paper-rule and scenario tests: durable stores, a message queue
 * under the test's control, crashes, partitions and safety checks that count violations. */
#ifndef LKV_TESTS_RAFT_TESTUTIL_H
#define LKV_TESTS_RAFT_TESTUTIL_H

/* Parts, each on the one before: state (types, stores), ready (lives, checks, batches), net (queue). This
 * file: input (ticks, proposals, reads, elections) and the accessors tests use. */
#include "raft_testutil_net.h"

/* ---- input ---- */

static inline void rt_tick(rt_cluster_t *c, lkv_raft_id_t id, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    lkv_raft_tick(rt_raft(c, id));
    rt_check_node(c, id);
  }
}

/* Ticks every up member n times, stabilizing after each round of ticks. */
static inline void rt_tick_all(rt_cluster_t *c, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    for (lkv_raft_id_t id = 1; id <= c->n; id++)
      if (c->nodes[id].r) rt_tick(c, id, 1);
    rt_stabilize(c);
  }
}

/* Member id's status by value, for the one-field accessors below. */
static inline lkv_raft_status_t rt_st(rt_cluster_t *c, lkv_raft_id_t id) {
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  return st;
}

static inline lkv_raft_role_t rt_role(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).role;
}

static inline uint64_t rt_term(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).hard_state.term;
}

static inline uint64_t rt_commit(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).hard_state.commit;
}

static inline uint64_t rt_last(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).last_index;
}

static inline lkv_raft_id_t rt_leader(rt_cluster_t *c, lkv_raft_id_t id) {
  return rt_st(c, id).leader;
}

static inline uint64_t rt_max_commit(rt_cluster_t *c) {
  uint64_t m = 0;
  for (lkv_raft_id_t id = 1; id <= c->n; id++)
    if (c->nodes[id].r && rt_commit(c, id) > m) m = rt_commit(c, id);
  return m;
}

/* Asserts that every up member takes member id for the leader. */
static inline void rt_all_follow(rt_cluster_t *c, lkv_raft_id_t id) {
  for (lkv_raft_id_t k = 1; k <= c->n; k++)
    if (c->nodes[k].r) assert_int_equal(rt_leader(c, k), id);
}

/* Campaigns member id and runs the cluster until quiet; asserts it leads. */
static inline void rt_elect(rt_cluster_t *c, lkv_raft_id_t id) {
  assert_int_equal(lkv_raft_campaign(rt_raft(c, id)), 0);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, id), LKV_RAFT_LEADER);
}

static inline int rt_propose(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  return lkv_raft_propose(rt_raft(c, id), (const uint8_t *)s, strlen(s), NULL, NULL);
}

static inline int rt_propose_cc(rt_cluster_t *c, lkv_raft_id_t id, uint8_t type, lkv_raft_id_t node) {
  lkv_raft_conf_change_t cc = {.type = type, .node = node};
  return lkv_raft_propose_conf_change(rt_raft(c, id), &cc);
}

/* One append round trip from leader to follower only (other queued messages stay). */
static inline void rt_round_trip(rt_cluster_t *c, lkv_raft_id_t leader, lkv_raft_id_t follower) {
  rt_process(c, leader);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, leader, follower);
  rt_process(c, follower);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, follower, leader);
  rt_process(c, leader);
}

/* The leader adds member id as a learner; the change is applied everywhere and id catches up. */
static inline void rt_add_learner(rt_cluster_t *c, lkv_raft_id_t leader, lkv_raft_id_t id) {
  assert_int_equal(rt_propose_cc(c, leader, LKV_RAFT_CC_ADD_LEARNER, id), 0);
  rt_stabilize(c);
  rt_tick_all(c, 2);
}

/* Asks member id for a read index and records the highest commit any member has now. */
static inline int rt_read(rt_cluster_t *c, lkv_raft_id_t id, const char *ctx) {
  assert_true(c->n_asked < RT_MAX_READS && strlen(ctx) <= 64);
  rt_asked_read_t *a = &c->asked[c->n_asked++];
  strcpy(a->ctx, ctx);
  a->min_index = rt_max_commit(c);
  return lkv_raft_read_index(rt_raft(c, id), (const uint8_t *)ctx, strlen(ctx));
}

/* The read index member id got for ctx, or -1 when it has none. */
static inline long long rt_read_result(rt_cluster_t *c, lkv_raft_id_t id, const char *ctx) {
  rt_node_t *n = rt_node(c, id);
  for (size_t i = 0; i < n->n_reads; i++)
    if (!strcmp(n->reads[i].ctx, ctx)) return (long long)n->reads[i].index;
  return -1;
}

/* 1 if member id applied a NORMAL entry with data s (since its last start). */
static inline int rt_applied_data(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  rt_node_t *n = rt_node(c, id);
  for (size_t i = 0; i < n->n_applied; i++)
    if (n->applied[i].type == LKV_RAFT_ENTRY_NORMAL && !strcmp(n->applied[i].data, s)) return 1;
  return 0;
}

/* An applied entry a client proposed: NORMAL with data (not a leader's empty entry or a change). */
static inline int rt_is_client_entry(const rt_applied_t *a) {
  return a->type == LKV_RAFT_ENTRY_NORMAL && a->len > 0;
}

/* How many client entries member id applied since its last start or snapshot install. */
static inline size_t rt_applied_count(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  size_t k = 0;
  for (size_t i = 0; i < n->n_applied; i++) k += rt_is_client_entry(&n->applied[i]) ? 1u : 0u;
  return k;
}

/* The data (a prefix) of the k-th client entry member id applied since its last start or snapshot
 * install, counting from 0; "" when it applied fewer. */
static inline const char *rt_applied_nth(rt_cluster_t *c, lkv_raft_id_t id, size_t k) {
  rt_node_t *n = rt_node(c, id);
  for (size_t i = 0; i < n->n_applied; i++)
    if (rt_is_client_entry(&n->applied[i]) && k-- == 0) return n->applied[i].data;
  return "";
}

/* Index of the entry with data s in member id's log, or 0. */
static inline uint64_t rt_log_find(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  for (uint64_t i = st.first_index; i <= st.last_index; i++) {
    lkv_raft_entry_t e;
    if (lkv_raft_entry(rt_raft(c, id), i, &e) == 0 && e.len == strlen(s) && e.len &&
        !memcmp(e.data, s, e.len))
      return i;
  }
  return 0;
}

static inline uint64_t rt_entry_term(rt_cluster_t *c, lkv_raft_id_t id, uint64_t index) {
  lkv_raft_entry_t e;
  if (lkv_raft_entry(rt_raft(c, id), index, &e)) return 0;
  return e.term;
}

/* Member id's state machine takes a snapshot at its applied index: the core records it and the durable
 * store keeps only the entries after it (the core's log is not compacted: see rt_compact). Returns the
 * snapshot's metadata. */
static inline lkv_raft_snapshot_meta_t rt_snapshot(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  lkv_raft_snapshot_meta_t meta = {
      .index = st.applied, .term = rt_entry_term(c, id, st.applied), .conf = st.conf};
  assert_int_equal(lkv_raft_set_snapshot(rt_raft(c, id), &meta), 0);
  rt_store_drop_upto(n, st.applied);
  n->snap = meta;
  return meta;
}

/* Member id takes a snapshot at its applied index and compacts its log (in memory and in its store). */
static inline uint64_t rt_compact(rt_cluster_t *c, lkv_raft_id_t id) {
  uint64_t at = rt_snapshot(c, id).index;
  assert_int_equal(lkv_raft_compact(rt_raft(c, id), at), 0);
  return at;
}

/* Member id (down) loses its state machine, as a volatile one would: at its next start it restarts from
 * its snapshot, with the snapshot's membership, and the committed entries after it are handed out again. */
static inline void rt_lose_state_machine(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_node_t *n = rt_node(c, id);
  assert_null(n->r);
  n->sm_applied = n->snap.index;
  n->sm_conf = n->snap.conf;
}

/* Member lagger misses n proposals while down; the leader then compacts its log; lagger restarts, so it
 * needs a snapshot. Returns the snapshot's index. */
static inline uint64_t rt_lag_behind_snapshot(rt_cluster_t *c, lkv_raft_id_t leader, lkv_raft_id_t lagger,
                                              int n) {
  rt_crash(c, lagger);
  for (int k = 0; k < n; k++) assert_int_equal(rt_propose(c, leader, "p"), 0);
  rt_stabilize(c);
  uint64_t s = rt_compact(c, leader);
  rt_start(c, lagger);
  return s;
}

/* Members for a hand-built message: fills the common fields. */
static inline lkv_raft_msg_t rt_msg(uint8_t type, lkv_raft_id_t from, lkv_raft_id_t to, uint64_t term) {
  lkv_raft_msg_t m;
  memset(&m, 0, sizeof(m));
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

/* Config adjusters for rt_new's cfg_fn. */
static inline void rt_cfg_plain(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->pre_vote = 0;
  cfg->check_quorum = 0;
}

static inline void rt_cfg_bugs(lkv_raft_config_t *cfg, void *arg) {
  cfg->bugs = arg ? *(unsigned *)arg : 0;
}

/* A generator that always draws 9, so every randomized election timeout is election_tick + 9 (for an
 * election_tick above 9, as the default 10). */
static inline uint64_t rt_rand_nine(void *arg) {
  (void)arg;
  return 9;
}

/* For tests that count ticks to a timeout: the election timeout is fixed (rt_rand_nine). */
static inline void rt_cfg_fixed_timeout(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->rand = rt_rand_nine;
}

/* Member id's last entry: its index and term. */
static inline void rt_last_of(rt_cluster_t *c, lkv_raft_id_t id, uint64_t *index, uint64_t *term) {
  *index = rt_last(c, id);
  *term = rt_entry_term(c, id, *index);
}

/* A vote request from cand in term, claiming the last entry (index, log_term). */
static inline lkv_raft_msg_t rt_vote_req(lkv_raft_id_t cand, lkv_raft_id_t to, uint64_t term, uint64_t index,
                                         uint64_t log_term) {
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_VOTE, cand, to, term);
  m.index = index;
  m.log_term = log_term;
  return m;
}

/* Steps m into `to`, processes its ready, and returns the VOTE_RESP it sent (-1: none, 0: grant, 1: reject).
 */
static inline int rt_vote_answer(rt_cluster_t *c, const lkv_raft_msg_t *m) {
  assert_int_equal(lkv_raft_step(rt_raft(c, m->to), m), 0);
  rt_process(c, m->to);
  long i = rt_find(c, LKV_RAFT_MSG_VOTE_RESP, m->to, m->from);
  if (i < 0) return -1;
  int rej = c->q[i]->m.reject;
  rt_drop(c, (size_t)i);
  return rej;
}

#endif
