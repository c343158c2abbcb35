/* The bug-injection matrix, scripted: for each of the 12 switches a scenario that runs clean with the
 * switch off and shows the violation the switch causes with it on (the test fails if a bug goes unseen). */
#include "raft_scenarios.h"

typedef struct {
  int total;  /* every violation the harness saw */
  int caught; /* the violation this scenario is built to show */
  char what[512];
} outcome_t;

/* Summarizes the harness's counters (which kinds of violation it saw, and the last one). */
static outcome_t finish(rt_cluster_t *c, int caught) {
  rt_check_log_matching(c);
  outcome_t o = {.total = c->violations, .caught = caught};
  snprintf(o.what, sizeof(o.what),
           "two leaders %d, double votes %d, diverged %d, stale reads %d, commit back %d, contract %d, "
           "two pending %d, early change %d, removed leader %d, stale snapshot %d, log matching %d; last: %s",
           c->v_two_leaders, c->v_double_vote, c->v_applied_diverged, c->v_stale_read, c->v_commit_back,
           c->v_contract, c->v_two_pending, c->v_conf_early, c->v_removed_leader, c->v_stale_snapshot,
           c->v_log_matching, c->last_violation);
  rt_free(c);
  return o;
}

static rt_cluster_t *plain(size_t n, size_t voters, unsigned *bugs) {
  return rt_new_members(n, voters, rs_cfg_plain_bugs, bugs, 1);
}

/* Figure 8 (raft_scenarios.h): x of an old term committed by counting, then overwritten. */
static outcome_t sc_commit_old_term(unsigned bugs) {
  rs_figure8_t r = rs_figure8(bugs);
  outcome_t o = {.total = r.violations, .caught = r.diverged};
  snprintf(o.what, sizeof(o.what), "two different entries applied at index %llu",
           (unsigned long long)r.x_index);
  return o;
}

/* S3 grants S1 its vote, the grant leaves, S3 crashes before the vote is durable, restarts and grants S2
 * in the same term: S1 and S2 both lead it. */
static outcome_t sc_vote_before_durable(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  rt_process(c, 1);
  rt_drop_matching(c, LKV_RAFT_MSG_VOTE, 1, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 1, 3);
  rt_ready_partial(c, 3, RT_UPTO_SEND);
  rt_restart(c, 3);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE_RESP, 3, 1);
  rt_process(c, 1);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 2)), 0);
  rs_run_election_traffic(c);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_LEADER);
  return finish(c, c->v_double_vote + c->v_two_leaders);
}

/* S2 acknowledges x before x is durable and crashes: S1 commits and applies x on that ack; S2 and S3
 * then elect S2, whose log lacks x, and commit another entry at x's index. */
static outcome_t sc_ack_before_durable(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  assert_int_equal(rt_propose(c, 1, "x"), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_ready_partial(c, 2, RT_UPTO_SEND);
  rt_crash(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, 2, 1);
  rt_process(c, 1);
  rt_drop_matching(c, 0, 0, 0);
  rt_heal(c);
  rt_isolate(c, 1);
  rt_start(c, 2);
  rs_win(c, 2);
  assert_int_equal(rt_propose(c, 2, "y"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 3, "y"));
  return finish(c, c->v_applied_diverged);
}

/* raft_scenarios.h: a late duplicate append truncates committed entries on S2, which then leads. */
static outcome_t sc_truncate_stale_append(unsigned bugs) {
  rs_stale_append_t r = rs_stale_append(bugs);
  outcome_t o = {.total = r.violations, .caught = r.diverged};
  snprintf(o.what, sizeof(o.what), "S2's log shrank from %llu to %llu; two entries applied at one index",
           (unsigned long long)r.last_before, (unsigned long long)r.last_after);
  return o;
}

/* S1 commits x with S2 (S2 not told); S2 wins the next term and is asked for a read before its term's
 * entry commits: its commit index is still below x, so an answer now is stale. */
static outcome_t sc_read_before_term_commit(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  rt_elect(c, 1);
  uint64_t x;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"x", 1, &x, NULL), 0);
  rt_round_trip(c, 1, 2);
  assert_true(rt_commit(c, 1) >= x && rt_commit(c, 2) < x);
  rt_drop_matching(c, 0, 0, 0);
  rt_isolate(c, 1);
  rs_win(c, 2);
  rt_drop_matching(c, LKV_RAFT_MSG_APP, 0, 0); /* its term's entry stays uncommitted for now */
  assert_int_equal(rt_read(c, 2, "r1"), 0);
  for (int round = 0; round < 20; round++) {
    rt_process_all(c);
    rt_drop_matching(c, LKV_RAFT_MSG_APP, 0, 0);
    rt_deliver_queued(c);
  }
  /* then let it commit: the queued read is answered at or above x */
  rt_tick_all(c, 2 * rt_node(c, 2)->cfg.heartbeat_tick);
  assert_true(rt_read_result(c, 2, "r1") >= 0);
  return finish(c, c->v_stale_read);
}

/* Without CheckQuorum, an isolated old leader may not answer reads from its own commit index: a new
 * leader has committed y meanwhile. */
static outcome_t sc_lease_read_no_quorum(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  rt_elect(c, 1);
  rt_isolate(c, 1);
  rt_elect(c, 2);
  assert_int_equal(rt_propose(c, 2, "y"), 0);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER); /* it still believes it leads */
  assert_int_equal(rt_read(c, 1, "r1"), 0);
  rt_tick_all(c, 2 * rt_node(c, 1)->cfg.heartbeat_tick);
  return finish(c, c->v_stale_read);
}

/* Two removals (4, then 5) proposed back to back on five voters. Both commit with 1, 2 and 3, and 1 and 2
 * apply them: their voters are {1, 2, 3}; 3 has not learned the commit, so its voters, like 4's and 5's,
 * are still all five. Memberships two changes apart have disjoint majorities: after 1 restarts, 1 wins
 * with 2's vote (2 of 3) while 3 wins with 4's and 5's (3 of 5), in the same term. With the second
 * removal refused, 1's voters are {1, 2, 3, 5} and 2's vote is not enough. */
static outcome_t sc_two_conf_pending(unsigned bugs) {
  rt_cluster_t *c = plain(5, 5, &bugs);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 4), 0);
  int rc = rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 5);
  assert_true(rc == 0 || rc == LKV_ECONFPENDING);
  rt_round_trip(c, 1, 3);
  rt_round_trip(c, 1, 2); /* committed: 1 applies */
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_drop_matching(c, 0, 0, 0);
  rt_process(c, 2); /* 2 applies; 3, 4 and 5 are not told */
  rt_drop_matching(c, 0, 0, 0);
  assert_int_equal(rt_st(c, 3).conf.n_voters, 5);
  rs_split_election(c);
  return finish(c, c->v_two_leaders);
}

/* Ongaro's single-server change scenario (raft-dev, 2015), step by step on {1, 2, 3, 4} with 5 waiting:
 *  1. S1 leads and proposes C1 = add S5; C1 stays on S1 alone;
 *  2. S1 is cut off; S2 wins the next term with S3 and S4 (its log lacks C1, and all it has is applied);
 *  3. S2 proposes C2 = remove S4 at once. The rule makes S2 wait until its own empty entry commits (in the
 *     paper's configurations-in-use-when-appended model, C1 and C2 could otherwise both take effect with
 *     disjoint majorities). With apply-time membership, as here and in etcd, the pending check already
 *     keeps data safe, so the harness catches the rule itself: a change appended before the term commit.
 *  4. S2 replicates to S3 only and stops; S1 restarts, cannot win (S3's last term is higher), and the
 *     others elect a leader that commits the empty entry; only then may a change go in. */
static outcome_t sc_conf_before_term_commit(unsigned bugs) {
  rt_cluster_t *c = plain(5, 4, &bugs);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_NODE, 5), 0); /* 1. */
  rt_process(c, 1);
  rt_drop_matching(c, 0, 0, 0);
  rt_isolate(c, 1); /* 2. */
  rs_win(c, 2);
  lkv_raft_status_t st = rt_st(c, 2);
  assert_int_equal(st.applied, st.last_index - 1);          /* everything before its empty entry is applied */
  int rc = rt_propose_cc(c, 2, LKV_RAFT_CC_REMOVE_NODE, 4); /* 3. */
  assert_true(rc == 0 || rc == LKV_ECONFPENDING);
  rt_process(c, 2); /* 4. */
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 2, 3);
  rt_drop_matching(c, 0, 0, 0);
  rt_process(c, 3);
  rt_drop_matching(c, 0, 0, 0);
  rt_heal(c);
  rt_isolate(c, 2);
  rt_restart(c, 1); /* it still believed it led */
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  rs_run_election_traffic(c);
  assert_true(rt_role(c, 1) != LKV_RAFT_LEADER);
  rs_win(c, 3);
  rt_stabilize(c);
  assert_int_equal(rt_propose_cc(c, 3, LKV_RAFT_CC_ADD_LEARNER, 5), 0);
  rt_stabilize(c);
  return finish(c, c->v_conf_early);
}

/* S2 installs a snapshot (it lagged behind a compaction); a duplicate of that SNAP arrives late, after S2
 * has appended and acknowledged x, which S1 committed with S2 alone. Installing the late copy throws x
 * away on S2, which then leads with S3 and commits something else at x's index. */
static outcome_t sc_accept_stale_snapshot(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  rt_elect(c, 1);
  uint64_t s = rt_lag_behind_snapshot(c, 1, 2, 5);
  rt_msg_t *late = NULL;
  for (int round = 0; round < 20 && !late; round++) {
    rt_tick(c, 1, 1);
    rt_process_all(c);
    long k = rt_find(c, LKV_RAFT_MSG_SNAP, 1, 2);
    if (k >= 0) late = rt_msg_copy(&c->q[k]->m);
    rt_deliver_queued(c);
  }
  assert_non_null(late);
  rt_stabilize(c);
  assert_true(rt_node(c, 2)->snap.index == s);
  rt_isolate(c, 3);
  assert_int_equal(rt_propose(c, 1, "x"), 0);
  rt_stabilize(c);
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick);
  assert_true(rt_applied_data(c, 1, "x") && rt_applied_data(c, 2, "x"));
  assert_int_equal(rt_step_copy(c, late), 0);
  rt_msg_free(late);
  rt_process(c, 2);
  rt_drop_matching(c, 0, 0, 0);
  rt_heal(c);
  rt_isolate(c, 1);
  rs_win(c, 2);
  assert_int_equal(rt_propose(c, 2, "z"), 0);
  rt_stabilize(c);
  return finish(c, c->v_stale_snapshot + c->v_applied_diverged);
}

/* S3 votes for S2 in term t+1; S2 leads, then goes away. S1 and S3 must elect a leader in a later term,
 * which S3's vote, carried into the new terms, forbids forever. */
static outcome_t sc_keep_vote_on_new_term(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 2)), 0);
  rt_process(c, 2);
  rt_drop_matching(c, LKV_RAFT_MSG_VOTE, 2, 1);
  rs_run_election_traffic(c);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_LEADER);
  rt_drop_matching(c, 0, 0, 0);
  rt_isolate(c, 2);
  for (int k = 0; k < 6 && rt_role(c, 1) != LKV_RAFT_LEADER; k++) {
    assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
    rs_run_election_traffic(c);
  }
  int stuck = rt_role(c, 1) != LKV_RAFT_LEADER;
  if (stuck) snprintf(c->last_violation, sizeof(c->last_violation), "no leader after 6 campaigns");
  return finish(c, stuck);
}

/* A leader removes itself: once the change is applied it must not keep leading. */
static outcome_t sc_removed_leader_stays(unsigned bugs) {
  rt_cluster_t *c = plain(3, 3, &bugs);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 1), 0);
  rt_stabilize(c);
  assert_int_equal(rt_node(c, 2)->conf.n_voters, 2);
  return finish(c, c->v_removed_leader);
}

/* A leadership transfer under CheckQuorum: the transferee's votes must pass the other members' lease. */
static outcome_t sc_transfer_blocked_by_lease(unsigned bugs) {
  rt_cluster_t *c = rt_new_members(3, 3, rt_cfg_bugs, &bugs, 1);
  rt_elect(c, 1);
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 2), 0);
  rt_stabilize(c);
  int stalled = rt_role(c, 2) != LKV_RAFT_LEADER;
  if (stalled) snprintf(c->last_violation, sizeof(c->last_violation), "transfer to 2 stalled");
  return finish(c, stalled);
}

typedef outcome_t (*scenario_fn)(unsigned bugs);

static const struct {
  unsigned bug;
  const char *name;
  scenario_fn fn;
} scenarios[] = {
    {LKV_RAFT_BUG_COMMIT_OLD_TERM, "figure 8, step by step", sc_commit_old_term},
    {LKV_RAFT_BUG_VOTE_BEFORE_DURABLE, "vote, crash before durable, vote again", sc_vote_before_durable},
    {LKV_RAFT_BUG_ACK_BEFORE_DURABLE, "ack, crash before durable, new leader", sc_ack_before_durable},
    {LKV_RAFT_BUG_TRUNCATE_STALE_APPEND, "late duplicate append", sc_truncate_stale_append},
    {LKV_RAFT_BUG_READ_BEFORE_TERM_COMMIT, "read on a new leader", sc_read_before_term_commit},
    {LKV_RAFT_BUG_LEASE_READ_NO_QUORUM, "read on an isolated old leader", sc_lease_read_no_quorum},
    {LKV_RAFT_BUG_TWO_CONF_PENDING, "two removals back to back", sc_two_conf_pending},
    {LKV_RAFT_BUG_CONF_BEFORE_TERM_COMMIT, "Ongaro's single-server change", sc_conf_before_term_commit},
    {LKV_RAFT_BUG_ACCEPT_STALE_SNAPSHOT, "late duplicate snapshot", sc_accept_stale_snapshot},
    {LKV_RAFT_BUG_KEEP_VOTE_ON_NEW_TERM, "vote carried into later terms", sc_keep_vote_on_new_term},
    {LKV_RAFT_BUG_REMOVED_LEADER_STAYS, "leader removes itself", sc_removed_leader_stays},
    {LKV_RAFT_BUG_TRANSFER_BLOCKED_BY_LEASE, "transfer under the lease", sc_transfer_blocked_by_lease},
};

static void run(size_t i) {
  outcome_t off = scenarios[i].fn(0);
  outcome_t on = scenarios[i].fn(scenarios[i].bug);
  printf("[ SCENARIO ] %-26s %s by \"%s\" (off: %d violations)\n             on: %s\n",
         lkv_raft_bug_name(scenarios[i].bug), on.caught ? "CAUGHT" : "MISSED", scenarios[i].name, off.total,
         on.what);
  if (off.total) printf("             off run saw: %s\n", off.what);
  assert_int_equal(off.total, 0);
  assert_true(on.caught > 0);
}

/* One test per switch, named after it (the table's order). */
#define SCENARIO_TEST(k, name)                \
  static void test_bug_##name(void **state) { \
    (void)state;                              \
    run(k);                                   \
  }
SCENARIO_TEST(0, COMMIT_OLD_TERM)
SCENARIO_TEST(1, VOTE_BEFORE_DURABLE)
SCENARIO_TEST(2, ACK_BEFORE_DURABLE)
SCENARIO_TEST(3, TRUNCATE_STALE_APPEND)
SCENARIO_TEST(4, READ_BEFORE_TERM_COMMIT)
SCENARIO_TEST(5, LEASE_READ_NO_QUORUM)
SCENARIO_TEST(6, TWO_CONF_PENDING)
SCENARIO_TEST(7, CONF_BEFORE_TERM_COMMIT)
SCENARIO_TEST(8, ACCEPT_STALE_SNAPSHOT)
SCENARIO_TEST(9, KEEP_VOTE_ON_NEW_TERM)
SCENARIO_TEST(10, REMOVED_LEADER_STAYS)
SCENARIO_TEST(11, TRANSFER_BLOCKED_BY_LEASE)

int main(void) {
  _Static_assert(sizeof(scenarios) / sizeof(scenarios[0]) == LKV_RAFT_BUG_COUNT, "one scenario per bug");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bug_COMMIT_OLD_TERM),
      cmocka_unit_test(test_bug_VOTE_BEFORE_DURABLE),
      cmocka_unit_test(test_bug_ACK_BEFORE_DURABLE),
      cmocka_unit_test(test_bug_TRUNCATE_STALE_APPEND),
      cmocka_unit_test(test_bug_READ_BEFORE_TERM_COMMIT),
      cmocka_unit_test(test_bug_LEASE_READ_NO_QUORUM),
      cmocka_unit_test(test_bug_TWO_CONF_PENDING),
      cmocka_unit_test(test_bug_CONF_BEFORE_TERM_COMMIT),
      cmocka_unit_test(test_bug_ACCEPT_STALE_SNAPSHOT),
      cmocka_unit_test(test_bug_KEEP_VOTE_ON_NEW_TERM),
      cmocka_unit_test(test_bug_REMOVED_LEADER_STAYS),
      cmocka_unit_test(test_bug_TRANSFER_BLOCKED_BY_LEASE),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
