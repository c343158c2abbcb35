/* Input stepped while a ready batch is outstanding (between lkv_raft_ready and lkv_raft_advance): the
 * batch's writes must not hide later changes to the same indexes from the durable log. */
#include "raft_testutil.h"

/* The durable entry at index on member id ("" when it has none). */
static const char *stored(rt_cluster_t *c, lkv_raft_id_t id, uint64_t index, uint64_t *term) {
  rt_node_t *n = rt_node(c, id);
  if (index <= n->snap.index || index > rt_store_last(n)) return "";
  const lkv_raft_entry_t *e = &n->ents[index - n->snap.index - 1];
  *term = e->term;
  static char buf[64];
  size_t k = e->len < sizeof(buf) - 1 ? e->len : sizeof(buf) - 1;
  if (k) memcpy(buf, e->data, k);
  buf[k] = 0;
  return buf;
}

/* A leader of term `term` (member from) tells member id to put data at index i (after its entry i-1). */
static void step_replacing_append(rt_cluster_t *c, lkv_raft_id_t from, lkv_raft_id_t id, uint64_t term,
                                  uint64_t i, const char *data) {
  lkv_raft_entry_t e = {.term = term, .index = i, .data = (const uint8_t *)data, .len = strlen(data)};
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_APP, from, id, term);
  m.index = i - 1;
  m.log_term = rt_entry_term(c, id, i - 1);
  m.entries = &e;
  m.n_entries = 1;
  m.commit = i - 1 < rt_commit(c, id) ? i - 1 : rt_commit(c, id);
  assert_int_equal(lkv_raft_step(rt_raft(c, id), &m), 0);
}

/* 2 takes a batch holding x at index i; before it is written, a new leader's append replaces x by y at i.
 * After the batch is written and advanced, the next batch must write y over x (else the durable log keeps
 * x while the member acknowledged y: lost on restart). */
static void test_conflicting_append_while_batch_outstanding(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  rt_isolate(c, 3);
  uint64_t i, t;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"x", 1, &i, &t), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_drop_matching(c, 0, 0, 0);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(rt_raft(c, 2), &rd), 1);
  assert_true(rd.n_entries == 1 && rd.entries[0].index == i);

  step_replacing_append(c, 3, 2, t + 1, i, "y");
  assert_int_equal(rt_entry_term(c, 2, i), t + 1);

  rt_handle(c, 2, &rd, RT_UPTO_ALL); /* x is written now */
  rt_process(c, 2);
  uint64_t st = 0;
  assert_string_equal(stored(c, 2, i, &st), "y");
  assert_int_equal(st, t + 1);
  assert_int_equal(rt_store_last(rt_node(c, 2)), i);
  /* the acknowledgement of y left only after y was durable */
  long k = rt_find(c, LKV_RAFT_MSG_APP_RESP, 2, 3);
  assert_true(k >= 0 && c->q[k]->m.index == i && !c->q[k]->m.reject);
  rt_restart(c, 2);
  assert_int_equal(rt_entry_term(c, 2, i), t + 1);
  rt_free(c);
}

/* A leader takes a batch with its new entries; before writing it, a higher-term append arrives that
 * truncates them; the durable log must end with the new leader's entries. */
static void test_leader_deposed_while_batch_outstanding(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  uint64_t i, t;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"a", 1, &i, &t), 0);
  assert_int_equal(rt_propose(c, 1, "b"), 0);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(rt_raft(c, 1), &rd), 1);
  assert_int_equal(rd.n_entries, 2);
  step_replacing_append(c, 2, 1, t + 1, i, "z");
  assert_int_equal(rt_role(c, 1), LKV_RAFT_FOLLOWER);
  rt_handle(c, 1, &rd, RT_UPTO_ALL);
  rt_process(c, 1);
  uint64_t st = 0;
  assert_string_equal(stored(c, 1, i, &st), "z");
  assert_int_equal(rt_store_last(rt_node(c, 1)), i);
  assert_int_equal(rt_last(c, 1), i);
  rt_free(c);
}

/* A snapshot arrives while a batch with entries is outstanding: after both, the durable state is the
 * snapshot with no entry at or below it, and a restart gives the same member. */
static void test_snapshot_while_batch_outstanding(void **state) {
  (void)state;
  rt_cluster_t *c = rt_new(3, rt_cfg_plain, NULL);
  rt_elect(c, 1);
  uint64_t i, t;
  assert_int_equal(lkv_raft_propose(rt_raft(c, 1), (const uint8_t *)"x", 1, &i, &t), 0);
  rt_process(c, 1);
  rt_deliver_matching(c, LKV_RAFT_MSG_APP, 1, 2);
  rt_drop_matching(c, 0, 0, 0);
  lkv_raft_ready_t rd;
  assert_int_equal(lkv_raft_ready(rt_raft(c, 2), &rd), 1);
  assert_int_equal(rd.n_entries, 1);
  lkv_raft_msg_t m = rt_msg(LKV_RAFT_MSG_SNAP, 1, 2, t);
  m.snapshot.meta.index = i + 5;
  m.snapshot.meta.term = t;
  m.snapshot.meta.conf.n_voters = 3;
  for (int k = 0; k < 3; k++) m.snapshot.meta.conf.voters[k] = (lkv_raft_id_t)k + 1;
  assert_int_equal(lkv_raft_step(rt_raft(c, 2), &m), 0);
  rt_handle(c, 2, &rd, RT_UPTO_ALL);
  rt_process(c, 2);
  rt_node_t *n = rt_node(c, 2);
  assert_int_equal(n->snap.index, i + 5);
  assert_int_equal(n->n_ents, 0);
  assert_true(n->hs.commit >= i + 5);
  rt_restart(c, 2);
  lkv_raft_status_t s2;
  rt_status(c, 2, &s2);
  assert_int_equal(s2.last_index, i + 5);
  assert_int_equal(s2.snapshot_index, i + 5);
  assert_int_equal(c->violations, 0);
  rt_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conflicting_append_while_batch_outstanding),
      cmocka_unit_test(test_leader_deposed_while_batch_outstanding),
      cmocka_unit_test(test_snapshot_while_batch_outstanding),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
