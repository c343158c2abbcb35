/* Unit tests for etcd's auth state in the state machine: users, roles and permissions as etcd's auth store
 * changes them, its error codes, root's rules once auth is on, the auth revision, and persistence. */
#include "apply_testutil.h"
#include "etcd/auth/authpb/auth.pb-c.h"

/* Root at an auth revision that never gets old: once auth is on, the ops need an administrator. */
static const lkv_apply_auth_t as_root = {.user = "root", .revision = UINT64_MAX};

/* Applies one auth op as root; with desc, unpacks the response into *out (free with
 * protobuf_c_message_free_unpacked). Returns the op's error. */
static int op(lkvt_store_t *ts, lkv_op_kind_t kind, const void *msg, const ProtobufCMessageDescriptor *desc,
              ProtobufCMessage **out) {
  uint8_t *b;
  size_t n;
  int err = lkvt_apply_as(ts, kind, msg, &as_root, &b, &n);
  if (err) return err;
  if (desc) {
    *out = protobuf_c_message_unpack(desc, NULL, n, b);
    assert_non_null(*out);
  }
  free(b);
  return 0;
}

static uint64_t auth_rev(lkvt_store_t *ts, int *enabled) {
  uint64_t rev;
  int en;
  assert_int_equal(lkv_apply_auth_status(ts->s, &en, &rev), 0);
  if (enabled) *enabled = en;
  return rev;
}

static int user_add(lkvt_store_t *ts, const char *name, const char *hash, int no_password) {
  Etcdserverpb__AuthUserAddRequest r = ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT;
  Authpb__UserAddOptions o = AUTHPB__USER_ADD_OPTIONS__INIT;
  o.no_password = no_password;
  r.name = (char *)name;
  r.password = (char *)hash;
  r.options = &o;
  return op(ts, LKV_OP_AUTH_USER_ADD, &r, NULL, NULL);
}

static int role_add(lkvt_store_t *ts, const char *name) {
  Etcdserverpb__AuthRoleAddRequest r = ETCDSERVERPB__AUTH_ROLE_ADD_REQUEST__INIT;
  r.name = (char *)name;
  return op(ts, LKV_OP_AUTH_ROLE_ADD, &r, NULL, NULL);
}

static int grant_role(lkvt_store_t *ts, const char *user, const char *role) {
  Etcdserverpb__AuthUserGrantRoleRequest r = ETCDSERVERPB__AUTH_USER_GRANT_ROLE_REQUEST__INIT;
  r.user = (char *)user;
  r.role = (char *)role;
  return op(ts, LKV_OP_AUTH_USER_GRANT_ROLE, &r, NULL, NULL);
}

static int revoke_role(lkvt_store_t *ts, const char *user, const char *role) {
  Etcdserverpb__AuthUserRevokeRoleRequest r = ETCDSERVERPB__AUTH_USER_REVOKE_ROLE_REQUEST__INIT;
  r.name = (char *)user;
  r.role = (char *)role;
  return op(ts, LKV_OP_AUTH_USER_REVOKE_ROLE, &r, NULL, NULL);
}

static int grant_perm(lkvt_store_t *ts, const char *role, int type, const char *key, const char *end) {
  return lkvt_grant_perm(ts, &as_root, role, type, key, end);
}

static int revoke_perm(lkvt_store_t *ts, const char *role, const char *key, const char *end) {
  Etcdserverpb__AuthRoleRevokePermissionRequest r = ETCDSERVERPB__AUTH_ROLE_REVOKE_PERMISSION_REQUEST__INIT;
  r.role = (char *)role;
  r.key = lkvt_bin(key);
  r.range_end = lkvt_end(end);
  return op(ts, LKV_OP_AUTH_ROLE_REVOKE_PERMISSION, &r, NULL, NULL);
}

/* A user's roles as "a b " (or the error's text). */
static const char *user_roles(lkvt_store_t *ts, const char *name, char *buf, size_t len) {
  Etcdserverpb__AuthUserGetRequest r = ETCDSERVERPB__AUTH_USER_GET_REQUEST__INIT;
  r.name = (char *)name;
  ProtobufCMessage *m;
  int err = op(ts, LKV_OP_AUTH_USER_GET, &r, &etcdserverpb__auth_user_get_response__descriptor, &m);
  if (err) return lkv_strerror(err);
  Etcdserverpb__AuthUserGetResponse *g = (Etcdserverpb__AuthUserGetResponse *)m;
  assert_int_equal(g->header->member_id, 22);
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < g->n_roles; i++) o += (size_t)snprintf(buf + o, len - o, "%s ", g->roles[i]);
  protobuf_c_message_free_unpacked(m, NULL);
  return buf;
}

/* A role's permissions as "type:key-end " with end "*" for from-key and "" for a single key. */
static const char *role_perms(lkvt_store_t *ts, const char *name, char *buf, size_t len) {
  Etcdserverpb__AuthRoleGetRequest r = ETCDSERVERPB__AUTH_ROLE_GET_REQUEST__INIT;
  r.role = (char *)name;
  ProtobufCMessage *m;
  int err = op(ts, LKV_OP_AUTH_ROLE_GET, &r, &etcdserverpb__auth_role_get_response__descriptor, &m);
  if (err) return lkv_strerror(err);
  Etcdserverpb__AuthRoleGetResponse *g = (Etcdserverpb__AuthRoleGetResponse *)m;
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < g->n_perm; i++) {
    const Authpb__Permission *p = g->perm[i];
    int from_key = p->range_end.len == 1 && p->range_end.data[0] == 0;
    o += (size_t)snprintf(buf + o, len - o, "%d:%.*s-%.*s ", p->permtype, (int)p->key.len, p->key.data,
                          from_key ? 1 : (int)p->range_end.len,
                          from_key ? "*" : (const char *)p->range_end.data);
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return buf;
}

/* The names a list op answers, as "a b ". */
static const char *list(lkvt_store_t *ts, int users, char *buf, size_t len) {
  Etcdserverpb__AuthUserListRequest ur = ETCDSERVERPB__AUTH_USER_LIST_REQUEST__INIT;
  Etcdserverpb__AuthRoleListRequest rr = ETCDSERVERPB__AUTH_ROLE_LIST_REQUEST__INIT;
  ProtobufCMessage *m;
  if (users)
    assert_int_equal(
        op(ts, LKV_OP_AUTH_USER_LIST, &ur, &etcdserverpb__auth_user_list_response__descriptor, &m), 0);
  else
    assert_int_equal(
        op(ts, LKV_OP_AUTH_ROLE_LIST, &rr, &etcdserverpb__auth_role_list_response__descriptor, &m), 0);
  char **v = users ? ((Etcdserverpb__AuthUserListResponse *)m)->users
                   : ((Etcdserverpb__AuthRoleListResponse *)m)->roles;
  size_t n = users ? ((Etcdserverpb__AuthUserListResponse *)m)->n_users
                   : ((Etcdserverpb__AuthRoleListResponse *)m)->n_roles;
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++) o += (size_t)snprintf(buf + o, len - o, "%s ", v[i]);
  protobuf_c_message_free_unpacked(m, NULL);
  return buf;
}

static void test_users(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char buf[512];
  assert_int_equal(auth_rev(ts, NULL), 1); /* etcd's first auth revision */
  assert_int_equal(user_add(ts, "", "h", 0), LKV_EUSEREMPTY);
  assert_int_equal(user_add(ts, "bob", "$2a$10$hash", 0), 0);
  assert_int_equal(user_add(ts, "bob", "$2a$10$hash", 0), LKV_EUSEREXIST);
  assert_int_equal(user_add(ts, "al", "", 1), 0);
  assert_int_equal(auth_rev(ts, NULL), 3);
  assert_string_equal(list(ts, 1, buf, sizeof(buf)), "al bob ");
  assert_int_equal(grant_role(ts, "bob", "r"), LKV_EROLENOTFOUND);
  assert_int_equal(grant_role(ts, "nobody", "root"), LKV_EUSERNOTFOUND);
  assert_int_equal(role_add(ts, "r"), 0);
  assert_int_equal(role_add(ts, "r"), LKV_EROLEEXIST);
  assert_int_equal(role_add(ts, ""), LKV_EROLEEMPTY);
  assert_int_equal(role_add(ts, "b"), 0);
  assert_int_equal(grant_role(ts, "bob", "r"), 0);
  assert_int_equal(grant_role(ts, "bob", "root"), 0); /* root need not exist as a role */
  assert_int_equal(grant_role(ts, "bob", "b"), 0);
  uint64_t rev = auth_rev(ts, NULL);
  assert_int_equal(grant_role(ts, "bob", "b"), 0); /* granted already: no change, no revision */
  assert_int_equal(auth_rev(ts, NULL), rev);
  assert_string_equal(user_roles(ts, "bob", buf, sizeof(buf)), "b r root "); /* kept sorted */
  assert_int_equal(revoke_role(ts, "bob", "x"), LKV_EROLENOTGRANTED);
  assert_int_equal(revoke_role(ts, "bob", "r"), 0);
  assert_string_equal(user_roles(ts, "bob", buf, sizeof(buf)), "b root ");
  assert_string_equal(user_roles(ts, "zed", buf, sizeof(buf)), lkv_strerror(LKV_EUSERNOTFOUND));
  /* a role's deletion takes it from every user */
  Etcdserverpb__AuthRoleDeleteRequest rd = ETCDSERVERPB__AUTH_ROLE_DELETE_REQUEST__INIT;
  rd.role = "b";
  assert_int_equal(op(ts, LKV_OP_AUTH_ROLE_DELETE, &rd, NULL, NULL), 0);
  assert_int_equal(op(ts, LKV_OP_AUTH_ROLE_DELETE, &rd, NULL, NULL), LKV_EROLENOTFOUND);
  assert_string_equal(user_roles(ts, "bob", buf, sizeof(buf)), "root ");
  assert_string_equal(list(ts, 0, buf, sizeof(buf)), "r ");
  Etcdserverpb__AuthUserDeleteRequest ud = ETCDSERVERPB__AUTH_USER_DELETE_REQUEST__INIT;
  ud.name = "al";
  assert_int_equal(op(ts, LKV_OP_AUTH_USER_DELETE, &ud, NULL, NULL), 0);
  assert_int_equal(op(ts, LKV_OP_AUTH_USER_DELETE, &ud, NULL, NULL), LKV_EUSERNOTFOUND);
  assert_string_equal(list(ts, 1, buf, sizeof(buf)), "bob ");
}

/* The stored user record: the hash as proposed, options, roles. */
static void test_password_record(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  assert_int_equal(user_add(ts, "u", "$2a$10$first", 0), 0);
  assert_int_equal(user_add(ts, "n", "ignored", 1), 0);
  Etcdserverpb__AuthUserChangePasswordRequest cp = ETCDSERVERPB__AUTH_USER_CHANGE_PASSWORD_REQUEST__INIT;
  cp.name = "u";
  cp.password = "$2a$10$second";
  assert_int_equal(op(ts, LKV_OP_AUTH_USER_CHANGE_PASSWORD, &cp, NULL, NULL), 0);
  cp.name = "x";
  assert_int_equal(op(ts, LKV_OP_AUTH_USER_CHANGE_PASSWORD, &cp, NULL, NULL), LKV_EUSERNOTFOUND);
  lkv_mvcc_txn_t *t;
  const uint8_t *v;
  size_t n;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_auth_get(t, LKV_MVCC_AUTH_USER, (const uint8_t *)"u", 1, &v, &n), 0);
  Authpb__User *u = authpb__user__unpack(NULL, n, v);
  assert_non_null(u);
  assert_int_equal(u->password.len, strlen("$2a$10$second"));
  assert_memory_equal(u->password.data, "$2a$10$second", u->password.len);
  assert_false(u->options->no_password);
  authpb__user__free_unpacked(u, NULL);
  assert_int_equal(lkv_mvcc_auth_get(t, LKV_MVCC_AUTH_USER, (const uint8_t *)"n", 1, &v, &n), 0);
  u = authpb__user__unpack(NULL, n, v);
  assert_non_null(u);
  assert_int_equal(u->password.len, 0); /* --no-password: nothing stored */
  assert_true(u->options->no_password);
  authpb__user__free_unpacked(u, NULL);
  lkv_mvcc_txn_end(t);
}

static void test_permissions(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char buf[512];
  assert_int_equal(grant_perm(ts, "r", 0, "a", NULL), LKV_EROLENOTFOUND);
  assert_int_equal(role_add(ts, "r"), 0);
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__READWRITE, "m", "n"), 0);
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__READ, "a", NULL), 0);
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__WRITE, "z", ""), 0);
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__WRITE, "m", "p"), 0);
  assert_string_equal(role_perms(ts, "r", buf, sizeof(buf)), "0:a- 2:m-n 1:m-p 1:z-* ");
  /* same key and range end: the type changes in place */
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__READ, "m", "n"), 0);
  assert_string_equal(role_perms(ts, "r", buf, sizeof(buf)), "0:a- 0:m-n 1:m-p 1:z-* ");
  assert_int_equal(revoke_perm(ts, "r", "m", NULL), LKV_EPERMNOTGRANTED);
  assert_int_equal(revoke_perm(ts, "x", "m", NULL), LKV_EROLENOTFOUND);
  assert_int_equal(revoke_perm(ts, "r", "m", "n"), 0);
  assert_int_equal(revoke_perm(ts, "r", "z", ""), 0);
  assert_string_equal(role_perms(ts, "r", buf, sizeof(buf)), "0:a- 1:m-p ");
  assert_string_equal(role_perms(ts, "q", buf, sizeof(buf)), lkv_strerror(LKV_EROLENOTFOUND));
}

/* AuthEnable's conditions, root's protection while enabled, AuthDisable's revision, and a reopen. */
static void test_enable_and_root(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
  Etcdserverpb__AuthDisableRequest dis = ETCDSERVERPB__AUTH_DISABLE_REQUEST__INIT;
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), LKV_EROOTUSERNOTEXIST);
  assert_int_equal(lkv_apply_auth_enable_check(ts->s), LKV_EROOTUSERNOTEXIST);
  assert_int_equal(user_add(ts, "root", "$2a$10$x", 0), 0);
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), LKV_EROOTROLENOTEXIST);
  assert_int_equal(lkv_apply_auth_enable_check(ts->s), LKV_EROOTROLENOTEXIST);
  assert_int_equal(role_add(ts, "root"), 0);
  assert_int_equal(grant_role(ts, "root", "root"), 0);
  assert_int_equal(lkv_apply_auth_enable_check(ts->s), 0);
  int enabled;
  uint64_t rev = auth_rev(ts, &enabled);
  assert_false(enabled);
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), 0);
  assert_int_equal(auth_rev(ts, &enabled), rev); /* enabling is not an auth revision (etcd's) */
  assert_true(enabled);
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), 0); /* enabled already */
  assert_int_equal(revoke_role(ts, "root", "root"), LKV_EINVALIDAUTHMGMT);
  Etcdserverpb__AuthUserDeleteRequest ud = ETCDSERVERPB__AUTH_USER_DELETE_REQUEST__INIT;
  ud.name = "root";
  assert_int_equal(op(ts, LKV_OP_AUTH_USER_DELETE, &ud, NULL, NULL), LKV_EINVALIDAUTHMGMT);
  Etcdserverpb__AuthRoleDeleteRequest rd = ETCDSERVERPB__AUTH_ROLE_DELETE_REQUEST__INIT;
  rd.role = "root";
  assert_int_equal(op(ts, LKV_OP_AUTH_ROLE_DELETE, &rd, NULL, NULL), LKV_EINVALIDAUTHMGMT);
  lkvt_reopen(ts);
  assert_int_equal(auth_rev(ts, &enabled), rev);
  assert_true(enabled);
  assert_int_equal(op(ts, LKV_OP_AUTH_DISABLE, &dis, NULL, NULL), 0);
  assert_int_equal(auth_rev(ts, &enabled), rev + 1);
  assert_false(enabled);
  assert_int_equal(op(ts, LKV_OP_AUTH_DISABLE, &dis, NULL, NULL), 0); /* disabled already: no revision */
  assert_int_equal(auth_rev(ts, NULL), rev + 1);
  assert_int_equal(revoke_role(ts, "root", "root"), 0); /* allowed again while off */
  assert_int_equal(op(ts, LKV_OP_AUTH_USER_DELETE, &ud, NULL, NULL), 0);
  /* auth ops take no KV revision */
  assert_int_equal(lkvt_rev(ts), 1);
}

/* The checks a request is made with (etcd's isOpPermitted, IsAdminPermitted): nothing while auth is off,
 * then no user, an old auth revision, an unknown user, root, and a user's roles' permissions. */
static void test_permitted(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  const uint8_t *k = (const uint8_t *)"foo/1";
  lkv_apply_auth_t nobody = {0};
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &nobody, 1, k, 5, NULL, 0), 0); /* auth off */
  assert_int_equal(lkv_apply_auth_admin(ts->s, &nobody), 0);
  assert_int_equal(user_add(ts, "root", "x", 1), 0);
  assert_int_equal(role_add(ts, "root"), 0);
  assert_int_equal(grant_role(ts, "root", "root"), 0);
  assert_int_equal(user_add(ts, "u", "x", 1), 0);
  assert_int_equal(role_add(ts, "r"), 0);
  assert_int_equal(grant_role(ts, "u", "r"), 0);
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__READ, "foo/", "foo0"), 0);
  Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), 0);
  uint64_t rev = auth_rev(ts, NULL);
  lkv_apply_auth_t root = {.user = "root", .revision = rev}, u = {.user = "u", .revision = rev};
  lkv_apply_auth_t ghost = {.user = "ghost", .revision = rev}, old = {.user = "u", .revision = rev - 1};
  assert_int_equal(lkv_apply_auth_permitted(ts->s, NULL, 0, k, 5, NULL, 0), LKV_EUSEREMPTY);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &nobody, 0, k, 5, NULL, 0), LKV_EUSEREMPTY);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &old, 0, k, 5, NULL, 0), LKV_EAUTHOLDREV);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &ghost, 0, k, 5, NULL, 0), LKV_EPERMDENIED);
  assert_int_equal(
      lkv_apply_auth_permitted(ts->s, &root, 1, (const uint8_t *)"\0", 1, (const uint8_t *)"\0", 1), 0);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &u, 0, k, 5, NULL, 0), 0);
  assert_int_equal(
      lkv_apply_auth_permitted(ts->s, &u, 0, (const uint8_t *)"foo/", 4, (const uint8_t *)"foo0", 4), 0);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &u, 1, k, 5, NULL, 0), LKV_EPERMDENIED);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &u, 0, (const uint8_t *)"bar", 3, NULL, 0),
                   LKV_EPERMDENIED);
  assert_int_equal(lkv_apply_auth_admin(ts->s, &root), 0);
  assert_int_equal(lkv_apply_auth_admin(ts->s, &u), LKV_EPERMDENIED);
  assert_int_equal(lkv_apply_auth_admin(ts->s, &ghost), LKV_EUSERNOTFOUND);
  assert_int_equal(lkv_apply_auth_admin(ts->s, &nobody), LKV_EUSEREMPTY);
  /* a role granted to the user later counts at once; any auth change makes earlier checks old */
  assert_int_equal(grant_perm(ts, "r", AUTHPB__PERMISSION__TYPE__WRITE, "foo/", "foo0"), 0);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &u, 1, k, 5, NULL, 0), LKV_EAUTHOLDREV);
  u.revision = auth_rev(ts, NULL);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &u, 1, k, 5, NULL, 0), 0);
}

static int read_ok(lkvt_store_t *ts, const lkv_apply_auth_t *who, const char *key, const char *end) {
  return lkv_apply_auth_permitted(ts->s, who, 0, (const uint8_t *)key, strlen(key), (const uint8_t *)end,
                                  end ? strlen(end) : 0);
}

/* The permissions a check uses are cached per user and auth revision (apply/auth_cache.c): checked again
 * and again, they give the same answers; each auth change shows at once, also to a write applied in the
 * same batch as the change; a range is checked against the union of the user's roles, as etcd's range
 * permission cache merges them. */
static void test_permission_cache(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  assert_int_equal(user_add(ts, "root", "x", 1), 0);
  assert_int_equal(role_add(ts, "root"), 0);
  assert_int_equal(grant_role(ts, "root", "root"), 0);
  assert_int_equal(user_add(ts, "u", "x", 1), 0);
  assert_int_equal(role_add(ts, "r1"), 0);
  assert_int_equal(role_add(ts, "r2"), 0);
  assert_int_equal(grant_role(ts, "u", "r1"), 0);
  assert_int_equal(grant_role(ts, "u", "r2"), 0);
  assert_int_equal(grant_perm(ts, "r1", AUTHPB__PERMISSION__TYPE__READWRITE, "a", "c"), 0);
  assert_int_equal(grant_perm(ts, "r2", AUTHPB__PERMISSION__TYPE__READ, "c", "e"), 0);
  Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), 0);
  lkv_apply_auth_t u = {.user = "u", .revision = auth_rev(ts, NULL)};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(read_ok(ts, &u, "a", "e"), 0); /* r1 and r2 together cover it */
    assert_int_equal(read_ok(ts, &u, "a", "f"), LKV_EPERMDENIED);
    assert_int_equal(read_ok(ts, &u, "d", NULL), 0);
    assert_int_equal(lkv_apply_auth_permitted(ts->s, &u, 1, (const uint8_t *)"d", 1, NULL, 0),
                     LKV_EPERMDENIED);
  }
  /* one batch: r1 loses its permission, then u's put in it is checked at the new revision */
  Etcdserverpb__AuthRoleRevokePermissionRequest rv = ETCDSERVERPB__AUTH_ROLE_REVOKE_PERMISSION_REQUEST__INIT;
  rv.role = "r1";
  rv.key = lkvt_bin("a");
  rv.range_end = lkvt_end("c");
  Etcdserverpb__PutRequest put = lkvt_put_req("b", "v");
  lkv_apply_auth_t later = {.user = "u", .revision = u.revision + 1};
  lkv_apply_req_t batch[2] = {
      {.kind = LKV_OP_AUTH_ROLE_REVOKE_PERMISSION, .msg = &rv.base, .index = 2, .auth = as_root},
      {.kind = LKV_OP_PUT, .msg = &put.base, .index = 3, .auth = later}};
  assert_int_equal(lkv_apply_batch(ts->s, &lkvt_id, batch, 2), 0);
  assert_int_equal(batch[0].err, 0);
  assert_int_equal(batch[1].err, LKV_EPERMDENIED);
  free(batch[0].resp);
  assert_int_equal(auth_rev(ts, NULL), later.revision);
  assert_int_equal(read_ok(ts, &u, "d", NULL), LKV_EAUTHOLDREV);
  assert_int_equal(read_ok(ts, &later, "a", "e"), LKV_EPERMDENIED);
  assert_int_equal(read_ok(ts, &later, "c", "e"), 0);
  assert_int_equal(revoke_role(ts, "u", "r2"), 0);
  later.revision = auth_rev(ts, NULL);
  assert_int_equal(read_ok(ts, &later, "c", "e"), LKV_EPERMDENIED);
  assert_int_equal(grant_role(ts, "u", "root"), 0); /* root's role may do anything */
  later.revision = auth_rev(ts, NULL);
  assert_int_equal(lkv_apply_auth_permitted(ts->s, &later, 1, (const uint8_t *)"z", 1, NULL, 0), 0);
  assert_int_equal(lkv_apply_auth_admin(ts->s, &later), 0);
}

/* The first half of Authenticate's CheckPassword: the stored hash, or etcd's refusals. */
static void test_password_lookup(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char *hash = NULL;
  uint64_t rev = 0;
  assert_int_equal(user_add(ts, "root", "$2a$10$roothash", 0), 0);
  assert_int_equal(lkv_apply_auth_password(ts->s, "root", &hash, &rev), LKV_EAUTHNOTENABLED);
  assert_int_equal(role_add(ts, "root"), 0);
  assert_int_equal(grant_role(ts, "root", "root"), 0);
  assert_int_equal(user_add(ts, "np", "", 1), 0);
  Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
  assert_int_equal(op(ts, LKV_OP_AUTH_ENABLE, &en, NULL, NULL), 0);
  assert_int_equal(lkv_apply_auth_password(ts->s, "root", &hash, &rev), 0);
  assert_string_equal(hash, "$2a$10$roothash");
  assert_int_equal(rev, auth_rev(ts, NULL));
  free(hash);
  assert_int_equal(lkv_apply_auth_password(ts->s, "ghost", &hash, &rev), LKV_EAUTHFAILED);
  assert_int_equal(lkv_apply_auth_password(ts->s, "np", &hash, &rev), LKV_ENOPASSWORDUSER);
}

/* Every auth kind has its request descriptor (the Raft entry codec decodes by it); others have none. */
static void test_descriptors(void **state) {
  (void)state;
  assert_ptr_equal(lkv_apply_auth_descriptor(LKV_OP_AUTH_ENABLE),
                   &etcdserverpb__auth_enable_request__descriptor);
  assert_ptr_equal(lkv_apply_auth_descriptor(LKV_OP_AUTH_ROLE_REVOKE_PERMISSION),
                   &etcdserverpb__auth_role_revoke_permission_request__descriptor);
  assert_ptr_equal(lkv_apply_auth_descriptor(LKV_OP_AUTH_AUTHENTICATE),
                   &etcdserverpb__authenticate_request__descriptor);
  for (int k = LKV_OP_AUTH_ENABLE; k <= LKV_OP_AUTH_AUTHENTICATE; k++)
    assert_non_null(lkv_apply_auth_descriptor((lkv_op_kind_t)k));
  assert_null(lkv_apply_auth_descriptor(LKV_OP_PUT));
  assert_null(lkv_apply_auth_descriptor((lkv_op_kind_t)(LKV_OP_AUTH_AUTHENTICATE + 1)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_users),           LKVT_TEST(test_password_record),  LKVT_TEST(test_permissions),
      LKVT_TEST(test_enable_and_root), LKVT_TEST(test_descriptors),      LKVT_TEST(test_permitted),
      LKVT_TEST(test_password_lookup), LKVT_TEST(test_permission_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
