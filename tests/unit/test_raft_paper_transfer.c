/* Leadership transfer (Raft thesis §3.10): catch the transferee up, then TIMEOUT_NOW; proposals dropped
 * meanwhile; abandoned after an election timeout; the transferee's campaign passes the lease. */
#include "raft_testutil.h"

/* An up-to-date transferee gets TIMEOUT_NOW at once and wins the next term, through CheckQuorum's lease
 * (every member heard the leader just now) and without a pre-vote round. */
static void test_transfer_to_up_to_date_follower(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick);
  uint64_t t = rt_term(c, 1);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 2), 0);
  rt_process(c, 1);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_TIMEOUT_NOW, 1, 2), 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_TIMEOUT_NOW, 1, 2);
  rt_process(c, 2);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_PRE_VOTE, 2, 0), 0);
  long k = rt_find(c, LKV_RAFT_MSG_VOTE, 2, 3);
  assert_true(k >= 0);
  assert_true(c->q[k]->m.flags & LKV_RAFT_MSG_FLAG_TRANSFER);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 2), t + 1);
  assert_int_equal(rt_leader(c, 1), 2);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A lagging transferee is first caught up with appends; TIMEOUT_NOW only once its match is the last
 * index. Proposals are dropped while the transfer is under way. */
static void test_transfer_catches_up_first_and_drops_proposals(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  for (int k = 0; k < 5; k++) assert_int_equal(rt_propose(c, 1, "p"), 0);
  rt_stabilize(c);
  rt_heal(c);
  assert_true(rt_last(c, 3) < rt_last(c, 1));
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 3), 0);
  lkv_raft_status_t st;
  rt_status(c, 1, &st);
  assert_int_equal(st.transferee, 3);
  assert_int_equal(rt_propose(c, 1, "dropped"), LKV_EPROPOSALDROPPED);
  rt_process(c, 1);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_TIMEOUT_NOW, 1, 3), 0);
  /* deliver until TIMEOUT_NOW appears: 3 must hold the whole log by then */
  for (int round = 0; rt_find(c, LKV_RAFT_MSG_TIMEOUT_NOW, 1, 3) < 0; round++) {
    assert_true(round < 30);
    rt_deliver_queued(c);
    rt_process_all(c);
    if (!c->nq) rt_tick_all(c, 1);
  }
  assert_int_equal(rt_last(c, 3), rt_last(c, 1));
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  assert_int_equal(rt_log_find(c, 3, "dropped"), 0);
  rt_free(c);
}

/* A transfer that cannot finish (the transferee is unreachable) is abandoned after an election timeout;
 * proposals are accepted again. */
static void test_transfer_abandoned_after_election_timeout(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 3), 0);
  assert_int_equal(rt_propose(c, 1, "b"), LKV_EPROPOSALDROPPED);
  rt_tick_all(c, rt_node(c, 1)->cfg.election_tick);
  lkv_raft_status_t st;
  rt_status(c, 1, &st);
  assert_int_equal(st.transferee, LKV_RAFT_NONE);
  assert_int_equal(st.role, LKV_RAFT_LEADER);
  assert_int_equal(rt_propose(c, 1, "c"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 2, "c"));
  rt_free(c);
}

/* Bad targets are refused; a follower forwards the request to its leader. */
static void test_transfer_targets_and_forwarding(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 2), 3), LKV_ENOLEADER);
  rt_elect(c, 1);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 1), LKV_EINVAL);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 4), LKV_EINVAL); /* not a member */
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 9), LKV_EINVAL);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 2), 3), 0);
  rt_process(c, 2);
  long k = rt_find(c, LKV_RAFT_MSG_TRANSFER_LEADER, 0, 1);
  assert_true(k >= 0);
  assert_int_equal(c->q[k]->m.from, 3);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transfer_to_up_to_date_follower),
      cmocka_unit_test(test_transfer_catches_up_first_and_drops_proposals),
      cmocka_unit_test(test_transfer_abandoned_after_election_timeout),
      cmocka_unit_test(test_transfer_targets_and_forwarding),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
