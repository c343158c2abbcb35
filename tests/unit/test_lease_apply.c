/* Unit tests for leases in the state machine and the store: grant and revoke requests, keys attached by
 * puts (top-level and in txns), detached by deletes and other leases, revocation in one revision, the
 * NOSPACE alarm, and persistence across a reopen. */
#include "apply_testutil.h"

static int do_grant(lkvt_store_t *ts, int64_t id, int64_t ttl, Etcdserverpb__LeaseGrantResponse **out) {
  Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  g.id = id;
  g.ttl = ttl;
  uint8_t *b;
  size_t n;
  int err = lkvt_apply(ts, LKV_OP_LEASE_GRANT, &g, &b, &n);
  if (err) return err;
  Etcdserverpb__LeaseGrantResponse *r = etcdserverpb__lease_grant_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(r);
  if (out)
    *out = r;
  else
    etcdserverpb__lease_grant_response__free_unpacked(r, NULL);
  return 0;
}

/* Revokes id; returns the error, *rev the response revision. */
static int do_revoke(lkvt_store_t *ts, int64_t id, int64_t *rev) {
  Etcdserverpb__LeaseRevokeRequest q = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
  q.id = id;
  uint8_t *b;
  size_t n;
  int err = lkvt_apply(ts, LKV_OP_LEASE_REVOKE, &q, &b, &n);
  if (err) return err;
  Etcdserverpb__LeaseRevokeResponse *r = etcdserverpb__lease_revoke_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(r);
  assert_int_equal(r->header->member_id, 22);
  if (rev) *rev = r->header->revision;
  etcdserverpb__lease_revoke_response__free_unpacked(r, NULL);
  return 0;
}

static int put_lease(lkvt_store_t *ts, const char *k, int64_t lease) {
  Etcdserverpb__PutRequest p = lkvt_put_req(k, "v");
  p.lease = lease;
  int err;
  Etcdserverpb__PutResponse *r = lkvt_do_put(ts, &p, &err);
  if (r) etcdserverpb__put_response__free_unpacked(r, NULL);
  return err;
}

static int64_t lease_of(lkvt_store_t *ts, const char *k) {
  Etcdserverpb__RangeResponse *rr;
  Etcdserverpb__RangeRequest q = lkvt_range_req(k, NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  int64_t lease = rr->n_kvs ? rr->kvs[0]->lease : -1;
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  return lease;
}

typedef struct keys_s {
  char s[4096];
  size_t len;
} keys_t;

static int key_cb(void *arg, const uint8_t *key, size_t len) {
  keys_t *k = arg;
  k->len += (size_t)snprintf(k->s + k->len, sizeof(k->s) - k->len, "%.*s ", (int)(len > 8 ? 8 : len), key);
  return 0;
}

/* Attached keys of id as "k1 k2 " (long keys cut to 8 bytes). */
static const char *keys_of(lkvt_store_t *ts, int64_t id, keys_t *k) {
  lkv_mvcc_txn_t *t;
  k->len = 0;
  k->s[0] = 0;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_keys(t, id, key_cb, k), 0);
  lkv_mvcc_txn_end(t);
  return k->s;
}

static int list_cb(void *arg, int64_t id, int64_t ttl) {
  keys_t *k = arg;
  k->len +=
      (size_t)snprintf(k->s + k->len, sizeof(k->s) - k->len, "%lld:%lld ", (long long)id, (long long)ttl);
  return 0;
}

static const char *leases_of(lkvt_store_t *ts, keys_t *k) {
  lkv_mvcc_txn_t *t;
  k->len = 0;
  k->s[0] = 0;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_list(t, list_cb, k), 0);
  lkv_mvcc_txn_end(t);
  return k->s;
}

static void test_grant(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  keys_t k;
  Etcdserverpb__LeaseGrantResponse *r = NULL;
  assert_int_equal(do_grant(ts, 7, 30, &r), 0);
  assert_int_equal(r->id, 7);
  assert_int_equal(r->ttl, 30);
  assert_int_equal(r->header->revision, 1); /* a grant takes no revision */
  assert_int_equal(r->header->cluster_id, 11);
  etcdserverpb__lease_grant_response__free_unpacked(r, NULL);
  assert_int_equal(lkvt_rev(ts), 1);
  assert_int_equal(do_grant(ts, 7, 10, NULL), LKV_ELEASEEXIST);
  assert_int_equal(do_grant(ts, 0, 10, NULL), LKV_ELEASENOTFOUND);
  assert_int_equal(do_grant(ts, 8, LKV_APPLY_LEASE_MAX_TTL + 1, NULL), LKV_ELEASETTLTOOLARGE);
  assert_int_equal(do_grant(ts, 9, LKV_APPLY_LEASE_MAX_TTL, NULL), 0);
  assert_int_equal(do_grant(ts, -5, 3, NULL), 0); /* client-chosen negative ids are ids too */
  assert_string_equal(leases_of(ts, &k), "7:30 9:9000000000 -5:3 ");
  int64_t ttl;
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_get(t, 7, &ttl), 0);
  assert_int_equal(ttl, 30);
  assert_int_equal(lkv_mvcc_lease_get(t, 8, &ttl), LKV_ELEASENOTFOUND);
  lkv_mvcc_txn_end(t);
}

static void test_attach_detach(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  keys_t k;
  assert_int_equal(put_lease(ts, "a", 5), LKV_ELEASENOTFOUND);
  assert_int_equal(lkvt_rev(ts), 1);
  assert_int_equal(do_grant(ts, 5, 10, NULL), 0);
  assert_int_equal(do_grant(ts, 6, 10, NULL), 0);
  assert_int_equal(put_lease(ts, "b", 5), 0);
  assert_int_equal(put_lease(ts, "a", 5), 0);
  assert_int_equal(put_lease(ts, "c", 5), 0);
  assert_int_equal(lease_of(ts, "a"), 5);
  assert_string_equal(keys_of(ts, 5, &k), "a b c ");
  /* ignore_lease keeps the key's lease */
  Etcdserverpb__PutRequest il = lkvt_put_req("a", "v2");
  il.ignore_lease = 1;
  int err;
  Etcdserverpb__PutResponse *pr = lkvt_do_put(ts, &il, &err);
  assert_int_equal(err, 0);
  etcdserverpb__put_response__free_unpacked(pr, NULL);
  assert_int_equal(lease_of(ts, "a"), 5);
  /* another lease takes the key over; a plain put takes it out of any lease */
  assert_int_equal(put_lease(ts, "b", 6), 0);
  assert_int_equal(put_lease(ts, "c", 0), 0);
  assert_string_equal(keys_of(ts, 5, &k), "a ");
  assert_string_equal(keys_of(ts, 6, &k), "b ");
  /* a deleted key is detached: revoking its old lease does not touch a later incarnation */
  assert_int_equal(lkvt_del(ts, "a", NULL), 1);
  assert_string_equal(keys_of(ts, 5, &k), "");
  assert_int_equal(lkvt_put(ts, "a", "again"), 0);
  int64_t before = lkvt_rev(ts), rev;
  assert_int_equal(do_revoke(ts, 5, &rev), 0);
  assert_int_equal(rev, before); /* no keys: no revision */
  assert_int_equal(lkvt_rev(ts), before);
  assert_int_equal(lease_of(ts, "a"), 0);
  assert_int_equal(do_revoke(ts, 5, NULL), LKV_ELEASENOTFOUND);
  assert_int_equal(put_lease(ts, "x", 5), LKV_ELEASENOTFOUND);
}

static void test_revoke_one_revision(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  keys_t k;
  assert_int_equal(do_grant(ts, 1, 10, NULL), 0);
  /* long keys sharing a prefix are ordered by their hash in the index: revoke must use true order */
  char long1[600], long2[600];
  memset(long1, 'L', sizeof(long1) - 1);
  long1[sizeof(long1) - 1] = 0;
  memcpy(long2, long1, sizeof(long2));
  long1[590] = 'b';
  long2[590] = 'a';
  assert_int_equal(put_lease(ts, "z", 1), 0);
  assert_int_equal(put_lease(ts, long1, 1), 0);
  assert_int_equal(put_lease(ts, "m", 1), 0);
  assert_int_equal(put_lease(ts, long2, 1), 0);
  assert_int_equal(lkvt_put(ts, "other", "x"), 0);
  assert_string_equal(keys_of(ts, 1, &k), "LLLLLLLL LLLLLLLL m z ");
  int64_t rev;
  assert_int_equal(do_revoke(ts, 1, &rev), 0);
  assert_int_equal(rev, 7);
  assert_int_equal(lkvt_rev(ts), 7);
  assert_int_equal(lease_of(ts, "z"), -1);
  assert_int_equal(lease_of(ts, "other"), 0);
  assert_int_equal(lease_of(ts, long2), -1);
  assert_string_equal(leases_of(ts, &k), "");
  /* the deletes are revision 7's sub revisions 0..3, in key order */
  char hist[8192];
  assert_int_equal(lkvt_history(ts, 7, 7, hist, sizeof(hist)), 0);
  char want[8192];
  snprintf(want, sizeof(want), "-7.0:%s -7.1:%s -7.2:m -7.3:z ", long2, long1);
  assert_string_equal(hist, want);
}

static void test_txn_leases(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  keys_t k;
  Etcdserverpb__PutRequest p = lkvt_put_req("t", "v");
  p.lease = 3;
  Etcdserverpb__RequestOp op = lkvt_op_put(&p), *ops[] = {&op};
  Etcdserverpb__TxnRequest tr = lkvt_txn_req(NULL, 0, ops, 1, NULL, 0);
  int err;
  assert_null(lkvt_do_txn(ts, &tr, &err));
  assert_int_equal(err, LKV_ELEASENOTFOUND);
  assert_int_equal(do_grant(ts, 3, 10, NULL), 0);
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &tr, &err);
  assert_int_equal(err, 0);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  assert_string_equal(keys_of(ts, 3, &k), "t ");
  /* a txn delete detaches too */
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("t", NULL);
  Etcdserverpb__RequestOp dop = lkvt_op_del(&d), *dops[] = {&dop};
  Etcdserverpb__TxnRequest dt = lkvt_txn_req(NULL, 0, dops, 1, NULL, 0);
  r = lkvt_do_txn(ts, &dt, &err);
  assert_int_equal(err, 0);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  assert_string_equal(keys_of(ts, 3, &k), "");
}

static void test_nospace_refuses_grant(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
  a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
  a.memberid = 22;
  a.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
  uint8_t *b;
  size_t n;
  assert_int_equal(lkvt_apply(ts, LKV_OP_ALARM, &a, &b, &n), 0);
  free(b);
  assert_int_equal(do_grant(ts, 4, 10, NULL), LKV_ENOSPACE);
}

static void test_persist(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  keys_t k;
  assert_int_equal(do_grant(ts, 11, 60, NULL), 0);
  assert_int_equal(do_grant(ts, 12, 5, NULL), 0);
  assert_int_equal(put_lease(ts, "p1", 11), 0);
  assert_int_equal(put_lease(ts, "p2", 11), 0);
  lkvt_reopen(ts);
  assert_string_equal(leases_of(ts, &k), "11:60 12:5 ");
  assert_string_equal(keys_of(ts, 11, &k), "p1 p2 ");
  assert_int_equal(do_revoke(ts, 11, NULL), 0);
  lkvt_reopen(ts);
  assert_string_equal(leases_of(ts, &k), "12:5 ");
  assert_int_equal(lease_of(ts, "p1"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_grant),      LKVT_TEST(test_attach_detach),         LKVT_TEST(test_revoke_one_revision),
      LKVT_TEST(test_txn_leases), LKVT_TEST(test_nospace_refuses_grant), LKVT_TEST(test_persist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
