/* Unit tests for lkv_mvcc_defrag: the file shrinks to the pages in use, the content stays the same (also
 * across a reopen), writes and reads made while it copies are all there, and a crash's stray copy is
 * removed at open. */
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "common/crc32c.h"
#include "mvcc_testutil.h"
#include "snapshot/snapshot.h"

/* What a store holds, summarised: its revisions, Hash (key and lease buckets), the live keys with their
 * values and the alarms and a replication record. Equal summaries, equal stores for these tests. */
typedef struct sum_s {
  int64_t rev, compact;
  uint32_t hash, alarms;
  size_t keys;
  uint32_t kv_crc;
  uint8_t repl[8];
} sum_t;

static int crc_kv(void *arg, const lkv_mvcc_kv_t *kv) {
  uint32_t *crc = arg;
  *crc = lkv_crc32c(*crc, kv->key, kv->key_len);
  *crc = lkv_crc32c(*crc, kv->value, kv->value_len);
  *crc = lkv_crc32c(*crc, &kv->mod_revision, sizeof(kv->mod_revision));
  return 0;
}

static void summarise(lkvt_store_t *ts, sum_t *out) {
  memset(out, 0, sizeof(*out));
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  lkv_snapshot_hash_t h;
  assert_int_equal(lkv_snapshot_hash(t, &h), 0);
  out->rev = h.revision;
  out->compact = h.compact_revision;
  out->hash = h.hash;
  lkv_mvcc_range_t all = {
      .key = (const uint8_t *)"\0", .key_len = 1, .end = (const uint8_t *)"\0", .end_len = 1};
  assert_int_equal(lkv_mvcc_range(t, &all, crc_kv, &out->kv_crc, &out->keys), 0);
  assert_int_equal(lkv_mvcc_alarms_get(t, &out->alarms), 0);
  uint8_t *val;
  size_t len;
  assert_int_equal(lkv_mvcc_repl_get(t, "applied", &val, &len), 0);
  assert_int_equal(len, sizeof(out->repl));
  memcpy(out->repl, val, len);
  free(val);
  lkv_mvcc_txn_end(t);
}

static void set_state(lkvt_store_t *ts) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_repl_put(t, "applied", "12345678", 8), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_alarms_set(t, LKV_MVCC_ALARM_NOSPACE), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
}

/* 3000 keys of 2 KiB (one batch), most deleted again, compacted: a large file mostly free. */
static void fill_and_free(lkvt_store_t *ts) {
  char key[32], val[2048];
  memset(val, 'v', sizeof(val));
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof(key), "k/%05d", i);
    assert_int_equal(lkv_mvcc_req_begin(t), 0);
    assert_int_equal(lkv_mvcc_put(t, (const uint8_t *)key, strlen(key), (const uint8_t *)val, sizeof(val), 0),
                     0);
    assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  }
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  lkvt_put_lease(ts, "leased", "x", 77);
  assert_int_equal(lkvt_del(ts, "k/00100", "k/03000"), 2900);
  assert_int_equal(lkvt_compact(ts, lkvt_rev(ts)), 0);
  set_state(ts);
}

static void test_shrinks_and_keeps_everything(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  fill_and_free(&ts);
  sum_t before, after, reopened;
  summarise(&ts, &before);
  lkv_mvcc_stat_t st0, st1;
  assert_int_equal(lkv_mvcc_stat(ts.s, &st0), 0);
  lkv_mvcc_defrag_t d;
  assert_int_equal(lkv_mvcc_defrag(ts.s, NULL, &d), 0);
  assert_int_equal(d.size_before, st0.db_size);
  assert_int_equal(lkv_mvcc_stat(ts.s, &st1), 0);
  assert_int_equal(d.size_after, st1.db_size);
  assert_true(st1.db_size < st0.db_size / 4);                   /* 6 MB of values, 200 KB left */
  assert_true(st1.db_size <= st1.db_size_in_use + (64u << 10)); /* compact: little beyond what is in use */
  summarise(&ts, &after);
  assert_memory_equal(&before, &after, sizeof(before));
  assert_int_equal(before.keys, 101);
  lkvt_put(&ts, "after", "1"); /* the reopened store takes writes */
  lkvt_reopen(&ts);
  summarise(&ts, &reopened);
  assert_int_equal(reopened.rev, before.rev + 1);
  assert_int_equal(reopened.keys, before.keys + 1);
  lkvt_close(&ts);
}

typedef struct load_s {
  lkvt_store_t *ts;
  atomic_int done;
  int puts;
  int reads;
} load_t;

static void *writer(void *arg) {
  load_t *l = arg;
  char key[32];
  while (!atomic_load(&l->done)) {
    snprintf(key, sizeof(key), "w/%06d", l->puts);
    assert_int_equal(lkvt_put(l->ts, key, "during"), 0);
    l->puts++;
  }
  return NULL;
}

static void *reader(void *arg) {
  load_t *l = arg;
  while (!atomic_load(&l->done)) {
    lkvt_kvs_t *k = lkvt_kvs_new();
    assert_int_equal(lkvt_range(l->ts, "k/00000", "k/00100", 0, k), 0);
    assert_int_equal(k->n, 100);
    lkvt_kvs_free(k);
    l->reads++;
  }
  return NULL;
}

/* Writes and reads go on while the copy is made; every write acknowledged before or during the defragment
 * is in the store after it, and after a reopen. */
static void test_online(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  fill_and_free(&ts);
  load_t l = {.ts = &ts};
  pthread_t w, r;
  assert_int_equal(pthread_create(&w, NULL, writer, &l), 0);
  assert_int_equal(pthread_create(&r, NULL, reader, &l), 0);
  while (l.puts < 50) sched_yield();
  lkv_mvcc_defrag_t d;
  int rc = lkv_mvcc_defrag(ts.s, NULL, &d);
  int puts_at_end = l.puts;
  while (l.puts < puts_at_end + 50) sched_yield(); /* the writer goes on after the swap */
  atomic_store(&l.done, 1);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  assert_int_equal(rc, 0);
  assert_true(d.size_after < d.size_before);
  assert_true(l.reads > 0);
  for (int pass = 0; pass < 2; pass++) {
    lkvt_kvs_t *k = lkvt_kvs_new();
    lkv_mvcc_range_t q = {.key = (const uint8_t *)"w/",
                          .key_len = 2,
                          .end = (const uint8_t *)"w0",
                          .end_len = 2,
                          .flags = LKV_MVCC_RANGE_COUNT_ONLY};
    assert_int_equal(lkvt_range_q(&ts, &q, k), 0);
    assert_int_equal(k->count, (size_t)l.puts);
    lkvt_kvs_free(k);
    lkvt_reopen(&ts);
  }
  lkvt_close(&ts);
}

typedef struct holder_s {
  lkvt_store_t *ts;
  atomic_int holding;
} holder_t;

/* Holds a read transaction for 400 ms (a long snapshot copy would). */
static void *hold_txn(void *arg) {
  holder_t *h = arg;
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(h->ts->s, &t), 0);
  atomic_store(&h->holding, 1);
  struct timespec ts = {.tv_sec = 0, .tv_nsec = 400000000L};
  nanosleep(&ts, NULL);
  lkv_mvcc_txn_end(t);
  return NULL;
}

/* A transaction held longer than the swap may wait: each attempt gives up and reopens the gate (the
 * reader thread keeps reading meanwhile), and the swap happens once the holder let go. */
static void test_waits_out_a_long_reader(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  fill_and_free(&ts);
  holder_t h = {.ts = &ts};
  load_t l = {.ts = &ts};
  pthread_t ht, r;
  assert_int_equal(pthread_create(&ht, NULL, hold_txn, &h), 0);
  while (!atomic_load(&h.holding)) sched_yield();
  assert_int_equal(pthread_create(&r, NULL, reader, &l), 0);
  lkv_mvcc_defrag_t d;
  assert_int_equal(lkv_mvcc_defrag(ts.s, NULL, &d), 0);
  assert_true(d.size_after < d.size_before);
  atomic_store(&l.done, 1);
  pthread_join(ht, NULL);
  pthread_join(r, NULL);
  assert_true(l.reads > 0);
  lkvt_close(&ts);
}

/* A copy a crash left behind is deleted when the store opens. */
static void test_stray_copy_removed(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  char path[256];
  snprintf(path, sizeof(path), "%s/member/db/defrag.mdb", ts.dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("half a copy", f);
  fclose(f);
  lkvt_reopen(&ts);
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0);
  lkvt_close(&ts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shrinks_and_keeps_everything),
      cmocka_unit_test(test_online),
      cmocka_unit_test(test_waits_out_a_long_reader),
      cmocka_unit_test(test_stray_copy_removed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
