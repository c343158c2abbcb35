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

/* A new log whose file calls go through f, with segments of segment_size bytes. */
static void start_faulty(wt_log_t *l, faults_t *f, uint64_t segment_size) {
  wt_start(l, (lkv_wal_options_t){.segment_size = segment_size, .ops = &fault_ops, .ops_arg = f});
}

static void test_failed_flush_halts(void **state) {
  (void)state;
  faults_t f = {0};
  wt_log_t L;
  start_faulty(&L, &f, 4096);
  lkv_raft_hard_state_t hs = {.term = 2, .vote = 1, .commit = 3};
  assert_int_equal(wt_save_range(L.w, 1, 10, 2, &hs), 0);
  f.sync_at = 1;
  assert_int_equal(wt_save_range(L.w, 11, 12, 2, NULL), LKV_EHALTED);
  int syncs = f.syncs_total;
  /* Every later call is refused without touching the disk: no flush is ever retried. */
  assert_int_equal(wt_save_range(L.w, 11, 12, 2, NULL), LKV_EHALTED);
  assert_int_equal(lkv_wal_save(L.w, &hs, NULL, NULL, 0), LKV_EHALTED);
  assert_int_equal(lkv_wal_compact(L.w, 0), LKV_EHALTED);
  assert_int_equal(f.syncs_total, syncs);
  /* A restart recovers what was flushed (the failed save may or may not have reached the disk). */
  wt_reopen(L.dir, NULL, &L.w, &L.r);
  assert_true(L.r.n_entries == 10 || L.r.n_entries == 12);
  wt_expect(&L.r, 1, L.r.n_entries, 2, NULL);
  assert_int_equal(L.r.hard_state.commit, 3);
  wt_finish(&L);
}

static void test_failed_flush_while_rotating_halts(void **state) {
  (void)state;
  for (int which = 0; which < 2; which++) {
    faults_t f = {0};
    wt_log_t L;
    start_faulty(&L, &f, 4096);
    uint64_t last = 0;
    while (L.w->seq == 1) {
      assert_int_equal(wt_save_range(L.w, last + 1, last + 3, 1, NULL), 0);
      last += 3;
    }
    /* The next rotation's header flush (0) or its directory sync (1) fails. */
    while (L.w->off + 3 * lkv__wal_rec_size(300) < L.w->size) {
      assert_int_equal(wt_save_range(L.w, last + 1, last + 3, 1, NULL), 0);
      last += 3;
    }
    uint64_t seq = L.w->seq;
    if (which == 0) f.tmp_sync_fail = 1;
    if (which == 1) f.dirsync_fail = 1;
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++, last += 3) rc = wt_save_range(L.w, last + 1, last + 3, 1, NULL);
    assert_int_equal(rc, LKV_EHALTED);
    assert_int_equal(L.w->seq, seq); /* it failed while creating the next segment */
    assert_int_equal(wt_save_range(L.w, last + 1, last + 1, 1, NULL), LKV_EHALTED);
    wt_reopen(L.dir, NULL, &L.w, &L.r);
    assert_true(L.r.n_entries >= last - 3);
    wt_expect(&L.r, 1, L.r.n_entries, 1, NULL);
    wt_finish(&L);
  }
}

static void test_full_disk_on_write_is_survivable(void **state) {
  (void)state;
  faults_t f = {0};
  wt_log_t L;
  start_faulty(&L, &f, 1 << 20);
  assert_int_equal(wt_save_range(L.w, 1, 10, 1, NULL), 0);
  uint64_t off = L.w->off, epoch = L.w->epoch;
  /* Half of a large save reaches the file, then the disk is full. */
  f.write_at = 1;
  f.write_partial = 2000;
  lkv_raft_hard_state_t hs = {.term = 9, .vote = 9, .commit = 9};
  assert_int_equal(wt_save_range(L.w, 11, 40, 4, &hs), LKV_ENOSPC);
  assert_int_equal(L.w->off, off);
  assert_int_equal(lkv_wal_last_index(L.w), 10);
  assert_int_equal(wt_save_range(L.w, 11, 12, 5, NULL), LKV_ENOSPC); /* still full */
  /* Space is freed: a shorter save lands where the failed one began; its leftover behind is ignored. */
  f.write_full = 0;
  assert_int_equal(wt_save_range(L.w, 11, 12, 5, NULL), 0);
  assert_true(L.w->epoch > epoch + 2);
  wt_reopen(L.dir, NULL, &L.w, &L.r);
  uint64_t terms[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 5};
  wt_expect(&L.r, 1, 12, 0, terms);
  assert_int_equal(L.r.hard_state.term, 0);
  /* Also when nothing is written and the process dies right after the failure. */
  wt_reopen(L.dir, &L.opt, &L.w, &L.r);
  f.writes = 0;
  f.write_at = 1;
  f.write_partial = 700;
  assert_int_equal(wt_save_range(L.w, 13, 30, 5, &hs), LKV_ENOSPC);
  lkv_wal_close(L.w);
  f.write_full = 0;
  assert_int_equal(lkv_wal_open(L.dir, NULL, &L.w, &L.r), 0);
  wt_expect(&L.r, 1, 12, 0, terms);
  wt_finish(&L);
}

static void test_full_disk_on_new_segment_is_survivable(void **state) {
  (void)state;
  char path[128];
  faults_t f = {0};
  wt_log_t L;
  start_faulty(&L, &f, 4096);
  uint64_t last = 0;
  f.falloc_errno = ENOSPC;
  int rc = 0;
  while (rc == 0) {
    rc = wt_save_range(L.w, last + 1, last + 4, 1, NULL);
    if (rc == 0) last += 4;
  }
  assert_int_equal(rc, LKV_ENOSPC);
  assert_int_equal(L.w->seq, 1);
  wt_seg_path(path, sizeof(path), L.dir, 2);
  assert_false(wt_exists(path));
  snprintf(path, sizeof(path), "%s/seg.tmp", L.dir);
  assert_false(wt_exists(path));
  f.falloc_errno = 0;
  assert_int_equal(wt_save_range(L.w, last + 1, last + 4, 1, NULL), 0);
  assert_int_equal(L.w->seq, 2);
  wt_reopen(L.dir, NULL, &L.w, &L.r);
  wt_expect(&L.r, 1, last + 4, 1, NULL);
  lkv_wal_close(L.w);
  /* A new log on a full disk cannot even start. */
  wt_rmrf(L.dir);
  wt_tmpdir(L.dir);
  f.falloc_errno = ENOSPC;
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), LKV_ENOSPC);
  wt_rmrf(L.dir);
}

static void test_zero_fill_without_fallocate(void **state) {
  (void)state;
  char path[128];
  faults_t f = {.falloc_errno = EOPNOTSUPP};
  wt_log_t L;
  start_faulty(&L, &f, 4096);
  assert_int_equal(wt_save_range(L.w, 1, 60, 1, NULL), 0);
  assert_true(L.w->seq > 2);
  lkv_wal_close(L.w);
  wt_seg_path(path, sizeof(path), L.dir, 2);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(st.st_size >= 4096 && st.st_blocks * 512 >= 4096); /* written, not sparse */
  assert_int_equal(lkv_wal_open(L.dir, &L.opt, &L.w, &L.r), 0);
  wt_expect(&L.r, 1, 60, 1, NULL);
  wt_finish(&L);
}

static void test_one_write_one_flush_per_save(void **state) {
  (void)state;
  faults_t f = {0};
  wt_log_t L;
  start_faulty(&L, &f, 1 << 20);
  f.writes_total = f.syncs_total = f.dirsyncs_total = 0;
  lkv_raft_hard_state_t hs = {.term = 1, .vote = 1};
  for (uint64_t i = 0; i < 100; i++) {
    hs.commit = i * 16;
    assert_int_equal(wt_save_range(L.w, i * 16 + 1, i * 16 + 16, 1, &hs), 0);
  }
  /* Sixteen entries and a hard state per save: one pwrite and one fdatasync each, no directory sync. */
  assert_int_equal(f.writes_total, 100);
  assert_int_equal(f.syncs_total, 100);
  assert_int_equal(f.dirsyncs_total, 0);
  /* Nothing to save costs nothing. */
  assert_int_equal(lkv_wal_save(L.w, NULL, NULL, NULL, 0), 0);
  assert_int_equal(f.syncs_total, 100);
  wt_finish(&L);
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
