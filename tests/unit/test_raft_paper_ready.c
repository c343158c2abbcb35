/* The ready/advance contract of raft.h: what may leave before the batch is durable, what may be applied,
 * conf changes applied before advance, malformed input refused without a change, restart from restore. */
#include "raft_testutil.h"

static int in_list(const lkv_raft_msg_t *v, size_t n, uint8_t type) {
  for (size_t i = 0; i < n; i++)
    if (v[i].type == type) return 1;
  return 0;
}

/* Votes (requests and answers) and append acknowledgements leave only after the batch is durable. */
static void test_votes_and_acks_only_after_persist(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  assert_int_equal(lkv_raft_ready(rt_raft(c, 1), &rd), 1);
  assert_true(rd.has_hard_state && rd.hard_state.vote == 1);
  assert_false(in_list(rd.msgs, rd.n_msgs, LKV_RAFT_MSG_VOTE));
  assert_true(in_list(rd.msgs_after_persist, rd.n_msgs_after_persist, LKV_RAFT_MSG_VOTE));
  assert_int_equal(lkv_raft_ready(rt_raft(c, 1), &rd), 0); /* one batch outstanding at a time */
  rt_crash(c, 1);
  rt_start(c, 1);
  rt_elect(c, 1);

  assert_int_equal(rt_propose(c, 1, "a"), 0);
  assert_int_equal(lkv_raft_ready(rt_raft(c, 1), &rd), 1);
  assert_true(rd.n_entries >= 1);
  assert_true(in_list(rd.msgs, rd.n_msgs, LKV_RAFT_MSG_APP)); /* the leader sends while it writes */
  for (size_t i = 0; i < rd.n_msgs; i++) rt_send(c, &rd.msgs[i]);
  for (size_t i = 0; i < rd.n_entries; i++) rt_store_append(rt_node(c, 1), &rd.entries[i]);
  assert_int_equal(lkv_raft_advance(rt_raft(c, 1), &rd), 0);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  assert_int_equal(lkv_raft_ready(rt_raft(c, 2), &rd), 1);
  assert_true(rd.n_entries >= 1);
  assert_false(in_list(rd.msgs, rd.n_msgs, LKV_RAFT_MSG_APP_RESP));
  assert_true(in_list(rd.msgs_after_persist, rd.n_msgs_after_persist, LKV_RAFT_MSG_APP_RESP));
  assert_int_equal(lkv_raft_advance(rt_raft(c, 2), &rd), 0);
  rt_free(c);
}

/* An entry is handed out to apply only once it is durable locally (at the latest by step b of the same
 * batch): a follower that gets entries and a commit index beyond them applies nothing it has not got. */
static void test_committed_never_beyond_persisted(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  rt_heal(c);
  uint64_t a = rt_log_find(c, 1, "a");
  assert_true(rt_commit(c, 1) >= a);
  rt_tick(c, 1, rt_node(c, 1)->cfg.heartbeat_tick);
  for (int round = 0; round < 10 && rt_last(c, 3) < a; round++) {
    rt_process_all(c);
    rt_deliver_queued(c);
  }
  assert_true(rt_last(c, 3) >= a && rt_commit(c, 3) >= a);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(rt_raft(c, 3), &rd), 1);
  uint64_t durable = rt_store_last(rt_node(c, 3));
  assert_true(durable < a);
  /* this batch persists its entries (step b) before it applies (step d): nothing beyond them */
  uint64_t after = rd.n_entries ? rd.entries[rd.n_entries - 1].index : durable;
  for (size_t i = 0; i < rd.n_committed; i++) assert_true(rd.committed[i].index <= after);
  rt_node_t *n = rt_node(c, 3);
  for (size_t i = 0; i < rd.n_entries; i++) rt_store_append(n, &rd.entries[i]);
  if (rd.has_hard_state) n->hs = rd.hard_state;
  for (size_t i = 0; i < rd.n_committed; i++) rt_apply(c, n, &rd.committed[i]);
  assert_int_equal(lkv_raft_advance(rt_raft(c, 3), &rd), 0);
  rt_process(c, 3);
  assert_true(rt_applied_data(c, 3, "a"));
  rt_free(c);
}

/* advance refuses a batch whose committed CONF_CHANGE entry was not given to apply_conf_change; apply
 * refuses an entry that is not the next conf change of the batch. */
static void test_advance_requires_conf_change_applied(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(4, 3, NULL, NULL, 1);
  rt_elect(c, 1);
  assert_int_equal(rt_propose_cc(c, 1, LKV_RAFT_CC_ADD_LEARNER, 4), 0);
  lkv_raft_ready_t rd;
  const lkv_raft_entry_t *cc = NULL;
  for (int round = 0; round < 10 && !cc; round++) {
    rt_process(c, 2);
    rt_process(c, 3);
    rt_deliver_queued(c);
    if (!lkv_raft_ready(rt_raft(c, 1), &rd)) continue;
    for (size_t i = 0; i < rd.n_committed; i++)
      if (rd.committed[i].type == LKV_RAFT_ENTRY_CONF_CHANGE) cc = &rd.committed[i];
    if (cc) break;
    for (size_t i = 0; i < rd.n_msgs; i++) rt_send(c, &rd.msgs[i]);
    for (size_t i = 0; i < rd.n_entries; i++) rt_store_append(rt_node(c, 1), &rd.entries[i]);
    for (size_t i = 0; i < rd.n_msgs_after_persist; i++) rt_send(c, &rd.msgs_after_persist[i]);
    for (size_t i = 0; i < rd.n_committed; i++) rt_apply(c, rt_node(c, 1), &rd.committed[i]);
    assert_int_equal(lkv_raft_advance(rt_raft(c, 1), &rd), 0);
  }
  assert_non_null(cc);
  assert_int_equal(lkv_raft_advance(rt_raft(c, 1), &rd), LKV_EINVAL);
  lkv_raft_entry_t fake = *cc;
  fake.index = cc->index + 100;
  assert_int_equal(lkv_raft_apply_conf_change(rt_raft(c, 1), &fake, 1, NULL), LKV_EINVAL);
  for (size_t i = 0; i < rd.n_entries; i++) rt_store_append(rt_node(c, 1), &rd.entries[i]);
  for (size_t i = 0; i < rd.n_committed; i++) rt_apply(c, rt_node(c, 1), &rd.committed[i]);
  assert_int_equal(lkv_raft_advance(rt_raft(c, 1), &rd), 0);
  assert_int_equal(rt_node(c, 1)->conf.n_learners, 1);
  rt_free(c);
}

static void assert_refused_unchanged(rt_cluster_t *c, lkv_raft_id_t id, const lkv_raft_msg_t *m) {
  lkv_raft_status_t before, after;
  rt_status(c, id, &before);
  assert_int_equal(lkv_raft_step(rt_raft(c, id), m), LKV_EINVAL);
  rt_status(c, id, &after);
  assert_int_equal(after.hard_state.term, before.hard_state.term);
  assert_int_equal(after.hard_state.commit, before.hard_state.commit);
  assert_int_equal(after.last_index, before.last_index);
  assert_int_equal(after.leader, before.leader);
  assert_int_equal(after.role, before.role);
}

/* Malformed messages are refused with LKV_EINVAL and change nothing, even with a higher term. */
static void test_step_rejects_malformed_messages(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  uint64_t t = rt_term(c, 2), last = rt_last(c, 2);
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 1, 3, t + 1); /* wrong recipient */
  assert_refused_unchanged(c, 2, &m);
  m = rt_msg(99, 1, 2, t + 1); /* unknown type */
  assert_refused_unchanged(c, 2, &m);
  m = rt_msg(0, 1, 2, t + 1);
  assert_refused_unchanged(c, 2, &m);
  lkv_raft_entry_t e[2] = {{.term = t, .index = last + 1}, {.term = t, .index = last + 3}};
  m = rt_msg(LKV_RAFT_MSG_APP, 1, 2, t + 1); /* entries not contiguous */
  m.index = last;
  m.log_term = rt_entry_term(c, 2, last);
  m.entries = e;
  m.n_entries = 2;
  assert_refused_unchanged(c, 2, &m);
  e[1].index = last + 2;
  e[0].index = last + 5; /* not following m.index */
  e[1].index = last + 6;
  assert_refused_unchanged(c, 2, &m);
  lkv_raft_msg_t snap = rt_msg(LKV_RAFT_MSG_SNAP, 1, 2, t + 1); /* a membership with a duplicate voter */
  snap.snapshot.meta.index = last + 10;
  snap.snapshot.meta.term = t + 1;
  snap.snapshot.meta.conf.n_voters = 2;
  snap.snapshot.meta.conf.voters[0] = snap.snapshot.meta.conf.voters[1] = 1;
  assert_refused_unchanged(c, 2, &snap);
  snap.snapshot.meta.conf.n_voters = LKV_RAFT_MAX_MEMBERS + 1; /* more than fit */
  assert_refused_unchanged(c, 2, &snap);
  e[0].index = last + 1; /* decreasing terms */
  e[1].index = last + 2;
  e[0].term = t + 1;
  e[1].term = t;
  assert_refused_unchanged(c, 2, &m);
  rt_free(c);
}

/* Every member restarts from its durable state (one of them while replicating) and the cluster goes on:
 * entries committed before survive, terms never go back, new entries commit. */
static void test_restart_from_restore_continues(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "before"), 0);
  rt_stabilize(c);
  assert_int_equal(rt_propose(c, 1, "in-flight"), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  uint64_t t = rt_term(c, 1), b = rt_log_find(c, 1, "before");
  for (lkv_raft_id_t id = 1; id <= 3; id++) rt_restart(c, id);
  rt_drop_matching(c, 0, 0, 0);
  for (lkv_raft_id_t id = 1; id <= 3; id++) {
    assert_int_equal(rt_term(c, id), t);
    assert_true(rt_commit(c, id) >= b);
    assert_int_equal(rt_log_find(c, id, "before"), b);
    assert_int_equal(rt_role(c, id), LKV_RAFT_FOLLOWER);
    lkv_raft_status_t st;
    rt_status(c, id, &st);
    assert_int_equal(st.conf.n_voters, 3);
    assert_int_equal(st.applied, rt_node(c, id)->sm_applied);
  }
  rt_tick_all(c, 3 * rt_node(c, 1)->cfg.election_tick);
  lkv_raft_id_t l = 0;
  for (lkv_raft_id_t id = 1; id <= 3; id++)
    if (rt_role(c, id) == LKV_RAFT_LEADER) l = id;
  assert_true(l != 0);
  assert_true(rt_term(c, l) > t);
  assert_int_equal(rt_propose(c, l, "after"), 0);
  rt_stabilize(c);
  for (lkv_raft_id_t id = 1; id <= 3; id++) assert_true(rt_applied_data(c, id, "after"));
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A restart with the state machine's applied index at the snapshot (0) re-delivers the committed
 * entries, conf changes included; the membership is rebuilt from them. */
static void test_restart_replays_committed_entries(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "x"), 0);
  rt_stabilize(c);
  rt_node_t *n = rt_node(c, 2);
  uint64_t applied = n->sm_applied;
  rt_crash(c, 2);
  n->sm_applied = 0;
  memset(c->hist, 0, sizeof(c->hist)); /* the replay is checked against the others again below */
  rt_start(c, 2);
  rt_process(c, 2);
  assert_int_equal(n->sm_applied, applied);
  assert_true(rt_applied_data(c, 2, "x"));
  lkv_raft_status_t st;
  rt_status(c, 2, &st);
  assert_int_equal(st.conf.n_voters, 3);
  assert_int_equal(n->conf.n_voters, 3);
  rt_free(c);
}

/* lkv_raft_new refuses an inconsistent restore and a bad config. */
static void test_new_refuses_bad_input(void **state) {
  (void)state;
  uint64_t seed = 1;
  lkv_raft_config_t cfg;
  lkv_raft_config_default(&cfg, 1, rt_rand, &seed);
  lkv_raft_t *r = NULL;
  lkv_raft_entry_t e[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
  lkv_raft_restore_t rs = {.hard_state = {.term = 1, .commit = 3}, .entries = e, .n_entries = 2};
  assert_int_equal(lkv_raft_new(&cfg, &rs, &r), LKV_EINVAL); /* commit beyond the log */
  rs.hard_state.commit = 2;
  rs.applied = 3;
  assert_int_equal(lkv_raft_new(&cfg, &rs, &r), LKV_EINVAL); /* applied beyond commit */
  rs.applied = 0;
  e[0].index = 2;
  e[1].index = 3;
  assert_int_equal(lkv_raft_new(&cfg, &rs, &r), LKV_EINVAL); /* does not follow the snapshot */
  cfg.election_tick = cfg.heartbeat_tick;
  assert_int_equal(lkv_raft_config_validate(&cfg), LKV_EINVAL);
  assert_int_equal(lkv_raft_new(&cfg, NULL, &r), LKV_EINVAL);
  lkv_raft_config_default(&cfg, 0, rt_rand, &seed);
  assert_int_equal(lkv_raft_config_validate(&cfg), LKV_EINVAL);
  assert_null(r);
}

/* bootstrap refuses what would make members disagree about the founding membership. */
static void test_bootstrap_validation(void **state) {
  (void)state;
  uint64_t seed = 1;
  lkv_raft_config_t cfg;
  lkv_raft_config_default(&cfg, 1, rt_rand, &seed);
  lkv_raft_t *r;
  assert_int_equal(lkv_raft_new(&cfg, NULL, &r), 0);
  lkv_raft_id_t dup[3] = {1, 2, 2}, zero[2] = {1, 0}, ok[LKV_RAFT_MAX_MEMBERS + 1];
  for (size_t i = 0; i <= LKV_RAFT_MAX_MEMBERS; i++) ok[i] = i + 1;
  assert_int_equal(lkv_raft_bootstrap(r, ok, 0), LKV_EINVAL);
  assert_int_equal(lkv_raft_bootstrap(r, dup, 3), LKV_EINVAL);
  assert_int_equal(lkv_raft_bootstrap(r, zero, 2), LKV_EINVAL);
  assert_int_equal(lkv_raft_bootstrap(r, ok, LKV_RAFT_MAX_MEMBERS + 1), LKV_EINVAL);
  assert_int_equal(lkv_raft_bootstrap(r, ok, 3), 0);
  assert_int_equal(lkv_raft_bootstrap(r, ok, 3), LKV_EINVAL); /* no longer fresh */
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(r, &rd), 1);
  assert_int_equal(rd.n_entries, 3);
  assert_int_equal(rd.n_committed, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(rd.entries[i].index, i + 1);
    assert_int_equal(rd.entries[i].term, 1);
    assert_int_equal(rd.entries[i].type, LKV_RAFT_ENTRY_CONF_CHANGE);
    assert_int_equal(lkv_raft_apply_conf_change(r, &rd.committed[i], 1, NULL), 0);
  }
  assert_int_equal(lkv_raft_advance(r, &rd), 0);
  assert_int_equal(lkv_raft_advance(r, &rd), LKV_EINVAL); /* not outstanding any more */
  lkv_raft_free(r);
}

/* A batch says what needs a flush: only batches with entries, hard state or a snapshot set must_sync;
 * hard state is handed out only when it changed; soft state changes are flagged. */
static void test_ready_flags(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_tick_all(c, 1);
  lkv_raft_ready_t rd;
  rt_tick(c, 1, rt_node(c, 1)->cfg.heartbeat_tick); /* heartbeats only */
  assert_int_equal(lkv_raft_ready(rt_raft(c, 1), &rd), 1);
  assert_true(rd.n_msgs > 0);
  assert_false(rd.must_sync);
  assert_false(rd.has_hard_state);
  assert_int_equal(rd.n_entries, 0);
  assert_int_equal(lkv_raft_advance(rt_raft(c, 1), &rd), 0);
  rt_drop_matching(c, 0, 0, 0);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  assert_int_equal(lkv_raft_ready(rt_raft(c, 1), &rd), 1);
  assert_true(rd.must_sync && rd.n_entries == 1);
  rt_handle(c, 1, &rd, RT_UPTO_ALL);
  rt_stabilize(c);
  /* a follower that learns of a new leader flags the soft state change */
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 3, 2, rt_term(c, 2) + 1);
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &hb), 0);
  assert_int_equal(lkv_raft_ready(rt_raft(c, 2), &rd), 1);
  assert_true(rd.soft_state_changed);
  assert_int_equal(rd.leader, 3);
  assert_int_equal(rd.role, LKV_RAFT_FOLLOWER);
  assert_true(rd.has_hard_state && rd.must_sync);
  rt_handle(c, 2, &rd, RT_UPTO_ALL);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_votes_and_acks_only_after_persist),
      cmocka_unit_test(test_committed_never_beyond_persisted),
      cmocka_unit_test(test_advance_requires_conf_change_applied),
      cmocka_unit_test(test_step_rejects_malformed_messages),
      cmocka_unit_test(test_restart_from_restore_continues),
      cmocka_unit_test(test_restart_replays_committed_entries),
      cmocka_unit_test(test_new_refuses_bad_input),
      cmocka_unit_test(test_bootstrap_validation),
      cmocka_unit_test(test_ready_flags),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
