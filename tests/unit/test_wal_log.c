/* Durable log: round trips over many segments, suffix truncation, snapshots, compaction, reopen, checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/crc32c.h"
#include "wal_testutil.h"

static lkv_wal_options_t small_segments(void) {
  return (lkv_wal_options_t){.segment_size = 4096};
}

static void test_crc32c(void **state) {
  (void)state;
  /* The standard check value, and the table and instruction paths agree on every length and offset. */
  assert_int_equal(lkv_crc32c(0, "123456789", 9), 0xe3069283u);
  assert_int_equal(lkv_crc32c_sw(0, "123456789", 9), 0xe3069283u);
  uint8_t buf[300];
  for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (uint8_t)(i * 37 + 11);
  for (size_t off = 0; off < 8; off++)
    for (size_t len = 0; len + off <= sizeof(buf); len += 7)
      assert_int_equal(lkv_crc32c(0, buf + off, len), lkv_crc32c_sw(0, buf + off, len));
  /* Extending in pieces equals one pass. */
  assert_int_equal(lkv_crc32c(lkv_crc32c(0, buf, 100), buf + 100, 200), lkv_crc32c(0, buf, 300));
}

static void test_empty_and_reopen(void **state) {
  (void)state;
  char path[128];
  wt_log_t L;
  wt_start(&L, small_segments());
  assert_int_equal(L.r.n_entries, 0);
  assert_int_equal(L.r.snapshot.index, 0);
  assert_int_equal(L.r.hard_state.term, 0);
  assert_int_equal(lkv_wal_last_index(L.w), 0);
  /* A second opener is refused while the first has it. */
  lkv_wal_t *w2;
  lkv_raft_restore_t r2;
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &w2, &r2), LKV_EAGAIN);
  wt_log_reopen(&L);
  assert_int_equal(L.r.n_entries, 0);
  assert_int_equal(L.rep.segments, 1);
  assert_int_equal(L.rep.saves, 0);
  wt_seg_path(path, sizeof(path), L.dir, 1);
  assert_true(wt_exists(path));
  wt_finish(&L);
}

static void test_round_trip_many_segments(void **state) {
  (void)state;
  wt_log_t L;
  wt_start(&L, small_segments());
  uint64_t last = 0;
  for (uint64_t b = 1; last < 1500; b++) {
    uint64_t n = b % 17 + 1;
    lkv_raft_hard_state_t hs = {.term = 3, .vote = b % 3 + 1, .commit = last};
    assert_int_equal(wt_save_range(L.w, last + 1, last + n, 3, &hs), 0);
    last += n;
  }
  assert_int_equal(lkv_wal_last_index(L.w), last);
  wt_log_reopen(&L);
  assert_true(L.rep.segments > 20);
  assert_int_equal(L.rep.torn_records, 0);
  wt_expect(&L.r, 1, last, 3, NULL);
  assert_int_equal(L.r.hard_state.term, 3);
  /* Appending goes on after a reopen, and a second reopen sees both parts. */
  assert_int_equal(wt_save_range(L.w, last + 1, last + 10, 4, NULL), 0);
  wt_log_reopen(&L);
  assert_int_equal(L.r.n_entries, last + 10);
  assert_int_equal(L.r.entries[last].term, 4);
  assert_true(wt_intact(&L.r.entries[last + 9]));
  wt_finish(&L);
}

static void test_suffix_truncation(void **state) {
  (void)state;
  wt_log_t L;
  wt_start(&L, small_segments());
  assert_int_equal(wt_save_range(L.w, 1, 100, 1, NULL), 0);
  /* Entry 50 of term 2 replaces 50..100, even though 50 lies in an older segment. */
  assert_int_equal(wt_save_range(L.w, 50, 60, 2, NULL), 0);
  assert_int_equal(lkv_wal_last_index(L.w), 60);
  /* And again, replacing part of the replacement. */
  assert_int_equal(wt_save_range(L.w, 58, 58, 3, NULL), 0);
  wt_log_reopen(&L);
  uint64_t terms[58];
  for (int i = 0; i < 58; i++) terms[i] = i < 49 ? 1 : i < 57 ? 2 : 3;
  wt_expect(&L.r, 1, 58, 0, terms);
  /* Writing at last + 1 appends; beyond it, or at 0, is refused. */
  assert_int_equal(wt_save_range(L.w, 60, 61, 3, NULL), LKV_EINVAL);
  assert_int_equal(wt_save_range(L.w, 59, 59, 3, NULL), 0);
  lkv_raft_entry_t bad[2] = {{.term = 3, .index = 60}, {.term = 3, .index = 62}};
  assert_int_equal(lkv_wal_save(L.w, NULL, NULL, bad, 2), LKV_EINVAL);
  wt_finish(&L);
}

static lkv_raft_snapshot_meta_t snap_at(uint64_t index, uint64_t term) {
  lkv_raft_snapshot_meta_t m = {.index = index, .term = term};
  m.conf.voters[0] = 1;
  m.conf.voters[1] = 2;
  m.conf.voters[2] = 3;
  m.conf.n_voters = 3;
  m.conf.learners[0] = 9;
  m.conf.n_learners = 1;
  return m;
}

static void test_snapshots_keep_or_discard(void **state) {
  (void)state;
  wt_log_t L;
  wt_start(&L, small_segments());
  assert_int_equal(wt_save_range(L.w, 1, 100, 2, NULL), 0);
  /* The member's own snapshot at 40 (the log holds 40 with term 2): the entries after it stay. */
  lkv_raft_snapshot_meta_t own = snap_at(40, 2);
  assert_int_equal(lkv_wal_save(L.w, NULL, &own, NULL, 0), 0);
  wt_log_reopen(&L);
  assert_int_equal(L.r.snapshot.index, 40);
  assert_int_equal(L.r.snapshot.term, 2);
  assert_int_equal(L.r.snapshot.conf.n_voters, 3);
  assert_int_equal(L.r.snapshot.conf.learners[0], 9);
  wt_expect(&L.r, 41, 100, 2, NULL);
  /* An older snapshot, or entries at or below the snapshot, are refused. */
  lkv_raft_snapshot_meta_t dup = snap_at(50, 2);
  dup.conf.voters[1] = 1; /* a membership the codec would not read back */
  assert_int_equal(lkv_wal_save(L.w, NULL, &dup, NULL, 0), LKV_EINVAL);
  lkv_raft_snapshot_meta_t old = snap_at(30, 2);
  assert_int_equal(lkv_wal_save(L.w, NULL, &old, NULL, 0), LKV_EINVAL);
  assert_int_equal(wt_save_range(L.w, 40, 41, 3, NULL), LKV_EINVAL);
  /* An installed snapshot the log does not match (term 5 at 70) discards every stored entry; the
   * entries after it in the same save follow it. */
  lkv_raft_snapshot_meta_t installed = snap_at(70, 5);
  lkv_raft_entry_t e[3];
  uint8_t buf[900];
  wt_entries(e, buf, 71, 73, 5);
  lkv_raft_hard_state_t hs = {.term = 5, .vote = 2, .commit = 70};
  assert_int_equal(lkv_wal_save(L.w, &hs, &installed, e, 3), 0);
  assert_int_equal(lkv_wal_last_index(L.w), 73);
  wt_log_reopen(&L);
  assert_int_equal(L.r.snapshot.index, 70);
  assert_int_equal(L.r.snapshot.term, 5);
  assert_int_equal(L.r.hard_state.commit, 70);
  assert_int_equal(L.r.hard_state.vote, 2);
  wt_expect(&L.r, 71, 73, 5, NULL);
  /* A snapshot beyond the log with nothing after it: the log is empty and continues after it. */
  lkv_raft_snapshot_meta_t ahead = snap_at(500, 6);
  assert_int_equal(lkv_wal_save(L.w, NULL, &ahead, NULL, 0), 0);
  assert_int_equal(lkv_wal_last_index(L.w), 500);
  assert_int_equal(wt_save_range(L.w, 501, 505, 6, NULL), 0);
  wt_log_reopen(&L);
  assert_int_equal(L.r.snapshot.index, 500);
  wt_expect(&L.r, 501, 505, 6, NULL);
  wt_finish(&L);
}

static void test_compaction(void **state) {
  (void)state;
  char path[128];
  wt_log_t L;
  wt_start(&L, small_segments());
  /* The hard state is saved once, early: compaction must not lose it (segments carry checkpoints). */
  lkv_raft_hard_state_t hs = {.term = 7, .vote = 3, .commit = 5};
  assert_int_equal(wt_save_range(L.w, 1, 10, 7, &hs), 0);
  for (uint64_t i = 11; i <= 1000; i += 10) assert_int_equal(wt_save_range(L.w, i, i + 9, 7, NULL), 0);
  /* Without a snapshot at or above the index, compaction is refused. */
  assert_int_equal(lkv_wal_compact(L.w, 500), LKV_EINVAL);
  lkv_raft_snapshot_meta_t s = snap_at(800, 7);
  assert_int_equal(lkv_wal_save(L.w, NULL, &s, NULL, 0), 0);
  uint64_t before = lkv_wal_first_segment(L.w);
  assert_int_equal(before, 1);
  assert_int_equal(lkv_wal_compact(L.w, 700), 0);
  uint64_t first = lkv_wal_first_segment(L.w);
  assert_true(first > 10);
  for (uint64_t q = 1; q < first; q++) {
    wt_seg_path(path, sizeof(path), L.dir, q);
    assert_false(wt_exists(path));
  }
  wt_seg_path(path, sizeof(path), L.dir, first);
  assert_true(wt_exists(path));
  /* Compacting again to the same point is a no-op; more of it drops more. */
  assert_int_equal(lkv_wal_compact(L.w, 700), 0);
  assert_int_equal(lkv_wal_first_segment(L.w), first);
  wt_log_reopen(&L);
  assert_int_equal(L.r.snapshot.index, 800);
  assert_int_equal(L.r.hard_state.term, 7);
  assert_int_equal(L.r.hard_state.vote, 3);
  assert_int_equal(L.r.hard_state.commit, 5);
  wt_expect(&L.r, 801, 1000, 7, NULL);
  /* Truncating entries that lie in the (new) oldest segment region still works after compaction. */
  assert_int_equal(wt_save_range(L.w, 900, 905, 8, NULL), 0);
  assert_int_equal(lkv_wal_compact(L.w, 800), 0);
  wt_log_reopen(&L);
  assert_int_equal(L.r.n_entries, 105);
  assert_int_equal(L.r.entries[98].term, 7);
  assert_int_equal(L.r.entries[99].term, 8);
  /* Compacting everything up to the snapshot keeps only what is needed: the current segment. */
  lkv_raft_snapshot_meta_t s2 = snap_at(905, 8);
  assert_int_equal(lkv_wal_save(L.w, NULL, &s2, NULL, 0), 0);
  assert_int_equal(lkv_wal_compact(L.w, 905), 0);
  wt_log_reopen(&L);
  assert_int_equal(L.rep.segments, 1);
  assert_int_equal(L.r.snapshot.index, 905);
  assert_int_equal(L.r.n_entries, 0);
  assert_int_equal(L.r.hard_state.vote, 3);
  assert_int_equal(wt_save_range(L.w, 906, 906, 8, NULL), 0);
  /* After an installed snapshot the stored log starts above a low compaction index: the segments holding
   * it stay (found by the crash test: they were dropped). */
  lkv_raft_snapshot_meta_t inst = snap_at(2000, 9);
  assert_int_equal(lkv_wal_save(L.w, NULL, &inst, NULL, 0), 0);
  assert_int_equal(wt_save_range(L.w, 2001, 2100, 9, NULL), 0);
  lkv_raft_snapshot_meta_t own = snap_at(2001, 9);
  assert_int_equal(lkv_wal_save(L.w, NULL, &own, NULL, 0), 0);
  assert_int_equal(lkv_wal_compact(L.w, 1999), 0);
  wt_log_reopen(&L);
  assert_int_equal(L.r.snapshot.index, 2001);
  wt_expect(&L.r, 2002, 2100, 9, NULL);
  wt_finish(&L);
}

static void test_missing_segment_refused(void **state) {
  (void)state;
  char path[128];
  wt_log_t L;
  wt_start(&L, small_segments());
  assert_int_equal(wt_save_range(L.w, 1, 200, 1, NULL), 0);
  lkv_wal_close(L.w);
  wt_seg_path(path, sizeof(path), L.dir, 3);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), LKV_ECORRUPT);
  assert_int_equal(L.rep.corrupt_segment, 3);
  assert_non_null(strstr(L.rep.message, "missing"));
  /* Without the oldest segment (and no snapshot covering it) the entries in it are missing: refused. */
  for (uint64_t q = 3; q < 100; q++) {
    char from[128], to[128];
    wt_seg_path(from, sizeof(from), L.dir, q + 1);
    wt_seg_path(to, sizeof(to), L.dir, q);
    if (!wt_exists(from)) break;
    assert_int_equal(rename(from, to), 0);
  }
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r),
                   LKV_ECORRUPT); /* 2 -> 4 renamed to 3: chain broken */
  wt_rmrf(L.dir);
  wt_open_new(L.dir, &L.opt, &L.w, &L.r);
  assert_int_equal(wt_save_range(L.w, 1, 200, 1, NULL), 0);
  lkv_wal_close(L.w);
  wt_seg_path(path, sizeof(path), L.dir, 1);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), LKV_ECORRUPT);
  assert_non_null(strstr(L.rep.message, "entries 1.."));
  wt_rmrf(L.dir);
}

static void test_big_entry_and_options(void **state) {
  (void)state;
  char dir[64];
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  wt_tmpdir(dir);
  lkv_wal_options_t bad = {.segment_size = 100};
  assert_int_equal(lkv_wal_open(dir, &bad, &w, &r), LKV_EINVAL);
  lkv_wal_options_t opt = small_segments();
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  /* An entry larger than a segment gets a segment of its own size. */
  size_t len = 20000;
  uint8_t *data = malloc(len);
  assert_non_null(data);
  for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 13);
  lkv_raft_entry_t e = {.term = 1, .index = 1, .data = data, .len = len};
  assert_int_equal(lkv_wal_save(w, NULL, NULL, &e, 1), 0);
  assert_int_equal(wt_save_range(w, 2, 30, 1, NULL), 0);
  wt_reopen(dir, &opt, &w, &r);
  assert_int_equal(r.n_entries, 30);
  assert_int_equal(r.entries[0].len, len);
  assert_memory_equal(r.entries[0].data, data, len);
  assert_true(wt_intact(&r.entries[29]));
  free(data);
  wt_done(dir, w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c),
      cmocka_unit_test(test_empty_and_reopen),
      cmocka_unit_test(test_round_trip_many_segments),
      cmocka_unit_test(test_suffix_truncation),
      cmocka_unit_test(test_snapshots_keep_or_discard),
      cmocka_unit_test(test_compaction),
      cmocka_unit_test(test_missing_segment_refused),
      cmocka_unit_test(test_big_entry_and_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
