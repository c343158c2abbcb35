/* Raft paper rules on terms and elections (Figure 2, §5.1, §5.2, §5.4.1). */
#include "raft_testutil.h"

/* Makes member id follow `leader` in the next term by a heartbeat (as if leader had won an election). */
static void follow_newer_leader(rt_cluster_t *c, lkv_raft_id_t id, lkv_raft_id_t leader) {
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, leader, id, rt_term(c, id) + 1);
  assert_int_equal(lkv_raft_step(rt_raft(c, id), &hb), 0);
  rt_process(c, id);
  rt_drop_matching(c, 0, 0, 0);
  assert_int_equal(rt_leader(c, id), leader);
}

/* §5.1: a member that sees a higher term adopts it and becomes (or stays) follower. */
static void test_follower_updates_term_from_higher_term_message(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  uint64_t t = rt_term(c, 2);
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 3, 2, t + 5);
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &hb), 0);
  assert_int_equal(rt_term(c, 2), t + 5);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_leader(c, 2), 3);
  rt_process(c, 2);
  assert_int_equal(rt_node(c, 2)->hs.term, t + 5); /* made durable */
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* §5.2: a candidate that hears from a leader of its own term returns to follower. */
static void test_candidate_becomes_follower_on_append_of_same_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_CANDIDATE);
  uint64_t t = rt_term(c, 1);
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 2, 1, t);
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &hb), 0);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_term(c, 1), t);
  assert_int_equal(rt_leader(c, 1), 2);
  rt_free(c);
}

/* Figure 2: candidates and leaders step down on a higher term. */
static void test_candidate_and_leader_step_down_on_higher_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  uint64_t t = rt_term(c, 1);
  lkv_raft_msg_t resp = rt_msg(LKV_RAFT_MSG_VOTE_RESP, 2, 1, t + 1);
  resp.reject = 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 1), &resp), 0);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_term(c, 1), t + 1);

  rt_stabilize(c);
  rt_elect(c, 3);
  t = rt_term(c, 3);
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 2, 3, t + 2);
  assert_int_equal(lkv_raft_step(rt_raft(c, 3), &hb), 0);
  assert_int_equal(rt_role(c, 3), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_term(c, 3), t + 2);
  assert_int_equal(rt_leader(c, 3), 2);
  rt_free(c);
}

/* §5.1: a lower-term append is refused: the log and term do not change. With pre_vote or check_quorum the
 * member answers with its term so that a stale leader learns it is stale; without them it stays silent. */
static void check_lower_term_append(rt_cfg_fn fn, int answered) {
  rt_cluster_t *c = rt_new(3, fn, NULL);
  rt_elect(c, 1);
  follow_newer_leader(c, 3, 2);
  uint64_t t = rt_term(c, 3), last = rt_last(c, 3);
  lkv_raft_entry_t e = {.term = t - 1, .index = last + 1, .data = (const uint8_t *)"stale", .len = 5};
  lkv_raft_msg_t app = rt_msg(LKV_RAFT_MSG_APP, 1, 3, t - 1);
  app.index = last;
  app.log_term = rt_entry_term(c, 3, last);
  app.entries = &e;
  app.n_entries = 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 3), &app), 0);
  rt_process(c, 3);
  assert_int_equal(rt_last(c, 3), last);
  assert_int_equal(rt_term(c, 3), t);
  assert_int_equal(rt_leader(c, 3), 2);
  long i = rt_find(c, LKV_RAFT_MSG_APP_RESP, 3, 1);
  if (answered) {
    assert_true(i >= 0);
    assert_int_equal(c->q[i]->m.term, t);
  } else {
    assert_int_equal(i, -1);
  }
  rt_free(c);
}

static void cfg_pv_only(lkv_raft_config_t *cfg, void *arg) {
  (void)arg;
  cfg->check_quorum = 0;
}

static void test_rejects_lower_term_append(void **state) {
  (void)state;
  check_lower_term_append(rt_cfg_plain, 0);
  check_lower_term_append(NULL, 1);
  check_lower_term_append(cfg_pv_only, 1);
}

/* A lower-term pre-vote is rejected with the member's term (etcd answers so the pre-candidate learns). */
static void test_rejects_lower_term_pre_vote(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  follow_newer_leader(c, 3, 2);
  uint64_t t = rt_term(c, 3), idx, lt;
  rt_last_of(c, 3, &idx, &lt);
  lkv_raft_msg_t pv = rt_msg(LKV_RAFT_MSG_PRE_VOTE, 1, 3, t - 1);
  pv.index = idx + 10;
  pv.log_term = lt;
  assert_int_equal(lkv_raft_step(rt_raft(c, 3), &pv), 0);
  rt_process(c, 3);
  long i = rt_find(c, LKV_RAFT_MSG_PRE_VOTE_RESP, 3, 1);
  assert_true(i >= 0);
  assert_true(c->q[i]->m.reject);
  assert_int_equal(c->q[i]->m.term, t);
  assert_int_equal(rt_term(c, 3), t);
  rt_free(c);
}

/* §5.2 with PreVote (CheckQuorum off so the old leader does not step down by itself): a deposed leader
 * that comes back steps down on the first answer to its heartbeat. */
static void test_stale_leader_steps_down_when_answered(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, cfg_pv_only, NULL);
  rt_elect(c, 1);
  uint64_t t1 = rt_term(c, 1);
  rt_isolate(c, 1);
  rt_elect(c, 2);
  assert_true(rt_term(c, 2) > t1);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER); /* it has not noticed yet */
  rt_heal(c);
  rt_tick(c, 1, rt_node(c, 1)->cfg.heartbeat_tick);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  assert_int_equal(rt_term(c, 1), rt_term(c, 2));
  assert_int_equal(rt_role(c, 2), LKV_RAFT_LEADER);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* Ticks member id until it leaves the follower role; fails after max ticks. Returns the ticks taken. */
static unsigned tick_until_not_follower(rt_cluster_t *c, lkv_raft_id_t id, unsigned max) {
  unsigned ticks = 0;
  while (rt_role(c, id) == LKV_RAFT_FOLLOWER) {
    assert_true(ticks < max);
    rt_tick(c, id, 1);
    ticks++;
  }
  return ticks;
}

/* §5.2: a follower that hears nothing for an election timeout campaigns: term + 1, votes for itself, asks
 * every voter (after its vote is durable). */
static void test_election_timeout_starts_campaign(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  uint64_t t = rt_term(c, 2);
  unsigned et = rt_node(c, 2)->cfg.election_tick;
  tick_until_not_follower(c, 2, 2 * et);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_CANDIDATE);
  assert_int_equal(rt_term(c, 2), t + 1);
  rt_process(c, 2);
  assert_int_equal(rt_node(c, 2)->hs.term, t + 1);
  assert_int_equal(rt_node(c, 2)->hs.vote, 2);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_VOTE, 2, 1), 1);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_VOTE, 2, 3), 1);
  assert_int_equal(c->q[rt_find(c, LKV_RAFT_MSG_VOTE, 2, 1)]->m.term, t + 1);
  rt_free(c);

  /* with pre-vote the member first asks for pre-votes for term + 1 without raising its own term */
  c = rt_new(3, NULL, NULL);
  t = rt_term(c, 2);
  tick_until_not_follower(c, 2, 2 * et);
  assert_int_equal(rt_role(c, 2), LKV_RAFT_PRE_CANDIDATE);
  assert_int_equal(rt_term(c, 2), t);
  rt_process(c, 2);
  long i = rt_find(c, LKV_RAFT_MSG_PRE_VOTE, 2, 3);
  assert_true(i >= 0);
  assert_int_equal(c->q[i]->m.term, t + 1);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_VOTE, 0, 0), 0);
  rt_free(c);
}

/* §5.2: election timeouts are drawn in [et, 2et), and differ between draws. */
static void test_election_timeouts_randomized(void **state) {
  (void)state;
  int seen[64] = {0};
  unsigned et = 0;
  for (uint64_t seed = 1; seed <= 40; seed++) {
    rt_cluster_t *c = rt_new_members(3, 3, rt_cfg_plain, NULL, seed);
    et = rt_node(c, 1)->cfg.election_tick;
    assert_true(2 * et < 64);
    unsigned ticks = tick_until_not_follower(c, 1, 2 * et);
    assert_true(ticks >= et && ticks < 2 * et);
    seen[ticks]++;
    rt_free(c);
  }
  unsigned distinct = 0;
  for (unsigned k = 0; k < 64; k++) distinct += seen[k] > 0 ? 1u : 0u;
  assert_true(distinct >= et / 2);
}

/* §5.2: a candidate wins with votes from a majority (here 3 of 5, two requests lost). */
static void test_candidate_wins_with_majority(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, rt_cfg_plain, NULL);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  rt_process(c, 1);
  rt_drop_matching(c, LKV_RAFT_MSG_VOTE, 1, 4);
  rt_drop_matching(c, LKV_RAFT_MSG_VOTE, 1, 5);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 1, 2);
  rt_process(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE_RESP, 2, 1);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_CANDIDATE); /* 2 of 5 */
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 1, 3);
  rt_process(c, 3);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE_RESP, 3, 1);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  rt_free(c);
}

/* §5.2: a candidate rejected by a majority does not lead; split votes lead to a new election in a later
 * term after a timeout. */
static void test_split_vote_retries_in_next_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(4, rt_cfg_plain, NULL);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 1)), 0);
  assert_int_equal(lkv_raft_campaign(rt_raft(c, 2)), 0);
  uint64_t t = rt_term(c, 1);
  assert_int_equal(rt_term(c, 2), t);
  rt_process(c, 1);
  rt_process(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 1, 3); /* 3 votes for 1, 4 for 2 */
  rt_deliver_matching(c, LKV_RAFT_MSG_VOTE, 2, 4);
  rt_stabilize(c);
  assert_true(rt_role(c, 1) != LKV_RAFT_LEADER); /* 2 of 4 each: nobody wins term t */
  assert_true(rt_role(c, 2) != LKV_RAFT_LEADER);
  assert_int_equal(c->leader_of[t], 0);
  unsigned et = rt_node(c, 1)->cfg.election_tick, ticks = 0;
  while (rt_term(c, 1) == t) {
    assert_true(ticks++ < 2 * et);
    rt_tick(c, 1, 1);
  }
  assert_int_equal(rt_term(c, 1), t + 1);
  rt_stabilize(c);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_LEADER);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* §5.2: at most one vote per term (first come, first served); the same candidate may ask again; a new
 * term resets the vote. */
static void test_one_vote_per_term_and_reset_on_new_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  uint64_t t = rt_term(c, 3), idx, lt;
  rt_last_of(c, 3, &idx, &lt);
  lkv_raft_msg_t v1 = rt_vote_req(1, 3, t + 1, idx, lt), v2 = rt_vote_req(2, 3, t + 1, idx, lt);
  assert_int_equal(rt_vote_answer(c, &v1), 0);
  assert_int_equal(rt_node(c, 3)->hs.vote, 1);
  assert_int_equal(rt_vote_answer(c, &v2), 1);
  assert_int_equal(rt_vote_answer(c, &v1), 0); /* a retransmitted request is granted again */
  lkv_raft_msg_t v3 = rt_vote_req(2, 3, t + 2, idx, lt);
  assert_int_equal(rt_vote_answer(c, &v3), 0);
  assert_int_equal(rt_node(c, 3)->hs.term, t + 2);
  assert_int_equal(rt_node(c, 3)->hs.vote, 2);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* §5.4.1: votes go only to candidates whose log is at least as up-to-date: last term first, then index. */
static void test_vote_requires_up_to_date_log(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  assert_int_equal(rt_propose(c, 1, "b"), 0);
  rt_stabilize(c);
  uint64_t t = rt_term(c, 3), idx, lt;
  rt_last_of(c, 3, &idx, &lt);
  assert_true(lt >= 2 && idx >= 3);
  struct {
    uint64_t index, log_term;
    int reject;
  } cases[] = {
      {idx - 1, lt + 1, 0}, /* a higher last term wins even with a shorter log */
      {idx - 1, lt, 1},     /* same term, shorter */
      {idx, lt, 0},         /* equal */
      {idx + 1, lt, 0},     /* same term, longer */
      {idx + 5, lt - 1, 1}, /* lower last term loses even with a longer log */
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    lkv_raft_msg_t v = rt_vote_req(2, 3, t + 1 + k, cases[k].index, cases[k].log_term);
    assert_int_equal(rt_vote_answer(c, &v), cases[k].reject);
  }
  rt_free(c);
}

/* §5.4.2 / §8: a new leader appends an empty entry of its term at once, and commits it. */
static void test_leader_appends_empty_entry_on_election(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  uint64_t last = rt_last(c, 1);
  rt_elect(c, 1);
  uint64_t t = rt_term(c, 1);
  assert_int_equal(rt_last(c, 1), last + 1);
  lkv_raft_entry_t e;
  assert_int_equal(lkv_raft_entry(rt_raft(c, 1), last + 1, &e), 0);
  assert_int_equal(e.term, t);
  assert_int_equal(e.type, LKV_RAFT_ENTRY_NORMAL);
  assert_int_equal(e.len, 0);
  assert_true(rt_commit(c, 1) >= last + 1);
  rt_tick_all(c, rt_node(c, 1)->cfg.heartbeat_tick); /* followers learn the commit index */
  for (lkv_raft_id_t id = 2; id <= 3; id++) assert_true(rt_commit(c, id) >= last + 1);
  rt_free(c);
}

/* Figure 2 (persistent state): a vote made durable survives a restart, so the member cannot vote for
 * another candidate in the same term afterwards. */
static void test_vote_survives_restart(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  uint64_t t = rt_term(c, 3), idx, lt;
  rt_last_of(c, 3, &idx, &lt);
  lkv_raft_msg_t v1 = rt_vote_req(1, 3, t + 1, idx, lt), v2 = rt_vote_req(2, 3, t + 1, idx, lt);
  assert_int_equal(rt_vote_answer(c, &v1), 0);
  rt_restart(c, 3);
  assert_int_equal(rt_term(c, 3), t + 1);
  assert_int_equal(rt_vote_answer(c, &v2), 1);
  assert_int_equal(rt_vote_answer(c, &v1), 0);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_follower_updates_term_from_higher_term_message),
      cmocka_unit_test(test_candidate_becomes_follower_on_append_of_same_term),
      cmocka_unit_test(test_candidate_and_leader_step_down_on_higher_term),
      cmocka_unit_test(test_rejects_lower_term_append),
      cmocka_unit_test(test_rejects_lower_term_pre_vote),
      cmocka_unit_test(test_stale_leader_steps_down_when_answered),
      cmocka_unit_test(test_election_timeout_starts_campaign),
      cmocka_unit_test(test_election_timeouts_randomized),
      cmocka_unit_test(test_candidate_wins_with_majority),
      cmocka_unit_test(test_split_vote_retries_in_next_term),
      cmocka_unit_test(test_one_vote_per_term_and_reset_on_new_term),
      cmocka_unit_test(test_vote_survives_restart),
      cmocka_unit_test(test_vote_requires_up_to_date_log),
      cmocka_unit_test(test_leader_appends_empty_entry_on_election),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
