/* Unit tests of replication progress, the in-flight window and quorum counting (src/raft/tracker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "raft/internal.h"

static void test_inflights_count_and_bytes(void **state) {
  (void)state;
  lkv__inflights_t in = {0};
  for (uint64_t i = 1; i <= 4; i++) {
    assert_false(lkv__infl_full(&in, 4, 0));
    lkv__infl_add(&in, 4, i * 10, 100);
  }
  assert_true(lkv__infl_full(&in, 4, 0));
  assert_int_equal(in.bytes, 400);
  lkv__infl_free_le(&in, 25); /* frees the APPs ending at 10 and 20 */
  assert_int_equal(in.count, 2);
  assert_int_equal(in.bytes, 200);
  assert_false(lkv__infl_full(&in, 4, 0));
  assert_true(lkv__infl_full(&in, 4, 200)); /* the byte bound */
  assert_false(lkv__infl_full(&in, 4, 201));
  /* Wrap around the ring and grow it while wrapped: order must survive. */
  lkv__infl_add(&in, 64, 50, 1);
  lkv__infl_add(&in, 64, 60, 1);
  for (uint64_t i = 7; i <= 40; i++) lkv__infl_add(&in, 64, i * 10, 1);
  assert_int_equal(in.count, 38);
  lkv__infl_free_le(&in, 45);
  assert_int_equal(in.count, 36);
  assert_int_equal(in.buf[in.start].index, 50);
  lkv__infl_free_le(&in, 400);
  assert_int_equal(in.count, 0);
  assert_int_equal(in.bytes, 0);
  lkv__infl_free_le(&in, 500); /* empty: no-op */
  free(in.buf);
}

static void test_progress_transitions(void **state) {
  (void)state;
  lkv__progress_t pr = {.id = 2, .match = 0, .next = 11, .state = LKV_RAFT_PROGRESS_PROBE};
  assert_false(lkv__pr_paused(&pr, 4, 0));
  pr.probe_sent = 1;
  assert_true(lkv__pr_paused(&pr, 4, 0));
  /* Probe: only a rejection of the APP at next-1 counts. */
  assert_false(lkv__pr_maybe_decr(&pr, 7, 3));
  assert_true(lkv__pr_maybe_decr(&pr, 10, 5));
  assert_int_equal(pr.next, 6); /* hint + 1 */
  assert_false(pr.probe_sent);
  assert_true(lkv__pr_maybe_decr(&pr, 5, 9));
  assert_int_equal(pr.next, 5); /* never above the rejected index */
  assert_true(lkv__pr_maybe_update(&pr, 4));
  assert_int_equal(pr.match, 4);
  assert_int_equal(pr.next, 5);
  assert_false(lkv__pr_maybe_update(&pr, 3)); /* an old ack */
  lkv__pr_become_replicate(&pr);
  assert_int_equal(pr.next, 5);
  /* Replicate: a rejection at or below match is stale; otherwise back to match+1. */
  pr.next = 20;
  assert_false(lkv__pr_maybe_decr(&pr, 4, 0));
  assert_true(lkv__pr_maybe_decr(&pr, 12, 0));
  assert_int_equal(pr.next, 5);
  lkv__pr_become_snapshot(&pr, 30);
  assert_true(lkv__pr_paused(&pr, 4, 0));
  assert_int_equal(pr.next, 31);
  lkv__pr_become_probe(&pr);
  assert_int_equal(pr.next, 31); /* the follower holds the snapshot */
  assert_int_equal(pr.state, LKV_RAFT_PROGRESS_PROBE);
  lkv__pr_become_snapshot(&pr, 30);
  pr.pending_snapshot = 0; /* a failed snapshot: probe from match */
  lkv__pr_become_probe(&pr);
  assert_int_equal(pr.next, 5);
  free(pr.infl.buf);
}

static lkv_raft_conf_state_t conf(const lkv_raft_id_t *v, uint32_t nv, const lkv_raft_id_t *l, uint32_t nl) {
  lkv_raft_conf_state_t c = {0};
  memcpy(c.voters, v, nv * sizeof(*v));
  c.n_voters = nv;
  if (nl) memcpy(c.learners, l, nl * sizeof(*l));
  c.n_learners = nl;
  return c;
}

static void test_quorum_commit(void **state) {
  (void)state;
  lkv__tracker_t t = {0};
  lkv_raft_conf_state_t c = conf((lkv_raft_id_t[]){1, 2, 3}, 3, (lkv_raft_id_t[]){4}, 1);
  lkv__tracker_set_conf(&t, &c, 1);
  assert_int_equal(lkv__tracker_voters(&t), 3);
  lkv__tracker_get(&t, 1)->match = 5;
  lkv__tracker_get(&t, 2)->match = 3;
  lkv__tracker_get(&t, 3)->match = 9;
  lkv__tracker_get(&t, 4)->match = 100; /* learners never count */
  assert_int_equal(lkv__tracker_committed(&t), 5);
  /* Four voters need three copies. */
  c = conf((lkv_raft_id_t[]){1, 2, 3, 5}, 4, NULL, 0);
  lkv__tracker_set_conf(&t, &c, 50);
  assert_int_equal(lkv__tracker_get(&t, 1)->match, 5); /* kept across the change */
  assert_int_equal(lkv__tracker_get(&t, 5)->next, 50);
  assert_null(lkv__tracker_get(&t, 4));
  lkv__tracker_get(&t, 5)->match = 4;
  assert_int_equal(lkv__tracker_committed(&t), 4);
  lkv__tracker_free(&t);
}

static void test_tally_and_quorums(void **state) {
  (void)state;
  lkv__tracker_t t = {0};
  lkv_raft_conf_state_t c = conf((lkv_raft_id_t[]){1, 2, 3, 4, 5}, 5, (lkv_raft_id_t[]){6}, 1);
  lkv__tracker_set_conf(&t, &c, 1);
  lkv__tracker_get(&t, 1)->vote = 1;
  lkv__tracker_get(&t, 6)->vote = 1; /* a learner's vote is not counted */
  lkv__tracker_get(&t, 2)->vote = 1;
  assert_int_equal(lkv__tracker_tally(&t), 0);
  lkv__tracker_get(&t, 3)->vote = 1;
  assert_int_equal(lkv__tracker_tally(&t), 1);
  for (uint32_t i = 0; i < t.n; i++) t.prs[i].vote = 0;
  lkv__tracker_get(&t, 2)->vote = -1;
  lkv__tracker_get(&t, 3)->vote = -1;
  assert_int_equal(lkv__tracker_tally(&t), 0);
  lkv__tracker_get(&t, 4)->vote = -1;
  assert_int_equal(lkv__tracker_tally(&t), -1);

  assert_false(lkv__tracker_quorum_active(&t));
  lkv__tracker_get(&t, 1)->recent_active = 1;
  lkv__tracker_get(&t, 6)->recent_active = 1;
  lkv__tracker_get(&t, 5)->recent_active = 1;
  assert_false(lkv__tracker_quorum_active(&t));
  lkv__tracker_get(&t, 2)->recent_active = 1;
  assert_true(lkv__tracker_quorum_active(&t));

  /* Read rounds: self counts; a later round's ack confirms an earlier round. */
  assert_false(lkv__tracker_read_quorum(&t, 1, 3));
  lkv__tracker_get(&t, 2)->read_ack = 3;
  lkv__tracker_get(&t, 6)->read_ack = 9;
  assert_false(lkv__tracker_read_quorum(&t, 1, 3));
  lkv__tracker_get(&t, 4)->read_ack = 7;
  assert_true(lkv__tracker_read_quorum(&t, 1, 3));
  assert_false(lkv__tracker_read_quorum(&t, 1, 4));
  lkv__tracker_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inflights_count_and_bytes),
      cmocka_unit_test(test_progress_transitions),
      cmocka_unit_test(test_quorum_commit),
      cmocka_unit_test(test_tally_and_quorums),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
