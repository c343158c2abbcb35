/* A logged store (no flushes) across crashes: the unsynced marker, the boot id, and the discard of a
 * store the machine's restart may have torn. A crash is a child process that exits without closing. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mvcc_testutil.h"
/* The marker's internals, to read what a run left behind. */
#include "mvcc/internal.h"

static lkv_mvcc_t *open_logged(const char *dir, const char *boot, int logged, int expect_rc) {
  lkv_mvcc_options_t o = {.dir = dir, .quota_bytes = 64u << 20, .logged = logged, .boot_id = boot};
  lkv_mvcc_t *s = NULL;
  assert_int_equal(lkv_mvcc_open(&s, &o), expect_rc);
  return s;
}

static int marker(const char *dir, lkv__unsynced_t *m) {
  char db[256];
  snprintf(db, sizeof(db), "%s/member/db", dir);
  return lkv__unsynced_read(db, m);
}

/* A child opens the store logged on `boot`, puts n keys (taking a checkpoint after the first
 * checkpoint_after of them, if that is in [0, n)) and exits without closing: the process dies with the
 * pages in the page cache and the marker on disk. */
static void crash_after_checkpointed_puts(const char *dir, const char *boot, int n, int checkpoint_after) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    lkvt_store_t ts = {.s = open_logged(dir, boot, 1, 0)};
    for (int i = 0; i < n; i++) {
      char k[16];
      if (i == checkpoint_after && lkv_mvcc_checkpoint(ts.s, NULL) != 0) _exit(3);
      snprintf(k, sizeof(k), "k%d", i);
      lkvt_put(&ts, k, "v");
    }
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void crash_after_puts(const char *dir, const char *boot, int n) {
  crash_after_checkpointed_puts(dir, boot, n, -1);
}

/* A fresh store, created and closed again (flushed: no marker); its identity into the outputs (may be
 * NULL). */
static void fresh_closed_store(lkvt_store_t *ts, uint64_t *cluster, uint64_t *member) {
  lkvt_open(ts);
  lkv_mvcc_identity(ts->s, cluster, member);
  lkv_mvcc_close(ts->s);
}

static void test_clean_close_removes_marker(void **state) {
  (void)state;
  lkvt_store_t ts;
  fresh_closed_store(&ts, NULL, NULL);
  ts.s = open_logged(ts.dir, "boot-a", 1, 0);
  lkv__unsynced_t m;
  assert_int_equal(marker(ts.dir, &m), 1);
  assert_string_equal(m.boot_id, "boot-a");
  uint64_t cluster, member;
  lkv_mvcc_identity(ts.s, &cluster, &member);
  assert_true(m.cluster_id == cluster && m.member_id == member);
  lkvt_put(&ts, "a", "1");
  lkv_mvcc_close(ts.s);
  assert_int_equal(marker(ts.dir, &m), 0);
  /* Flushed and unmarked: trusted on any boot, logged or not. */
  ts.s = open_logged(ts.dir, "boot-b", 0, 0);
  assert_int_equal(lkvt_rev(&ts), 2);
  lkvt_close(&ts);
}

static void test_process_crash_keeps_everything(void **state) {
  (void)state;
  lkvt_store_t ts;
  uint64_t cluster, member;
  fresh_closed_store(&ts, &cluster, &member);
  crash_after_puts(ts.dir, "boot-a", 5);
  ts.s = open_logged(ts.dir, "boot-a", 1, 0);
  assert_int_equal(lkv_mvcc_rebuilt(ts.s), 0);
  assert_int_equal(lkvt_rev(&ts), 6);
  uint64_t c2, m2;
  lkv_mvcc_identity(ts.s, &c2, &m2);
  assert_true(c2 == cluster && m2 == member);
  lkvt_close(&ts);
}

static void test_machine_restart_discards_keeping_identity(void **state) {
  (void)state;
  lkvt_store_t ts;
  uint64_t cluster, member;
  fresh_closed_store(&ts, &cluster, &member);
  crash_after_puts(ts.dir, "boot-a", 5);
  /* Without the log in front the store cannot be rebuilt: refused, and left as it was. */
  open_logged(ts.dir, "boot-b", 0, LKV_ETORN);
  lkv__unsynced_t m;
  assert_int_equal(marker(ts.dir, &m), 1);
  assert_string_equal(m.boot_id, "boot-a");
  ts.s = open_logged(ts.dir, "boot-b", 1, 0);
  assert_int_equal(lkv_mvcc_rebuilt(ts.s), 1);
  assert_int_equal(lkvt_rev(&ts), 1);
  uint64_t c2, m2;
  lkv_mvcc_identity(ts.s, &c2, &m2);
  assert_true(c2 == cluster && m2 == member);
  /* The new marker names this boot; a clean close removes it. */
  assert_int_equal(marker(ts.dir, &m), 1);
  assert_string_equal(m.boot_id, "boot-b");
  lkvt_close(&ts);
}

static void test_unflushed_store_opened_without_log_is_flushed(void **state) {
  (void)state;
  lkvt_store_t ts;
  fresh_closed_store(&ts, NULL, NULL);
  crash_after_puts(ts.dir, "boot-a", 3);
  ts.s = open_logged(ts.dir, "boot-a", 0, 0);
  assert_int_equal(lkvt_rev(&ts), 4);
  lkv__unsynced_t m;
  assert_int_equal(marker(ts.dir, &m), 0);
  lkvt_close(&ts);
}

/* A read-only open (the audit's) writes nothing: after a crash on the same boot it reads the store and
 * leaves the marker; a torn store is refused; a missing one is not created. */
static void test_read_only_open_writes_nothing(void **state) {
  (void)state;
  lkvt_store_t ts;
  fresh_closed_store(&ts, NULL, NULL);
  crash_after_puts(ts.dir, "boot-a", 3);
  lkv_mvcc_options_t o = {.dir = ts.dir, .read_only = 1, .boot_id = "boot-a"};
  assert_int_equal(lkv_mvcc_open(&ts.s, &o), 0);
  assert_int_equal(lkvt_rev(&ts), 4);
  lkv_mvcc_txn_t *t;
  assert_true(lkv_mvcc_write_begin(ts.s, &t) != 0);
  lkv_mvcc_close(ts.s);
  lkv__unsynced_t m;
  assert_int_equal(marker(ts.dir, &m), 1);
  o.boot_id = "boot-b";
  lkv_mvcc_t *s = NULL;
  assert_int_equal(lkv_mvcc_open(&s, &o), LKV_ETORN);
  o.logged = 1;
  assert_int_equal(lkv_mvcc_open(&s, &o), LKV_EINVAL);
  char missing[128];
  snprintf(missing, sizeof(missing), "%s/nothing-here", ts.dir);
  lkv_mvcc_options_t none = {.dir = missing, .read_only = 1};
  assert_int_equal(lkv_mvcc_open(&s, &none), LKV_ENOENT);
  assert_int_equal(access(missing, F_OK), -1);
  ts.s = open_logged(ts.dir, "boot-a", 1, 0); /* for lkvt_close */
  lkvt_close(&ts);
}

/* A marker that cannot be read, or a kernel whose boot id is unknown, can never vouch for the file. */
static void test_damaged_marker_or_unknown_boot_discards(void **state) {
  (void)state;
  lkvt_store_t ts;
  fresh_closed_store(&ts, NULL, NULL);
  crash_after_puts(ts.dir, "boot-a", 2);
  char path[256];
  snprintf(path, sizeof(path), "%s/member/db/unsynced", ts.dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("boot-a zz\n", f);
  fclose(f);
  ts.s = open_logged(ts.dir, "boot-a", 1, 0);
  assert_int_equal(lkv_mvcc_rebuilt(ts.s), 1);
  assert_int_equal(lkvt_rev(&ts), 1);
  lkv_mvcc_close(ts.s);

  crash_after_puts(ts.dir, "", 2);
  ts.s = open_logged(ts.dir, "", 1, 0);
  assert_int_equal(lkv_mvcc_rebuilt(ts.s), 1);
  lkvt_close(&ts);
}

/* On the same boot the file is trusted only if it can be flushed: a write-back the kernel failed (and
 * so dropped pages) shows as a failing flush. A FIFO in place of the data file fails fdatasync (EINVAL). */
static void test_unflushable_file_is_not_trusted(void **state) {
  (void)state;
  lkvt_store_t ts;
  fresh_closed_store(&ts, NULL, NULL);
  crash_after_puts(ts.dir, "boot-a", 2);
  char path[256];
  snprintf(path, sizeof(path), "%s/member/db/data.mdb", ts.dir);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mkfifo(path, 0600), 0);
  ts.s = open_logged(ts.dir, "boot-a", 1, 0);
  assert_int_equal(lkv_mvcc_rebuilt(ts.s), 1);
  assert_int_equal(lkvt_rev(&ts), 1);
  lkvt_close(&ts);
}

/* A rebuild starts from the last checkpoint (the log replays what follows it); only logged stores take
 * one, and opening the store without the log (as the audit does) leaves it. */
static void test_rebuild_starts_from_checkpoint(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  uint64_t cluster;
  lkv_mvcc_identity(ts.s, &cluster, NULL);
  assert_int_equal(lkv_mvcc_checkpoint(ts.s, NULL), LKV_EINVAL);
  lkv_mvcc_close(ts.s);
  crash_after_checkpointed_puts(ts.dir, "boot-a", 5, 3);
  ts.s = open_logged(ts.dir, "boot-b", 1, 0);
  assert_int_equal(lkv_mvcc_rebuilt(ts.s), 1);
  assert_int_equal(lkvt_rev(&ts), 4); /* three puts before the checkpoint */
  uint64_t c2;
  lkv_mvcc_identity(ts.s, &c2, NULL);
  assert_true(c2 == cluster);
  lkv_mvcc_close(ts.s);
  char path[256];
  snprintf(path, sizeof(path), "%s/member/db/checkpoint.mdb", ts.dir);
  assert_int_equal(access(path, F_OK), 0);
  ts.s = open_logged(ts.dir, "boot-b", 0, 0);
  assert_int_equal(access(path, F_OK), 0);
  lkvt_close(&ts);
}

static int hook_calls;

static int hook(void *arg) {
  hook_calls++;
  return *(int *)arg;
}

/* The hook runs once the copy is complete; its refusal keeps the previous checkpoint in place. */
static void test_checkpoint_hook_before_publish(void **state) {
  (void)state;
  lkvt_store_t ts;
  strcpy(ts.dir, "/tmp/lkv-mvcc-test-XXXXXX");
  assert_non_null(mkdtemp(ts.dir));
  ts.s = open_logged(ts.dir, "boot-a", 1, 0);
  lkvt_put(&ts, "a", "1");
  char path[256];
  snprintf(path, sizeof(path), "%s/member/db/checkpoint.mdb", ts.dir);
  int verdict = LKV_EIO;
  hook_calls = 0;
  assert_int_equal(lkv_mvcc_checkpoint_before(ts.s, NULL, hook, &verdict), LKV_EIO);
  assert_int_equal(hook_calls, 1);
  assert_int_equal(access(path, F_OK), -1); /* refused: nothing published */
  verdict = 0;
  assert_int_equal(lkv_mvcc_checkpoint_before(ts.s, NULL, hook, &verdict), 0);
  assert_int_equal(hook_calls, 2);
  assert_int_equal(access(path, F_OK), 0);
  lkvt_close(&ts);
}

typedef struct churn_s {
  lkv_mvcc_t *s;
  atomic_int stop;
  int rounds;
  int err; /* the first failure (cmocka's assertions belong to the test's own thread) */
} churn_t;

/* One batch: rewrites a 1 MiB value, then compacts the old one away. */
static int churn_once(lkv_mvcc_t *s) {
  static uint8_t value[1 << 20];
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_write_begin(s, &t);
  if (rc) return rc;
  if (!(rc = lkv_mvcc_req_begin(t))) {
    rc = lkv_mvcc_put(t, (const uint8_t *)"churn", 5, value, sizeof(value), 0);
    int end = lkv_mvcc_req_end(t, rc == 0);
    rc = rc ? rc : end;
  }
  if (!rc && !(rc = lkv_mvcc_req_begin(t))) {
    rc = lkv_mvcc_compact(t, lkv_mvcc_txn_rev(t));
    if (!rc) rc = lkv_mvcc_compact_run(t, 0);
    int end = lkv_mvcc_req_end(t, rc == 0);
    rc = rc ? rc : end;
  }
  if (rc) {
    lkv_mvcc_txn_end(t);
    return rc;
  }
  return lkv_mvcc_write_commit(t);
}

/* Churns until told to stop: the store's live data stays the same while every round frees a megabyte of
 * pages that a running copy keeps from being reused. */
static void *churn_main(void *arg) {
  churn_t *c = arg;
  while (!atomic_load(&c->stop) && !c->err) {
    c->err = churn_once(c->s);
    c->rounds += c->err == 0;
    usleep(500); /* at most about 2 MiB/ms: the copy notices long before the map is full */
  }
  return NULL;
}

/* A copy holds one snapshot; when the writes meanwhile grow the file by more than a quarter of the quota
 * (here the 64 MiB minimum) it is abandoned and no checkpoint is left behind; likewise when asked to stop. */
static void test_checkpoint_abandoned_when_file_grows(void **state) {
  (void)state;
  lkvt_store_t ts;
  strcpy(ts.dir, "/tmp/lkv-mvcc-test-XXXXXX");
  assert_non_null(mkdtemp(ts.dir));
  lkv_mvcc_options_t o = {.dir = ts.dir, .quota_bytes = 256u << 20, .logged = 1, .boot_id = "boot-a"};
  assert_int_equal(lkv_mvcc_open(&ts.s, &o), 0);
  static uint8_t big[1 << 20];
  for (int i = 0; i < 96; i++) { /* about 1.5 s of copying at the checkpoint's pace */
    char k[16];
    snprintf(k, sizeof(k), "big%02d", i);
    lkvt_put_n(&ts, k, strlen(k), big, sizeof(big));
  }
  churn_t c = {.s = ts.s};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, churn_main, &c), 0);
  int rc = lkv_mvcc_checkpoint(ts.s, NULL);
  atomic_store(&c.stop, 1);
  pthread_join(t, NULL);
  assert_int_equal(c.err, 0);
  assert_int_equal(rc, LKV_ECANCELED);
  assert_true(c.rounds > 0);
  char path[256];
  snprintf(path, sizeof(path), "%s/member/db/checkpoint.mdb", ts.dir);
  assert_int_equal(access(path, F_OK), -1);
  snprintf(path, sizeof(path), "%s/member/db/checkpoint.mdb.tmp", ts.dir);
  assert_int_equal(access(path, F_OK), -1);
  /* A copy asked to stop ends early too (a server stopping does not wait for it)... */
  atomic_int stop = 1;
  assert_int_equal(lkv_mvcc_checkpoint(ts.s, &stop), LKV_ESTOPPED);
  assert_int_equal(access(path, F_OK), -1);
  /* ...and without the churn the same store checkpoints. */
  assert_int_equal(lkv_mvcc_checkpoint(ts.s, NULL), 0);
  lkvt_close(&ts);
}

static void test_kernel_boot_id(void **state) {
  (void)state;
  char a[LKV__BOOT_ID_MAX], b[LKV__BOOT_ID_MAX];
  lkv__boot_id(a, sizeof(a));
  lkv__boot_id(b, sizeof(b));
  struct stat st;
  if (stat("/proc/sys/kernel/random/boot_id", &st) != 0) skip();
  assert_int_equal(strlen(a), 36); /* a UUID */
  assert_string_equal(a, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clean_close_removes_marker),
      cmocka_unit_test(test_process_crash_keeps_everything),
      cmocka_unit_test(test_machine_restart_discards_keeping_identity),
      cmocka_unit_test(test_unflushed_store_opened_without_log_is_flushed),
      cmocka_unit_test(test_damaged_marker_or_unknown_boot_discards),
      cmocka_unit_test(test_unflushable_file_is_not_trusted),
      cmocka_unit_test(test_read_only_open_writes_nothing),
      cmocka_unit_test(test_rebuild_starts_from_checkpoint),
      cmocka_unit_test(test_checkpoint_hook_before_publish),
      cmocka_unit_test(test_checkpoint_abandoned_when_file_grows),
      cmocka_unit_test(test_kernel_boot_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
