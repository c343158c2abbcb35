/* Durable log recovery: torn tails of every kind are dropped to the last flush; earlier damage is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <inttypes.h>

#include "raft/codec.h"
#include "wal/internal.h"
#include "wal_testutil.h"

#define SEG 65536

/* A log with save A (entries 1..20 of term 1, hard state term 1) and then save B (entries 21..23 of term
 * 1, hard state term 2), both in segment 1. The image of segment 1 is kept to restore it between cases. */
typedef struct {
  char dir[64];
  char seg[128];
  uint64_t b_start, b_end; /* save B's bytes in segment 1 */
  uint64_t rec[4];         /* offsets of B's records: entries 21, 22, 23, hard state */
  uint8_t *image;
} fixture_t;

static void pwrite_at(const char *path, const void *buf, size_t len, uint64_t off) {
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
  close(fd);
}

static void zero_range(const char *path, uint64_t from, uint64_t to) {
  uint8_t *z = calloc(1, to - from + 1);
  assert_non_null(z);
  pwrite_at(path, z, to - from, from);
  free(z);
}

static void setup_fixture(fixture_t *f) {
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = {.segment_size = SEG};
  wt_tmpdir(f->dir);
  wt_seg_path(f->seg, sizeof(f->seg), f->dir, 1);
  assert_int_equal(lkv_wal_open(f->dir, &opt, &w, &r), 0);
  lkv_raft_hard_state_t a = {.term = 1, .vote = 1, .commit = 10};
  assert_int_equal(wt_save_range(w, 1, 20, 1, &a), 0);
  f->b_start = w->off;
  uint64_t off = w->off;
  for (uint64_t i = 21; i <= 23; i++) {
    f->rec[i - 21] = off;
    off += lkv__wal_rec_size(wt_len(i, 1));
  }
  f->rec[3] = off;
  lkv_raft_hard_state_t b = {.term = 2, .vote = 0, .commit = 20};
  assert_int_equal(wt_save_range(w, 21, 23, 1, &b), 0);
  f->b_end = w->off;
  assert_int_equal(f->b_end, off + lkv__wal_rec_size(LKV_RAFT_HARD_STATE_SIZE));
  lkv_wal_close(w);
  f->image = malloc(SEG);
  assert_non_null(f->image);
  int fd = open(f->seg, O_RDONLY);
  assert_int_equal(pread(fd, f->image, SEG, 0), SEG);
  close(fd);
}

static void restore_fixture(const fixture_t *f) {
  char later[128];
  for (uint64_t q = 2; q < 5; q++) {
    wt_seg_path(later, sizeof(later), f->dir, q);
    unlink(later);
  }
  int fd = open(f->seg, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, f->image, SEG, 0), SEG);
  assert_int_equal(ftruncate(fd, SEG), 0);
  close(fd);
}

static void free_fixture(fixture_t *f) {
  free(f->image);
  wt_rmrf(f->dir);
}

/* Opens the damaged log and expects exactly save A; with go_on, also that appending continues. */
static void expect_save_a(const fixture_t *f, int go_on) {
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_recovery_t rep;
  lkv_wal_options_t opt = {.segment_size = SEG, .recovery = &rep};
  int rc = lkv_wal_open(f->dir, &opt, &w, &r);
  if (rc) fprintf(stderr, "open: %s (%s)\n", lkv_strerror(rc), rep.message);
  assert_int_equal(rc, 0);
  wt_expect(&r, 1, 20, 1, NULL);
  assert_int_equal(r.hard_state.term, 1);
  assert_int_equal(r.hard_state.commit, 10);
  assert_int_equal(w->off, f->b_start);
  if (go_on) {
    assert_int_equal(wt_save_range(w, 21, 22, 3, NULL), 0);
    lkv_wal_close(w);
    assert_int_equal(lkv_wal_open(f->dir, &opt, &w, &r), 0);
    uint64_t terms[22];
    for (int i = 0; i < 22; i++) terms[i] = i < 20 ? 1 : 3;
    wt_expect(&r, 1, 22, 0, terms);
    assert_int_equal(r.hard_state.term, 1);
  }
  lkv_wal_close(w);
}

/* Opens the log and expects both saves, whole. */
static void expect_both_saves(const fixture_t *f) {
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = {.segment_size = SEG};
  assert_int_equal(lkv_wal_open(f->dir, &opt, &w, &r), 0);
  wt_expect(&r, 1, 23, 1, NULL);
  assert_int_equal(r.hard_state.term, 2);
  lkv_wal_close(w);
}

static void test_last_save_cut_at_every_byte(void **state) {
  (void)state;
  fixture_t f;
  setup_fixture(&f);
  for (uint64_t x = f.b_start; x < f.b_end; x++) {
    /* The file ends at x (as if the rest never reached it)... */
    restore_fixture(&f);
    assert_int_equal(truncate(f.seg, (off_t)x), 0);
    expect_save_a(&f, x % 61 == 0);
    /* ...or everything from x on reads as zeros (preallocated space the write never reached). When those
     * bytes were zeros already (padding, high bytes of small numbers) nothing changed: then B is whole. */
    restore_fixture(&f);
    zero_range(f.seg, x, f.b_end);
    int changed = 0;
    for (uint64_t k = x; k < f.b_end; k++) changed |= f.image[k] != 0;
    if (changed) {
      expect_save_a(&f, x % 67 == 0);
    } else {
      expect_both_saves(&f);
    }
  }
  free_fixture(&f);
}

static void test_garbage_after_last_record(void **state) {
  (void)state;
  fixture_t f;
  setup_fixture(&f);
  uint8_t junk[700];
  for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)(i * 151 + 7);
  pwrite_at(f.seg, junk, sizeof(junk), f.b_end);
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = {.segment_size = SEG};
  assert_int_equal(lkv_wal_open(f.dir, &opt, &w, &r), 0);
  wt_expect(&r, 1, 23, 1, NULL);
  assert_int_equal(r.hard_state.term, 2);
  assert_int_equal(wt_save_range(w, 24, 24, 2, NULL), 0); /* overwrites part of the junk, not all of it */
  wt_reopen(f.dir, &opt, &w, &r);
  assert_int_equal(r.n_entries, 24);
  lkv_wal_close(w);
  free_fixture(&f);
}

static void test_unflushed_records_reordered(void **state) {
  (void)state;
  fixture_t f;
  setup_fixture(&f);
  /* The disk wrote later records of the last save but not an earlier one: still a torn tail. */
  for (int gone = 0; gone < 4; gone++) {
    restore_fixture(&f);
    zero_range(f.seg, f.rec[gone], gone < 3 ? f.rec[gone + 1] : f.b_end);
    expect_save_a(&f, gone == 0);
  }
  /* Only the first record's header reached the disk, with garbage behind it. */
  restore_fixture(&f);
  uint8_t junk[64];
  memset(junk, 0xa5, sizeof(junk));
  pwrite_at(f.seg, junk, sizeof(junk), f.rec[1] + 8);
  expect_save_a(&f, 0);
  free_fixture(&f);
}

static void test_damage_before_a_flushed_save_is_refused(void **state) {
  (void)state;
  fixture_t f;
  setup_fixture(&f);
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_recovery_t rep;
  lkv_wal_options_t opt = {.segment_size = SEG, .recovery = &rep};
  /* Save A's entry 5 lies before save B, which was only written after A was flushed. */
  uint64_t off5 = LKV__WAL_SEG_HDR;
  for (uint64_t i = 1; i < 5; i++) off5 += lkv__wal_rec_size(wt_len(i, 1));
  uint64_t where[] = {off5 + 2, off5 + 13, off5 + 30, off5 + LKV__WAL_REC_HDR + 1};
  for (size_t k = 0; k < 4; k++) {
    restore_fixture(&f);
    uint8_t b = f.image[where[k]] ^ 0x10;
    pwrite_at(f.seg, &b, 1, where[k]);
    assert_int_equal(lkv_wal_open(f.dir, &opt, &w, &r), LKV_ECORRUPT);
    assert_int_equal(rep.corrupt_segment, 1);
    assert_int_equal(rep.corrupt_offset, off5);
    assert_non_null(strstr(rep.message, "offset"));
  }
  /* A whole record zeroed in the middle is damage too, not a tail. */
  restore_fixture(&f);
  zero_range(f.seg, off5, off5 + lkv__wal_rec_size(wt_len(5, 1)));
  assert_int_equal(lkv_wal_open(f.dir, &opt, &w, &r), LKV_ECORRUPT);
  assert_int_equal(rep.corrupt_offset, off5);
  /* The first record of the last save is not protected by a later flush: that is a torn tail (the one
   * case the rule cannot tell apart, documented in wal.h). */
  restore_fixture(&f);
  uint8_t b = f.image[f.rec[0] + 50] ^ 1;
  pwrite_at(f.seg, &b, 1, f.rec[0] + 50);
  expect_save_a(&f, 0);
  /* The log is left untouched by a refused open: repairing the byte makes it whole again. */
  restore_fixture(&f);
  expect_both_saves(&f);
  free_fixture(&f);
}

static void test_damage_in_older_segment_refused(void **state) {
  (void)state;
  char path[128];
  wt_log_t L;
  wt_start(&L, (lkv_wal_options_t){.segment_size = 4096});
  for (uint64_t i = 1; i <= 200; i += 5) assert_int_equal(wt_save_range(L.w, i, i + 4, 1, NULL), 0);
  lkv_wal_close(L.w);
  wt_seg_path(path, sizeof(path), L.dir, 2);
  uint8_t b = 0xff;
  pwrite_at(path, &b, 1, LKV__WAL_SEG_HDR + 100);
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), LKV_ECORRUPT);
  assert_int_equal(L.rep.corrupt_segment, 2);
  /* A damaged segment header is refused as well. */
  pwrite_at(path, &b, 1, 20);
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), LKV_ECORRUPT);
  assert_non_null(strstr(L.rep.message, "header"));
  wt_rmrf(L.dir);
}

static void test_torn_save_across_segments(void **state) {
  (void)state;
  char seg1[128], seg2[128];
  for (int variant = 0; variant < 3; variant++) {
    wt_log_t L;
    wt_start(&L, (lkv_wal_options_t){.segment_size = 4096});
    wt_seg_path(seg1, sizeof(seg1), L.dir, 1);
    wt_seg_path(seg2, sizeof(seg2), L.dir, 2);
    assert_int_equal(wt_save_range(L.w, 1, 10, 1, NULL), 0);
    uint64_t a_end = L.w->off;
    assert_int_equal(wt_save_range(L.w, 11, 30, 1, NULL), 0); /* spans into segment 2 */
    assert_int_equal(L.w->seq, 2);
    lkv_wal_close(L.w);
    if (variant == 0) zero_range(seg1, a_end, a_end + 200);     /* its start in segment 1 lost */
    if (variant == 1) zero_range(seg2, LKV__WAL_SEG_HDR, 4096); /* its part in segment 2 lost */
    if (variant == 2) assert_int_equal(truncate(seg2, LKV__WAL_SEG_HDR + 100), 0); /* cut short */
    assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), 0);
    wt_expect(&L.r, 1, 10, 1, NULL);
    assert_int_equal(L.rep.removed_segments, 1);
    assert_false(wt_exists(seg2));
    assert_int_equal(wt_save_range(L.w, 11, 50, 2, NULL), 0);
    wt_log_reopen(&L);
    assert_int_equal(L.r.n_entries, 50);
    assert_int_equal(L.r.entries[49].term, 2);
    wt_finish(&L);
  }
}

/* Entries of fixed size, so that a later save's records land exactly where an earlier attempt's did. */
static void fixed_entries(lkv_raft_entry_t *e, uint8_t *buf, uint64_t lo, size_t n, uint64_t term) {
  for (size_t i = 0; i < n; i++) {
    memset(buf + i * 100, (int)(lo + i + term * 50), 100);
    e[i] = (lkv_raft_entry_t){.term = term, .index = lo + i, .data = buf + i * 100, .len = 100};
  }
}

static void test_stale_leftovers_never_mix(void **state) {
  (void)state;
  char dir[64], seg[128];
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = {.segment_size = SEG};
  lkv_raft_entry_t e[3];
  uint8_t buf[300];
  wt_tmpdir(dir);
  wt_seg_path(seg, sizeof(seg), dir, 1);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  assert_int_equal(wt_save_range(w, 1, 10, 1, NULL), 0);
  uint64_t c = w->off, rec = lkv__wal_rec_size(100);
  fixed_entries(e, buf, 11, 3, 1);
  assert_int_equal(lkv_wal_save(w, NULL, NULL, e, 3), 0); /* attempt B: 11, 12, 13 (last) */
  lkv_wal_close(w);
  uint8_t old[3 * 152];
  assert_int_equal(rec, 152);
  int fd = open(seg, O_RDONLY);
  assert_int_equal(pread(fd, old, sizeof(old), (off_t)c), (ssize_t)sizeof(old));
  close(fd);
  /* B's first record never reached the disk: B is a torn tail. */
  zero_range(seg, c, c + rec);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  wt_expect(&r, 1, 10, 1, NULL);
  /* Save C writes 11', 12', 13' of term 2 at the same places; the disk keeps only 11' and still holds
   * B's 12 and 13 behind it. Those must not complete C: they belong to another attempt. */
  fixed_entries(e, buf, 11, 3, 2);
  assert_int_equal(lkv_wal_save(w, NULL, NULL, e, 3), 0);
  lkv_wal_close(w);
  pwrite_at(seg, old + rec, 2 * rec, c + rec);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  wt_expect(&r, 1, 10, 1, NULL);
  /* And the next save goes on from entry 11 with an epoch above both attempts. */
  fixed_entries(e, buf, 11, 1, 3);
  assert_int_equal(lkv_wal_save(w, NULL, NULL, e, 1), 0);
  wt_reopen(dir, &opt, &w, &r);
  assert_int_equal(r.n_entries, 11);
  assert_int_equal(r.entries[10].term, 3);
  wt_done(dir, w);
}

/* Seeded random damage anywhere in a log of many segments: open either refuses (LKV_ECORRUPT) or returns
 * a prefix of what was saved, every entry intact. Never anything that was not written. */
static void test_random_damage_never_misread(void **state) {
  (void)state;
  enum { SEGS_MAX = 64 };
  wt_log_t L;
  wt_start(&L, (lkv_wal_options_t){.segment_size = 4096});
  uint64_t last = 0;
  for (uint64_t b = 1; last < 400; b++) {
    lkv_raft_hard_state_t hs = {.term = 1, .vote = 1, .commit = last};
    assert_int_equal(wt_save_range(L.w, last + 1, last + 1 + b % 7, 1, &hs), 0);
    last += 1 + b % 7;
  }
  uint64_t nsegs = L.w->seq;
  assert_true(nsegs > 10 && nsegs < SEGS_MAX);
  lkv_wal_close(L.w);
  uint8_t *images[SEGS_MAX];
  char paths[SEGS_MAX][128];
  for (uint64_t q = 1; q <= nsegs; q++) {
    wt_seg_path(paths[q], sizeof(paths[q]), L.dir, q);
    images[q] = malloc(4096);
    int fd = open(paths[q], O_RDONLY);
    assert_int_equal(pread(fd, images[q], 4096, 0), 4096);
    close(fd);
  }
  uint64_t rng = 0x2545f4914f6cdd1dull, opened = 0, refused = 0;
  for (int round = 0; round < 400; round++) {
    for (uint64_t q = 1; q <= nsegs; q++) { /* also brings back segments a torn-tail cut removed */
      int fd = open(paths[q], O_WRONLY | O_CREAT, 0600);
      assert_int_equal(pwrite(fd, images[q], 4096, 0), 4096);
      close(fd);
    }
    int flips = 1 + (int)(rng % 6);
    for (int k = 0; k < flips; k++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      uint64_t q = 1 + rng % nsegs, off = (rng >> 20) % 4096;
      uint8_t b = images[q][off] ^ (uint8_t)(1 + (rng >> 40) % 255);
      pwrite_at(paths[q], &b, 1, off);
    }
    int rc = lkv_wal_open(L.dir, &L.opt, &L.w, &L.r);
    assert_true(rc == 0 || rc == LKV_ECORRUPT);
    if (rc) {
      refused++;
      continue;
    }
    opened++;
    assert_true(L.r.n_entries <= last);
    wt_expect(&L.r, 1, L.r.n_entries, 1, NULL);
    lkv_wal_close(L.w);
  }
  fprintf(stderr, "random damage: %" PRIu64 " opened (a prefix), %" PRIu64 " refused\n", opened, refused);
  assert_true(refused > 0);
  for (uint64_t q = 1; q <= nsegs; q++) free(images[q]);
  wt_rmrf(L.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_save_cut_at_every_byte),
      cmocka_unit_test(test_garbage_after_last_record),
      cmocka_unit_test(test_unflushed_records_reordered),
      cmocka_unit_test(test_damage_before_a_flushed_save_is_refused),
      cmocka_unit_test(test_damage_in_older_segment_refused),
      cmocka_unit_test(test_torn_save_across_segments),
      cmocka_unit_test(test_stale_leftovers_never_mix),
      cmocka_unit_test(test_random_damage_never_misread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
