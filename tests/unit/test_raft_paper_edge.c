/* Rules under adversarial delivery: duplicated grants and acks count once, stale answers are ignored, a
 * follower's commit is bounded by what the leader proved matches, learners never make a quorum. */
#include "raft_testutil.h"

/* A grant delivered three times is one vote. */
static void test_duplicate_vote_grant_counts_once(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, rt_cfg_plain, NULL);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 1, 2);
  rt_drop_matching(c, LKV_RAFT_MSG_VOTE, 0, 0);
  rt_process(c, 2);
  long k = rt_find(c, LKV_RAFT_MSG_VOTE_RESP, 2, 1);
  assert_true(k >= 0);
  rt_dup(c, (size_t)k);
  rt_dup(c, (size_t)k);
  assert_int_equal(rt_deliver_matching(c, LKV_RAFT_MSG_VOTE_RESP, 2, 1), 3);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_CANDIDATE);
  rt_free(c);
}

/* A heartbeat answer delivered three times is one confirmation of a read round. */
static void test_duplicate_heartbeat_ack_counts_once_for_read(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_read(c, 1, "r"), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT, 1, 2);
  rt_drop_matching(c, LKV_RAFT_MSG_HEARTBEAT, 0, 0);
  rt_process(c, 2);
  long k = rt_find(c, LKV_RAFT_MSG_HEARTBEAT_RESP, 2, 1);
  assert_true(k >= 0);
  rt_dup(c, (size_t)k);
  rt_dup(c, (size_t)k);
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT_RESP, 2, 1);
  rt_process(c, 1);
  assert_int_equal(rt_read_result(c, 1, "r"), -1);
  rt_free(c);
}

/* Learners answer heartbeats but confirm no read, keep no leader in place (CheckQuorum) and get no vote
 * requests. */
static void test_learners_make_no_quorum(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  rt_add_learner(c, 1, 4);
  rt_isolate(c, 2);
  rt_isolate(c, 3);
  assert_int_equal(rt_read(c, 1, "r"), 0);
  rt_stabilize(c);
  assert_int_equal(rt_read_result(c, 1, "r"), -1);
  rt_tick_all(c, 2 * rt_node(c, 1)->cfg.election_tick);
  assert_true(rt_role(c, 1) != LKV_RAFT_LEADER);
  rt_heal(c);
  rt_drop_matching(c, 0, 0, 0);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  for (int round = 0; round < 5; round++) {
    rt_process_all(c);
    assert_int_equal(rt_count(c, LKV_RAFT_MSG_VOTE, 0, 4) + rt_count(c, LKV_RAFT_MSG_PRE_VOTE, 0, 4), 0);
    rt_deliver_queued(c);
  }
  rt_free(c);
}

/* Figure 2, AppendEntries step 5: commit = min(leaderCommit, index of the last NEW entry). A follower with
 * a stale suffix from an old leader must not commit that suffix because the new leader's commit is
 * beyond it: the append only proved a match up to its own entries. */
static void test_follower_commit_bounded_by_last_new_entry(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_stabilize(c);
  uint64_t t = rt_term(c, 2), last = rt_last(c, 2), lt = rt_entry_term(c, 2, last);
  lkv_raft_entry_t stale[3];
  for (int k = 0; k < 3; k++)
    stale[k] =
        (lkv_raft_entry_t){.term = t + 1, .index = last + 1 + k, .data = (const uint8_t *)"s", .len = 1};
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_APP, 3, 2, t + 1); /* 3 led t+1 briefly */
  m.index = last;
  m.log_term = lt;
  m.entries = stale;
  m.n_entries = 3;
  m.commit = last;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &m), 0);
  rt_process(c, 2);
  assert_int_equal(rt_last(c, 2), last + 3);
  m = rt_msg(LKV_RAFT_MSG_APP, 1, 2, t + 2); /* 1 leads t+2: its log ends at last, its commit is last+5 */
  m.index = last;
  m.log_term = lt;
  m.commit = last + 5;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &m), 0);
  assert_int_equal(rt_commit(c, 2), last);
  rt_process(c, 2);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A rejection or acknowledgement older than what the leader knows does not move the follower back. */
static void test_stale_answers_ignored_by_leader(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  for (int k = 0; k < 3; k++) assert_int_equal(rt_propose(c, 1, "p"), 0);
  rt_stabilize(c);
  lkv_raft_progress_t before, after;
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &before), 0);
  assert_int_equal(before.state, LKV_RAFT_PROGRESS_REPLICATE);
  uint64_t t = rt_term(c, 1);
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_APP_RESP, 2, 1, t);
  m.index = before.match - 2;
  m.reject = 1;
  m.reject_hint = before.match - 3;
  m.log_term = rt_entry_term(c, 1, before.match - 3);
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &m), 0);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &after), 0);
  assert_int_equal(after.state, LKV_RAFT_PROGRESS_REPLICATE);
  assert_int_equal(after.match, before.match);
  assert_true(after.next > after.match);
  m.reject = 0;
  m.reject_hint = 0;
  m.index = before.match - 2;
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &m), 0);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &after), 0);
  assert_int_equal(after.match, before.match);
  rt_free(c);
}

/* Figure 2: a request with a higher term updates the term even when the vote is refused (stale log); a
 * leader steps down on it. */
static void test_refused_vote_still_updates_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  uint64_t t = rt_term(c, 1);
  lkv_raft_msg_t v = rt_msg(LKV_RAFT_MSG_VOTE, 3, 1, t + 3);
  v.index = 1;
  v.log_term = 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &v), 0);
  assert_int_equal(rt_term(c, 1), t + 3);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  rt_process(c, 1);
  long k = rt_find(c, LKV_RAFT_MSG_VOTE_RESP, 1, 3);
  assert_true(k >= 0 && c->q[k]->m.reject);
  assert_int_equal(rt_node(c, 1)->hs.vote, LKV_RAFT_NONE);
  rt_free(c);
}

/* A pre-candidate refused by a member in a higher term adopts that term as follower; a granted pre-vote
 * answer does not change the pre-candidate's term. */
static void test_pre_vote_answers_and_terms(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, NULL, NULL);
  uint64_t t = rt_term(c, 1);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_PRE_CANDIDATE);
  lkv_raft_msg_t g = rt_msg(LKV_RAFT_MSG_PRE_VOTE_RESP, 2, 1, t + 1);
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &g), 0);
  assert_int_equal(rt_term(c, 1), t);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_PRE_CANDIDATE); /* 2 of 5 */
  lkv_raft_msg_t r = rt_msg(LKV_RAFT_MSG_PRE_VOTE_RESP, 3, 1, t + 4);
  r.reject = 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &r), 0);
  assert_int_equal(rt_term(c, 1), t + 4);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  rt_free(c);
}

/* A snapshot whose last entry the follower already holds only moves its commit index forward. */
static void test_snapshot_matching_log_fast_forwards_commit(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  for (int k = 0; k < 3; k++) assert_int_equal(rt_propose(c, 1, "p"), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_drop_matching(c, 0, 0, 0);
  rt_process(c, 2);
  rt_drop_matching(c, 0, 0, 0);
  uint64_t last = rt_last(c, 2);
  assert_true(rt_commit(c, 2) < last);
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_SNAP, 1, 2, rt_term(c, 1));
  m.snapshot.meta.index = last;
  m.snapshot.meta.term = rt_entry_term(c, 2, last);
  m.snapshot.meta.conf.n_voters = 3;
  for (int k = 0; k < 3; k++) m.snapshot.meta.conf.voters[k] = (lkv_raft_id_t)k + 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &m), 0);
  assert_int_equal(rt_commit(c, 2), last);
  rt_process(c, 2);
  assert_int_equal(rt_node(c, 2)->snap.index, 0); /* nothing installed: the log stays */
  assert_int_equal(rt_store_last(rt_node(c, 2)), last);
  assert_int_equal(rt_node(c, 2)->sm_applied, last);
  assert_true(rt_applied_data(c, 2, "p"));
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A second transfer request to the same target is ignored; one to another target replaces it; a
 * proposal forwarded to a transferring leader is dropped. */
static void test_transfer_requests_and_forwarded_proposal(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(4, NULL, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  rt_isolate(c, 4);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  rt_heal(c);
  rt_isolate(c, 3);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 3), 0);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 3), 0);
  lkv_raft_status_t st;
  rt_status(c, 1, &st);
  assert_int_equal(st.transferee, 3);
  assert_int_equal(rt_propose(c, 2, "fwd"), 0);
  rt_process(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_PROP, 2, 1);
  rt_process(c, 1);
  assert_int_equal(rt_log_find(c, 1, "fwd"), 0);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 4), 0);
  rt_status(c, 1, &st);
  assert_int_equal(st.transferee, 4);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  assert_int_equal(rt_role(c, 4), LKV_RAFT_LEADER);
  rt_free(c);
}

/* Malformed membership changes are refused. */
static void test_conf_change_validation(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_NODE, 0), LKV_EINVAL);
  assert_int_equal(rt_propose_cc(c, 1, 7, 4), LKV_EINVAL);
  assert_int_equal(lkv_raft_propose_conf_change(rt_raft(c, 1), NULL), LKV_EINVAL);
  rt_free(c);
}

/* A removed follower gets nothing more from the leader. */
static void test_removed_follower_gets_no_more_messages(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 3), 0);
  rt_stabilize(c);
  assert_int_equal(rt_node(c, 1)->conf.n_voters, 2);
  for (int round = 0; round < 3 * (int)rt_node(c, 1)->cfg.election_tick; round++) {
    rt_tick(c, 1, 1);
    rt_tick(c, 2, 1);
    rt_process(c, 1);
    assert_int_equal(rt_count(c, 0, 1, 3), 0);
    rt_stabilize(c);
  }
  assert_int_equal(rt_propose(c, 1, "two"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 2, "two"));
  rt_free(c);
}

/* Figure 2: the election timer restarts when a member grants a vote, so a member that just voted does not
 * campaign an election timeout later than it would have without the vote (checked over many timeouts). */
static void test_granting_a_vote_restarts_the_election_timer(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 12; seed++) {
    rt_cluster_t *c = rt_new_members(3, 3, rt_cfg_plain, NULL, seed);
    unsigned et = rt_node(c, 3)->cfg.election_tick;
    rt_tick(c, 3, et - 1);
    assert_int_equal(rt_role(c, 3), LKV_RAFT_FOLLOWER);
    uint64_t t = rt_term(c, 3), idx = rt_last(c, 3);
    lkv_raft_msg_t v = rt_msg(LKV_RAFT_MSG_VOTE, 2, 3, t + 1);
    v.index = idx;
    v.log_term = rt_entry_term(c, 3, idx);
    assert_int_equal(lkv_raft_step(rt_raft(c, 3), &v), 0);
    rt_process(c, 3);
    long k = rt_find(c, LKV_RAFT_MSG_VOTE_RESP, 3, 2);
    assert_true(k >= 0 && !c->q[k]->m.reject);
    rt_tick(c, 3, et - 1); /* 2et - 2 ticks in all: beyond some first timeouts, short of any new one */
    assert_int_equal(rt_role(c, 3), LKV_RAFT_FOLLOWER);
    rt_free(c);
  }
}

/* A TIMEOUT_NOW from an earlier term (late, or duplicated) starts no campaign. */
static void test_stale_timeout_now_ignored(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_tick_all(c, 1);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 2), 0);
  rt_process(c, 1);
  long k = rt_find(c, LKV_RAFT_MSG_TIMEOUT_NOW, 1, 2);
  assert_true(k >= 0);
  rt_msg_t *late = rt_msg_copy(&c->q[k]->m);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_LEADER);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 2), 3), 0);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  uint64_t t = rt_term(c, 3);
  assert_int_equal(rt_step_copy(c, late), 0);
  rt_msg_free(late);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 2), t);
  assert_int_equal(rt_term(c, 3), t);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A pre-vote from a member whose log is behind is refused, and nobody's term moves. */
static void test_pre_vote_refused_for_stale_log(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  rt_isolate(c, 1);
  rt_tick(c, 2, rt_node(c, 2)->cfg.election_tick); /* 2's lease runs out */
  rt_drop_matching(c, 0, 0, 0);
  rt_process(c, 2);
  rt_drop_matching(c, 0, 0, 0);
  uint64_t t = rt_term(c, 2);
  lkv_raft_msg_t pv = rt_msg(LKV_RAFT_MSG_PRE_VOTE, 3, 2, t + 1);
  pv.index = rt_last(c, 2) - 1;
  pv.log_term = rt_entry_term(c, 2, pv.index);
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &pv), 0);
  rt_process(c, 2);
  long k = rt_find(c, LKV_RAFT_MSG_PRE_VOTE_RESP, 2, 3);
  assert_true(k >= 0 && c->q[k]->m.reject);
  assert_int_equal(rt_term(c, 2), t);
  assert_int_equal(rt_node(c, 2)->hs.term, t);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duplicate_vote_grant_counts_once),
      cmocka_unit_test(test_duplicate_heartbeat_ack_counts_once_for_read),
      cmocka_unit_test(test_learners_make_no_quorum),
      cmocka_unit_test(test_follower_commit_bounded_by_last_new_entry),
      cmocka_unit_test(test_stale_answers_ignored_by_leader),
      cmocka_unit_test(test_refused_vote_still_updates_term),
      cmocka_unit_test(test_pre_vote_answers_and_terms),
      cmocka_unit_test(test_snapshot_matching_log_fast_forwards_commit),
      cmocka_unit_test(test_transfer_requests_and_forwarded_proposal),
      cmocka_unit_test(test_conf_change_validation),
      cmocka_unit_test(test_removed_follower_gets_no_more_messages),
      cmocka_unit_test(test_granting_a_vote_restarts_the_election_timer),
      cmocka_unit_test(test_stale_timeout_now_ignored),
      cmocka_unit_test(test_pre_vote_refused_for_stale_log),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
