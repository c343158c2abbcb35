/* Unit tests for the space quota and a full map: refused writes, while deletes and compaction go on. */
#include "mvcc_testutil.h"

static uint64_t in_use(lkvt_store_t *ts) {
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  return st.db_size_in_use;
}

/* One batch: quota check for a put of key=value (etcd's cost), then the put. */
static int quota_put(lkvt_store_t *ts, const char *key, const uint8_t *val, size_t len) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  int rc = lkv_mvcc_quota_check(t, 256 + strlen(key) + len);
  if (!rc) rc = lkv_mvcc_put(t, (const uint8_t *)key, strlen(key), val, len, 0);
  assert_int_equal(lkv_mvcc_req_end(t, rc == 0), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  return rc;
}

static void test_quota(void **state) {
  (void)state;
  lkvt_store_t ts;
  static uint8_t val[8192];
  memset(val, 'v', sizeof(val));
  lkvt_open_quota(&ts, 256 * 1024);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts.s, &st), 0);
  assert_int_equal(st.quota_bytes, 256 * 1024);
  int i, rc = 0;
  char key[16];
  for (i = 0; i < 100 && rc == 0; i++) {
    snprintf(key, sizeof(key), "k%03d", i);
    rc = quota_put(&ts, key, val, sizeof(val));
  }
  assert_int_equal(rc, LKV_ENOSPACE);
  int stored = i - 1;
  assert_true(stored > 10);
  assert_true(in_use(&ts) + 256 + 4 + sizeof(val) >= 256 * 1024);
  int64_t rev = lkvt_rev(&ts);
  assert_int_equal(rev, 1 + stored); /* the refused put took no revision */
  /* small puts are refused too once over the quota */
  assert_int_equal(quota_put(&ts, "tiny", val, 1), in_use(&ts) + 261 >= 256 * 1024 ? LKV_ENOSPACE : 0);
  /* deletes and compaction still work and give the space back */
  assert_int_equal(lkvt_del(&ts, "k", "l"), stored);
  assert_int_equal(lkvt_compact(&ts, lkvt_rev(&ts)), 0);
  assert_true(in_use(&ts) < 64 * 1024);
  assert_int_equal(quota_put(&ts, "again", val, sizeof(val)), 0);
  lkvt_close(&ts);
}

static void test_map_full(void **state) {
  (void)state;
  lkvt_store_t ts;
  size_t len = 4u << 20;
  uint8_t *val = malloc(len);
  memset(val, 'x', len);
  lkvt_open_quota(&ts, 1u << 20); /* map: 2 x quota + 64 MiB headroom */
  int i, rc = 0;
  char key[16];
  for (i = 0; i < 40 && rc == 0; i++) {
    snprintf(key, sizeof(key), "big%02d", i);
    rc = lkvt_put_n(&ts, key, strlen(key), val, len); /* no quota check: fills the map */
  }
  assert_int_equal(rc, LKV_ENOSPACE);
  int stored = i - 1;
  assert_int_equal(lkvt_rev(&ts), 1 + stored);
  lkvt_kvs_t *r = lkvt_kvs_new();
  assert_int_equal(lkvt_range(&ts, "big00", NULL, 0, r), 0);
  assert_int_equal(r->v[0].value_len, len);
  /* deletes still find pages, and after compaction the space is reused (LMDB reuses the pages a commit
   * frees from the second commit after it on) */
  assert_int_equal(lkvt_del(&ts, "big", "bih"), stored);
  assert_int_equal(lkvt_compact(&ts, lkvt_rev(&ts)), 0);
  assert_int_equal(lkvt_put(&ts, "small", "v"), 0);
  for (i = 0; i < stored / 2; i++) assert_int_equal(lkvt_put_n(&ts, "after", 5, val, len), 0);
  lkvt_kvs_free(r);
  free(val);
  lkvt_close(&ts);
}

static void test_huge_quota(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open_quota(&ts, INT64_MAX); /* the largest --quota-backend-bytes: in effect no quota */
  static uint8_t val[4096];
  assert_int_equal(quota_put(&ts, "k", val, sizeof(val)), 0);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts.s, &t), 0);
  assert_int_equal(lkv_mvcc_quota_check(t, UINT64_MAX - 1), LKV_ENOSPACE); /* no overflow */
  lkv_mvcc_txn_end(t);
  lkvt_close(&ts);
}

static void test_reopen_with_smaller_quota(void **state) {
  (void)state;
  lkvt_store_t ts;
  size_t len = 8u << 20;
  uint8_t *val = malloc(len);
  memset(val, 'x', len);
  lkvt_open_quota(&ts, 1u << 30);
  for (int i = 0; i < 9; i++) { /* 72 MiB: more than a 1 MiB quota's map of 66 MiB */
    char k[8];
    snprintf(k, sizeof(k), "k%d", i);
    assert_int_equal(lkvt_put_n(&ts, k, strlen(k), val, len), 0);
  }
  lkv_mvcc_close(ts.s);
  lkv_mvcc_options_t o = {.dir = ts.dir, .quota_bytes = 1u << 20};
  assert_int_equal(lkv_mvcc_open(&ts.s, &o), 0); /* LMDB grows the map to the data */
  lkvt_kvs_t *r = lkvt_kvs_new();
  assert_int_equal(lkvt_range(&ts, "k8", NULL, 0, r), 0);
  assert_int_equal(r->v[0].value_len, len);
  assert_int_equal(quota_put(&ts, "more", val, 1), LKV_ENOSPACE);
  assert_int_equal(lkvt_del(&ts, "k", "l"), 9);
  lkvt_kvs_free(r);
  free(val);
  lkvt_close(&ts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quota),
      cmocka_unit_test(test_map_full),
      cmocka_unit_test(test_huge_quota),
      cmocka_unit_test(test_reopen_with_smaller_quota),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
