/* Installing a store copy (what a cluster member does with a snapshot from its leader). */
#include <fcntl.h>
#include <sys/stat.h>

#include "mvcc_testutil.h"

static lkv_mvcc_t *open_logged(const char *dir) {
  lkv_mvcc_options_t o = {.dir = dir, .quota_bytes = 64u << 20, .logged = 1};
  lkv_mvcc_t *s = NULL;
  assert_int_equal(lkv_mvcc_open(&s, &o), 0);
  return s;
}

static void new_logged(lkvt_store_t *ts) {
  strcpy(ts->dir, "/tmp/lkv-mvcc-test-XXXXXX");
  assert_non_null(mkdtemp(ts->dir));
  ts->s = open_logged(ts->dir);
}

/* Copies file from to file to (the test keeps the checkpoint; install consumes its argument). */
static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

static int put_marker(void *arg, lkv_mvcc_txn_t *t) {
  return lkv_mvcc_repl_put(t, "applied", arg, strlen(arg));
}

/* The leader's side: a store with history, a compaction, a lease; its checkpoint copied to path. */
static void leader_copy(lkvt_store_t *leader, const char *path) {
  new_logged(leader);
  lkvt_put(leader, "a", "1");
  lkvt_put(leader, "b", "2");
  lkvt_put(leader, "a", "3");
  assert_int_equal(lkvt_compact(leader, 3), 0);
  lkvt_put(leader, "c", "4");
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(leader->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_lease_grant(t, 77, 30), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_repl_put(t, "applied", "leader", 6), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_equal(lkv_mvcc_checkpoint(leader->s, NULL), 0);
  char ckpt[512];
  assert_int_equal(lkv_mvcc_checkpoint_path(leader->s, ckpt, sizeof(ckpt)), 0);
  copy_file(ckpt, path);
}

static void test_install_replaces_content_keeps_identity(void **state) {
  (void)state;
  lkvt_store_t leader, follower;
  char path[128];
  snprintf(path, sizeof(path), "/tmp/lkv-install-%d.mdb", (int)getpid());
  leader_copy(&leader, path);

  uint8_t *v;
  size_t len;
  assert_int_equal(lkv_mvcc_copy_repl_get(path, "applied", &v, &len), 0);
  assert_memory_equal(v, "leader", 6);
  free(v);
  assert_int_equal(lkv_mvcc_copy_repl_get(path, "nothing", &v, &len), LKV_ENOENT);

  new_logged(&follower);
  lkvt_put(&follower, "old", "x");
  lkvt_put(&follower, "old", "y");
  uint64_t cid, mid, cid2, mid2;
  lkv_mvcc_identity(follower.s, &cid, &mid);
  lkvt_kvs_t *r = lkvt_kvs_new();
  /* A reader that began before the install keeps its snapshot. */
  lkv_mvcc_txn_t *before;
  assert_int_equal(lkv_mvcc_read_begin(follower.s, &before), 0);

  assert_int_equal(lkv_mvcc_install(follower.s, path, put_marker, "mine"), 0);
  assert_int_equal(access(path, F_OK), -1); /* it became the checkpoint */

  assert_int_equal(lkv_mvcc_txn_rev(before), 3);
  lkv_mvcc_txn_end(before);
  assert_int_equal(lkvt_rev(&follower), 5);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(follower.s, &st), 0);
  assert_int_equal(st.compact_revision, 3);
  assert_int_equal(lkvt_range(&follower, "a", "", 0, r), 0);
  assert_int_equal(r->n, 3);
  assert_string_equal(r->v[0].key, "a");
  assert_string_equal(r->v[0].value, "3");
  assert_int_equal(r->v[0].version, 2);
  assert_string_equal(r->v[2].key, "c");
  assert_int_equal(lkvt_range(&follower, "old", NULL, 0, r), 0);
  assert_int_equal(r->n, 0);
  assert_int_equal(lkvt_range(&follower, "a", NULL, 2, r), LKV_ECOMPACTED);
  lkv_mvcc_txn_t *t;
  int64_t ttl;
  assert_int_equal(lkv_mvcc_read_begin(follower.s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_get(t, 77, &ttl), 0);
  assert_int_equal(ttl, 30);
  assert_int_equal(lkv_mvcc_repl_get(t, "applied", &v, &len), 0);
  assert_memory_equal(v, "mine", 4);
  free(v);
  lkv_mvcc_txn_end(t);

  /* The follower's identity stays, in the store and in its new checkpoint, and survives a reopen. */
  char ckpt[512];
  assert_int_equal(lkv_mvcc_checkpoint_path(follower.s, ckpt, sizeof(ckpt)), 0);
  assert_int_equal(lkv_mvcc_copy_repl_get(ckpt, "applied", &v, &len), 0);
  assert_memory_equal(v, "mine", 4);
  free(v);
  lkv_mvcc_close(follower.s);
  follower.s = open_logged(follower.dir);
  lkv_mvcc_identity(follower.s, &cid2, &mid2);
  assert_true(cid == cid2 && mid == mid2);
  assert_int_equal(lkvt_rev(&follower), 5);
  /* Writes go on from the copy's revision. */
  lkvt_put(&follower, "d", "5");
  assert_int_equal(lkvt_rev(&follower), 6);

  lkvt_kvs_free(r);
  lkvt_close(&follower);
  lkvt_close(&leader);
}

static void test_install_refuses_a_foreign_file(void **state) {
  (void)state;
  lkvt_store_t follower;
  new_logged(&follower);
  lkvt_put(&follower, "k", "v");
  char path[128];
  snprintf(path, sizeof(path), "/tmp/lkv-install-bad-%d.mdb", (int)getpid());
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 3000; i++) fputs("not a store ", f);
  fclose(f);
  assert_int_not_equal(lkv_mvcc_install(follower.s, path, NULL, NULL), 0);
  uint8_t *v;
  size_t len;
  assert_int_not_equal(lkv_mvcc_copy_repl_get(path, "applied", &v, &len), 0);
  unlink(path);
  /* Unchanged. */
  assert_int_equal(lkvt_rev(&follower), 2);
  lkvt_close(&follower);
}

/* A checkpoint copied before an install would be older than the installed copy: it is not published. */
typedef struct {
  lkv_mvcc_t *s;
  const char *path;
} install_arg_t;

static int install_meanwhile(void *arg) {
  install_arg_t *a = arg;
  return lkv_mvcc_install(a->s, a->path, put_marker, "installed");
}

static void test_checkpoint_copied_before_install_is_dropped(void **state) {
  (void)state;
  lkvt_store_t leader, follower;
  char path[128];
  snprintf(path, sizeof(path), "/tmp/lkv-install-ck-%d.mdb", (int)getpid());
  leader_copy(&leader, path);
  new_logged(&follower);
  lkvt_put(&follower, "old", "x");
  install_arg_t a = {.s = follower.s, .path = path};
  assert_int_equal(lkv_mvcc_checkpoint_before(follower.s, NULL, install_meanwhile, &a), LKV_EAGAIN);
  char ckpt[512];
  uint8_t *v;
  size_t len;
  assert_int_equal(lkv_mvcc_checkpoint_path(follower.s, ckpt, sizeof(ckpt)), 0);
  assert_int_equal(lkv_mvcc_copy_repl_get(ckpt, "applied", &v, &len), 0);
  assert_memory_equal(v, "installed", 9);
  free(v);
  /* The next checkpoint is taken from the installed content. */
  lkvt_put(&follower, "e", "6");
  assert_int_equal(lkv_mvcc_checkpoint(follower.s, NULL), 0);
  assert_int_equal(lkv_mvcc_copy_repl_get(ckpt, "applied", &v, &len), 0);
  assert_memory_equal(v, "installed", 9);
  free(v);
  lkvt_close(&follower);
  lkvt_close(&leader);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_install_replaces_content_keeps_identity),
      cmocka_unit_test(test_install_refuses_a_foreign_file),
      cmocka_unit_test(test_checkpoint_copied_before_install_is_dropped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
