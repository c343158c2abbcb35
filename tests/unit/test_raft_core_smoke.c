/* Smoke test of the Raft core: a 3-member cluster driven by hand through elect, replicate, read, restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "raft_core_harness.h"

#define N 3

static int setup(void **state) {
  (void)state;
  cluster_start(N);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  cluster_free();
  return 0;
}

static void propose(int i, const char *s) {
  assert_int_equal(lkv_raft_propose(nodes[i].r, (const uint8_t *)s, strlen(s), NULL, NULL), 0);
}

static void elect(int i) {
  assert_int_equal(lkv_raft_campaign(nodes[i].r), 0);
  stabilize();
  assert_int_equal(status(i).role, LKV_RAFT_LEADER);
  for (int j = 1; j <= n_nodes; j++)
    if (!nodes[j].down) assert_int_equal(status(j).leader, (lkv_raft_id_t)i);
}

static void test_bootstrap_applies_membership(void **state) {
  (void)state;
  for (int i = 1; i <= N; i++) {
    lkv_raft_status_t s = status(i);
    assert_int_equal(s.conf.n_voters, 3);
    assert_int_equal(s.hard_state.commit, 3);
    assert_int_equal(s.applied, 3);
    assert_int_equal(nodes[i].st.n, 3);
    assert_int_equal(nodes[i].st.hs.term, 1);
  }
}

static void test_elect_replicate_apply(void **state) {
  (void)state;
  elect(1);
  assert_int_equal(status(1).hard_state.term, 2); /* the pre-vote did not raise any term */
  propose(1, "a");
  propose(1, "b");
  propose(2, "c"); /* a follower forwards */
  stabilize();
  for (int i = 1; i <= N; i++) {
    assert_int_equal(nodes[i].n_applied, 3);
    assert_string_equal(nodes[i].applied_data[0], "a");
    assert_string_equal(nodes[i].applied_data[1], "b");
    assert_string_equal(nodes[i].applied_data[2], "c");
    assert_int_equal(status(i).hard_state.commit, 7); /* 3 conf + empty + 3 */
    assert_int_equal(status(i).applied, 7);
  }
  lkv_raft_progress_t p;
  assert_int_equal(lkv_raft_progress(nodes[1].r, 2, &p), 0);
  assert_int_equal(p.match, 7);
  assert_int_equal(p.state, LKV_RAFT_PROGRESS_REPLICATE);
  assert_int_equal(lkv_raft_progress(nodes[2].r, 1, &p), LKV_EPERM);
}

static void test_many_entries_batched(void **state) {
  (void)state;
  elect(2);
  char buf[16];
  for (int k = 0; k < 100; k++) {
    snprintf(buf, sizeof(buf), "v%d", k);
    propose(2, buf);
  }
  stabilize();
  for (int i = 1; i <= N; i++) {
    assert_int_equal(nodes[i].n_applied, 100);
    assert_string_equal(nodes[i].applied_data[99], "v99");
  }
}

static void test_read_index(void **state) {
  (void)state;
  elect(1);
  propose(1, "x");
  stabilize();
  uint64_t commit = status(1).hard_state.commit;
  assert_int_equal(lkv_raft_read_index(nodes[1].r, (const uint8_t *)"r1", 2), 0);
  assert_int_equal(lkv_raft_read_index(nodes[3].r, (const uint8_t *)"r3", 2), 0);
  stabilize();
  assert_int_equal(nodes[1].read_index, commit);
  assert_string_equal(nodes[1].read_ctx, "r1");
  assert_int_equal(nodes[3].read_index, commit);
  assert_string_equal(nodes[3].read_ctx, "r3");
}

static void test_restart_from_restore(void **state) {
  (void)state;
  elect(1);
  propose(1, "a");
  stabilize();
  crash(3);
  propose(1, "b");
  stabilize();
  restart(3);
  /* Its volatile state machine starts empty: membership comes back as the committed entries re-apply. */
  assert_int_equal(status(3).conf.n_voters, 0);
  assert_int_equal(status(3).hard_state.term, status(1).hard_state.term);
  propose(1, "c");
  stabilize();
  for (int t = 0; t < 3; t++) { /* heartbeats carry the commit index to the restarted member */
    lkv_raft_tick(nodes[1].r);
    stabilize();
  }
  assert_int_equal(nodes[3].n_applied, 3);
  assert_string_equal(nodes[3].applied_data[0], "a");
  assert_string_equal(nodes[3].applied_data[2], "c");
  assert_int_equal(status(3).hard_state.commit, status(1).hard_state.commit);
  assert_int_equal(status(3).conf.n_voters, 3);
}

static void test_election_by_ticks(void **state) {
  (void)state;
  /* Nobody leads yet: ticking past the randomized timeout elects someone. */
  for (int t = 0; t < 40 && status(1).leader == LKV_RAFT_NONE; t++) {
    for (int i = 1; i <= N; i++) lkv_raft_tick(nodes[i].r);
    stabilize();
  }
  lkv_raft_id_t l = status(1).leader;
  assert_true(l >= 1 && l <= 3);
  for (int i = 1; i <= N; i++) assert_int_equal(status(i).leader, l);
  assert_int_equal(status((int)l).role, LKV_RAFT_LEADER);
}

static void test_transfer_leader(void **state) {
  (void)state;
  elect(1);
  assert_int_equal(lkv_raft_transfer_leader(nodes[1].r, 1), LKV_EINVAL);
  assert_int_equal(lkv_raft_transfer_leader(nodes[1].r, 3), 0);
  stabilize();
  assert_int_equal(status(3).role, LKV_RAFT_LEADER);
  assert_int_equal(status(1).leader, 3);
  propose(3, "after");
  stabilize();
  assert_int_equal(nodes[1].n_applied, 1);
}

static void test_add_learner_and_promote(void **state) {
  (void)state;
  elect(1);
  propose(1, "a");
  stabilize();
  n_nodes = 4;
  start_node(4, 1);
  lkv_raft_conf_change_t cc = {.type = LKV_RAFT_CC_ADD_LEARNER, .node = 4};
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), 0);
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), LKV_ECONFPENDING);
  stabilize();
  for (int t = 0; t < 3; t++) {
    lkv_raft_tick(nodes[1].r);
    stabilize();
  }
  assert_int_equal(status(1).conf.n_learners, 1);
  assert_int_equal(status(4).conf.n_learners, 1);
  assert_int_equal(nodes[4].n_applied, 1);
  cc.type = LKV_RAFT_CC_ADD_NODE;
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), 0);
  stabilize();
  assert_int_equal(status(1).conf.n_voters, 4);
  assert_int_equal(status(4).conf.n_voters, 4);
  cc = (lkv_raft_conf_change_t){.type = LKV_RAFT_CC_REMOVE_NODE, .node = 1};
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), 0);
  stabilize();
  /* The removed leader stepped down. */
  assert_int_equal(status(1).role, LKV_RAFT_FOLLOWER);
  assert_int_equal(status(2).conf.n_voters, 3);
}

static void test_snapshot_catch_up(void **state) {
  (void)state;
  elect(1);
  nodes[3].down = 1;
  char buf[16];
  for (int k = 0; k < 20; k++) {
    snprintf(buf, sizeof(buf), "s%d", k);
    propose(1, buf);
  }
  stabilize();
  lkv_raft_status_t s = status(1);
  lkv_raft_snapshot_meta_t meta = {.index = s.applied, .conf = s.conf};
  assert_int_equal(lkv_raft_set_snapshot(nodes[1].r, &meta), 0);
  assert_int_equal(lkv_raft_set_snapshot(nodes[1].r, &meta), LKV_ECOMPACTED);
  store_snapshot(&nodes[1].st, &meta);
  assert_int_equal(lkv_raft_compact(nodes[1].r, s.applied - 2), 0);
  lkv_raft_entry_t e;
  assert_int_equal(lkv_raft_entry(nodes[1].r, s.applied - 2, &e), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_entry(nodes[1].r, s.applied - 1, &e), 0);
  nodes[3].down = 0;
  for (int t = 0; t < 4; t++) {
    lkv_raft_tick(nodes[1].r);
    stabilize();
    lkv_raft_report_snapshot(nodes[1].r, 3, 1);
  }
  propose(1, "post");
  stabilize();
  assert_int_equal(status(3).snapshot_index, s.applied);
  assert_int_equal(status(3).hard_state.commit, status(1).hard_state.commit);
  assert_int_equal(nodes[3].st.snap.index, s.applied);
  assert_int_equal(nodes[3].n_applied, 1);
  assert_string_equal(nodes[3].applied_data[0], "post");
  /* The leader restarts from its own snapshot and still leads the same log. */
  crash(1);
  restart(1);
  assert_int_equal(status(1).snapshot_index, s.applied);
  assert_int_equal(status(1).first_index, s.applied + 1);
  stabilize();
  assert_int_equal(nodes[1].n_applied, 1);
}

/* A batch stays valid while the log changes under it: a conflicting append truncates entries the caller
 * is still writing. The durable index must not claim the replaced entries, and the old batch's data must
 * stay readable until advance (ASan checks the latter). */
static void test_truncation_while_batch_outstanding(void **state) {
  (void)state;
  lkv_raft_config_t c = config(2);
  lkv_raft_t *r;
  assert_int_equal(lkv_raft_new(&c, NULL, &r), 0);
  lkv_raft_entry_t e1[] = {{.term = 1, .index = 1, .data = (const uint8_t *)"a", .len = 1},
                           {.term = 1, .index = 2, .data = (const uint8_t *)"b", .len = 1},
                           {.term = 1, .index = 3, .data = (const uint8_t *)"c", .len = 1}};
  lkv_raft_msg_t app = {
      .type = LKV_RAFT_MSG_APP, .from = 1, .to = 2, .term = 2, .commit = 1, .entries = e1, .n_entries = 3};
  assert_int_equal(lkv_raft_step(r, &app), 0);
  lkv_raft_ready_t rd1;
  assert_int_equal(lkv_raft_ready(r, &rd1), 1);
  assert_int_equal(rd1.n_entries, 3);
  assert_int_equal(rd1.n_committed, 1);
  assert_int_equal(lkv_raft_ready(r, &rd1), 0); /* one batch at a time */

  /* A leader of term 3 replaces entries 2 and 3 before the caller acknowledged them. */
  lkv_raft_entry_t e2[] = {{.term = 3, .index = 2, .data = (const uint8_t *)"X", .len = 1}};
  lkv_raft_msg_t app2 = {.type = LKV_RAFT_MSG_APP,
                         .from = 3,
                         .to = 2,
                         .term = 3,
                         .index = 1,
                         .log_term = 1,
                         .commit = 1,
                         .entries = e2,
                         .n_entries = 1};
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
  lkv_raft_status_t s;
  lkv_raft_status(r, &s);
  assert_int_equal(s.last_index, 2);
  assert_int_equal(s.applied, 1);
  assert_int_equal(lkv_raft_ready(r, &rd2), 0);
  lkv_raft_free(r);
}

/* A restart with a durable state machine: changes up to applied are in force at once, later ones are handed
 * out to apply; inconsistent durable state is refused. */
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
  lkv_raft_config_t c = config(1);
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

static uint64_t rand_nine(void *arg) {
  (void)arg;
  return 9; /* every randomized election timeout is election_tick + 9 */
}

/* Without pre-vote, a candidate with a stale log keeps raising terms. Refusing its vote must not restart
 * our election timer (Raft: only a leader's append or a granted vote does), or a candidate with a faster
 * clock would keep the cluster leaderless forever. */
static void test_refused_vote_keeps_election_timer(void **state) {
  (void)state;
  lkv_raft_config_t c;
  lkv_raft_config_default(&c, 1, rand_nine, NULL);
  c.pre_vote = 0;
  lkv_raft_t *r;
  assert_int_equal(lkv_raft_new(&c, NULL, &r), 0);
  lkv_raft_id_t ids[] = {1, 2, 3};
  assert_int_equal(lkv_raft_bootstrap(r, ids, 3), 0);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(r, &rd), 1);
  for (size_t k = 0; k < rd.n_committed; k++)
    assert_int_equal(lkv_raft_apply_conf_change(r, &rd.committed[k], 1, NULL), 0);
  assert_int_equal(lkv_raft_advance(r, &rd), 0);
  for (int t = 0; t < 9; t++) lkv_raft_tick(r);
  lkv_raft_msg_t vote = {.type = LKV_RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 5, .index = 0, .log_term = 0};
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  lkv_raft_status_t s;
  lkv_raft_status(r, &s);
  assert_int_equal(s.hard_state.term, 5);
  assert_int_equal(s.hard_state.vote, LKV_RAFT_NONE); /* refused: our log is longer */
  for (int t = 0; t < 10; t++) lkv_raft_tick(r);
  lkv_raft_status(r, &s);
  assert_int_equal(s.role, LKV_RAFT_CANDIDATE); /* 19 ticks since the last append or granted vote */
  assert_int_equal(s.hard_state.term, 6);
  /* A granted vote does restart it. */
  lkv_raft_msg_t vote2 = {
      .type = LKV_RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 7, .index = 3, .log_term = 1};
  for (int t = 0; t < 5; t++) lkv_raft_tick(r);
  assert_int_equal(lkv_raft_step(r, &vote2), 0);
  lkv_raft_status(r, &s);
  assert_int_equal(s.hard_state.vote, 2);
  for (int t = 0; t < 18; t++) lkv_raft_tick(r);
  lkv_raft_status(r, &s);
  assert_int_equal(s.role, LKV_RAFT_FOLLOWER);
  lkv_raft_tick(r);
  lkv_raft_status(r, &s);
  assert_int_equal(s.role, LKV_RAFT_CANDIDATE);
  lkv_raft_free(r);
}

/* A member that may not campaign (here one that is in no membership yet) still lets its lease on the
 * last leader expire, so it answers the votes of members that count on it. */
static void test_lease_expires_on_member_that_cannot_campaign(void **state) {
  (void)state;
  lkv_raft_config_t c;
  lkv_raft_config_default(&c, 1, rand_nine, NULL);
  lkv_raft_t *r;
  assert_int_equal(lkv_raft_new(&c, NULL, &r), 0);
  lkv_raft_msg_t hb = {.type = LKV_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 3};
  assert_int_equal(lkv_raft_step(r, &hb), 0);
  lkv_raft_msg_t vote = {.type = LKV_RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 4};
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  lkv_raft_status_t s;
  lkv_raft_status(r, &s);
  assert_int_equal(s.hard_state.term, 3);        /* ignored: the leader was heard just now */
  for (int t = 0; t < 20; t++) lkv_raft_tick(r); /* past the randomized timeout (19) */
  assert_int_equal(lkv_raft_step(r, &vote), 0);
  lkv_raft_status(r, &s);
  assert_int_equal(s.hard_state.term, 4);
  assert_int_equal(s.hard_state.vote, 3);
  lkv_raft_free(r);
}

/* A vote request of a lower term is refused with our term (Raft's RequestVote reply), so a candidate that
 * nobody else contacts still learns the term it must beat. */
static void test_lower_term_vote_answered_with_our_term(void **state) {
  (void)state;
  lkv_raft_config_t c = config(1);
  lkv_raft_t *r;
  assert_int_equal(lkv_raft_new(&c, NULL, &r), 0);
  lkv_raft_msg_t hb = {.type = LKV_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 5};
  assert_int_equal(lkv_raft_step(r, &hb), 0);
  lkv_raft_msg_t vote = {.type = LKV_RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 3, .index = 9, .log_term = 3};
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
  lkv_raft_free(r);
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
      cmocka_unit_test_setup_teardown(test_add_learner_and_promote, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_catch_up, setup, teardown),
      cmocka_unit_test(test_truncation_while_batch_outstanding),
      cmocka_unit_test(test_restore_membership_up_to_applied),
      cmocka_unit_test(test_refused_vote_keeps_election_timer),
      cmocka_unit_test(test_lease_expires_on_member_that_cannot_campaign),
      cmocka_unit_test(test_lower_term_vote_answered_with_our_term),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
