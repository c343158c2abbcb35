/* Unit tests for causal mode's merge of concurrent auth records (lkv_apply_auth_merge): roles and key
 * permissions kept only when every version has them, the winner's other fields, deletions, bad records. */
#include <stdlib.h>

#include "apply/auth_internal.h"
#include "apply_testutil.h"

#define R AUTHPB__PERMISSION__TYPE__READ
#define RW AUTHPB__PERMISSION__TYPE__READWRITE

/* m packed into a malloc'd version. */
static lkv_apply_auth_version_t packed(const ProtobufCMessage *m) {
  size_t len = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(len);
  assert_non_null(b);
  protobuf_c_message_pack(m, b);
  return (lkv_apply_auth_version_t){.val = b, .len = len};
}

/* A packed user with a password hash and roles (NULL-terminated). */
static lkv_apply_auth_version_t user(const char *pw, const char *const *roles) {
  Authpb__User u = AUTHPB__USER__INIT;
  char *r[8];
  u.name = lkvt_bin("u");
  u.password = lkvt_bin(pw);
  while (roles[u.n_roles]) r[u.n_roles] = (char *)roles[u.n_roles], u.n_roles++;
  u.roles = r;
  return packed(&u.base);
}

/* A packed role whose permissions are (type, key) pairs with a prefix end "key0" ... (n of them). */
static lkv_apply_auth_version_t role(size_t n, const int *types, const char *const *keys) {
  Authpb__Role r = AUTHPB__ROLE__INIT;
  Authpb__Permission p[4], *pp[4];
  r.name = lkvt_bin("r");
  for (size_t i = 0; i < n; i++) {
    authpb__permission__init(&p[i]);
    p[i].permtype = types[i];
    p[i].key = lkvt_bin(keys[i]);
    pp[i] = &p[i];
  }
  r.n_keypermission = n;
  r.keypermission = pp;
  return packed(&r.base);
}

static void release(lkv_apply_auth_version_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) free((void *)v[i].val);
}

static void test_user_roles_intersect(void **state) {
  (void)state;
  lkv_apply_auth_version_t v[3] = {user("winner", (const char *[]){"a", "b", "c", NULL}),
                                   user("x", (const char *[]){"b", "c", "d", NULL}),
                                   user("y", (const char *[]){"c", "b", NULL})};
  uint8_t *out;
  size_t len;
  assert_int_equal(lkv_apply_auth_merge(LKV_MVCC_AUTH_USER, v, 3, &out, &len), 0);
  Authpb__User *u = authpb__user__unpack(NULL, len, out);
  assert_non_null(u);
  assert_int_equal(u->n_roles, 2); /* a and d are not in every version */
  assert_string_equal(u->roles[0], "b");
  assert_string_equal(u->roles[1], "c");
  assert_int_equal(u->password.len, 6); /* the winner's hash */
  assert_memory_equal(u->password.data, "winner", 6);
  authpb__user__free_unpacked(u, NULL);
  free(out);
  /* one version: itself */
  assert_int_equal(lkv_apply_auth_merge(LKV_MVCC_AUTH_USER, v + 1, 1, &out, &len), 0);
  assert_int_equal(len, v[1].len);
  assert_memory_equal(out, v[1].val, len);
  free(out);
  release(v, 3);
}

static void test_role_permissions_intersect(void **state) {
  (void)state;
  lkv_apply_auth_version_t v[2] = {role(3, (const int[]){RW, R, RW}, (const char *[]){"/a/", "/b/", "/p/"}),
                                   role(3, (const int[]){RW, RW, RW}, (const char *[]){"/a/", "/b/", "/q/"})};
  uint8_t *out;
  size_t len;
  assert_int_equal(lkv_apply_auth_merge(LKV_MVCC_AUTH_ROLE, v, 2, &out, &len), 0);
  Authpb__Role *r = authpb__role__unpack(NULL, len, out);
  assert_non_null(r);
  /* only /a/ readwrite is in both: /b/ differs in type, /p/ and /q/ are each in one */
  assert_int_equal(r->n_keypermission, 1);
  assert_int_equal(r->keypermission[0]->permtype, RW);
  assert_memory_equal(r->keypermission[0]->key.data, "/a/", 3);
  authpb__role__free_unpacked(r, NULL);
  free(out);
  release(v, 2);
}

static void test_deletion_and_bad_records(void **state) {
  (void)state;
  lkv_apply_auth_version_t v[2] = {user("h", (const char *[]){"a", NULL}), {.tombstone = 1}};
  uint8_t *out = (uint8_t *)"x";
  size_t len = 1;
  assert_int_equal(lkv_apply_auth_merge(LKV_MVCC_AUTH_USER, v, 2, &out, &len), 0);
  assert_null(out); /* a concurrent deletion wins, winner or not */
  assert_int_equal(len, 0);
  lkv_apply_auth_version_t bad[2] = {v[0], {.val = (const uint8_t *)"\xff\xff\xff", .len = 3}};
  assert_int_equal(lkv_apply_auth_merge(LKV_MVCC_AUTH_USER, bad, 2, &out, &len), LKV_ECORRUPT);
  assert_null(out);
  assert_int_equal(lkv_apply_auth_merge((lkv_mvcc_auth_kind_t)9, v, 1, &out, &len), LKV_EINVAL);
  release(v, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_user_roles_intersect),
      cmocka_unit_test(test_role_permissions_intersect),
      cmocka_unit_test(test_deletion_and_bad_records),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
