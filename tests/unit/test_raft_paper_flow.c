/* Flow control (probe / replicate, in-flight limits by count and bytes), proposals (forwarded, dropped,
 * the uncommitted-size limit) and fast failover (report_leader_lost). */
#include "raft_testutil.h"

static void cfg_flow(lkv_raft_config_t *cfg, void *arg) {
  const size_t *v = arg; /* {max_inflight_msgs, max_inflight_bytes, max_size_per_msg} */
  cfg->max_inflight_msgs = v[0];
  cfg->max_inflight_bytes = v[1];
  cfg->max_size_per_msg = v[2];
}

/* Proposes n entries of 8 bytes on the leader, processing its ready after each (one APP per proposal). */
static void propose_n(rt_cluster_t *c, lkv_raft_id_t id, int n) {
  for (int k = 0; k < n; k++) {
    assert_int_equal(rt_propose(c, id, "8 bytes!"), 0);
    rt_process(c, id);
  }
}

/* In replicate state at most max_inflight_msgs appends are unacknowledged; acks free the window. */
static void test_inflight_limit_by_count(void **state) {
  (void)state;
  size_t v[3] = {2, 0, 1};
  rt_cluster_t *c = rt_new(3, cfg_flow, v);
  rt_elect(c, 1);
  lkv_raft_progress_t pr;
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &pr), 0);
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_REPLICATE);
  propose_n(c, 1, 5);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_APP, 1, 2), 2);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &pr), 0);
  assert_int_equal(pr.inflight_msgs, 2);
  rt_stabilize(c);
  assert_int_equal(rt_last(c, 2), rt_last(c, 1));
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &pr), 0);
  assert_int_equal(pr.inflight_msgs, 0);
  rt_free(c);
}

/* ... and at most max_inflight_bytes of entries (the window closes once it is reached). */
static void test_inflight_limit_by_bytes(void **state) {
  (void)state;
  size_t v[3] = {100, 20, 1};
  rt_cluster_t *c = rt_new(3, cfg_flow, v);
  rt_elect(c, 1);
  propose_n(c, 1, 6);
  size_t n = rt_count(c, LKV_RAFT_MSG_APP, 1, 2);
  assert_true(n >= 2 && n <= 3); /* 8, 16, (24): full at 20 */
  lkv_raft_progress_t pr;
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &pr), 0);
  assert_int_equal(pr.inflight_bytes, 8 * n);
  rt_stabilize(c);
  assert_int_equal(rt_last(c, 2), rt_last(c, 1));
  rt_free(c);
}

/* Appends are batched by max_size_per_msg (at least one entry each). */
static void test_appends_batched_by_bytes(void **state) {
  (void)state;
  size_t v[3] = {256, 0, 24};
  rt_cluster_t *c = rt_new(3, cfg_flow, v);
  rt_elect(c, 1);
  rt_isolate(c, 2);
  for (int k = 0; k < 9; k++) assert_int_equal(rt_propose(c, 1, "8 bytes!"), 0);
  rt_stabilize(c);
  rt_heal(c);
  rt_tick(c, 1, rt_node(c, 1)->cfg.heartbeat_tick);
  size_t max_entries = 0;
  for (int round = 0; round < 40; round++) {
    rt_process_all(c);
    for (size_t i = 0; i < c->nq; i++)
      if (c->q[i]->m.type == LKV_RAFT_MSG_APP && c->q[i]->m.n_entries > max_entries)
        max_entries = c->q[i]->m.n_entries;
    rt_deliver_queued(c);
  }
  assert_int_equal(rt_last(c, 2), rt_last(c, 1));
  assert_int_equal(max_entries, 3); /* 24 bytes */
  rt_free(c);
}

/* A follower in probe state gets at most one append per heartbeat interval. */
static void test_probe_sends_one_append_per_heartbeat(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_isolate(c, 3);
  rt_elect(c, 1);
  lkv_raft_progress_t pr;
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 3, &pr), 0);
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_PROBE);
  rt_drop_matching(c, 0, 0, 3);
  size_t apps = 0;
  for (int k = 0; k < 5; k++) {
    assert_int_equal(rt_propose(c, 1, "p"), 0);
    rt_process(c, 1);
    apps += rt_drop_matching(c, LKV_RAFT_MSG_APP, 1, 3);
    rt_deliver_queued(c);
    rt_process_all(c);
    rt_deliver_queued(c);
  }
  assert_int_equal(apps, 0); /* the probe sent at election is unanswered */
  unsigned hb = rt_node(c, 1)->cfg.heartbeat_tick;
  for (int beat = 0; beat < 3; beat++) {
    rt_tick(c, 1, hb);
    rt_process(c, 1);
    assert_true(rt_count(c, LKV_RAFT_MSG_APP, 1, 3) <= 1);
    rt_drop_matching(c, 0, 0, 3);
    rt_deliver_queued(c);
    rt_process_all(c);
    rt_deliver_queued(c);
  }
  rt_heal(c);
  rt_tick_all(c, 2 * hb);
  assert_int_equal(rt_last(c, 3), rt_last(c, 1));
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 3, &pr), 0);
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_REPLICATE);
  rt_free(c);
}

/* report_unreachable sends a replicating follower back to probe. */
static void test_unreachable_returns_to_probe(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  lkv_raft_progress_t pr;
  lkv_raft_report_unreachable(rt_raft(c, 1), 2);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &pr), 0);
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_PROBE);
  assert_int_equal(pr.next, pr.match + 1);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 2), 1, &pr), LKV_EPERM);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 9, &pr), LKV_ENOENT);
  rt_free(c);
}

/* Proposals on a follower are forwarded to the leader; without a leader they are refused. */
static void test_proposals_forwarded_or_refused(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  assert_int_equal(rt_propose(c, 2, "nobody"), LKV_ENOLEADER);
  rt_elect(c, 1);
  uint64_t idx = 99;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 2), (const uint8_t *)"fwd", 3, &idx, NULL), 0);
  assert_int_equal(idx, 0);
  rt_process(c, 2);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_PROP, 2, 1), 1);
  rt_stabilize(c);
  for (lkv_raft_id_t id = 1; id <= 3; id++) assert_true(rt_applied_data(c, id, "fwd"));
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 2)), 0); /* a pre-candidate knows no leader */
  assert_int_equal(rt_propose(c, 2, "x"), LKV_ENOLEADER);
  rt_free(c);
}

static void cfg_uncommitted(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->max_uncommitted_size = 10;
}

/* A leader drops proposals beyond max_uncommitted_size bytes of uncommitted entries (it always takes one
 * when nothing is uncommitted), and takes them again once they commit. */
static void test_max_uncommitted_size_drops(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, cfg_uncommitted, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 1);
  assert_int_equal(rt_propose(c, 1, "8 bytes!"), 0);
  assert_int_equal(rt_propose(c, 1, "8 bytes!"), LKV_EPROPOSALDROPPED);
  rt_heal(c);
  rt_stabilize(c);
  rt_tick_all(c, 1);
  assert_int_equal(rt_propose(c, 1, "twelve bytes"), 0);
  rt_stabilize(c);
  assert_true(rt_applied_data(c, 2, "twelve bytes"));
  rt_free(c);
}

/* Fast failover: a follower that lost only its own link to a live leader cannot win its pre-vote (the
 * others still hear the leader); when the leader is really gone, the members that report it win an
 * election at once, without waiting for a timeout. */
static void test_report_leader_lost(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick);
  uint64_t t = rt_term(c, 1);
  c->cut[1][3] = c->cut[3][1] = 1;
  lkv_raft_report_leader_lost(rt_raft(c, 3));
  assert_int_equal(rt_role(c, 3), LKV_RAFT_PRE_CANDIDATE);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 1), t);
  assert_int_equal(rt_term(c, 2), t);
  assert_true(rt_role(c, 3) != LKV_RAFT_LEADER);
  rt_heal(c);
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick);
  assert_int_equal(rt_leader(c, 3), 1);

  /* the leader dies; 2 notices first: 3 still holds the lease, so 2's pre-vote waits; then 3 notices
   * and wins with 2's vote, with no tick in between */
  rt_crash(c, 1);
  lkv_raft_report_leader_lost(rt_raft(c, 2));
  rt_stabilize(c);
  assert_true(rt_role(c, 2) != LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 2), t);
  lkv_raft_report_leader_lost(rt_raft(c, 3));
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 3), t + 1);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

static void cfg_check_quorum_only(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->pre_vote = 0;
}

/* Without pre-vote, a lost leader report changes nothing: forgetting the leader would drop the vote lease
 * that keeps a member cut off from a live leader from helping a disruptive candidate. */
static void test_report_leader_lost_needs_pre_vote(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, cfg_check_quorum_only, NULL);
  rt_elect(c, 1);
  uint64_t t = rt_term(c, 1);
  c->cut[1][3] = c->cut[3][1] = 1;
  lkv_raft_report_leader_lost(rt_raft(c, 3));
  assert_int_equal(rt_role(c, 3), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_leader(c, 3), 1);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  assert_int_equal(rt_term(c, 3), t);
  rt_free(c);
}

/* An entry larger than every limit still moves: one per message, and one in flight when the window is
 * empty (otherwise the follower would never catch up). A large proposal is taken when nothing is
 * uncommitted. */
static void test_oversized_entry_is_not_stuck(void **state) {
  (void)state;
  size_t v[3] = {4, 10, 10};
  rt_cluster_t *c = rt_new(3, cfg_flow, v);
  rt_elect(c, 1);
  char big[101];
  memset(big, 'B', 100);
  big[100] = 0;
  assert_int_equal(rt_propose(c, 1, big), 0);
  rt_stabilize(c);
  rt_tick_all(c, 2);
  for (lkv_raft_id_t id = 1; id <= 3; id++) {
    uint64_t at = rt_log_find(c, id, big);
    assert_true(at > 0 && rt_commit(c, id) >= at && rt_node(c, id)->sm_applied >= at);
  }
  rt_free(c);

  c = rt_new(3, cfg_uncommitted, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, big), 0); /* nothing uncommitted: taken */
  assert_int_equal(rt_propose(c, 1, "more"), LKV_EPROPOSALDROPPED);
  rt_stabilize(c);
  rt_tick_all(c, 1);
  assert_int_equal(rt_propose(c, 1, "more"), 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inflight_limit_by_count),
      cmocka_unit_test(test_inflight_limit_by_bytes),
      cmocka_unit_test(test_appends_batched_by_bytes),
      cmocka_unit_test(test_probe_sends_one_append_per_heartbeat),
      cmocka_unit_test(test_unreachable_returns_to_probe),
      cmocka_unit_test(test_proposals_forwarded_or_refused),
      cmocka_unit_test(test_max_uncommitted_size_drops),
      cmocka_unit_test(test_report_leader_lost),
      cmocka_unit_test(test_report_leader_lost_needs_pre_vote),
      cmocka_unit_test(test_oversized_entry_is_not_stuck),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
