/* Durable log under injected file errors: a failed flush halts for good, a full disk is survivable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <errno.h>

#include "wal/internal.h"
#include "wal_testutil.h"

/* Faults armed by the tests: each fires once at the given call (1-based, counted from arming). */
typedef struct {
  int sync_at, syncs, syncs_total;
  int write_at, writes;
  size_t write_partial; /* that write stores this many bytes, then the disk is full */
  int write_full;       /* set once it fired: later writes fail with ENOSPC until cleared */
  int falloc_errno;     /* every fallocate fails with it while set */
  int dirsync_fail;
  int tmp_sync_fail; /* fail the flush of a segment being created (seg.tmp) */
  int writes_total, dirsyncs_total;
} faults_t;

static int is_tmp_segment(int fd) {
  char link[64], target[512];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  if (n < 0) return 0;
  target[n] = 0;
  return strstr(target, "seg.tmp") != NULL;
}

static ssize_t f_pwrite(void *arg, int fd, const void *buf, size_t len, uint64_t off) {
  faults_t *f = arg;
  f->writes_total++;
  if (f->write_full) return -ENOSPC;
  if (f->write_at && ++f->writes == f->write_at) {
    f->write_at = 0;
    f->write_full = 1;
    size_t n = len < f->write_partial ? len : f->write_partial;
    if (n == 0) return -ENOSPC;
    return lkv_wal_default_ops.pwrite(NULL, fd, buf, n, off);
  }
  return lkv_wal_default_ops.pwrite(NULL, fd, buf, len, off);
}

static int f_fdatasync(void *arg, int fd) {
  faults_t *f = arg;
  f->syncs_total++;
  if (f->tmp_sync_fail && is_tmp_segment(fd)) return -EIO;
  if (f->sync_at && ++f->syncs == f->sync_at) {
    f->sync_at = 0;
    return -EIO;
  }
  return lkv_wal_default_ops.fdatasync(NULL, fd);
}

static int f_fsync(void *arg, int fd) {
  faults_t *f = arg;
  f->dirsyncs_total++;
  if (f->dirsync_fail) return -EIO;
  return lkv_wal_default_ops.fsync(NULL, fd);
}

static int f_fallocate(void *arg, int fd, uint64_t off, uint64_t len) {
  faults_t *f = arg;
  if (f->falloc_errno) return -f->falloc_errno;
  return lkv_wal_default_ops.fallocate(NULL, fd, off, len);
}

static const lkv_wal_ops_t fault_ops = {f_pwrite, f_fdatasync, f_fsync, f_fallocate};

static lkv_wal_options_t with_faults(faults_t *f) {
  return (lkv_wal_options_t){.segment_size = 4096, .ops = &fault_ops, .ops_arg = f};
}

static void test_failed_flush_halts(void **state) {
  (void)state;
  char dir[64];
  faults_t f = {0};
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = with_faults(&f);
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  lkv_raft_hard_state_t hs = {.term = 2, .vote = 1, .commit = 3};
  assert_int_equal(wt_save_range(w, 1, 10, 2, &hs), 0);
  f.sync_at = 1;
  assert_int_equal(wt_save_range(w, 11, 12, 2, NULL), LKV_EHALTED);
  int syncs = f.syncs_total;
  /* Every later call is refused without touching the disk: no flush is ever retried. */
  assert_int_equal(wt_save_range(w, 11, 12, 2, NULL), LKV_EHALTED);
  assert_int_equal(lkv_wal_save(w, &hs, NULL, NULL, 0), LKV_EHALTED);
  assert_int_equal(lkv_wal_compact(w, 0), LKV_EHALTED);
  assert_int_equal(f.syncs_total, syncs);
  lkv_wal_close(w);
  /* A restart recovers what was flushed (the failed save may or may not have reached the disk). */
  assert_int_equal(lkv_wal_open(dir, NULL, &w, &r), 0);
  assert_true(r.n_entries == 10 || r.n_entries == 12);
  wt_expect(&r, 1, r.n_entries, 2, NULL);
  assert_int_equal(r.hard_state.commit, 3);
  lkv_wal_close(w);
  wt_rmrf(dir);
}

static void test_failed_flush_while_rotating_halts(void **state) {
  (void)state;
  char dir[64];
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  for (int which = 0; which < 2; which++) {
    faults_t f = {0};
    lkv_wal_options_t opt = with_faults(&f);
    wt_tmpdir(dir);
    assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
    uint64_t last = 0;
    while (w->seq == 1) {
      assert_int_equal(wt_save_range(w, last + 1, last + 3, 1, NULL), 0);
      last += 3;
    }
    /* The next rotation's header flush (0) or its directory sync (1) fails. */
    while (w->off + 3 * lkv__wal_rec_size(300) < w->size) {
      assert_int_equal(wt_save_range(w, last + 1, last + 3, 1, NULL), 0);
      last += 3;
    }
    uint64_t seq = w->seq;
    if (which == 0) f.tmp_sync_fail = 1;
    if (which == 1) f.dirsync_fail = 1;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++, last += 3) rc = wt_save_range(w, last + 1, last + 3, 1, NULL);
    assert_int_equal(rc, LKV_EHALTED);
    assert_int_equal(w->seq, seq); /* it failed while creating the next segment */
    assert_int_equal(wt_save_range(w, last + 1, last + 1, 1, NULL), LKV_EHALTED);
    lkv_wal_close(w);
    assert_int_equal(lkv_wal_open(dir, NULL, &w, &r), 0);
    assert_true(r.n_entries >= last - 3);
    wt_expect(&r, 1, r.n_entries, 1, NULL);
    lkv_wal_close(w);
    wt_rmrf(dir);
  }
}

static void test_full_disk_on_write_is_survivable(void **state) {
  (void)state;
  char dir[64];
  faults_t f = {0};
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = with_faults(&f);
  opt.segment_size = 1 << 20;
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  assert_int_equal(wt_save_range(w, 1, 10, 1, NULL), 0);
  uint64_t off = w->off, epoch = w->epoch;
  /* Half of a large save reaches the file, then the disk is full. */
  f.write_at = 1;
  f.write_partial = 2000;
  lkv_raft_hard_state_t hs = {.term = 9, .vote = 9, .commit = 9};
  assert_int_equal(wt_save_range(w, 11, 40, 4, &hs), LKV_ENOSPC);
  assert_int_equal(w->off, off);
  assert_int_equal(lkv_wal_last_index(w), 10);
  assert_int_equal(wt_save_range(w, 11, 12, 5, NULL), LKV_ENOSPC); /* still full */
  /* Space is freed: a shorter save lands where the failed one began; its leftover behind is ignored. */
  f.write_full = 0;
  assert_int_equal(wt_save_range(w, 11, 12, 5, NULL), 0);
  assert_true(w->epoch > epoch + 2);
  lkv_wal_close(w);
  assert_int_equal(lkv_wal_open(dir, NULL, &w, &r), 0);
  uint64_t terms[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5};
  wt_expect(&r, 1, 12, 0, terms);
  assert_int_equal(r.hard_state.term, 0);
  lkv_wal_close(w);
  /* Also when nothing is written and the process dies right after the failure. */
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  f.writes = 0;
  f.write_at = 1;
  f.write_partial = 700;
  assert_int_equal(wt_save_range(w, 13, 30, 5, &hs), LKV_ENOSPC);
  lkv_wal_close(w);
  f.write_full = 0;
  assert_int_equal(lkv_wal_open(dir, NULL, &w, &r), 0);
  wt_expect(&r, 1, 12, 0, terms);
  lkv_wal_close(w);
  wt_rmrf(dir);
}

static void test_full_disk_on_new_segment_is_survivable(void **state) {
  (void)state;
  char dir[64], path[128];
  faults_t f = {0};
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = with_faults(&f);
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  uint64_t last = 0;
  f.falloc_errno = ENOSPC;
  int rc = 0;
  while (rc == 0) {
    rc = wt_save_range(w, last + 1, last + 4, 1, NULL);
    if (rc == 0) last += 4;
  }
  assert_int_equal(rc, LKV_ENOSPC);
  assert_int_equal(w->seq, 1);
  wt_seg_path(path, sizeof(path), dir, 2);
  assert_false(wt_exists(path));
  snprintf(path, sizeof(path), "%s/seg.tmp", dir);
  assert_false(wt_exists(path));
  f.falloc_errno = 0;
  assert_int_equal(wt_save_range(w, last + 1, last + 4, 1, NULL), 0);
  assert_int_equal(w->seq, 2);
  lkv_wal_close(w);
  assert_int_equal(lkv_wal_open(dir, NULL, &w, &r), 0);
  wt_expect(&r, 1, last + 4, 1, NULL);
  lkv_wal_close(w);
  /* A new log on a full disk cannot even start. */
  wt_rmrf(dir);
  wt_tmpdir(dir);
  f.falloc_errno = ENOSPC;
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), LKV_ENOSPC);
  wt_rmrf(dir);
}

static void test_zero_fill_without_fallocate(void **state) {
  (void)state;
  char dir[64], path[128];
  faults_t f = {.falloc_errno = EOPNOTSUPP};
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = with_faults(&f);
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  assert_int_equal(wt_save_range(w, 1, 60, 1, NULL), 0);
  assert_true(w->seq > 2);
  lkv_wal_close(w);
  wt_seg_path(path, sizeof(path), dir, 2);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(st.st_size >= 4096 && st.st_blocks * 512 >= 4096); /* written, not sparse */
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  wt_expect(&r, 1, 60, 1, NULL);
  lkv_wal_close(w);
  wt_rmrf(dir);
}

static void test_one_write_one_flush_per_save(void **state) {
  (void)state;
  char dir[64];
  faults_t f = {0};
  lkv_wal_t *w;
  lkv_raft_restore_t r;
  lkv_wal_options_t opt = with_faults(&f);
  opt.segment_size = 1 << 20;
  wt_tmpdir(dir);
  assert_int_equal(lkv_wal_open(dir, &opt, &w, &r), 0);
  f.writes_total = f.syncs_total = f.dirsyncs_total = 0;
  lkv_raft_hard_state_t hs = {.term = 1, .vote = 1};
  for (uint64_t i = 0; i < 100; i++) {
    hs.commit = i * 16;
    assert_int_equal(wt_save_range(w, i * 16 + 1, i * 16 + 16, 1, &hs), 0);
  }
  /* Sixteen entries and a hard state per save: one pwrite and one fdatasync each, no directory sync. */
  assert_int_equal(f.writes_total, 100);
  assert_int_equal(f.syncs_total, 100);
  assert_int_equal(f.dirsyncs_total, 0);
  /* Nothing to save costs nothing. */
  assert_int_equal(lkv_wal_save(w, NULL, NULL, NULL, 0), 0);
  assert_int_equal(f.syncs_total, 100);
  lkv_wal_close(w);
  wt_rmrf(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failed_flush_halts),
      cmocka_unit_test(test_failed_flush_while_rotating_halts),
      cmocka_unit_test(test_full_disk_on_write_is_survivable),
      cmocka_unit_test(test_full_disk_on_new_segment_is_survivable),
      cmocka_unit_test(test_zero_fill_without_fallocate),
      cmocka_unit_test(test_one_write_one_flush_per_save),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
