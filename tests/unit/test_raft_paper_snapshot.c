/* Log compaction and snapshots (Raft paper §7): a lagging follower gets a snapshot, installs a newer one,
 * ignores a stale one; a failed send returns the follower to probing. */
#include "raft_testutil.h"

/* A follower that needs entries the leader compacted gets a SNAP, installs it (the membership comes with
 * it), then catches up with appends and applies what follows. */
static void test_lagging_follower_gets_snapshot(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  uint64_t s = rt_lag_behind_snapshot(c, 1, 3, 5);
  assert_int_equal(rt_entry_term(c, 1, s), 0); /* compacted */
  assert_int_equal(rt_propose(c, 1, "after"), 0);
  rt_stabilize(c);
  rt_tick_all(c, 5 * rt_node(c, 1)->cfg.heartbeat_tick);
  assert_int_equal(rt_node(c, 3)->snap.index, s); /* installed from the leader's SNAP */
  lkv_raft_status_t st;
  rt_status(c, 3, &st);
  assert_true(st.snapshot_index == s && st.first_index == s + 1);
  assert_int_equal(st.conf.n_voters, 3);
  assert_int_equal(rt_last(c, 3), rt_last(c, 1));
  assert_true(rt_applied_data(c, 3, "after"));
  lkv_raft_progress_t pr;
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 3, &pr), 0);
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_REPLICATE);
  assert_int_equal(pr.match, rt_last(c, 1));
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A snapshot at or below the follower's commit index is ignored (it is old news); one beyond its log is
 * installed: log reset to it, commit at its index, membership from it, data handed to the caller. */
static void test_follower_ignores_stale_and_installs_newer_snapshot(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  rt_tick_all(c, 1);
  uint64_t t = rt_term(c, 2), commit = rt_commit(c, 2), last = rt_last(c, 2);
  assert_true(commit >= 3);

  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_SNAP, 1, 2, t);
  m.snapshot.meta.index = commit - 1;
  m.snapshot.meta.term = rt_entry_term(c, 2, commit - 1);
  m.snapshot.meta.conf.n_voters = 3;
  for (int k = 0; k < 3; k++) m.snapshot.meta.conf.voters[k] = (lkv_raft_id_t)k + 1;
  m.snapshot.data = (const uint8_t *)"old";
  m.snapshot.len = 3;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &m), 0);
  lkv_raft_ready_t rd;
  if (lkv_raft_ready(rt_raft(c, 2), &rd)) {
    assert_false(rd.has_snapshot);
    assert_int_equal(lkv_raft_advance(rt_raft(c, 2), &rd), 0);
  }
  assert_int_equal(rt_last(c, 2), last);
  assert_int_equal(rt_commit(c, 2), commit);

  /* newer: beyond the log, in the leader's term, with a membership that adds learner 7 */
  m.snapshot.meta.index = last + 10;
  m.snapshot.meta.term = t;
  m.snapshot.meta.conf.learners[0] = 7;
  m.snapshot.meta.conf.n_learners = 1;
  m.snapshot.data = (const uint8_t *)"newer";
  m.snapshot.len = 5;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &m), 0);
  assert_int_equal(lkv_raft_ready(rt_raft(c, 2), &rd), 1);
  assert_true(rd.has_snapshot);
  assert_int_equal(rd.snapshot.meta.index, last + 10);
  assert_int_equal(rd.snapshot.len, 5);
  assert_memory_equal(rd.snapshot.data, "newer", 5);
  int acked = 0;
  for (size_t k = 0; k < rd.n_msgs_after_persist; k++) {
    const lkv_raft_msg_t *a = &rd.msgs_after_persist[k];
    if (a->type == LKV_RAFT_MSG_APP_RESP && !a->reject && a->index == last + 10) acked = 1;
  }
  for (size_t k = 0; k < rd.n_msgs; k++) assert_true(rd.msgs[k].type != LKV_RAFT_MSG_APP_RESP);
  assert_true(acked);
  assert_int_equal(lkv_raft_advance(rt_raft(c, 2), &rd), 0);
  lkv_raft_status_t st;
  lkv_raft_status(rt_raft(c, 2), &st);
  assert_int_equal(st.snapshot_index, last + 10);
  assert_int_equal(st.last_index, last + 10);
  assert_int_equal(st.hard_state.commit, last + 10);
  assert_int_equal(st.conf.n_learners, 1);
  assert_int_equal(st.conf.learners[0], 7);
  rt_free(c);
}

/* A failed snapshot send returns the follower to probing; a later probe retries. */
static void test_report_snapshot_failure_returns_to_probe(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  c->auto_report_snap = 0;
  rt_elect(c, 1);
  rt_lag_behind_snapshot(c, 1, 3, 3);
  lkv_raft_progress_t pr;
  for (int round = 0; round < 20; round++) {
    rt_tick(c, 1, 1);
    rt_process_all(c);
    assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 3, &pr), 0);
    if (pr.state == LKV_RAFT_PROGRESS_SNAPSHOT) break;
    rt_deliver_queued(c);
    rt_process_all(c);
  }
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_SNAPSHOT);
  assert_true(rt_drop_matching(c, LKV_RAFT_MSG_SNAP, 1, 3) >= 1); /* lost in transit */
  /* while it waits for the snapshot, no appends go to 3 */
  assert_int_equal(rt_propose(c, 1, "q"), 0);
  rt_process(c, 1);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_APP, 1, 3), 0);
  lkv_raft_report_snapshot(rt_raft(c, 1), 3, 0);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 3, &pr), 0);
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_PROBE);
  c->auto_report_snap = 1;
  rt_tick_all(c, 3 * rt_node(c, 1)->cfg.heartbeat_tick);
  assert_true(rt_applied_data(c, 3, "q"));
  rt_free(c);
}

/* set_snapshot and compact refuse what they cannot do. */
static void test_snapshot_and_compact_bounds(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  lkv_raft_status_t st;
  rt_status(c, 1, &st);
  lkv_raft_snapshot_meta_t meta = {.index = st.applied + 1, .conf = st.conf};
  assert_int_equal(lkv_raft_set_snapshot(rt_raft(c, 1), &meta), LKV_EINVAL); /* beyond applied */
  assert_int_equal(lkv_raft_compact(rt_raft(c, 1), st.applied), LKV_EINVAL); /* no snapshot there yet */
  uint64_t s = rt_compact(c, 1);
  meta.index = s;
  assert_int_equal(lkv_raft_set_snapshot(rt_raft(c, 1), &meta), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_compact(rt_raft(c, 1), s), LKV_ECOMPACTED);
  lkv_raft_entry_t e;
  assert_int_equal(lkv_raft_entry(rt_raft(c, 1), s, &e), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_entry(rt_raft(c, 1), rt_last(c, 1) + 1, &e), LKV_ENOENT);
  rt_free(c);
}

/* A late append whose previous entry lies inside the follower's snapshot is old news: answered with an
 * acknowledgement at least at the snapshot, log and snapshot untouched. */
static void test_append_below_snapshot_is_acknowledged(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  uint64_t s = rt_lag_behind_snapshot(c, 1, 3, 5);
  rt_tick_all(c, 4);
  assert_int_equal(rt_node(c, 3)->snap.index, s);
  uint64_t last = rt_last(c, 3), t = rt_term(c, 1);
  lkv_raft_entry_t e[3];
  for (int k = 0; k < 3; k++) {
    e[k] = (lkv_raft_entry_t){.term = t, .index = s - 1 + k, .data = (const uint8_t *)"p", .len = 1};
  }
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_APP, 1, 3, t);
  m.index = s - 2;
  m.log_term = t;
  m.entries = e;
  m.n_entries = 2; /* s-1 and s: both inside the snapshot */
  assert_int_equal(lkv_raft_step(rt_raft(c, 3), &m), 0);
  rt_process(c, 3);
  long k = rt_find(c, LKV_RAFT_MSG_APP_RESP, 3, 1);
  assert_true(k >= 0);
  assert_false(c->q[k]->m.reject);
  assert_true(c->q[k]->m.index >= s);
  assert_int_equal(rt_last(c, 3), last);
  assert_int_equal(rt_node(c, 3)->snap.index, s);
  rt_stabilize(c);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lagging_follower_gets_snapshot),
      cmocka_unit_test(test_follower_ignores_stale_and_installs_newer_snapshot),
      cmocka_unit_test(test_report_snapshot_failure_returns_to_probe),
      cmocka_unit_test(test_snapshot_and_compact_bounds),
      cmocka_unit_test(test_append_below_snapshot_is_acknowledged),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
