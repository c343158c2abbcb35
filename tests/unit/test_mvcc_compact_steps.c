/* Unit tests for compaction in steps: the compact revision moves at once, the history is removed in
 * bounded steps that never change a read at or above it, across restarts and a second compaction. */
#include "mvcc_testutil.h"

#define NKEYS 12
#define ANSWERS_CAP (1u << 20)

/* One batch: a compaction at rev, its removal left pending. Returns the mvcc code. */
static int compact_deferred(lkvt_store_t *ts, int64_t rev) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  int rc = lkv_mvcc_compact(t, rev);
  assert_int_equal(lkv_mvcc_req_end(t, rc == 0), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  return rc;
}

static lkv_mvcc_stat_t stat_of(lkvt_store_t *ts) {
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  return st;
}

/* Random puts and deletes over NKEYS keys, the same on a and on b (may be NULL): n batches. */
static void churn(lkvt_store_t *a, lkvt_store_t *b, uint64_t *seed, int n) {
  for (int i = 0; i < n; i++) {
    char key[8], val[16];
    uint64_t r = lkvt_rand(seed);
    snprintf(key, sizeof(key), "k%02d", (int)(r % NKEYS));
    snprintf(val, sizeof(val), "v%d", i);
    for (lkvt_store_t *s = a; s; s = s == a ? b : NULL) {
      if ((r >> 8) % 5 == 0)
        lkvt_del(s, key, NULL);
      else
        lkvt_put(s, key, val);
    }
  }
}

/* Opens ref, a reference store (compacted physically to compare with), and churns both alike. */
static void twins(lkvt_store_t *ts, lkvt_store_t *ref, uint64_t *seed, int n) {
  lkvt_open(ref);
  churn(ts, ref, seed, n);
}

/* Everything a reader can ask at revisions >= from: every key at every revision up to the current one
 * (values, create and mod revisions, versions), counts, and the history from `from`, as one string. */
static char *answers(lkvt_store_t *ts, int64_t from, lkvt_kvs_t *r) {
  char *out = malloc(ANSWERS_CAP);
  assert_non_null(out);
  size_t len = 0;
  int64_t cur = lkvt_rev(ts);
  for (int64_t rev = from < 1 ? 1 : from; rev <= cur; rev++) {
    assert_int_equal(lkvt_range(ts, "", "", rev, r), 0);
    len += (size_t)snprintf(out + len, ANSWERS_CAP - len, "@%lld#%zu:", (long long)rev, r->count);
    for (size_t i = 0; i < r->n; i++)
      len += (size_t)snprintf(out + len, ANSWERS_CAP - len, "%s=%s/%lld/%lld/%lld ", (char *)r->v[i].key,
                              (char *)r->v[i].value, (long long)r->v[i].create, (long long)r->v[i].mod,
                              (long long)r->v[i].version);
    assert_true(len < ANSWERS_CAP / 2);
  }
  assert_int_equal(lkvt_history(ts, from, 0, out + len, ANSWERS_CAP - len), 0);
  return out;
}

/* Steps with the given budget until nothing is pending; checks after each that the answers from
 * `from` on are still `want` and that a step removed no more than its budget. Returns the steps taken. */
static int steps_until_done(lkvt_store_t *ts, size_t budget, int64_t from, const char *want, lkvt_kvs_t *r) {
  int steps = 0, rc;
  do {
    uint64_t before = stat_of(ts).records;
    rc = lkv_mvcc_compact_step(ts->s, budget);
    assert_true(rc == 0 || rc == 1);
    assert_true(before - stat_of(ts).records <= budget);
    assert_int_equal(lkv_mvcc_compact_pending(ts->s), rc);
    char *now = answers(ts, from, r);
    assert_string_equal(now, want);
    free(now);
    steps++;
  } while (rc == 1);
  return steps;
}

/* The compact revision moves with the compaction's batch; nothing is removed until the steps run,
 * which remove what a physical compaction removes, a budget at a time, without changing any answer. */
static void test_steps_keep_answers(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state), ref;
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  uint64_t seed = 42;
  twins(ts, &ref, &seed, 150);
  int64_t c = lkvt_rev(ts) - 20;
  uint64_t records = stat_of(ts).records;
  char *before = answers(ts, c, r);

  assert_int_equal(compact_deferred(ts, c), 0);
  assert_int_equal(lkv_mvcc_compact_pending(ts->s), 1);
  assert_int_equal(stat_of(ts).compact_revision, c);
  assert_int_equal(stat_of(ts).records, records); /* nothing removed yet */
  assert_int_equal(lkvt_range(ts, "", "", c - 1, r), LKV_ECOMPACTED);
  char h[64];
  assert_int_equal(lkvt_history(ts, c - 1, 0, h, sizeof(h)), LKV_ECOMPACTED);
  char *after = answers(ts, c, r);
  assert_string_equal(after, before); /* the tombstone at c, if any, is not shown either way */

  assert_true(steps_until_done(ts, 7, c, before, r) > 5);
  assert_int_equal(lkvt_compact(&ref, c), 0);
  assert_int_equal(stat_of(ts).records, stat_of(&ref).records);
  char *ref_answers = answers(&ref, c, r);
  assert_string_equal(ref_answers, before);
  assert_int_equal(lkv_mvcc_compact_step(ts->s, 7), 0); /* nothing left: a no-op */
  free(before);
  free(after);
  free(ref_answers);
  lkvt_close(&ref);
}

/* One key written many times: its old revisions go a budget at a time, not all in one step. */
static void test_hot_key_bounded(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  for (int i = 0; i < 300; i++) lkvt_put(ts, "hot", i % 2 ? "odd" : "even");
  lkvt_put(ts, "cold", "1");
  int64_t c = lkvt_rev(ts);
  char *want = answers(ts, c, r);
  assert_int_equal(compact_deferred(ts, c), 0);
  int steps = steps_until_done(ts, 16, c, want, r);
  assert_true(steps >= 300 / 16);
  assert_int_equal(stat_of(ts).records, 2);
  free(want);
}

/* The pending removal is stored with the data: a reopened store reports it pending and goes on from
 * where it was, to the same end. */
static void test_restart_in_the_middle(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state), ref;
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  uint64_t seed = 7;
  twins(ts, &ref, &seed, 200);
  int64_t c = lkvt_rev(ts) - 5;
  char *want = answers(ts, c, r);
  assert_int_equal(compact_deferred(ts, c), 0);
  for (int i = 0; i < 4; i++) assert_int_equal(lkv_mvcc_compact_step(ts->s, 10), 1);
  uint64_t mid = stat_of(ts).records;
  lkvt_reopen(ts);
  assert_int_equal(lkv_mvcc_compact_pending(ts->s), 1);
  assert_int_equal(stat_of(ts).compact_revision, c);
  assert_int_equal(stat_of(ts).records, mid);
  steps_until_done(ts, 10, c, want, r);
  lkvt_reopen(ts);
  assert_int_equal(lkv_mvcc_compact_pending(ts->s), 0);
  assert_int_equal(lkvt_compact(&ref, c), 0);
  assert_int_equal(stat_of(ts).records, stat_of(&ref).records);
  free(want);
  lkvt_close(&ref);
}

/* A compaction while a removal is pending takes it over: reads below the new revision fail at once,
 * and the steps end where a physical compaction at the new revision ends. Writes between steps are
 * never touched. */
static void test_second_compaction_while_pending(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state), ref;
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  uint64_t seed = 99;
  twins(ts, &ref, &seed, 120);
  int64_t c1 = lkvt_rev(ts) - 60;
  assert_int_equal(compact_deferred(ts, c1), 0);
  assert_int_equal(lkv_mvcc_compact_step(ts->s, 20), 1);
  churn(ts, &ref, &seed, 40); /* writes while the removal is pending */
  assert_int_equal(lkv_mvcc_compact_step(ts->s, 20), 1);
  int64_t c2 = lkvt_rev(ts) - 10;
  assert_int_equal(compact_deferred(ts, c1 + 1), 0);
  assert_int_equal(compact_deferred(ts, c2), 0);
  assert_int_equal(compact_deferred(ts, c2), LKV_ECOMPACTED);
  assert_int_equal(stat_of(ts).compact_revision, c2);
  assert_int_equal(lkvt_range(ts, "", "", c2 - 1, r), LKV_ECOMPACTED);
  char *want = answers(&ref, c2, r);
  steps_until_done(ts, 20, c2, want, r);
  assert_int_equal(lkvt_compact(&ref, c2), 0);
  assert_int_equal(stat_of(ts).records, stat_of(&ref).records);
  char *ref_answers = answers(&ref, c2, r);
  assert_string_equal(ref_answers, want);
  free(want);
  free(ref_answers);
  lkvt_close(&ref);
}

/* A compaction rolled back with its request leaves nothing pending that a step would act on, and a
 * removal run in the request itself (a physical compaction) leaves nothing pending either. */
static void test_rollback_and_physical(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  for (int i = 0; i < 10; i++) lkvt_put(ts, "a", "x");
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_compact(t, 5), 0);
  assert_int_equal(lkv_mvcc_compact_run(t, 3), 1);
  assert_int_equal(lkv_mvcc_req_end(t, 0), 0);
  assert_int_equal(lkv_mvcc_txn_compact_rev(t), -1);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_equal(stat_of(ts).compact_revision, -1);
  assert_int_equal(stat_of(ts).records, 10);
  assert_int_equal(lkv_mvcc_compact_step(ts->s, 100), 0); /* found nothing to do */
  assert_int_equal(lkv_mvcc_compact_pending(ts->s), 0);

  assert_int_equal(lkvt_compact(ts, 8), 0); /* compact + run without a limit in one request */
  assert_int_equal(lkv_mvcc_compact_pending(ts->s), 0);
  assert_int_equal(stat_of(ts).records, 4);

  lkv_mvcc_txn_t *rt;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &rt), 0);
  assert_int_equal(lkv_mvcc_compact_run(rt, 1), LKV_EINVAL);
  lkv_mvcc_txn_end(rt);
}

static lkv_mvcc_t *open_logged(const char *dir) {
  lkv_mvcc_options_t o = {.dir = dir, .quota_bytes = 64u << 20, .logged = 1};
  lkv_mvcc_t *s = NULL;
  assert_int_equal(lkv_mvcc_open(&s, &o), 0);
  return s;
}

/* A checkpoint copied while a removal is pending is a correct store that carries it: installed on
 * another member (a Raft snapshot), the removal is pending there and the steps finish it, to the same
 * answers and the same history as the store it came from. */
static void test_checkpoint_in_the_middle(void **state) {
  (void)state;
  lkvt_store_t a, b;
  lkvt_kvs_t *r = lkvt_kvs_new();
  strcpy(a.dir, "/tmp/lkv-mvcc-test-XXXXXX");
  strcpy(b.dir, "/tmp/lkv-mvcc-test-XXXXXX");
  assert_non_null(mkdtemp(a.dir));
  assert_non_null(mkdtemp(b.dir));
  a.s = open_logged(a.dir);
  b.s = open_logged(b.dir);
  uint64_t seed = 5;
  churn(&a, NULL, &seed, 150);
  int64_t c = lkvt_rev(&a) - 3;
  char *want = answers(&a, c, r);
  assert_int_equal(compact_deferred(&a, c), 0);
  assert_int_equal(lkv_mvcc_compact_step(a.s, 25), 1);
  assert_int_equal(lkv_mvcc_checkpoint(a.s, NULL), 0);
  char path[512];
  assert_int_equal(lkv_mvcc_checkpoint_path(a.s, path, sizeof(path)), 0);
  lkvt_put(&b, "b-only", "x");
  assert_int_equal(lkv_mvcc_compact_pending(b.s), 0);
  assert_int_equal(lkv_mvcc_install(b.s, path, NULL, NULL), 0);
  assert_int_equal(lkv_mvcc_compact_pending(b.s), 1);
  assert_int_equal(stat_of(&b).compact_revision, c);
  steps_until_done(&b, 25, c, want, r);
  steps_until_done(&a, 25, c, want, r);
  assert_int_equal(stat_of(&a).records, stat_of(&b).records);
  free(want);
  lkvt_kvs_free(r);
  lkvt_close(&a);
  lkvt_close(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_steps_keep_answers),    LKVT_TEST(test_hot_key_bounded),
      LKVT_TEST(test_restart_in_the_middle), LKVT_TEST(test_second_compaction_while_pending),
      LKVT_TEST(test_rollback_and_physical), cmocka_unit_test(test_checkpoint_in_the_middle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
