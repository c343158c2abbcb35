/* Restarts from durable state: after compaction, after installing a snapshot, after membership changes,
 * and a crash between the phases of a ready batch. */
#include "raft_scenarios.h"

static void all_apply(rt_cluster_t *c, const char *s) {
  for (lkv_raft_id_t id = 1; id <= c->n; id++)
    if (rt_node(c, id)->r) assert_true(rt_applied_data(c, id, s));
}

static lkv_raft_id_t settle_leader(rt_cluster_t *c) {
  rt_tick_all(c, 3 * rt_node(c, 1)->cfg.election_tick);
  lkv_raft_id_t l = 0;
  for (lkv_raft_id_t id = 1; id <= c->n; id++)
    if (rt_node(c, id)->r && rt_role(c, id) == LKV_RAFT_LEADER) {
      assert_int_equal(l, 0);
      l = id;
    }
  assert_true(l != 0);
  return l;
}

/* Members that compacted their logs restart from snapshot metadata plus the entries after it. */
static void test_restart_after_compaction(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  for (int k = 0; k < 4; k++) assert_int_equal(rt_propose(c, 1, "p"), 0);
  rt_stabilize(c);
  uint64_t s1 = rt_compact(c, 1), s2 = rt_compact(c, 2);
  assert_int_equal(rt_propose(c, 1, "tail"), 0);
  rt_stabilize(c);
  for (lkv_raft_id_t id = 1; id <= 3; id++) rt_restart(c, id);
  lkv_raft_status_t st;
  rt_status(c, 1, &st);
  assert_int_equal(st.snapshot_index, s1);
  assert_int_equal(st.first_index, s1 + 1);
  assert_int_equal(st.conf.n_voters, 3);
  rt_status(c, 2, &st);
  assert_int_equal(st.snapshot_index, s2);
  lkv_raft_id_t l = settle_leader(c);
  assert_int_equal(rt_propose(c, l, "after"), 0);
  rt_stabilize(c);
  all_apply(c, "after");
  assert_int_equal(rt_log_find(c, 3, "tail"), rt_log_find(c, 1, "tail"));
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A follower that installed the leader's snapshot restarts from it (its membership included). */
static void test_restart_after_installing_snapshot(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  uint64_t s = rt_lag_behind_snapshot(c, 1, 3, 4);
  rt_tick_all(c, 4);
  assert_int_equal(rt_node(c, 3)->snap.index, s);
  rt_restart(c, 3);
  lkv_raft_status_t st;
  rt_status(c, 3, &st);
  assert_int_equal(st.snapshot_index, s);
  assert_int_equal(st.conf.n_voters, 3);
  assert_true(st.hard_state.commit >= s);
  assert_int_equal(rt_propose(c, 1, "next"), 0);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  assert_true(rt_applied_data(c, 3, "next"));
  /* 3 can lead: its log after the snapshot is complete (2 notices the loss first and waits for 3) */
  rt_crash(c, 1);
  lkv_raft_report_leader_lost(rt_raft(c, 2));
  rt_stabilize(c);
  lkv_raft_report_leader_lost(rt_raft(c, 3));
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  rt_start(c, 1);
  assert_int_equal(rt_propose(c, 3, "later"), 0);
  rt_tick_all(c, 2); /* 1 was down when 3 won: 3 probes it on a heartbeat */
  all_apply(c, "later");
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* Membership changes applied before a crash are in force after the restart (the state machine's
 * applied index is durable, so they are not handed out again). */
static void test_restart_keeps_applied_membership(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  rt_stabilize(c);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 3), 0);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  for (lkv_raft_id_t id = 1; id <= 4; id++) {
    rt_restart(c, id);
    if (id == 3) continue; /* removed: it may not have learned that its removal committed */
    lkv_raft_status_t st;
    rt_status(c, id, &st);
    assert_int_equal(st.conf.n_voters, 2);
    assert_int_equal(st.conf.n_learners, 1);
    assert_int_equal(st.conf.learners[0], 4);
  }
  rt_isolate(c, 3);
  lkv_raft_id_t l = settle_leader(c);
  assert_true(l == 1 || l == 2);
  assert_int_equal(rt_propose(c, l, "x"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 4, "x"));
  rt_free(c);
}

/* A member that crashes after sending its batch's early messages but before the flush restarts with
 * none of that batch: it neither lost nor invented anything the others were promised. */
static void test_crash_between_send_and_persist(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  uint64_t last = rt_last(c, 1), t = rt_term(c, 1);
  assert_int_equal(rt_propose(c, 1, "lost?"), 0);
  assert_int_equal(rt_ready_partial(c, 1, RT_UPTO_SEND), 1); /* appends left, the leader's write did not */
  rt_restart(c, 1);
  assert_int_equal(rt_last(c, 1), last);
  assert_int_equal(rt_term(c, 1), t);
  rt_stabilize(c); /* the followers store and acknowledge it */
  assert_true(rt_last(c, 2) > last);
  lkv_raft_id_t l = settle_leader(c);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  /* whoever leads, the entry the followers hold was either committed everywhere or overwritten: one
   * history */
  assert_int_equal(rt_applied_data(c, 1, "lost?"), rt_applied_data(c, 2, "lost?"));
  assert_int_equal(rt_applied_data(c, 3, "lost?"), rt_applied_data(c, 2, "lost?"));
  assert_int_equal(rt_propose(c, l, "on"), 0);
  rt_stabilize(c);
  all_apply(c, "on");
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A change every member refused (accept = 0) stays refused for a member that restarts with an applied
 * index before it: the change is handed out again and the caller decides again, the same way. */
static void test_refused_change_after_replaying_restart(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  for (lkv_raft_id_t id = 1; id <= 3; id++) rt_node(c, id)->reject_next_cc = 1;
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 3), 0);
  uint64_t cc_index = rt_last(c, 1);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  rt_crash(c, 2);
  rt_node(c, 2)->sm_applied = cc_index - 1; /* the state machine's durable state predates the change */
  rt_node(c, 2)->reject_next_cc = 1;        /* and it refuses the change again */
  rt_start(c, 2);
  rt_process(c, 2);
  assert_int_equal(rt_node(c, 2)->reject_next_cc, 0); /* the change was handed out again */
  assert_int_equal(rt_st(c, 2).conf.n_voters, 3);
  assert_int_equal(rt_node(c, 2)->conf.n_voters, 3);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A change every member cancelled (accept = 0) stays cancelled for a member that restarts with an applied
 * index beyond it: the restore carries the state machine's membership (restore.conf). */
static void test_cancelled_change_stays_cancelled_after_restart(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  for (lkv_raft_id_t id = 1; id <= 3; id++) rt_node(c, id)->reject_next_cc = 1;
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 3), 0);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  for (lkv_raft_id_t id = 1; id <= 3; id++) assert_int_equal(rt_st(c, id).conf.n_voters, 3);
  rt_restart(c, 2); /* restore.applied = the state machine's applied index, beyond the change, and its
                     membership (restore.conf) */
  assert_int_equal(rt_st(c, 2).applied, rt_node(c, 2)->sm_applied);
  assert_int_equal(rt_st(c, 2).conf.n_voters, 3);
  rt_free(c);
}

/* The consequence: two cancelled removals (4, then 5) of a five-voter cluster; member 1 restarts and
 * believes the voters are {1, 2, 3}. In one term, 1 wins with 2's vote (2 of its 3) while 3 wins with 4's
 * and 5's (3 of 5): two leaders in one term. */
static void test_cancelled_changes_after_restart_allow_two_leaders(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  for (lkv_raft_id_t gone = 4; gone <= 5; gone++) {
    for (lkv_raft_id_t id = 1; id <= 5; id++) rt_node(c, id)->reject_next_cc = 1;
    assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, gone), 0);
    rt_stabilize(c);
  }
  rt_tick_all(c, 2);
  for (lkv_raft_id_t id = 1; id <= 5; id++) assert_int_equal(rt_st(c, id).conf.n_voters, 5);
  rs_split_election(c);
  assert_int_equal(c->v_two_leaders, 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_restart_after_compaction),
      cmocka_unit_test(test_restart_after_installing_snapshot),
      cmocka_unit_test(test_restart_keeps_applied_membership),
      cmocka_unit_test(test_crash_between_send_and_persist),
      cmocka_unit_test(test_refused_change_after_replaying_restart),
      cmocka_unit_test(test_cancelled_change_stays_cancelled_after_restart),
      cmocka_unit_test(test_cancelled_changes_after_restart_allow_two_leaders),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
