/* PreVote (Raft thesis §9.6), CheckQuorum and its lease, and learners in elections. */
#include "raft_testutil.h"

/* §9.6: pre-votes do not raise terms; a member partitioned away for long rejoins without deposing the
 * leader (its term never grew). */
static void test_pre_vote_partitioned_member_does_not_disrupt(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  uint64_t t = rt_term(c, 1);
  rt_isolate(c, 3);
  unsigned et = rt_node(c, 3)->cfg.election_tick;
  for (unsigned i = 0; i < 5 * et; i++) {
    rt_tick_all(c, 1);
  }
  assert_int_equal(rt_term(c, 3), t);
  assert_true(rt_role(c, 3) != LKV_RAFT_CANDIDATE && rt_role(c, 3) != LKV_RAFT_LEADER);
  rt_heal(c);
  rt_tick_all(c, 3 * et);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 1), t);
  assert_int_equal(rt_term(c, 3), t);
  assert_int_equal(rt_leader(c, 3), 1);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* Without pre-vote the same partition raises the member's term and deposes the leader on return: the
 * behaviour pre-vote exists to prevent (so the test above can fail). */
static void cfg_cq_only(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->pre_vote = 0;
}

static void test_without_pre_vote_partitioned_member_raises_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, cfg_cq_only, NULL);
  rt_elect(c, 1);
  uint64_t t = rt_term(c, 1);
  rt_isolate(c, 3);
  rt_tick_all(c, 5 * rt_node(c, 3)->cfg.election_tick);
  assert_true(rt_term(c, 3) > t);
  rt_free(c);
}

/* CheckQuorum: a leader that has not heard from a quorum for an election timeout steps down. */
static void test_check_quorum_leader_steps_down(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_tick_all(c, 3 * rt_node(c, 1)->cfg.election_tick); /* healthy: stays */
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  rt_isolate(c, 1);
  unsigned et = rt_node(c, 1)->cfg.election_tick;
  for (unsigned i = 0; i < 2 * et; i++) {
    rt_tick(c, 1, 1);
    rt_process(c, 1);
  }
  assert_int_equal(rt_role(c, 1) == LKV_RAFT_LEADER, 0);
  rt_free(c);
}

/* CheckQuorum lease: a member that heard from a live leader within the election timeout ignores a
 * higher-term vote (no term change, no answer). */
static void test_lease_ignores_higher_term_votes(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, cfg_cq_only, NULL);
  rt_elect(c, 1);
  uint64_t t = rt_term(c, 3), idx, lt;
  rt_last_of(c, 3, &idx, &lt);
  lkv_raft_msg_t v = rt_vote_req(2, 3, t + 1, idx, lt);
  assert_int_equal(rt_vote_answer(c, &v), -1);
  assert_int_equal(rt_term(c, 3), t);
  assert_int_equal(rt_leader(c, 3), 1);
  /* once the lease ran out (no leader heard for an election timeout) the vote is granted */
  rt_isolate(c, 1);
  rt_tick(c, 3, rt_node(c, 3)->cfg.election_tick);
  rt_process(c, 3);
  rt_drop_matching(c, 0, 0, 0);
  t = rt_term(c, 3);
  rt_last_of(c, 3, &idx, &lt);
  v = rt_vote_req(2, 3, t + 1, idx, lt);
  assert_int_equal(rt_vote_answer(c, &v), 0);
  rt_free(c);
}

/* Learners never campaign (neither on timeout nor on request) and are not counted in a quorum. */
static void test_learner_does_not_vote_or_count(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  rt_add_learner(c, 1, 4);
  lkv_raft_status_t st;
  rt_status(c, 4, &st);
  assert_int_equal(st.conf.n_learners, 1);
  assert_int_equal(st.conf.learners[0], 4);
  assert_int_equal(st.leader, 1);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 4)), LKV_EPERM);
  rt_isolate(c, 1);
  rt_tick(c, 4, 3 * rt_node(c, 4)->cfg.election_tick);
  assert_int_equal(rt_role(c, 4), LKV_RAFT_FOLLOWER);
  rt_heal(c);

  /* 1 and learner 4 hold the entry, voters 2 and 3 do not: not committed */
  rt_tick_all(c, 1);
  rt_isolate(c, 2);
  rt_isolate(c, 3);
  assert_int_equal(rt_propose(c, 1, "x"), 0);
  rt_stabilize(c);
  uint64_t x = rt_log_find(c, 4, "x");
  assert_true(x > 0);
  assert_true(rt_commit(c, 1) < x);
  rt_heal(c);
  rt_tick_all(c, rt_node(c, 1)->cfg.election_tick);
  assert_true(rt_commit(c, 1) >= x);
  assert_true(rt_applied_data(c, 4, "x"));
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pre_vote_partitioned_member_does_not_disrupt),
      cmocka_unit_test(test_without_pre_vote_partitioned_member_raises_term),
      cmocka_unit_test(test_check_quorum_leader_steps_down),
      cmocka_unit_test(test_lease_ignores_higher_term_votes),
      cmocka_unit_test(test_learner_does_not_vote_or_count),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
