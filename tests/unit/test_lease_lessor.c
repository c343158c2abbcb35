/* Unit tests for the lessor (src/lease): recovery with full TTLs, renewals and lookups on an injected clock,
 * listing order, server-chosen ids, and expiry proposing revokes through a real single node's replicator
 * (keys deleted in one revision), also driven by the timer thread on the real clock. */
#include <pthread.h>
#include <time.h>

#include "apply_testutil.h"
#include "lease/lessor.h"
#include "sole_testutil.h"

static int64_t fake_now;

static int64_t fake_clock(void *arg) {
  (void)arg;
  return fake_now;
}

static void grant_direct(lkvt_store_t *ts, int64_t id, int64_t ttl) {
  Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  g.id = id;
  g.ttl = ttl;
  uint8_t *b;
  size_t n;
  assert_int_equal(lkvt_apply(ts, LKV_OP_LEASE_GRANT, &g, &b, &n), 0);
  free(b);
}

static void put_direct(lkvt_store_t *ts, const char *k, int64_t lease) {
  Etcdserverpb__PutRequest p = lkvt_put_req(k, "v");
  p.lease = lease;
  int err;
  Etcdserverpb__PutResponse *r = lkvt_do_put(ts, &p, &err);
  assert_int_equal(err, 0);
  etcdserverpb__put_response__free_unpacked(r, NULL);
}

typedef struct fixture_s {
  lkvt_store_t ts;
  lkv_replicator_t *r;
  lkv_lessor_t *l;
} fixture_t;

static void start(fixture_t *f, lkv_lessor_clock_fn clock) {
  f->r = lkvt_sole_start(&f->ts, NULL, 100);
  lkv_lessor_options_t o = {.store = f->ts.s, .replicator = f->r, .member_id = 0xabcd1234, .clock = clock};
  assert_int_equal(lkv_lessor_open(&f->l, &o), 0);
}

static void stop(fixture_t *f) {
  lkv_lessor_close(f->l);
  lkv_replicator_stop(f->r);
  lkvt_close(&f->ts);
}

/* Waits (up to 10 s) until the lessor no longer knows id. */
static void wait_forgotten(lkv_lessor_t *l, int64_t id) {
  for (int i = 0; i < 1000 && lkv_lessor_lookup(l, id, NULL, NULL) == 0; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(lkv_lessor_lookup(l, id, NULL, NULL), LKV_ELEASENOTFOUND);
}

static void test_open_invalid(void **state) {
  (void)state;
  lkv_lessor_t *l;
  lkv_lessor_options_t o = {0};
  assert_int_equal(lkv_lessor_open(&l, &o), LKV_EINVAL);
  assert_int_equal(lkv_lessor_open(&l, NULL), LKV_EINVAL);
  lkv_lessor_close(NULL);
}

static void test_recover_renew_lookup(void **state) {
  (void)state;
  fixture_t f;
  lkvt_open(&f.ts);
  grant_direct(&f.ts, 1, 10);
  grant_direct(&f.ts, 2, 3);
  fake_now = 1000;
  start(&f, fake_clock);
  assert_int_equal(lkv_lessor_min_ttl(f.l), LKV_LEASE_MIN_TTL);
  int64_t granted, left, ttl;
  /* recovered leases get their full TTL from now */
  assert_int_equal(lkv_lessor_lookup(f.l, 1, &granted, &left), 0);
  assert_int_equal(granted, 10);
  assert_int_equal(left, 10);
  int64_t *ids;
  size_t n;
  assert_int_equal(lkv_lessor_list(f.l, &ids, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], 2); /* soonest expiry first */
  assert_int_equal(ids[1], 1);
  free(ids);
  fake_now += 2500;
  assert_int_equal(lkv_lessor_lookup(f.l, 2, NULL, &left), 0);
  assert_int_equal(left, 0); /* 0.5 s left truncates to 0, as etcd's int64(Seconds()) */
  assert_int_equal(lkv_lessor_renew(f.l, 2, &ttl, NULL), 0);
  assert_int_equal(ttl, 3);
  assert_int_equal(lkv_lessor_lookup(f.l, 2, NULL, &left), 0);
  assert_int_equal(left, 3);
  assert_int_equal(lkv_lessor_list(f.l, &ids, &n), 0);
  assert_int_equal(ids[0], 2);
  free(ids);
  fake_now += 3000; /* exactly at expiry: too late to renew */
  assert_int_equal(lkv_lessor_renew(f.l, 2, &ttl, NULL), LKV_ELEASENOTFOUND);
  assert_int_equal(lkv_lessor_renew(f.l, 99, &ttl, NULL), LKV_ELEASENOTFOUND);
  assert_int_equal(lkv_lessor_lookup(f.l, 99, NULL, NULL), LKV_ELEASENOTFOUND);
  /* grants and revokes applied elsewhere */
  assert_int_equal(lkv_lessor_granted(f.l, 50, 7), 0);
  assert_int_equal(lkv_lessor_lookup(f.l, 50, &granted, &left), 0);
  assert_int_equal(granted, 7);
  lkv_lessor_revoked(f.l, 50);
  lkv_lessor_revoked(f.l, 50);
  assert_int_equal(lkv_lessor_lookup(f.l, 50, NULL, NULL), LKV_ELEASENOTFOUND);
  stop(&f);
}

static void test_many_leases_and_ids(void **state) {
  (void)state;
  fixture_t f;
  lkvt_open(&f.ts);
  fake_now = 0;
  start(&f, fake_clock);
  /* enough leases to grow the table several times */
  for (int64_t i = 1; i <= 1000; i++) assert_int_equal(lkv_lessor_granted(f.l, i, 1000 - i + 2), 0);
  int64_t *ids;
  size_t n;
  assert_int_equal(lkv_lessor_list(f.l, &ids, &n), 0);
  assert_int_equal(n, 1000);
  for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], 1000 - (int64_t)i);
  free(ids);
  int64_t prev = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t id = lkv_lessor_next_id(f.l);
    assert_true(id > 0);
    assert_true(id != prev);
    assert_int_equal(id >> 48, 0x1234 & 0x7fff); /* 16 bits of the member id, 63-bit ids */
    assert_int_equal(lkv_lessor_lookup(f.l, id, NULL, NULL), LKV_ELEASENOTFOUND);
    prev = id;
  }
  for (int64_t i = 1; i <= 1000; i++) lkv_lessor_revoked(f.l, i);
  assert_int_equal(lkv_lessor_list(f.l, &ids, &n), 0);
  assert_int_equal(n, 0);
  assert_null(ids);
  stop(&f);
}

static void test_expiry_revokes(void **state) {
  (void)state;
  fixture_t f;
  lkvt_open(&f.ts);
  grant_direct(&f.ts, 7, 2);
  grant_direct(&f.ts, 8, 60);
  put_direct(&f.ts, "b", 7);
  put_direct(&f.ts, "a", 7);
  put_direct(&f.ts, "c", 8);
  int64_t rev = lkvt_rev(&f.ts);
  fake_now = 0;
  start(&f, fake_clock);
  assert_int_equal(lkv_lessor_granted(f.l, 9, 2), 0); /* known here, never stored */
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  fake_now = 1999;
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  fake_now = 2000;
  assert_int_equal(lkv_lessor_expire(f.l), 2);
  int64_t ttl;
  assert_int_equal(lkv_lessor_renew(f.l, 7, &ttl, NULL), LKV_ELEASENOTFOUND);
  assert_int_equal(lkv_lessor_expire(f.l), 0); /* already on its way */
  wait_forgotten(f.l, 7);
  wait_forgotten(f.l, 9); /* its revoke found no lease: forgotten too */
  assert_int_equal(lkv_lessor_lookup(f.l, 8, NULL, NULL), 0);
  lkv_lessor_close(f.l);
  lkv_replicator_stop(f.r);
  /* both keys went in one revision, in key order; the other lease's key stays */
  assert_int_equal(lkvt_rev(&f.ts), rev + 1);
  char hist[256];
  assert_int_equal(lkvt_history(&f.ts, rev + 1, rev + 1, hist, sizeof(hist)), 0);
  char want[64];
  snprintf(want, sizeof(want), "-%lld.0:a -%lld.1:b ", (long long)rev + 1, (long long)rev + 1);
  assert_string_equal(hist, want);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(f.ts.s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_get(t, 7, NULL), LKV_ELEASENOTFOUND);
  assert_int_equal(lkv_mvcc_lease_get(t, 8, NULL), 0);
  lkv_mvcc_txn_end(t);
  lkvt_close(&f.ts);
}

static void test_timer_thread(void **state) {
  (void)state;
  fixture_t f;
  lkvt_open(&f.ts);
  grant_direct(&f.ts, 3, 1);
  put_direct(&f.ts, "k", 3);
  start(&f, NULL);
  assert_int_equal(lkv_lessor_start(f.l), 0);
  int64_t left;
  assert_int_equal(lkv_lessor_lookup(f.l, 3, NULL, &left), 0);
  assert_true(left <= 1);
  wait_forgotten(f.l, 3);
  /* a lease granted while the timer sleeps with nothing to do wakes it */
  assert_int_equal(lkv_lessor_granted(f.l, 4, 1), 0);
  wait_forgotten(f.l, 4);
  lkvt_kvs_t *kvs = lkvt_kvs_new();
  assert_int_equal(lkvt_range(&f.ts, "k", NULL, 0, kvs), 0);
  assert_int_equal(kvs->count, 0);
  lkvt_kvs_free(kvs);
  stop(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_invalid),        cmocka_unit_test(test_recover_renew_lookup),
      cmocka_unit_test(test_many_leases_and_ids), cmocka_unit_test(test_expiry_revokes),
      cmocka_unit_test(test_timer_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
