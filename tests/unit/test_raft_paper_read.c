/* Linearizable reads by ReadIndex (Raft thesis §6.4): term commit first, a heartbeat quorum per round,
 * batching, forwarding; every answer at or above the commit index known when the read was asked. */
#include "raft_scenarios.h"

/* §6.4 step 1: a new leader answers no read before an entry of its term is committed. */
static void test_read_waits_for_term_commit(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rs_win(c, 1);
  rt_drop_matching(c, LKV_RAFT_MSG_APP, 0, 0);
  assert_int_equal(rt_read(c, 1, "r1"), 0);
  for (int round = 0; round < 10; round++) {
    rt_process_all(c);
    rt_drop_matching(c, LKV_RAFT_MSG_APP, 0, 0);
    rt_deliver_queued(c);
  }
  assert_int_equal(rt_read_result(c, 1, "r1"), -1);
  rt_tick_all(c, 2 * rt_node(c, 1)->cfg.heartbeat_tick);
  long long idx = rt_read_result(c, 1, "r1");
  assert_true(idx >= 0);
  assert_true((uint64_t)idx >= rt_last(c, 1)); /* its term's entry is included */
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* §6.4 steps 2-3: the leader records its commit index and answers once a quorum acknowledged a
 * heartbeat sent after the request (here 3 of 5). */
static void test_read_confirmed_by_heartbeat_quorum(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(5, NULL, NULL);
  rt_elect(c, 1);
  uint64_t commit = rt_commit(c, 1);
  assert_int_equal(rt_read(c, 1, "r1"), 0);
  rt_process(c, 1);
  assert_true(rt_count(c, LKV_RAFT_MSG_HEARTBEAT, 1, 0) >= 4);
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT, 1, 2);
  rt_process(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT_RESP, 2, 1);
  rt_process(c, 1);
  assert_int_equal(rt_read_result(c, 1, "r1"), -1); /* 2 of 5 */
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT, 1, 3);
  rt_process(c, 3);
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT_RESP, 3, 1);
  rt_process(c, 1);
  assert_int_equal(rt_read_result(c, 1, "r1"), (long long)commit);
  rt_free(c);
}

/* A heartbeat answer from before the request does not confirm it. */
static void test_read_not_confirmed_by_earlier_heartbeats(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  rt_tick(c, 1, rt_node(c, 1)->cfg.heartbeat_tick);
  rt_process(c, 1);
  rt_deliver_queued(c); /* plain heartbeats reach 2 and 3 */
  rt_process_all(c);
  assert_int_equal(rt_read(c, 1, "r1"), 0);
  rt_deliver_matching(c, LKV_RAFT_MSG_HEARTBEAT_RESP, 0, 1); /* their answers arrive after the request */
  rt_process(c, 1);
  assert_int_equal(rt_read_result(c, 1, "r1"), -1);
  rt_stabilize(c);
  assert_true(rt_read_result(c, 1, "r1") >= 0);
  rt_free(c);
}

/* Requests asked while a round is in flight share the next round: many reads, two rounds. */
static void test_reads_batched_into_rounds(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_read(c, 1, "r0"), 0);
  rt_process(c, 1);
  size_t hb = rt_count(c, LKV_RAFT_MSG_HEARTBEAT, 1, 0);
  assert_int_equal(hb, 2);
  char ctx[8];
  for (int k = 1; k <= 20; k++) {
    snprintf(ctx, sizeof(ctx), "r%d", k);
    assert_int_equal(rt_read(c, 1, ctx), 0);
  }
  rt_process(c, 1);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_HEARTBEAT, 1, 0), 2); /* no round for each */
  size_t sent = 0;
  for (int round = 0; round < 20 && c->nq; round++) {
    sent += rt_count(c, LKV_RAFT_MSG_HEARTBEAT, 1, 0);
    rt_deliver_queued(c);
    rt_process_all(c);
  }
  assert_int_equal(sent, 4);
  for (int k = 0; k <= 20; k++) {
    snprintf(ctx, sizeof(ctx), "r%d", k);
    assert_true(rt_read_result(c, 1, ctx) >= 0);
  }
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* Followers forward reads to the leader and get the leader's read index; a read asked after a write
 * committed sees it. */
static void test_follower_read_forwarded(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  rt_elect(c, 1);
  uint64_t i;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"w", 1, &i, NULL), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_process(c, 2);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP_RESP, 2, 1);
  assert_true(rt_commit(c, 1) >= i);
  rt_process(c, 1);
  rt_drop_matching(c, LKV_RAFT_MSG_APP, 1, 3); /* 3 does not know w yet */
  assert_int_equal(rt_read(c, 3, "f1"), 0);
  rt_process(c, 3);
  assert_int_equal(rt_count(c, LKV_RAFT_MSG_READ_INDEX, 3, 1), 1);
  rt_stabilize(c);
  long long idx = rt_read_result(c, 3, "f1");
  assert_true(idx >= (long long)i);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

/* A single voter is its own quorum: the read is answered at once. */
static void test_single_voter_read_answered_at_once(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(1, NULL, NULL);
  rt_elect(c, 1);
  assert_int_equal(rt_propose(c, 1, "a"), 0);
  rt_stabilize(c);
  assert_int_equal(rt_read(c, 1, "s"), 0);
  rt_process(c, 1);
  assert_int_equal(rt_read_result(c, 1, "s"), (long long)rt_commit(c, 1));
  assert_int_equal(c->nq, 0);
  rt_free(c);
}

/* No leader known: the read is refused; bad contexts are refused. */
static void test_read_without_leader_or_bad_context(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, NULL, NULL);
  assert_int_equal(rt_read(c, 2, "x"), LKV_ENOLEADER);
  rt_elect(c, 1);
  uint8_t big[65] = {0};
  assert_int_equal(lkv_raft_read_index(rt_raft(c, 1), big, 65), LKV_EINVAL);
  assert_int_equal(lkv_raft_read_index(rt_raft(c, 1), big, 0), LKV_EINVAL);
  rt_free(c);
}

/* A partitioned old leader cannot confirm a round, so it never answers (a new leader committed more). */
static void test_isolated_leader_answers_no_read(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 1);
  rt_elect(c, 2);
  assert_int_equal(rt_propose(c, 2, "y"), 0);
  rt_stabilize(c);
  assert_int_equal(rt_read(c, 1, "old"), 0);
  rt_tick_all(c, 3 * rt_node(c, 1)->cfg.heartbeat_tick);
  assert_int_equal(rt_read_result(c, 1, "old"), -1);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_waits_for_term_commit),
      cmocka_unit_test(test_read_confirmed_by_heartbeat_quorum),
      cmocka_unit_test(test_read_not_confirmed_by_earlier_heartbeats),
      cmocka_unit_test(test_reads_batched_into_rounds),
      cmocka_unit_test(test_follower_read_forwarded),
      cmocka_unit_test(test_single_voter_read_answered_at_once),
      cmocka_unit_test(test_read_without_leader_or_bad_context),
      cmocka_unit_test(test_isolated_leader_answers_no_read),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
