/* Unit tests for the MVCC store: puts, reads at revisions, tombstones, history, batches, restart. */
#include <pthread.h>

#include "mvcc_testutil.h"

static void test_fresh_store(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  assert_int_equal(st.revision, 1); /* etcd starts at 1 */
  assert_int_equal(st.compact_revision, -1);
  assert_true(st.db_size > 0);
  assert_true(st.db_size_in_use > 0);
  assert_true(st.db_size_in_use <= st.db_size);
  uint64_t cid = 0, mid = 0;
  assert_int_equal(lkv_mvcc_identity(ts->s, &cid, &mid), 0);
  assert_true(cid != 0 && mid != 0);
}

static void test_put_versions(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  assert_int_equal(lkvt_put(ts, "foo", "a"), 0); /* rev 2 */
  assert_int_equal(lkvt_put(ts, "foo", "b"), 0); /* rev 3 */
  assert_int_equal(lkvt_put(ts, "bar", "x"), 0); /* rev 4 */
  assert_int_equal(lkvt_rev(ts), 4);
  assert_int_equal(lkvt_range(ts, "foo", NULL, 0, r), 0);
  assert_int_equal(r->count, 1);
  assert_string_equal(r->v[0].key, "foo");
  assert_string_equal(r->v[0].value, "b");
  assert_int_equal(r->v[0].create, 2);
  assert_int_equal(r->v[0].mod, 3);
  assert_int_equal(r->v[0].version, 2);
  assert_int_equal(r->v[0].lease, 0);
  /* historical reads */
  assert_int_equal(lkvt_range(ts, "foo", NULL, 2, r), 0);
  assert_int_equal(r->n, 1);
  assert_string_equal(r->v[0].value, "a");
  assert_int_equal(r->v[0].version, 1);
  assert_int_equal(lkvt_range(ts, "foo", NULL, 1, r), 0);
  assert_int_equal(r->n, 0);
  assert_int_equal(r->count, 0);
  assert_int_equal(lkvt_range(ts, "bar", NULL, 3, r), 0);
  assert_int_equal(r->n, 0);
  assert_int_equal(lkvt_range(ts, "foo", NULL, 5, r), LKV_EFUTUREREV);
  assert_int_equal(lkvt_range(ts, "foo", NULL, -7, r), 0); /* <= 0 means current */
  assert_string_equal(r->v[0].value, "b");
  /* missing key */
  assert_int_equal(lkvt_range(ts, "fo", NULL, 0, r), 0);
  assert_int_equal(r->count, 0);
}

static void test_tombstones_and_generations(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  lkvt_put(ts, "k", "1");                       /* 2 */
  lkvt_put(ts, "k", "2");                       /* 3 */
  assert_int_equal(lkvt_del(ts, "k", NULL), 1); /* 4 */
  assert_int_equal(lkvt_rev(ts), 4);
  assert_int_equal(lkvt_del(ts, "k", NULL), 0); /* nothing to delete: no new revision */
  assert_int_equal(lkvt_rev(ts), 4);
  assert_int_equal(lkvt_range(ts, "k", NULL, 0, r), 0);
  assert_int_equal(r->count, 0);
  assert_int_equal(lkvt_range(ts, "k", NULL, 3, r), 0);
  assert_int_equal(r->count, 1);
  lkvt_put(ts, "k", "3"); /* 5: a new generation */
  assert_int_equal(lkvt_range(ts, "k", NULL, 0, r), 0);
  assert_int_equal(r->v[0].create, 5);
  assert_int_equal(r->v[0].version, 1);
  assert_string_equal(r->v[0].value, "3");
}

static void test_delete_range_forms(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  const char *keys[] = {"a", "b", "b1", "b2", "c", "d"};
  for (size_t i = 0; i < 6; i++) lkvt_put(ts, keys[i], "v");
  assert_int_equal(lkvt_del(ts, "b", "c"), 3); /* [b, c) */
  assert_int_equal(lkvt_rev(ts), 8);
  assert_int_equal(lkvt_del(ts, "c", ""), 2); /* from c */
  assert_int_equal(lkvt_range(ts, "\x01", "", 0, r), 0);
  assert_int_equal(r->count, 1);
  assert_string_equal(r->v[0].key, "a");
  assert_int_equal(lkvt_del(ts, "z", "a"), 0); /* inverted range deletes nothing */
  assert_int_equal(lkvt_rev(ts), 9);
}

static void test_multi_op_request_and_history(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkv_mvcc_txn_t *t;
  lkvt_put(ts, "x", "0"); /* 2 */
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_txn_rev(t), 2);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"y", 1, (const uint8_t *)"1", 1, 0), 0);
  assert_int_equal(lkv_mvcc_txn_rev(t), 3); /* reads in the request see its writes at rev+1 */
  assert_int_equal(lkv_mvcc_txn_changes(t), 1);
  int64_t n;
  assert_int_equal(lkv_mvcc_delete_range(t, (const uint8_t *)"x", 1, NULL, 0, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"z", 1, (const uint8_t *)"2", 1, 0), 0);
  lkv_mvcc_range_t q = {.key = (const uint8_t *)"a", .key_len = 1, .end = (const uint8_t *)"", .end_len = 1};
  size_t count;
  assert_int_equal(lkv_mvcc_range(t, &q, NULL, NULL, &count), 0);
  assert_int_equal(count, 2); /* y and z, x is gone */
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_txn_rev(t), 3);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_equal(lkvt_rev(ts), 3);

  char h[256];
  assert_int_equal(lkvt_history(ts, 0, 0, h, sizeof(h)), 0);
  assert_string_equal(h, "2.0:x=0 3.0:y=1 -3.1:x 3.2:z=2 ");
  assert_int_equal(lkvt_history(ts, 3, 3, h, sizeof(h)), 0);
  assert_string_equal(h, "3.0:y=1 -3.1:x 3.2:z=2 ");
  assert_int_equal(lkvt_history(ts, 2, 2, h, sizeof(h)), 0);
  assert_string_equal(h, "2.0:x=0 ");
}

static void test_request_rollback_in_batch(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  /* request 1 kept: rev 2 */
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1, 0), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  /* request 2 rolled back: no revision */
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1, 0), 0);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"a", 1, (const uint8_t *)"x", 1, 0), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 0), 0);
  assert_int_equal(lkv_mvcc_txn_rev(t), 2);
  /* request 3 kept: rev 3, sees request 1 but not 2 */
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"a", 1, (const uint8_t *)"3", 1, 0), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  /* request 4 changes nothing: no revision */
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  /* writes outside a request are refused */
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"c", 1, NULL, 0, 0), LKV_EINVAL);
  assert_int_equal(lkv_mvcc_req_end(t, 1), LKV_EINVAL);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);

  assert_int_equal(lkvt_rev(ts), 3);
  assert_int_equal(lkvt_range(ts, "a", "c", 0, r), 0);
  assert_int_equal(r->n, 1);
  assert_string_equal(r->v[0].value, "3");
  assert_int_equal(r->v[0].mod, 3);
  assert_int_equal(r->v[0].version, 2);
  /* an aborted batch leaves nothing */
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"q", 1, NULL, 0, 0), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  lkv_mvcc_txn_end(t);
  assert_int_equal(lkvt_rev(ts), 3);
  assert_int_equal(lkvt_range(ts, "q", NULL, 0, r), 0);
  assert_int_equal(r->count, 0);
}

static void test_snapshot_isolation(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkv_mvcc_txn_t *rd, *w;
  size_t count;
  lkvt_put(ts, "a", "1");
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &rd), 0);
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &w), 0);
  assert_int_equal(lkv_mvcc_req_begin(w), 0);
  assert_int_equal(lkv_mvcc_put(w, (const uint8_t *)"b", 1, NULL, 0, 0), 0);
  assert_int_equal(lkv_mvcc_req_end(w, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(w), 0);
  /* the older snapshot still sees revision 2 only */
  assert_int_equal(lkv_mvcc_txn_rev(rd), 2);
  lkv_mvcc_range_t q = {.key = (const uint8_t *)"a", .key_len = 1, .end = (const uint8_t *)"z", .end_len = 1};
  assert_int_equal(lkv_mvcc_range(rd, &q, NULL, NULL, &count), 0);
  assert_int_equal(count, 1);
  q.rev = 3;
  assert_int_equal(lkv_mvcc_range(rd, &q, NULL, NULL, &count), LKV_EFUTUREREV);
  /* a nested read on the same thread gets its own snapshot */
  lkv_mvcc_txn_t *rd2;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &rd2), 0);
  assert_int_equal(lkv_mvcc_txn_rev(rd2), 3);
  lkv_mvcc_txn_end(rd2);
  lkv_mvcc_txn_end(rd);
  assert_int_equal(lkvt_rev(ts), 3);
}

static void test_restart_persists(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  uint64_t cid, mid, cid2, mid2;
  lkv_mvcc_identity(ts->s, &cid, &mid);
  lkvt_put(ts, "a", "1");
  lkvt_put(ts, "a", "2");
  lkvt_put(ts, "b", "3");
  lkvt_del(ts, "b", NULL);
  assert_int_equal(lkvt_compact(ts, 3), 0);
  lkvt_reopen(ts);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  assert_int_equal(st.revision, 5);
  assert_int_equal(st.compact_revision, 3);
  lkv_mvcc_identity(ts->s, &cid2, &mid2);
  assert_true(cid == cid2 && mid == mid2);
  assert_int_equal(lkvt_range(ts, "a", "", 0, r), 0);
  assert_int_equal(r->n, 1);
  assert_string_equal(r->v[0].value, "2");
  assert_int_equal(r->v[0].version, 2);
  assert_int_equal(lkvt_range(ts, "a", "", 4, r), 0);
  assert_int_equal(r->n, 2);
  assert_int_equal(lkvt_range(ts, "a", "", 2, r), LKV_ECOMPACTED);
  lkvt_put(ts, "c", "4");
  assert_int_equal(lkvt_rev(ts), 6);
}

static void test_two_stores_one_thread(void **state) {
  (void)state;
  lkvt_store_t a, b;
  lkvt_open(&a);
  lkvt_open(&b);
  uint64_t ca, cb;
  lkv_mvcc_identity(a.s, &ca, NULL);
  lkv_mvcc_identity(b.s, &cb, NULL);
  assert_true(ca != cb);
  for (int i = 0; i < 50; i++) { /* alternating stores reuses each thread cache slot */
    lkvt_put(&a, "k", "a");
    assert_int_equal(lkvt_rev(&a), 2 + i);
    assert_int_equal(lkvt_rev(&b), 1 + i);
    lkvt_put(&b, "k", "b");
  }
  lkvt_close(&a);
  lkvt_open(&a); /* a new store after a closed one on this thread */
  assert_int_equal(lkvt_rev(&a), 1);
  lkvt_close(&a);
  lkvt_close(&b);
}

typedef struct reader_arg_s {
  lkvt_store_t *ts;
  int errors;
} reader_arg_t;

static void *reader(void *p) {
  reader_arg_t *a = p;
  for (int i = 0; i < 300; i++) {
    lkv_mvcc_txn_t *t;
    size_t count;
    if (lkv_mvcc_read_begin(a->ts->s, &t) != 0) {
      a->errors++;
      continue;
    }
    int64_t rev = lkv_mvcc_txn_rev(t);
    lkv_mvcc_range_t q = {
        .key = (const uint8_t *)"k", .key_len = 1, .end = (const uint8_t *)"l", .end_len = 1};
    /* every committed batch adds exactly one key: the count must match the snapshot's revision */
    if (lkv_mvcc_range(t, &q, NULL, NULL, &count) != 0 || (int64_t)count != rev - 1) a->errors++;
    lkv_mvcc_txn_end(t);
  }
  return NULL;
}

static void test_concurrent_readers(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  pthread_t th[4];
  reader_arg_t args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (reader_arg_t){.ts = ts};
    assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
  }
  for (int i = 0; i < 40; i++) {
    char k[16];
    snprintf(k, sizeof(k), "k%03d", i);
    lkvt_put(ts, k, "v");
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].errors, 0);
  }
  /* closes the cached read txns of the exited threads */
}

static void test_many_revisions_of_one_key(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  lkv_mvcc_txn_t *t;
  /* enough revisions that the key's index entries span several LMDB pages */
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  for (int i = 0; i < 3000; i++) {
    char v[16];
    int n = snprintf(v, sizeof(v), "%d", i);
    assert_int_equal(lkv_mvcc_req_begin(t), 0);
    assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"hot", 3, (const uint8_t *)v, (size_t)n, 0), 0);
    if (i % 7 == 0)
      assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)"hou", 3, (const uint8_t *)v, (size_t)n, 0), 0);
    assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  }
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_equal(lkvt_rev(ts), 3001);
  for (int64_t rev = 2; rev <= 3001; rev += 331) {
    assert_int_equal(lkvt_range(ts, "hot", "hp", rev, r), 0);
    assert_int_equal(r->count, 2);
    char want[16];
    snprintf(want, sizeof(want), "%lld", (long long)(rev - 2));
    assert_string_equal(r->v[0].value, want);
    assert_int_equal(r->v[0].version, rev - 1);
    assert_int_equal(r->v[0].mod, rev);
    snprintf(want, sizeof(want), "%lld", (long long)((rev - 2) / 7 * 7));
    assert_string_equal(r->v[1].value, want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_fresh_store),
      LKVT_TEST(test_put_versions),
      LKVT_TEST(test_tombstones_and_generations),
      LKVT_TEST(test_delete_range_forms),
      LKVT_TEST(test_multi_op_request_and_history),
      LKVT_TEST(test_request_rollback_in_batch),
      LKVT_TEST(test_snapshot_isolation),
      LKVT_TEST(test_restart_persists),
      cmocka_unit_test(test_two_stores_one_thread),
      LKVT_TEST(test_concurrent_readers),
      LKVT_TEST(test_many_revisions_of_one_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
