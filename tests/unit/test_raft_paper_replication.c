/* Raft paper rules on log replication and commitment (Figure 2, §5.3, §5.4.2 and Figure 8). */
#include "raft_scenarios.h"

/* §5.3: the leader replicates each proposal to every follower; once a majority has it, every member
 * applies it, in the same order. */
static void test_replicates_to_all_and_commits(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  assert_int_equal(rt_propose(c, 1, "b"), 0);
  rt_stabilize(c);
  for (lkv_raft_id_t id = 1; id <= 5; id++) {
    assert_true(rt_applied_data(c, id, "a"));
    assert_true(rt_applied_data(c, id, "b"));
    assert_int_equal(rt_commit(c, id), rt_last(c, 1));
    assert_true(rt_log_find(c, id, "a") < rt_log_find(c, id, "b"));
  }
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* §5.3: the leader commits once a majority holds the entry (not before), and followers learn the commit
 * index from later appends or heartbeats. */
static void test_commit_needs_majority_and_propagates(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  uint64_t i;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"v", 1, &i, NULL), 0);
  rt_process(c, 1);
  rt_drop_matching(c, LKV_RAFT_MSG_APP, 1, 4);
  rt_drop_matching(c, LKV_RAFT_MSG_APP, 1, 5);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_process(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, 2, 1);
  assert_true(rt_commit(c, 1) < i); /* 2 of 5 */
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 3);
  rt_process(c, 3);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, 3, 1);
  assert_true(rt_commit(c, 1) >= i); /* 3 of 5 */
  assert_true(rt_commit(c, 2) < i && rt_commit(c, 3) < i);
  rt_process(c, 1);
  assert_true(rt_applied_data(c, 1, "v"));
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick);
  for (lkv_raft_id_t id = 2; id <= 5; id++) {
    assert_true(rt_commit(c, id) >= i);
    assert_true(rt_applied_data(c, id, "v"));
  }
  rt_free(c);
}

/* §5.3: a follower refuses an append whose previous entry it does not hold, and hints where to retry. */
static void test_follower_rejects_mismatched_prev(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_stabilize(c);
  uint64_t t = rt_term(c, 2), last = rt_last(c, 2);
  lkv_raft_entry_t e = {.term = t, .index = last + 4, .data = (const uint8_t *)"z", .len = 1};
  lkv_raft_msg_t app = rt_msg(LKV_RAFT_MSG_APP, 1, 2, t);
  app.index = last + 3; /* beyond its log */
  app.log_term = t;
  app.entries = &e;
  app.n_entries = 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &app), 0);
  rt_process(c, 2);
  long k = rt_find(c, LKV_RAFT_MSG_APP_RESP, 2, 1);
  assert_true(k >= 0);
  assert_true(c->q[k]->m.reject);
  assert_true(c->q[k]->m.reject_hint <= last);
  assert_int_equal(rt_last(c, 2), last);
  rt_drop_matching(c, 0, 0, 0);

  /* the previous index exists but with another term */
  e.index = last + 1;
  app.index = last;
  app.log_term = t + 1;
  app.term = t + 1;
  e.term = t + 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &app), 0);
  rt_process(c, 2);
  k = rt_find(c, LKV_RAFT_MSG_APP_RESP, 2, 1);
  assert_true(k >= 0);
  assert_true(c->q[k]->m.reject);
  assert_true(c->q[k]->m.reject_hint <= last);
  assert_int_equal(rt_last(c, 2), last);
  rt_free(c);
}

/* Delivers everything until quiet, counting rejected appends answered by member from. */
static size_t stabilize_counting_rejects(rt_cluster_t *c, lkv_raft_id_t from) {
  size_t rejects = 0;
  for (int round = 0;; round++) {
    assert_true(round < 1000);
    int moved = rt_process_all(c) > 0;
    while (c->nq) {
      const lkv_raft_msg_t *m = &c->q[0]->m;
      if (m->type == LKV_RAFT_MSG_APP_RESP && m->from == from && m->reject) rejects++;
      rt_deliver(c, 0);
      moved = 1;
    }
    if (!moved) return rejects;
  }
}

/* §5.3 with the optimization of §5.3's last paragraph: a follower with a long divergent suffix of an old
 * term is caught up with one rejection (the hint skips the whole term), the conflicting suffix is
 * replaced, and the logs end equal. */
static void test_fast_backtracking_and_conflict_truncation(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 1);
  char buf[16];
  for (int k = 0; k < 10; k++) {
    snprintf(buf, sizeof(buf), "old%d", k);
    assert_int_equal(rt_propose(c, 1, buf), 0);
  }
  rt_process(c, 1);
  rt_drop_matching(c, 0, 0, 0);
  rt_elect(c, 2);
  for (int k = 0; k < 10; k++) {
    snprintf(buf, sizeof(buf), "new%d", k);
    assert_int_equal(rt_propose(c, 2, buf), 0);
  }
  rt_stabilize(c);
  rt_elect(c, 3); /* a leader whose probe starts past S1's log */
  rt_heal(c);
  assert_true(rt_last(c, 1) < rt_last(c, 3));
  rt_tick(c, 3, rt_node(c, 3)->cfg.heartbeat_tick);
  size_t rejects = stabilize_counting_rejects(c, 1);
  assert_true(rejects >= 1 && rejects <= 2); /* one per entry would be 11 */
  assert_int_equal(rt_last(c, 1), rt_last(c, 3));
  for (uint64_t i = 1; i <= rt_last(c, 3); i++)
    assert_int_equal(rt_entry_term(c, 1, i), rt_entry_term(c, 3, i));
  assert_int_equal(rt_log_find(c, 1, "old0"), 0);
  assert_true(rt_applied_data(c, 1, "new9"));
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A follower far behind (shorter log, same terms) is also caught up in one rejection. */
static void test_lagging_follower_caught_up_in_one_rejection(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_crash(c, 3);
  for (int k = 0; k < 20; k++) assert_int_equal(rt_propose(c, 1, "p"), 0);
  rt_stabilize(c);
  rt_elect(c, 2);
  rt_start(c, 3);
  rt_tick(c, 2, rt_node(c, 2)->cfg.heartbeat_tick);
  size_t rejects = stabilize_counting_rejects(c, 3);
  assert_true(rejects <= 1);
  assert_int_equal(rt_last(c, 3), rt_last(c, 2));
  assert_int_equal(rt_commit(c, 3), rt_commit(c, 2));
  rt_free(c);
}

/* A duplicated or reordered append whose entries the follower already holds truncates nothing. */
static void test_stale_append_truncates_nothing(void **state) {
  (void)state;
  rs_stale_append_t r = rs_stale_append(0);
  assert_int_equal(r.last_after, r.last_before);
  assert_int_equal(r.violations, 0);
}

/* §5.4.2, Figure 8: entries of earlier terms are never committed by counting replicas. */
static void test_commit_only_current_term_by_counting_figure8(void **state) {
  (void)state;
  rs_figure8_t r = rs_figure8(0);
  assert_true(r.commit_count < r.x_index);
  assert_int_equal(r.violations, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replicates_to_all_and_commits),
      cmocka_unit_test(test_commit_needs_majority_and_propagates),
      cmocka_unit_test(test_follower_rejects_mismatched_prev),
      cmocka_unit_test(test_fast_backtracking_and_conflict_truncation),
      cmocka_unit_test(test_lagging_follower_caught_up_in_one_rejection),
      cmocka_unit_test(test_stale_append_truncates_nothing),
      cmocka_unit_test(test_commit_only_current_term_by_counting_figure8),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
