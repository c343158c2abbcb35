/* lkv_mvcc_req_take_rev: a request that changes nothing still takes a revision (the causal mode's event
 * whose write set changes no winner), with nothing in the history at it. */
#include "mvcc_testutil.h"

static int count_event(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone) {
  (void)kv, (void)sub, (void)tombstone;
  (*(int *)arg)++;
  return 0;
}

/* One request in its own batch: take_rev asked or not, kept or not. */
static void empty_request(lkvt_store_t *ts, int take, int keep) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_take_rev(t), LKV_EINVAL); /* no request open */
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  int64_t before = lkv_mvcc_txn_rev(t);
  if (take) {
    assert_int_equal(lkv_mvcc_req_take_rev(t), 0);
    assert_int_equal(lkv_mvcc_txn_rev(t), before + 1); /* read-your-own-writes view */
  }
  assert_int_equal(lkv_mvcc_req_end(t, keep), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
}

static void test_take_rev(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  empty_request(ts, 1, 1);
  assert_int_equal(lkvt_rev(ts), 2);
  empty_request(ts, 1, 0); /* rolled back: no revision */
  empty_request(ts, 0, 1); /* not asked: no revision */
  assert_int_equal(lkvt_rev(ts), 2);
  assert_int_equal(lkvt_put(ts, "k", "v"), 0);
  assert_int_equal(lkvt_rev(ts), 3);
  lkv_mvcc_txn_t *t;
  int events = 0;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_history(t, 2, 3, count_event, &events), 0);
  lkv_mvcc_txn_end(t);
  assert_int_equal(events, 1); /* the put at 3 only */
  lkvt_reopen(ts);
  assert_int_equal(lkvt_rev(ts), 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {LKVT_TEST(test_take_rev)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
