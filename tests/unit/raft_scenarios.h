/* Scripted multi-step Raft scenarios shared by the paper-rule tests (switch off: the rule holds) and the
 * bug-injection tests (switch on: the harness sees the violation the rule prevents). */
#ifndef LKV_TESTS_RAFT_SCENARIOS_H
#define LKV_TESTS_RAFT_SCENARIOS_H

#include "raft_testutil.h"

static inline int rs_is_election_msg(uint8_t t) {
  return t == LKV_RAFT_MSG_VOTE || t == LKV_RAFT_MSG_VOTE_RESP || t == LKV_RAFT_MSG_PRE_VOTE ||
         t == LKV_RAFT_MSG_PRE_VOTE_RESP;
}

/* Delivers only (pre-)vote traffic, processing readies, until none is left; other messages stay queued. */
static inline void rs_run_election_traffic(rt_cluster_t *c) {
  for (int round = 0;; round++) {
    assert_true(round < 100);
    int moved = rt_process_all(c) > 0;
    for (size_t i = 0; i < c->nq;) {
      if (rs_is_election_msg(c->q[i]->m.type)) {
        rt_deliver(c, i);
        moved = 1;
      } else {
        i++;
      }
    }
    if (!moved) return;
  }
}

/* Member id campaigns (again, in later terms, if it loses on terms) until it leads, with only election
 * messages delivered: the appends it sends as new leader stay queued for the caller. */
static inline void rs_win(rt_cluster_t *c, lkv_raft_id_t id) {
  for (int k = 0; k < 5 && rt_role(c, id) != LKV_RAFT_LEADER; k++) {
    assert_int_equal(lkv_raft_campaign(rt_raft(c, id)), 0);
    rs_run_election_traffic(c);
  }
  assert_int_equal(rt_role(c, id), LKV_RAFT_LEADER);
}

/* Five voters, where member 1 may believe in a smaller membership than the others: 1 restarts, then 1
 * and 3 campaign in the same term; 1 gets only 2's vote, 3 gets 4's and 5's. With one membership there is
 * one winner at most; two leaders in the term mean 1 counted its quorum in another membership. */
static inline void rs_split_election(rt_cluster_t *c) {
  rt_restart(c, 1);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 3)), 0);
  rt_process_all(c);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 1, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 3, 4);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 3, 5);
  rt_drop_matching(c, LKV_RAFT_MSG_VOTE, 0, 0);
  rt_process_all(c);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE_RESP, 0, 0);
  rt_check_all(c);
}

static inline int rs_msg_has_term(const lkv_raft_msg_t *m, uint64_t term) {
  for (size_t i = 0; i < m->n_entries; i++)
    if (m->entries[i].term == term) return 1;
  return 0;
}

typedef struct {
  uint64_t x_index;      /* where the old-term entry x sits */
  uint64_t commit_count; /* S1's commit once x is on a majority but its own term's entry is not */
  int violations;
  int diverged;
} rs_figure8_t;

static inline void rs_cfg_figure8(lkv_raft_config_t *cfg, void *arg) {
  rt_cfg_plain(cfg, NULL);
  cfg->max_size_per_msg = 8; /* x (32 bytes) travels alone, without the entry after it */
  cfg->bugs = *(unsigned *)arg;
}

/* The Raft paper's Figure 8, built step by step on five members (plain Raft, no pre-vote or lease):
 *  (a) S1 leads term t1 and replicates x at index i to S2 only;
 *  (b) S5 wins term t2 with S3 and S4, appends its own entry at i, sends nothing;
 *  (c) S1 wins term t3 (S2, S3, S4), appends its entry of t3 at i+1, and replicates x to S3 but its t3
 *      entry only to S2: x is on S1, S2, S3, a majority, its t3 entry on S1 and S2. Counting replicas
 *      would commit x here; the rule forbids it because x is not of the current term;
 *  (d) S1 and S2 go away; S5 restarts and wins a later term with S3 and S4 (its last term t2 beats their t1)
 * and replicates its entry at i over x, and commits it. If S1 committed and applied x in (c), the harness
 * sees two different entries applied at index i. */
static inline rs_figure8_t rs_figure8(unsigned bugs) {
  rs_figure8_t out = {0};
  rt_cluster_t *c = rt_new_members(5, 5, rs_cfg_figure8, &bugs, 1);
  rt_elect(c, 1);
  uint64_t t1 = rt_term(c, 1);
  /* (a) */
  uint64_t i;
  const char *x = "x-of-term-one-thirty-two-bytes!!";
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)x, strlen(x), &i, NULL), 0);
  out.x_index = i;
  rt_round_trip(c, 1, 2);
  assert_true(rt_commit(c, 1) < i);
  rt_drop_matching(c, 0, 0, 0);
  /* (b): S1 and S2 see S5's request (and so its term) but refuse it: their logs are longer */
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 5)), 0);
  rs_run_election_traffic(c);
  assert_int_equal(rt_role(c, 5), LKV_RAFT_LEADER);
  uint64_t t2 = rt_term(c, 5);
  assert_true(t2 > t1);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  rt_process(c, 5);
  assert_int_equal(rt_entry_term(c, 5, i), t2);
  rt_drop_matching(c, 0, 0, 0);
  rt_isolate(c, 5);
  /* (c) */
  rs_win(c, 1);
  uint64_t t3 = rt_term(c, 1);
  assert_true(t3 > t2);
  for (int round = 0;; round++) {
    assert_true(round < 50);
    int moved = rt_process_all(c) > 0;
    for (size_t k = 0; k < c->nq;) {
      const lkv_raft_msg_t *m = &c->q[k]->m;
      int to_s1 = m->to == 1 && (m->from == 2 || m->from == 3);
      /* to S3: anything without a t3 entry, or a probe S3 must refuse anyway (it lacks the previous entry) */
      int to_s3 = m->to == 3 && (!rs_msg_has_term(m, t3) || m->index > rt_last(c, 3));
      int from_s1 = m->from == 1 && (m->to == 2 || to_s3);
      if (to_s1 || from_s1)
        rt_deliver(c, k);
      else
        rt_drop(c, k);
      moved = 1;
    }
    if (!moved) break;
  }
  assert_int_equal(rt_entry_term(c, 3, i), t1); /* x reached S3 */
  assert_int_equal(rt_last(c, 3), i);           /* but not S1's entry of t3 */
  out.commit_count = rt_commit(c, 1);
  /* (d) */
  rt_isolate(c, 1);
  rt_isolate(c, 2);
  for (lkv_raft_id_t a = 3; a <= 5; a++)
    for (lkv_raft_id_t b = 3; b <= 5; b++) c->cut[a][b] = 0;
  rt_restart(c, 5); /* it still believed it led t2 */
  rs_win(c, 5);
  rt_stabilize(c);
  assert_int_equal(rt_entry_term(c, 3, i), t2); /* S5's entry replaced x on S3 */
  assert_true(rt_commit(c, 5) >= i);
  out.violations = c->violations;
  out.diverged = c->v_applied_diverged;
  rt_free(c);
  return out;
}

static inline void rs_cfg_plain_bugs(lkv_raft_config_t *cfg, void *arg) {
  rt_cfg_plain(cfg, NULL);
  cfg->bugs = *(unsigned *)arg;
}

typedef struct {
  uint64_t last_before, last_after; /* S2's last index before and after the stale append */
  int violations;
  int diverged;
} rs_stale_append_t;

/* A duplicated, late append must not truncate entries that follow its own (they may be committed):
 *  S3 is away; S1 replicates a, b, c to S2; a copy of the first append (carrying only a) is held back;
 *  S1 commits and applies b and c (S1 and S2 are a majority), and S2 is not yet told; the late copy
 *  reaches S2; then S1 goes away and S3 returns: S2 wins with S3 and its new term's entries are applied.
 * If the late copy truncated b and c on S2, S2 commits something else at b's index: divergence. */
static inline rs_stale_append_t rs_stale_append(unsigned bugs) {
  rs_stale_append_t out = {0};
  rt_cluster_t *c = rt_new_members(3, 3, rs_cfg_plain_bugs, &bugs, 1);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_process(c, 1);
  long k = rt_find(c, LKV_RAFT_MSG_APP, 1, 2);
  assert_true(k >= 0);
  rt_msg_t *late = rt_msg_copy(&c->q[k]->m);
  assert_int_equal(rt_propose(c, 1, "b"), 0);
  assert_int_equal(rt_propose(c, 1, "c"), 0);
  /* S1 -> S2 appends and S2's acks only: S2 must not learn the new commit index */
  for (int round = 0;; round++) {
    assert_true(round < 50);
    int moved = rt_process(c, 1) + rt_process(c, 2) > 0;
    moved |= rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2) > 0;
    moved |= rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, 2, 1) > 0;
    if (!moved) break;
    rt_drop_matching(c, 0, 0, 3);
    /* appends that would tell S2 the new commit wait */
    if (rt_commit(c, 1) >= rt_log_find(c, 1, "c")) break;
  }
  rt_process(c, 1);
  uint64_t ci = rt_log_find(c, 1, "c");
  assert_true(ci > 0 && rt_commit(c, 1) >= ci);
  assert_true(rt_applied_data(c, 1, "c"));
  assert_true(rt_commit(c, 2) < rt_log_find(c, 2, "b"));
  rt_drop_matching(c, 0, 0, 0);
  out.last_before = rt_last(c, 2);
  assert_int_equal(rt_step_copy(c, late), 0);
  rt_msg_free(late);
  out.last_after = rt_last(c, 2);
  rt_process(c, 2);
  rt_drop_matching(c, 0, 0, 0);
  rt_heal(c);
  rt_isolate(c, 1);
  rs_win(c, 2);
  rt_stabilize(c);
  assert_int_equal(rt_propose(c, 2, "d"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 3, "d"));
  out.violations = c->violations;
  out.diverged = c->v_applied_diverged;
  rt_free(c);
  return out;
}

#endif
