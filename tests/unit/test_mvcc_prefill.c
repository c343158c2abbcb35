/* The pages written ahead of LMDB past the end of the store's file (src/mvcc/prefill.c): written, left
 * out of the reported size, and never over a page in use. */
#include <sys/stat.h>

#include "mvcc_testutil.h"

#define KEYS 3000
#define BATCH 50
#define VALUE_LEN 1000
#define AHEAD_MAX (384u * 4096u) /* prefill.c's PREFILL_HIGH pages of 4 KiB */

static void value_of(int i, uint8_t *v) {
  for (int j = 0; j < VALUE_LEN; j++) v[j] = (uint8_t)(i * 7 + j);
}

/* KEYS keys of VALUE_LEN bytes in batches: the file grows through several prefill windows. */
static void put_all(lkvt_store_t *ts) {
  uint8_t v[VALUE_LEN];
  for (int b = 0; b < KEYS / BATCH; b++) {
    lkv_mvcc_txn_t *t;
    assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
    for (int i = b * BATCH; i < (b + 1) * BATCH; i++) {
      char k[16];
      int kl = snprintf(k, sizeof(k), "k%05d", i);
      value_of(i, v);
      assert_int_equal(lkv_mvcc_req_begin(t), 0);
      assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)k, (size_t)kl, v, sizeof(v), 0), 0);
      assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
    }
    assert_int_equal(lkv_mvcc_write_commit(t), 0);
  }
}

static void check_all(lkvt_store_t *ts, lkvt_kvs_t *r) {
  uint8_t v[VALUE_LEN];
  for (int i = 0; i < KEYS; i++) {
    char k[16];
    snprintf(k, sizeof(k), "k%05d", i);
    lkvt_kvs_clear(r);
    assert_int_equal(lkvt_range(ts, k, NULL, 0, r), 0);
    assert_int_equal(r->n, 1);
    value_of(i, v);
    assert_int_equal(r->v[0].value_len, VALUE_LEN);
    assert_memory_equal(r->v[0].value, v, VALUE_LEN);
  }
}

static uint64_t file_bytes(const lkvt_store_t *ts) {
  char path[128];
  struct stat st;
  snprintf(path, sizeof(path), "%s/member/db/data.mdb", ts->dir);
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

static void test_pages_ahead_are_written_and_not_reported(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  put_all(ts);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  uint64_t file = file_bytes(ts);
  assert_true(st.db_size > (uint64_t)KEYS * VALUE_LEN); /* the data itself */
  assert_true(file > st.db_size);                       /* pages ahead exist ... */
  assert_true(file - st.db_size <= AHEAD_MAX);          /* ... a bounded number of them */
  assert_true(st.db_size_in_use <= st.db_size);
}

/* Every value reads back, before and after a reopen: no zeroed page was one in use. */
static void test_data_survives_prefill_and_reopen(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  put_all(ts);
  check_all(ts, r);
  lkvt_reopen(ts);
  check_all(ts, r);
  assert_int_equal(lkvt_put(ts, "after", "reopen"), 0); /* writes go on past the pages ahead */
  check_all(ts, r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_pages_ahead_are_written_and_not_reported),
      LKVT_TEST(test_data_survives_prefill_and_reopen),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
