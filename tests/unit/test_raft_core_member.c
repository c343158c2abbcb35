/* One Raft member stepped by hand: batches while the log changes, restores, election timers and leases. */
#include "raft_testutil.h"

/* A batch stays valid while the log changes under it: a conflicting append truncates entries the caller
 * is still writing. The durable index must not claim the replaced entries, and the old batch's data must
 * stay readable until advance (ASan checks the latter). */
static void test_truncation_while_batch_outstanding(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(2, 0, NULL, NULL, 1); /* fresh members: 2 is stepped by hand */
  lkv_raft_t *r = rt_raft(c, 2);
  lkv_raft_entry_t e1[] = {{.term = 1, .index = 1, .data = (const uint8_t *)"a", .len = 1},
                           {.term = 1, .index = 2, .data = (const uint8_t *)"b", .len = 1},
                           {.term = 1, .index = 3, .data = (const uint8_t *)"c", .len = 1}};
  lkv_raft_msg_t app = rt_msg(LKV_RAFT_MSG_APP, 1, 2, 2);
  app.commit = 1;
  app.entries = e1;
  app.n_entries = 3;
  assert_int_equal(lkv_raft_step(r, &app), 0);
  lkv_raft_ready_t rd1;
  assert_int_equal(lkv_raft_ready(r, &rd1), 1);
  assert_int_equal(rd1.n_entries, 3);
  assert_int_equal(rd1.n_committed, 1);
  assert_int_equal(lkv_raft_ready(r, &rd1), 0); /* one batch at a time */

  /* A leader of term 3 replaces entries 2 and 3 before the caller acknowledged them. */
  lkv_raft_entry_t e2[] = {{.term = 3, .index = 2, .data = (const uint8_t *)"X", .len = 1}};
  lkv_raft_msg_t app2 = rt_msg(LKV_RAFT_MSG_APP, 3, 2, 3);
  app2.index = 1;
  app2.log_term = 1;
  app2.commit = 1;
  app2.entries = e2;
  app2.n_entries = 1;
  assert_int_equal(lkv_raft_step(r, &app2), 0);
  assert_memory_equal(rd1.entries[1].data, "b", 1);
  assert_memory_equal(rd1.entries[2].data, "c", 1);
  lkv_raft_ready_t copy = rd1;
  copy.entries = NULL;
  assert_int_equal(lkv_raft_advance(r, &copy), LKV_EINVAL); /* not the batch's own arrays */
  assert_int_equal(lkv_raft_advance(r, &rd1), 0);

  lkv_raft_ready_t rd2;
  assert_int_equal(lkv_raft_ready(r, &rd2), 1);
  assert_int_equal(rd2.n_entries, 1); /* index 2 was replaced: it must be written again */
  assert_int_equal(rd2.entries[0].index, 2);
  assert_int_equal(rd2.entries[0].term, 3);
  assert_true(rd2.has_hard_state);
  assert_int_equal(rd2.hard_state.term, 3);
  assert_int_equal(rd2.n_committed, 0);
  assert_int_equal(rd2.n_msgs, 0);
  assert_int_equal(rd2.n_msgs_after_persist, 1);
  assert_int_equal(rd2.msgs_after_persist[0].type, LKV_RAFT_MSG_APP_RESP);
  assert_int_equal(rd2.msgs_after_persist[0].to, 3);
  assert_int_equal(rd2.msgs_after_persist[0].index, 2);
  assert_int_equal(lkv_raft_advance(r, &rd2), 0);
  lkv_raft_status_t s = rt_st(c, 2);
  assert_int_equal(s.last_index, 2);
  assert_int_equal(s.applied, 1);
  assert_int_equal(lkv_raft_ready(r, &rd2), 0);
  rt_free(c);
}

/* A restart with a durable state machine: changes up to applied are in force at once, later ones are handed
 * out to apply; inconsistent durable state is refused. (The restore is built by hand, not from a harness
 * store: the harness always hands over the state machine's membership, and this test is about the one
 * the core derives from the log.) */
static void test_restore_membership_up_to_applied(void **state) {
  (void)state;
  uint8_t buf[4][32];
  lkv_raft_entry_t ents[4];
  for (int i = 0; i < 4; i++) {
    lkv_raft_conf_change_t cc = {.type = i < 3 ? LKV_RAFT_CC_ADD_NODE : LKV_RAFT_CC_ADD_LEARNER,
                                 .node = (lkv_raft_id_t)(i + 1)};
    size_t n = lkv_raft_conf_change_encode(&cc, buf[i], sizeof(buf[i]));
    assert_true(n > 0);
    ents[i] = (lkv_raft_entry_t){
        .term = 1, .index = (uint64_t)i + 1, .type = LKV_RAFT_ENTRY_CONF_CHANGE, .data = buf[i], .len = n};
  }
  uint64_t rng = 1;
  lkv_raft_config_t c;
  lkv_raft_config_default(&c, 1, rt_rand, &rng);
  lkv_raft_restore_t rs = {
      .hard_state = {.term = 2, .vote = 1, .commit = 4}, .entries = ents, .n_entries = 4};
  lkv_raft_t *r;
  lkv_raft_status_t s;

  rs.applied = 4;
  assert_int_equal(lkv_raft_new(&c, &rs, &r), 0);
  lkv_raft_status(r, &s);
  assert_int_equal(s.conf.n_voters, 3);
  assert_int_equal(s.conf.n_learners, 1);
  assert_int_equal(s.applied, 4);
  assert_int_equal(s.hard_state.vote, 1);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(r, &rd), 0); /* nothing new: all durable, all applied */
  lkv_raft_free(r);

  rs.applied = 2;
  assert_int_equal(lkv_raft_new(&c, &rs, &r), 0);
  lkv_raft_status(r, &s);
  assert_int_equal(s.conf.n_voters, 2);
  assert_int_equal(lkv_raft_campaign(r), LKV_EPERM); /* committed changes wait to be applied */
  assert_int_equal(lkv_raft_ready(r, &rd), 1);
  assert_int_equal(rd.n_entries, 0);
  assert_int_equal(rd.n_committed, 2);
  assert_int_equal(rd.committed[0].index, 3);
  assert_int_equal(lkv_raft_advance(r, &rd), LKV_EINVAL); /* the changes were not applied */
  lkv_raft_conf_state_t conf;
  assert_int_equal(lkv_raft_apply_conf_change(r, &rd.committed[1], 1, &conf), LKV_EINVAL); /* out of order */
  assert_int_equal(lkv_raft_apply_conf_change(r, &rd.committed[0], 1, &conf), 0);
  assert_int_equal(conf.n_voters, 3);
  assert_int_equal(lkv_raft_apply_conf_change(r, &rd.committed[1], 0, &conf), 0); /* cancelled */
  assert_int_equal(conf.n_learners, 0);
  assert_int_equal(lkv_raft_advance(r, &rd), 0);
  assert_int_equal(lkv_raft_campaign(r), 0);
  lkv_raft_free(r);

  rs.applied = 5; /* beyond commit */
  assert_int_equal(lkv_raft_new(&c, &rs, &r), LKV_EINVAL);
  rs.applied = 0;
  rs.hard_state.commit = 5; /* beyond the last entry */
  assert_int_equal(lkv_raft_new(&c, &rs, &r), LKV_EINVAL);
  rs.hard_state.commit = 4;
  ents[2].index = 7; /* not contiguous */
  assert_int_equal(lkv_raft_new(&c, &rs, &r), LKV_EINVAL);
  ents[2].index = 3;

  /* A crash kept the entries of a batch but not its hard state: the log shows a later term than the
   * hard state. The member takes that term, with no vote (none of that batch's answers left). */
  ents[3].term = 3;
  assert_int_equal(lkv_raft_new(&c, &rs, &r), 0);
  lkv_raft_status(r, &s);
  assert_int_equal(s.hard_state.term, 3);
  assert_int_equal(s.hard_state.vote, LKV_RAFT_NONE);
  assert_int_equal(lkv_raft_ready(r, &rd), 1);
  assert_true(rd.has_hard_state);
  assert_true(rd.must_sync);
  assert_int_equal(rd.hard_state.term, 3);
  lkv_raft_free(r);
}

static void cfg_fixed_timeout_no_prevote(lkv_raft_config_t *cfg, void *arg) {
  rt_cfg_fixed_timeout(cfg, arg);
  cfg->pre_vote = 0;
}

/* Without pre-vote, a candidate with a stale log keeps raising terms. Refusing its vote must not restart
 * our election timer (Raft: only a leader's append or a granted vote does), or a candidate with a faster
 * clock would keep the cluster leaderless forever. */
static void test_refused_vote_keeps_election_timer(void **state) {
  (void)state;
  /* Only member 1 runs: the others are there to found the cluster with it. */
  rt_cluster_t *c = rt_new_members(3, 3, cfg_fixed_timeout_no_prevote, NULL, 1);
  lkv_raft_t *r = rt_raft(c, 1);
  rt_tick(c, 1, 9);
  lkv_raft_msg_t vote = rt_vote_req(3, 1, 5, 0, 0);
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  lkv_raft_status_t s = rt_st(c, 1);
  assert_int_equal(s.hard_state.term, 5);
  assert_int_equal(s.hard_state.vote, LKV_RAFT_NONE); /* refused: our log is longer */
  rt_tick(c, 1, 10);
  s = rt_st(c, 1);
  assert_int_equal(s.role, LKV_RAFT_CANDIDATE); /* 19 ticks since the last append or granted vote */
  assert_int_equal(s.hard_state.term, 6);
  /* A granted vote does restart it. */
  lkv_raft_msg_t vote2 = rt_vote_req(2, 1, 7, 3, 1);
  rt_tick(c, 1, 5);
  assert_int_equal(lkv_raft_step(r, &vote2), 0);
  assert_int_equal(rt_st(c, 1).hard_state.vote, 2);
  rt_tick(c, 1, 18);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  rt_tick(c, 1, 1);
  assert_int_equal(rt_role(c, 1), LKV_RAFT_CANDIDATE);
  rt_free(c);
}

/* A member that may not campaign (here one that is in no membership yet) still lets its lease on the
 * last leader expire, so it answers the votes of members that count on it. */
static void test_lease_expires_on_member_that_cannot_campaign(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(1, 0, rt_cfg_fixed_timeout, NULL, 1);
  lkv_raft_t *r = rt_raft(c, 1);
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 2, 1, 3);
  assert_int_equal(lkv_raft_step(r, &hb), 0);
  lkv_raft_msg_t vote = rt_vote_req(3, 1, 4, 0, 0);
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  assert_int_equal(rt_term(c, 1), 3); /* ignored: the leader was heard just now */
  rt_tick(c, 1, 20);                  /* past the randomized timeout (19) */
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  lkv_raft_status_t s = rt_st(c, 1);
  assert_int_equal(s.hard_state.term, 4);
  assert_int_equal(s.hard_state.vote, 3);
  rt_free(c);
}

/* A vote request of a lower term is refused with our term (Raft's RequestVote reply), so a candidate that
 * nobody else contacts still learns the term it must beat. */
static void test_lower_term_vote_answered_with_our_term(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new_members(1, 0, NULL, NULL, 1); /* a fresh member, stepped by hand */
  lkv_raft_t *r = rt_raft(c, 1);
  lkv_raft_msg_t hb = rt_msg(LKV_RAFT_MSG_HEARTBEAT, 2, 1, 5);
  assert_int_equal(lkv_raft_step(r, &hb), 0);
  lkv_raft_msg_t vote = rt_vote_req(3, 1, 3, 9, 3);
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(r, &rd), 1);
  int found = 0;
  for (size_t k = 0; k < rd.n_msgs_after_persist; k++) {
    const lkv_raft_msg_t *m = &rd.msgs_after_persist[k];
    if (m->type != LKV_RAFT_MSG_VOTE_RESP) continue;
    found = 1;
    assert_int_equal(m->to, 3);
    assert_true(m->reject);
    assert_int_equal(m->term, 5);
  }
  assert_true(found);
  assert_int_equal(rd.hard_state.term, 5);
  assert_int_equal(rd.hard_state.vote, LKV_RAFT_NONE);
  assert_int_equal(lkv_raft_advance(r, &rd), 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_truncation_while_batch_outstanding),
      cmocka_unit_test(test_restore_membership_up_to_applied),
      cmocka_unit_test(test_refused_vote_keeps_election_timer),
      cmocka_unit_test(test_lease_expires_on_member_that_cannot_campaign),
      cmocka_unit_test(test_lower_term_vote_answered_with_our_term),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
