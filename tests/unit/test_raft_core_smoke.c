/* Smoke test of the Raft core: a 3-member cluster driven by hand through elect, replicate, read, restart. */
#include "raft_testutil.h"

#define N 3

/* Small appends (64 bytes, four in flight) so that the batching tests replicate through many messages. */
static void cfg_smoke(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->max_size_per_msg = 64;
  cfg->max_inflight_msgs = 4;
}

/* Members 1..n with voters 1..n_boot, bootstrapped and with their first batch handled. */
static int start(void **state, size_t n, size_t n_boot) {
  rt_cluster_t *c = rt_new_members(n, n_boot, cfg_smoke, NULL, 1);
  rt_stabilize(c);
  *state = c;
  return 0;
}

static int setup(void **state) {
  return start(state, N, N);
}

/* Three founders and a fourth member, not started yet (its store is empty: it starts fresh). */
static int setup_spare(void **state) {
  start(state, N + 1, N);
  rt_crash(*state, N + 1);
  return 0;
}

/* The harness's safety checks (one leader per term, applied entries never change, ...) stayed silent. */
static int teardown(void **state) {
  rt_cluster_t *c = *state;
  int violations = c->violations;
  if (violations) print_error("%s\n", c->last_violation);
  rt_free(c);
  return violations ? -1 : 0;
}

static void propose(rt_cluster_t *c, lkv_raft_id_t id, const char *s) {
  assert_int_equal(rt_propose(c, id, s), 0);
}

/* Proposes "<prefix>0" .. "<prefix><n-1>" on member id. */
static void propose_numbered(rt_cluster_t *c, lkv_raft_id_t id, const char *prefix, int n) {
  char buf[16];
  for (int k = 0; k < n; k++) {
    snprintf(buf, sizeof(buf), "%s%d", prefix, k);
    propose(c, id, buf);
  }
}

/* Member id campaigns and wins; every up member knows it leads. */
static void elect(rt_cluster_t *c, lkv_raft_id_t id) {
  rt_elect(c, id);
  rt_all_follow(c, id);
}

static void test_bootstrap_applies_membership(void **state) {
  rt_cluster_t *c = *state;
  for (lkv_raft_id_t i = 1; i <= N; i++) {
    lkv_raft_status_t s = rt_st(c, i);
    assert_int_equal(s.conf.n_voters, 3);
    assert_int_equal(s.hard_state.commit, 3);
    assert_int_equal(s.applied, 3);
    assert_int_equal(rt_node(c, i)->n_ents, 3);
    assert_int_equal(rt_node(c, i)->hs.term, 1);
  }
}

static void test_elect_replicate_apply(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 1);
  assert_int_equal(rt_term(c, 1), 2); /* the pre-vote did not raise any term */
  propose(c, 1, "a");
  propose(c, 1, "b");
  propose(c, 2, "c"); /* a follower forwards */
  rt_stabilize(c);
  for (lkv_raft_id_t i = 1; i <= N; i++) {
    assert_int_equal(rt_applied_count(c, i), 3);
    assert_string_equal(rt_applied_nth(c, i, 0), "a");
    assert_string_equal(rt_applied_nth(c, i, 1), "b");
    assert_string_equal(rt_applied_nth(c, i, 2), "c");
    assert_int_equal(rt_commit(c, i), 7); /* 3 conf + empty + 3 */
    assert_int_equal(rt_st(c, i).applied, 7);
  }
  lkv_raft_progress_t p;
  assert_int_equal(lkv_raft_progress(rt_raft(c, 1), 2, &p), 0);
  assert_int_equal(p.match, 7);
  assert_int_equal(p.state, LKV_RAFT_PROGRESS_REPLICATE);
  assert_int_equal(lkv_raft_progress(rt_raft(c, 2), 1, &p), LKV_EPERM);
}

static void test_many_entries_batched(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 2);
  propose_numbered(c, 2, "v", 100);
  rt_stabilize(c);
  for (lkv_raft_id_t i = 1; i <= N; i++) {
    assert_int_equal(rt_applied_count(c, i), 100);
    assert_string_equal(rt_applied_nth(c, i, 99), "v99");
  }
}

static void test_read_index(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 1);
  propose(c, 1, "x");
  rt_stabilize(c);
  uint64_t commit = rt_commit(c, 1);
  assert_int_equal(rt_read(c, 1, "r1"), 0);
  assert_int_equal(rt_read(c, 3, "r3"), 0);
  rt_stabilize(c);
  /* each answer carries its own request's context */
  assert_int_equal(rt_read_result(c, 1, "r1"), commit);
  assert_int_equal(rt_read_result(c, 3, "r3"), commit);
}

static void test_restart_from_restore(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 1);
  propose(c, 1, "a");
  rt_stabilize(c);
  rt_crash(c, 3);
  propose(c, 1, "b");
  rt_stabilize(c);
  rt_lose_state_machine(c, 3);
  rt_start(c, 3);
  /* Its volatile state machine starts empty: membership comes back as the committed entries re-apply. */
  assert_int_equal(rt_st(c, 3).conf.n_voters, 0);
  assert_int_equal(rt_term(c, 3), rt_term(c, 1));
  propose(c, 1, "c");
  rt_stabilize(c);
  for (int t = 0; t < 3; t++) { /* heartbeats carry the commit index to the restarted member */
    rt_tick(c, 1, 1);
    rt_stabilize(c);
  }
  assert_int_equal(rt_applied_count(c, 3), 3);
  assert_string_equal(rt_applied_nth(c, 3, 0), "a");
  assert_string_equal(rt_applied_nth(c, 3, 2), "c");
  assert_int_equal(rt_commit(c, 3), rt_commit(c, 1));
  assert_int_equal(rt_st(c, 3).conf.n_voters, 3);
}

static void test_election_by_ticks(void **state) {
  rt_cluster_t *c = *state;
  /* Nobody leads yet: ticking past the randomized timeout elects someone. */
  for (int t = 0; t < 40 && rt_leader(c, 1) == LKV_RAFT_NONE; t++) rt_tick_all(c, 1);
  lkv_raft_id_t l = rt_leader(c, 1);
  assert_true(l >= 1 && l <= 3);
  rt_all_follow(c, l);
  assert_int_equal(rt_role(c, l), LKV_RAFT_LEADER);
}

static void test_transfer_leader(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 1);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 1), LKV_EINVAL);
  assert_int_equal(lkv_raft_transfer_leader(rt_raft(c, 1), 3), 0);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_LEADER);
  assert_int_equal(rt_leader(c, 1), 3);
  propose(c, 3, "after");
  rt_stabilize(c);
  assert_int_equal(rt_applied_count(c, 1), 1);
}

static void test_add_learner_and_promote(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 1);
  propose(c, 1, "a");
  rt_stabilize(c);
  rt_start(c, 4);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), LKV_ECONFPENDING);
  rt_stabilize(c);
  for (int t = 0; t < 3; t++) {
    rt_tick(c, 1, 1);
    rt_stabilize(c);
  }
  assert_int_equal(rt_st(c, 1).conf.n_learners, 1);
  assert_int_equal(rt_st(c, 4).conf.n_learners, 1);
  assert_int_equal(rt_applied_count(c, 4), 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_NODE, 4), 0);
  rt_stabilize(c);
  assert_int_equal(rt_st(c, 1).conf.n_voters, 4);
  assert_int_equal(rt_st(c, 4).conf.n_voters, 4);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_REMOVE_NODE, 1), 0);
  rt_stabilize(c);
  /* The removed leader stepped down. */
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_st(c, 2).conf.n_voters, 3);
}

static void test_snapshot_catch_up(void **state) {
  rt_cluster_t *c = *state;
  elect(c, 1);
  rt_isolate(c, 3);
  propose_numbered(c, 1, "s", 20);
  rt_stabilize(c);
  lkv_raft_snapshot_meta_t meta = rt_snapshot(c, 1);
  uint64_t at = meta.index;
  assert_int_equal(lkv_raft_set_snapshot(rt_raft(c, 1), &meta), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_compact(rt_raft(c, 1), at - 2), 0);
  lkv_raft_entry_t e;
  assert_int_equal(lkv_raft_entry(rt_raft(c, 1), at - 2, &e), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_entry(rt_raft(c, 1), at - 1, &e), 0);
  rt_heal(c);
  for (int t = 0; t < 4; t++) {
    rt_tick(c, 1, 1);
    rt_stabilize(c);
    lkv_raft_report_snapshot(rt_raft(c, 1), 3, 1);
  }
  propose(c, 1, "post");
  rt_stabilize(c);
  assert_int_equal(rt_st(c, 3).snapshot_index, at);
  assert_int_equal(rt_commit(c, 3), rt_commit(c, 1));
  assert_int_equal(rt_node(c, 3)->snap.index, at);
  assert_int_equal(rt_applied_count(c, 3), 1);
  assert_string_equal(rt_applied_nth(c, 3, 0), "post");
  /* The leader restarts from its own snapshot and still leads the same log. */
  rt_crash(c, 1);
  rt_lose_state_machine(c, 1);
  rt_start(c, 1);
  assert_int_equal(rt_st(c, 1).snapshot_index, at);
  assert_int_equal(rt_st(c, 1).first_index, at + 1);
  rt_stabilize(c);
  assert_int_equal(rt_applied_count(c, 1), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bootstrap_applies_membership, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elect_replicate_apply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_entries_batched, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restart_from_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_election_by_ticks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transfer_leader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_add_learner_and_promote, setup_spare, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_catch_up, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
