/* Unit tests for HashKV (lkv_snapshot_hashkv) against the values a real etcd 3.4.23 answered for the same
 * requests, with a compaction's removal pending and done, and for ledgerkv's Hash (lkv_snapshot_hash). */
#include "mvcc_testutil.h"
#include "snapshot/snapshot.h"

#define LEASE 0x390da2456b975009

/* put a 1, put a 2, put b x, del b, put c y (lease), put d z: revisions 2..7. */
static void history(lkvt_store_t *ts) {
  lkvt_put(ts, "a", "1");
  lkvt_put(ts, "a", "2");
  lkvt_put(ts, "b", "x");
  assert_int_equal(lkvt_del(ts, "b", NULL), 1);
  lkvt_put_lease(ts, "c", "y", LEASE);
  lkvt_put(ts, "d", "z");
}

/* Compacts at rev and leaves the removal of the superseded history pending. */
static void compact_pending(lkvt_store_t *ts, int64_t rev) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_compact(t, rev), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
}

static int hashkv(lkvt_store_t *ts, int64_t rev, lkv_snapshot_hash_t *h) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  int rc = lkv_snapshot_hashkv(t, rev, h);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* Checks HashKV at each revision of revs against etcd's hash (0: an error is expected: code). */
static void expect(lkvt_store_t *ts, const int64_t *revs, const uint32_t *want, size_t n, int64_t compact,
                   int code) {
  for (size_t i = 0; i < n; i++) {
    lkv_snapshot_hash_t h;
    int rc = hashkv(ts, revs[i], &h);
    if (want[i] == 0) {
      assert_int_equal(rc, code);
      continue;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(h.hash, want[i]);
    assert_int_equal(h.compact_revision, compact);
    assert_int_equal(h.revision, lkvt_rev(ts));
  }
}

static void test_hashkv_as_etcd(void **state) {
  (void)state;
  lkvt_store_t ts;
  lkvt_open(&ts);
  history(&ts);
  /* etcd: 1 is an empty store ("key" alone), 7 the current revision, 8 a future one. */
  const int64_t pre[] = {0, 1, 2, 3, 4, 5, 6, 7, -1, 8};
  const uint32_t pre_hash[] = {3340900067u, 1084519789u, 2587454935u, 535221974u,  1523780942u,
                               4199801955u, 2833470169u, 3340900067u, 1084519789u, 0};
  expect(&ts, pre, pre_hash, 10, -1, LKV_EFUTUREREV);

  /* compact 3, its removal pending: the hash is already what etcd answers after its removal */
  compact_pending(&ts, 3);
  assert_int_equal(lkv_mvcc_compact_pending(ts.s), 1);
  const int64_t post[] = {0, 4, 5, 6, 7, 3, 1};
  const uint32_t post_hash[] = {2082174120u, 1670052297u, 1526579740u, 106827746u, 2082174120u, 0, 0};
  expect(&ts, post, post_hash, 7, 3, LKV_ECOMPACTED);
  assert_int_equal(lkv_mvcc_compact_step(ts.s, 0), 0);
  expect(&ts, post, post_hash, 7, 3, LKV_ECOMPACTED);

  /* every key deleted (revision 8): with no live key etcd hashes every record the compaction left */
  assert_int_equal(lkvt_del(&ts, "a", ""), 3); /* every key from "a" on */
  const int64_t empty[] = {0, 4, 8};
  const uint32_t empty_hash[] = {1533127071u, 1670052297u, 1533127071u};
  expect(&ts, empty, empty_hash, 3, 3, 0);
  lkvt_close(&ts);
}

static uint32_t hash_of(lkvt_store_t *ts) {
  lkv_mvcc_txn_t *t;
  lkv_snapshot_hash_t h;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_snapshot_hash(t, &h), 0);
  lkv_mvcc_txn_end(t);
  return h.hash;
}

/* Hash covers the key bucket as a snapshot holds it and the leases: a pending removal does not change it,
 * a lease does; two stores given the same requests agree. */
static void test_hash(void **state) {
  (void)state;
  lkvt_store_t a, b;
  lkvt_open(&a);
  lkvt_open(&b);
  assert_int_equal(hash_of(&a), hash_of(&b));
  history(&a);
  history(&b);
  uint32_t h = hash_of(&a);
  assert_int_equal(h, hash_of(&b));
  compact_pending(&a, 3);
  uint32_t compacted = hash_of(&a);
  assert_int_not_equal(compacted, h); /* a@2 and b's records are gone from the key bucket */
  assert_int_equal(lkv_mvcc_compact_step(a.s, 0), 0);
  assert_int_equal(hash_of(&a), compacted);
  assert_int_equal(lkvt_compact(&b, 3), 0);
  assert_int_equal(hash_of(&b), compacted);

  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(a.s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_lease_grant(t, 7, 60), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_not_equal(hash_of(&a), compacted);
  lkvt_close(&a);
  lkvt_close(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hashkv_as_etcd),
      cmocka_unit_test(test_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
