/* The pages written ahead of LMDB past the end of the store's file (src/mvcc/prefill.c): written, left
 * out of the reported size, never over a page in use (also while LMDB reuses freed pages), and written
 * again past the end of a defragmented file. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mvcc_testutil.h"

#define KEYS 3000
#define BATCH 50
#define VALUE_LEN 1000
#define AHEAD_MAX (384u * 4096u) /* prefill.c's PREFILL_HIGH pages of 4 KiB */

static void value_of(int i, uint8_t *v) {
  for (int j = 0; j < VALUE_LEN; j++) v[j] = (uint8_t)(i * 7 + j);
}

static uint64_t file_bytes(const lkvt_store_t *ts) {
  char path[128];
  struct stat st;
  snprintf(path, sizeof(path), "%s/member/db/data.mdb", ts->dir);
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

/* The file's first len bytes. */
static uint8_t *file_head(const lkvt_store_t *ts, uint64_t len) {
  char path[128];
  snprintf(path, sizeof(path), "%s/member/db/data.mdb", ts->dir);
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  uint8_t *b = malloc(len);
  assert_non_null(b);
  assert_int_equal(pread(fd, b, len, 0), (ssize_t)len);
  close(fd);
  return b;
}

/* Begins a write transaction (which writes the pages ahead when few are left) and, with prefills, checks
 * that every page up to the last one in use is as before and counts the begins that wrote pages ahead. */
static lkv_mvcc_txn_t *begin(lkvt_store_t *ts, int *prefills) {
  lkv_mvcc_txn_t *t;
  if (!prefills) {
    assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
    return t;
  }
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  uint64_t file_before = file_bytes(ts);
  uint8_t *before = file_head(ts, st.db_size);
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  *prefills += file_bytes(ts) > file_before;
  uint8_t *after = file_head(ts, st.db_size);
  assert_memory_equal(before, after, st.db_size);
  free(before);
  free(after);
  return t;
}

/* Keys [from, to) of VALUE_LEN bytes in batches of BATCH (prefills: see begin). */
static void put_range(lkvt_store_t *ts, int from, int to, int *prefills) {
  uint8_t v[VALUE_LEN];
  for (int b = from / BATCH; b < to / BATCH; b++) {
    lkv_mvcc_txn_t *t = begin(ts, prefills);
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

/* KEYS keys: the file grows through several prefill windows. */
static void put_all(lkvt_store_t *ts) {
  put_range(ts, 0, KEYS, NULL);
}

/* Keys [from, to) read back with their values. */
static void check_range(lkvt_store_t *ts, lkvt_kvs_t *r, int from, int to) {
  uint8_t v[VALUE_LEN];
  for (int i = from; i < to; i++) {
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

static void check_all(lkvt_store_t *ts, lkvt_kvs_t *r) {
  check_range(ts, r, 0, KEYS);
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

/* Every page up to the last one LMDB uses is left as it was by each write transaction's start (which
 * writes the pages ahead), also while LMDB takes pages a compaction freed instead of growing the file. */
static void test_pages_in_use_untouched(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  const int round = 600;
  int prefills = 0;
  for (int i = 0; i < 8; i++) {
    put_range(ts, i * round, (i + 1) * round, &prefills);
    if (i % 2) { /* free the previous round's pages: the next rounds reuse them */
      char from[16], to[16];
      snprintf(from, sizeof(from), "k%05d", (i - 1) * round);
      snprintf(to, sizeof(to), "k%05d", i * round);
      assert_int_equal(lkvt_del(ts, from, to), round);
      assert_int_equal(lkvt_compact(ts, lkvt_rev(ts)), 0);
    }
  }
  assert_true(prefills >= 3);
  for (int i = 0; i < 8; i++)
    if (i % 2) check_range(ts, r, i * round, (i + 1) * round);
}

/* A defragment swaps in a file that ends at its last page in use: the pages ahead are written again past
 * that end (the count of pages written ahead starts over with the new file). */
static void test_pages_ahead_after_defragment(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  put_all(ts);
  assert_int_equal(lkvt_del(ts, "k00100", "k03000"), KEYS - 100);
  assert_int_equal(lkvt_compact(ts, lkvt_rev(ts)), 0);
  lkv_mvcc_defrag_t d;
  assert_int_equal(lkv_mvcc_defrag(ts->s, NULL, &d), 0);
  assert_true(d.size_after < d.size_before / 4);
  assert_int_equal(lkvt_put(ts, "after", "defrag"), 0);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  uint64_t file = file_bytes(ts);
  assert_true(file > st.db_size);
  assert_true(file - st.db_size <= AHEAD_MAX);
  check_range(ts, r, 0, 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_pages_ahead_are_written_and_not_reported),
      LKVT_TEST(test_data_survives_prefill_and_reopen),
      LKVT_TEST(test_pages_in_use_untouched),
      LKVT_TEST(test_pages_ahead_after_defragment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
