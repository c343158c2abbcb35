/* Unit tests for the permission checks a write is applied with (etcd 3.4's authApplierV3): the user and
 * auth revision its log entry carries against the store's auth state, every kind of request, and the
 * replicated Authenticate op's token. */
#include "apply_testutil.h"
#include "etcd/auth/authpb/auth.pb-c.h"

static const lkv_apply_auth_t as_root = {.user = "root", .revision = UINT64_MAX};

/* Applies one request as who and frees its response; returns its error. */
static int as(lkvt_store_t *ts, const lkv_apply_auth_t *who, lkv_op_kind_t kind, const void *msg) {
  uint8_t *b;
  size_t n;
  int err = lkvt_apply_as(ts, kind, msg, who, &b, &n);
  if (!err) free(b);
  return err;
}

static void user(lkvt_store_t *ts, const char *name, const char *role) {
  Etcdserverpb__AuthUserAddRequest u = ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT;
  u.name = (char *)name;
  u.password = "$2a$10$hash";
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_USER_ADD, &u), 0);
  Etcdserverpb__AuthRoleAddRequest r = ETCDSERVERPB__AUTH_ROLE_ADD_REQUEST__INIT;
  r.name = (char *)role;
  int rc = as(ts, &as_root, LKV_OP_AUTH_ROLE_ADD, &r);
  assert_true(rc == 0 || rc == LKV_EROLEEXIST);
  Etcdserverpb__AuthUserGrantRoleRequest g = ETCDSERVERPB__AUTH_USER_GRANT_ROLE_REQUEST__INIT;
  g.user = (char *)name;
  g.role = (char *)role;
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_USER_GRANT_ROLE, &g), 0);
}

static void grant(lkvt_store_t *ts, const char *role, int type, const char *key, const char *end) {
  assert_int_equal(lkvt_grant_perm(ts, &as_root, role, type, key, end), 0);
}

static uint64_t auth_rev(lkvt_store_t *ts) {
  int enabled;
  uint64_t rev;
  assert_int_equal(lkv_apply_auth_status(ts->s, &enabled, &rev), 0);
  return rev;
}

/* root; u reads and writes foo/ and reads ro; w writes w/ only. Auth on. Returns the auth revision. */
static uint64_t setup_users(lkvt_store_t *ts) {
  user(ts, "root", "root");
  user(ts, "u", "r");
  user(ts, "w", "wr");
  grant(ts, "r", AUTHPB__PERMISSION__TYPE__READWRITE, "foo/", "foo0");
  grant(ts, "r", AUTHPB__PERMISSION__TYPE__READ, "ro", NULL);
  grant(ts, "wr", AUTHPB__PERMISSION__TYPE__WRITE, "w/", "w0");
  Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
  assert_int_equal(as(ts, NULL, LKV_OP_AUTH_ENABLE, &en), 0); /* auth off until then: anyone may */
  return auth_rev(ts);
}

/* Put and DeleteRange: write access, read access too with prev_kv, no user, an old auth revision. */
static void test_put_delete(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__PutRequest p = lkvt_put_req("foo/1", "v");
  assert_int_equal(as(ts, NULL, LKV_OP_PUT, &p), 0); /* auth off */
  uint64_t rev = setup_users(ts);
  lkv_apply_auth_t u = {.user = "u", .revision = rev}, w = {.user = "w", .revision = rev};
  lkv_apply_auth_t nobody = {0}, old = {.user = "u", .revision = rev - 1};
  assert_int_equal(as(ts, &u, LKV_OP_PUT, &p), 0);
  assert_int_equal(as(ts, &nobody, LKV_OP_PUT, &p), LKV_EUSEREMPTY);
  assert_int_equal(as(ts, &old, LKV_OP_PUT, &p), LKV_EAUTHOLDREV);
  assert_int_equal(as(ts, &w, LKV_OP_PUT, &p), LKV_EPERMDENIED);
  Etcdserverpb__PutRequest ro = lkvt_put_req("ro", "v");
  assert_int_equal(as(ts, &u, LKV_OP_PUT, &ro), LKV_EPERMDENIED);
  Etcdserverpb__PutRequest wp = lkvt_put_req("w/1", "v");
  assert_int_equal(as(ts, &w, LKV_OP_PUT, &wp), 0);
  wp.prev_kv = 1; /* needs read access too */
  assert_int_equal(as(ts, &w, LKV_OP_PUT, &wp), LKV_EPERMDENIED);
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("foo/", "foo0");
  assert_int_equal(as(ts, &w, LKV_OP_DELETE_RANGE, &d), LKV_EPERMDENIED);
  assert_int_equal(as(ts, &u, LKV_OP_DELETE_RANGE, &d), 0);
  Etcdserverpb__DeleteRangeRequest wide = lkvt_del_req("foo/", "");
  assert_int_equal(as(ts, &u, LKV_OP_DELETE_RANGE, &wide), LKV_EPERMDENIED); /* from foo/ on: too wide */
  Etcdserverpb__DeleteRangeRequest wd = lkvt_del_req("w/", "w0");
  wd.prev_kv = 1;
  assert_int_equal(as(ts, &w, LKV_OP_DELETE_RANGE, &wd), LKV_EPERMDENIED);
  wd.prev_kv = 0;
  assert_int_equal(as(ts, &w, LKV_OP_DELETE_RANGE, &wd), 0);
  assert_int_equal(as(ts, &as_root, LKV_OP_PUT, &ro), 0);
  /* a revoked role takes effect at once, and every request checked before the change is now old */
  Etcdserverpb__AuthUserRevokeRoleRequest rv = ETCDSERVERPB__AUTH_USER_REVOKE_ROLE_REQUEST__INIT;
  rv.name = "u";
  rv.role = "r";
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_USER_REVOKE_ROLE, &rv), 0);
  assert_int_equal(as(ts, &u, LKV_OP_PUT, &p), LKV_EAUTHOLDREV);
  u.revision = auth_rev(ts);
  assert_int_equal(as(ts, &u, LKV_OP_PUT, &p), LKV_EPERMDENIED);
}

/* Txn: every compare needs read access, every op its own, nested txns included. */
static void test_txn(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  uint64_t rev = setup_users(ts);
  lkv_apply_auth_t u = {.user = "u", .revision = rev};
  Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
  c.key = lkvt_bin("foo/1");
  c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
  c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
  Etcdserverpb__Compare *cmp[] = {&c};
  Etcdserverpb__PutRequest p = lkvt_put_req("foo/2", "v");
  Etcdserverpb__RequestOp put = lkvt_op_put(&p);
  Etcdserverpb__RangeRequest rr = lkvt_range_req("ro", NULL);
  Etcdserverpb__RequestOp get = lkvt_op_range(&rr);
  Etcdserverpb__RequestOp *succ[] = {&put, &get};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(cmp, 1, succ, 2, NULL, 0);
  assert_int_equal(as(ts, &u, LKV_OP_TXN, &t), 0);
  c.key = lkvt_bin("bar"); /* a compare outside u's keys */
  assert_int_equal(as(ts, &u, LKV_OP_TXN, &t), LKV_EPERMDENIED);
  c.key = lkvt_bin("foo/1");
  Etcdserverpb__PutRequest bad = lkvt_put_req("bar", "v");
  Etcdserverpb__RequestOp bad_put = lkvt_op_put(&bad);
  Etcdserverpb__RequestOp *inner_ops[] = {&bad_put};
  Etcdserverpb__TxnRequest inner = lkvt_txn_req(NULL, 0, inner_ops, 1, NULL, 0);
  Etcdserverpb__RequestOp nested = lkvt_op_txn(&inner);
  Etcdserverpb__RequestOp *fail[] = {&nested}; /* the failure branch, never run: still checked */
  t = lkvt_txn_req(cmp, 1, succ, 2, fail, 1);
  assert_int_equal(as(ts, &u, LKV_OP_TXN, &t), LKV_EPERMDENIED);
  assert_int_equal(lkv_apply_auth_txn_permitted(ts->s, &u, &t), LKV_EPERMDENIED);
  t = lkvt_txn_req(cmp, 1, succ, 2, NULL, 0);
  assert_int_equal(lkv_apply_auth_txn_permitted(ts->s, &u, &t), 0);
  assert_int_equal(as(ts, &as_root, LKV_OP_TXN, &t), 0);
}

/* LeaseRevoke needs write access to every key attached to the lease; the server's own revoke (expiry)
 * is not checked. */
static void test_lease_revoke(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  uint64_t rev = setup_users(ts);
  lkv_apply_auth_t u = {.user = "u", .revision = rev};
  Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  g.id = 7;
  g.ttl = 60;
  assert_int_equal(as(ts, &u, LKV_OP_LEASE_GRANT, &g), 0); /* grants are not checked (etcd's) */
  Etcdserverpb__PutRequest p = lkvt_put_req("foo/1", "v");
  p.lease = 7;
  assert_int_equal(as(ts, &u, LKV_OP_PUT, &p), 0);
  Etcdserverpb__PutRequest q = lkvt_put_req("bar", "v");
  q.lease = 7;
  assert_int_equal(as(ts, &as_root, LKV_OP_PUT, &q), 0);
  /* a put with a lease that holds a key u may not write: etcd's checkLeasePuts */
  assert_int_equal(as(ts, &u, LKV_OP_PUT, &p), LKV_EPERMDENIED);
  Etcdserverpb__LeaseRevokeRequest r = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
  r.id = 7;
  assert_int_equal(as(ts, &u, LKV_OP_LEASE_REVOKE, &r), LKV_EPERMDENIED);
  lkv_apply_req_t expiry = {.kind = LKV_OP_LEASE_REVOKE, .msg = &r.base, .no_claims = 1};
  assert_int_equal(lkv_apply_batch(ts->s, &lkvt_id, &expiry, 1), 0);
  assert_int_equal(expiry.err, 0);
  free(expiry.resp);
}

/* The auth ops: an administrator's, but a user may get itself and the roles it holds. */
static void test_admin_ops(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  uint64_t rev = setup_users(ts);
  lkv_apply_auth_t u = {.user = "u", .revision = rev}, nobody = {0};
  Etcdserverpb__AuthUserGetRequest ug = ETCDSERVERPB__AUTH_USER_GET_REQUEST__INIT;
  ug.name = "u";
  assert_int_equal(as(ts, &u, LKV_OP_AUTH_USER_GET, &ug), 0);
  ug.name = "root";
  assert_int_equal(as(ts, &u, LKV_OP_AUTH_USER_GET, &ug), LKV_EPERMDENIED);
  assert_int_equal(as(ts, &nobody, LKV_OP_AUTH_USER_GET, &ug), LKV_EUSEREMPTY);
  Etcdserverpb__AuthRoleGetRequest rg = ETCDSERVERPB__AUTH_ROLE_GET_REQUEST__INIT;
  rg.role = "r";
  assert_int_equal(as(ts, &u, LKV_OP_AUTH_ROLE_GET, &rg), 0);
  rg.role = "wr";
  assert_int_equal(as(ts, &u, LKV_OP_AUTH_ROLE_GET, &rg), LKV_EPERMDENIED);
  Etcdserverpb__AuthRoleAddRequest ra = ETCDSERVERPB__AUTH_ROLE_ADD_REQUEST__INIT;
  ra.name = "x";
  assert_int_equal(as(ts, &u, LKV_OP_AUTH_ROLE_ADD, &ra), LKV_EPERMDENIED);
  lkv_apply_auth_t ghost = {.user = "ghost", .revision = rev};
  assert_int_equal(as(ts, &ghost, LKV_OP_AUTH_ROLE_ADD, &ra), LKV_EUSERNOTFOUND);
  Etcdserverpb__AuthDisableRequest dis = ETCDSERVERPB__AUTH_DISABLE_REQUEST__INIT;
  assert_int_equal(as(ts, &u, LKV_OP_AUTH_DISABLE, &dis), LKV_EPERMDENIED);
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_ROLE_ADD, &ra), 0);
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_DISABLE, &dis), 0);
  ra.name = "y"; /* auth off: anyone */
  assert_int_equal(as(ts, &nobody, LKV_OP_AUTH_ROLE_ADD, &ra), 0);
}

/* Authenticate as applied: the token is the prefix and the entry's index, the same on every member. */
static void test_authenticate(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__AuthenticateRequest a = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
  a.name = "u";
  a.password = "abcdefghABCDEFGH";
  assert_int_equal(as(ts, NULL, LKV_OP_AUTH_AUTHENTICATE, &a), LKV_EAUTHNOTENABLED);
  setup_users(ts);
  Etcdserverpb__AuthUserAddRequest np = ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT;
  Authpb__UserAddOptions o = AUTHPB__USER_ADD_OPTIONS__INIT;
  o.no_password = 1;
  np.name = "np";
  np.password = "";
  np.options = &o;
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_USER_ADD, &np), 0);
  lkv_apply_req_t r = {.kind = LKV_OP_AUTH_AUTHENTICATE, .msg = &a.base, .index = 42};
  assert_int_equal(lkv_apply_batch(ts->s, &lkvt_id, &r, 1), 0);
  assert_int_equal(r.err, 0);
  Etcdserverpb__AuthenticateResponse *resp =
      etcdserverpb__authenticate_response__unpack(NULL, r.resp_len, r.resp);
  assert_non_null(resp);
  assert_string_equal(resp->token, "abcdefghABCDEFGH.42");
  etcdserverpb__authenticate_response__free_unpacked(resp, NULL);
  free(r.resp);
  /* Its password was checked before users or roles changed (a new password): no token. */
  const lkv_apply_auth_t checked = {.user = "u", .revision = auth_rev(ts)};
  assert_int_equal(as(ts, &checked, LKV_OP_AUTH_AUTHENTICATE, &a), 0);
  Etcdserverpb__AuthUserChangePasswordRequest cp = ETCDSERVERPB__AUTH_USER_CHANGE_PASSWORD_REQUEST__INIT;
  cp.name = "u";
  cp.password = "$2a$10$other";
  assert_int_equal(as(ts, &as_root, LKV_OP_AUTH_USER_CHANGE_PASSWORD, &cp), 0);
  assert_int_equal(as(ts, &checked, LKV_OP_AUTH_AUTHENTICATE, &a), LKV_EAUTHOLDREV);
  const lkv_apply_auth_t rechecked = {.user = "u", .revision = auth_rev(ts)};
  assert_int_equal(as(ts, &rechecked, LKV_OP_AUTH_AUTHENTICATE, &a), 0);
  a.name = "ghost";
  assert_int_equal(as(ts, NULL, LKV_OP_AUTH_AUTHENTICATE, &a), LKV_EAUTHFAILED);
  a.name = "np";
  assert_int_equal(as(ts, NULL, LKV_OP_AUTH_AUTHENTICATE, &a), LKV_EAUTHFAILED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_put_delete), LKVT_TEST(test_txn),          LKVT_TEST(test_lease_revoke),
      LKVT_TEST(test_admin_ops),  LKVT_TEST(test_authenticate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
