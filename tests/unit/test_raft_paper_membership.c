/* Single-server membership changes (Raft thesis §4.1; etcd's apply-time semantics): one pending at a time,
 * after the term commit, in force when applied; learners; removal of the leader; cancelled changes. */
#include "raft_scenarios.h"

static int is_voter(const lkv_raft_conf_state_t *cs, lkv_raft_id_t id) {
  for (uint32_t i = 0; i < cs->n_voters; i++)
    if (cs->voters[i] == id) return 1;
  return 0;
}

static void conf_of(rt_cluster_t *c, lkv_raft_id_t id, lkv_raft_conf_state_t *cs) {
  lkv_raft_status_t st;
  rt_status(c, id, &st);
  *cs = st.conf;
}

/* At most one change pending: the second is refused until the first is applied. */
static void test_one_change_pending_at_a_time(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(5, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 5), LKV_ECONFPENDING);
  rt_stabilize(c);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 5), 0);
  rt_stabilize(c);
  lkv_raft_conf_state_t cs;
  conf_of(c, 1, &cs);
  assert_int_equal(cs.n_learners, 2);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A new leader refuses changes until an entry of its term is committed. */
static void test_change_refused_before_term_commit(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, rt_cfg_plain, NULL, 1);
  rs_win(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), LKV_ECONFPENDING);
  rt_stabilize(c);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  rt_free(c);
}

/* A change is in force only when applied: before, the leader counts the old voters; after, the new. Here
 * the new voter 4 raises the quorum to 3 of 4. */
static void test_change_in_force_when_applied(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_NODE, 4), 0);
  rt_process(c, 1);
  lkv_raft_conf_state_t cs;
  conf_of(c, 1, &cs);
  assert_int_equal(cs.n_voters, 3); /* proposed, not applied */
  rt_stabilize(c);
  rt_tick_all(c, 2);
  for (lkv_raft_id_t id = 1; id <= 4; id++) {
    conf_of(c, id, &cs);
    assert_int_equal(cs.n_voters, 4);
    assert_true(is_voter(&cs, 4));
  }
  /* 1 and 2 were a quorum of 3; of 4 they are not */
  rt_isolate(c, 3);
  rt_isolate(c, 4);
  uint64_t i;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"q", 1, &i, NULL), 0);
  rt_stabilize(c);
  assert_true(rt_commit(c, 1) < i);
  rt_heal(c);
  rt_tick_all(c, rt_node(c, 1)->cfg.election_tick);
  assert_true(rt_commit(c, 1) >= i);
  assert_true(rt_applied_data(c, 4, "q"));
  rt_free(c);
}

/* A leader that removes itself steps down once the change is applied; the others elect a leader; the
 * removed member drops proposals. */
static void test_removed_leader_steps_down(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 1), 0);
  rt_stabilize(c);
  assert_true(rt_role(c, 1) != LKV_RAFT_LEADER);
  lkv_raft_conf_state_t cs;
  conf_of(c, 2, &cs);
  assert_int_equal(cs.n_voters, 2);
  assert_false(is_voter(&cs, 1));
  rt_isolate(c, 1);
  rt_tick_all(c, 3 * rt_node(c, 2)->cfg.election_tick);
  assert_true(rt_role(c, 2) == LKV_RAFT_LEADER || rt_role(c, 3) == LKV_RAFT_LEADER);
  lkv_raft_id_t l = rt_role(c, 2) == LKV_RAFT_LEADER ? 2 : 3;
  assert_int_equal(rt_propose(c, l, "after"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 5 - l, "after"));
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), LKV_EPERM);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A member whose committed membership change is not yet applied does not campaign. */
static void test_unapplied_change_blocks_campaign(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, rt_cfg_plain, NULL, 1);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  uint64_t cci = rt_last(c, 1);
  /* replicate and commit with 2, then tell 2 the commit, without letting 2 apply it */
  for (int round = 0; rt_commit(c, 1) < cci; round++) {
    assert_true(round < 10);
    rt_process(c, 1);
    rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
    rt_process(c, 2);
    rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, 2, 1);
  }
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  assert_true(rt_commit(c, 2) >= cci);
  lkv_raft_status_t st;
  rt_status(c, 2, &st);
  assert_true(st.applied < st.hard_state.commit);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 2)), LKV_EPERM);
  rt_tick(c, 2, 3 * rt_node(c, 2)->cfg.election_tick);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_FOLLOWER);
  rt_process(c, 2);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 2)), 0);
  rt_free(c);
}

/* A learner (which may not propose) is promoted by adding it as a voter; then it counts. */
static void test_promote_learner(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  rt_add_learner(c, 1, 4);
  assert_int_equal(rt_propose(c, 4, "from-learner"), LKV_EPROPOSALDROPPED);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_NODE, 4), 0);
  rt_stabilize(c);
  lkv_raft_conf_state_t cs;
  for (lkv_raft_id_t id = 1; id <= 4; id++) {
    conf_of(c, id, &cs);
    assert_int_equal(cs.n_voters, 4);
    assert_int_equal(cs.n_learners, 0);
  }
  /* 4 now counts: 1 and 4 are no quorum of 4, but 1, 2 and 4 are (2 alone would not be) */
  rt_isolate(c, 2);
  rt_isolate(c, 3);
  uint64_t i;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"v", 1, &i, NULL), 0);
  rt_stabilize(c);
  assert_true(rt_commit(c, 1) < i);
  assert_true(rt_log_find(c, 4, "v") == i);
  rt_heal(c);
  rt_isolate(c, 3);
  rt_tick_all(c, rt_node(c, 1)->cfg.election_tick);
  assert_true(rt_commit(c, 1) >= i);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A change applied with accept = 0 is cancelled everywhere but counts as applied: the membership is
 * unchanged and the next change may be proposed. */
static void test_rejected_change_is_cancelled(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  for (lkv_raft_id_t id = 1; id <= 3; id++) rt_node(c, id)->reject_next_cc = 1;
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_NODE, 4), 0);
  rt_stabilize(c);
  lkv_raft_conf_state_t cs;
  for (lkv_raft_id_t id = 1; id <= 3; id++) {
    assert_int_equal(rt_node(c, id)->reject_next_cc, 0); /* it was applied */
    conf_of(c, id, &cs);
    assert_int_equal(cs.n_voters, 3);
    assert_false(is_voter(&cs, 4));
  }
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  rt_stabilize(c);
  conf_of(c, 1, &cs);
  assert_int_equal(cs.n_learners, 1);
  rt_free(c);
}

/* A forwarded change gets the same checks at the leader, and is applied everywhere when it commits. */
static void test_change_forwarded_by_follower(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 2, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  rt_stabilize(c);
  lkv_raft_conf_state_t cs;
  conf_of(c, 3, &cs);
  assert_int_equal(cs.n_learners, 1);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A leader demoted to learner steps down like a removed one, and may no longer campaign. */
static void test_demoted_leader_steps_down(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 1), 0);
  rt_stabilize(c);
  lkv_raft_conf_state_t cs;
  conf_of(c, 1, &cs);
  assert_int_equal(cs.n_voters, 2);
  assert_int_equal(cs.n_learners, 1);
  assert_true(rt_role(c, 1) != LKV_RAFT_LEADER);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), LKV_EPERM);
  rt_tick_all(c, 3 * rt_node(c, 2)->cfg.election_tick);
  lkv_raft_id_t l = rt_role(c, 2) == LKV_RAFT_LEADER ? 2 : 3;
  assert_int_equal(rt_role(c, l), LKV_RAFT_LEADER);
  assert_int_equal(rt_propose(c, l, "after"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 1, "after")); /* it still learns as a learner */
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* Removing the transferee of a transfer in progress abandons the transfer. */
static void test_removing_transferee_abandons_transfer(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(4, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 4), 0);
  rt_process(c, 1);
  rt_isolate(c, 4); /* 4 cannot catch up, so the transfer waits */
  assert_int_equal(rt_propose(c, 1, "x"), 0);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 4), 0);
  assert_int_equal(rt_st(c, 1).transferee, 4);
  rt_stabilize(c); /* the removal commits (1, 2, 3) and is applied */
  assert_int_equal(rt_st(c, 1).conf.n_voters, 3);
  assert_int_equal(rt_st(c, 1).transferee, LKV_RAFT_NONE);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  assert_int_equal(rt_propose(c, 1, "y"), 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_change_pending_at_a_time),
      cmocka_unit_test(test_change_refused_before_term_commit),
      cmocka_unit_test(test_change_in_force_when_applied),
      cmocka_unit_test(test_removed_leader_steps_down),
      cmocka_unit_test(test_unapplied_change_blocks_campaign),
      cmocka_unit_test(test_promote_learner),
      cmocka_unit_test(test_rejected_change_is_cancelled),
      cmocka_unit_test(test_change_forwarded_by_follower),
      cmocka_unit_test(test_demoted_leader_steps_down),
      cmocka_unit_test(test_removing_transferee_abandons_transfer),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
