/* Unit tests for etcd's range permission logic (lkv__auth_perms_merge, lkv__auth_perms_cover): keys,
 * ranges, prefixes and from-key permissions, READ/WRITE/READWRITE, unions of several permissions, gaps. */
#include "apply/auth_internal.h"
#include "apply_testutil.h"

#define R AUTHPB__PERMISSION__TYPE__READ
#define W AUTHPB__PERMISSION__TYPE__WRITE
#define RW AUTHPB__PERMISSION__TYPE__READWRITE

/* A role's permissions, end as lkvt_end: NULL a single key, "" from the key on. */
typedef struct perms_s {
  Authpb__Permission p[4];
  Authpb__Permission *v[4];
  size_t n;
} perms_t;

static void perm(perms_t *ps, int type, const char *key, const char *end) {
  Authpb__Permission *p = &ps->p[ps->n];
  authpb__permission__init(p);
  p->permtype = type;
  p->key = lkvt_bin(key);
  p->range_end = lkvt_end(end);
  ps->v[ps->n++] = p;
}

/* Whether ps grants write (1) or read (0) on key, or on [key, end) (end as lkvt_end). */
static int covers(const perms_t *ps, int write, const char *key, const char *end) {
  ProtobufCBinaryData e = lkvt_end(end);
  Authpb__Role role = AUTHPB__ROLE__INIT, *roles[1] = {&role};
  role.keypermission = (Authpb__Permission **)ps->v;
  role.n_keypermission = ps->n;
  lkv__auth_perms_t merged;
  assert_int_equal(lkv__auth_perms_merge(roles, 1, &merged), 0);
  int covered = lkv__auth_perms_cover(&merged, write, (const uint8_t *)key, strlen(key), e.data, e.len);
  lkv__auth_perms_free(&merged);
  assert_true(covered == 0 || covered == 1);
  return covered;
}

static void test_single_key(void **state) {
  (void)state;
  perms_t ps = {0};
  perm(&ps, R, "a", NULL);
  assert_true(covers(&ps, 0, "a", NULL));
  assert_false(covers(&ps, 1, "a", NULL)); /* READ grants no write */
  assert_false(covers(&ps, 0, "ab", NULL));
  assert_false(covers(&ps, 0, "", NULL));
  assert_false(covers(&ps, 0, "a", "a\x01")); /* holds "a\0" too, which a key permission does not */
  assert_false(covers(&ps, 0, "a", "b"));
  perms_t none = {0};
  assert_false(covers(&none, 0, "a", NULL));
  assert_false(covers(&none, 0, "a", ""));
}

static void test_prefix_and_range(void **state) {
  (void)state;
  perms_t ps = {0};
  perm(&ps, RW, "foo", "fop"); /* etcdctl's --prefix foo */
  perm(&ps, W, "k1", "k5");
  assert_true(covers(&ps, 0, "foo", NULL));
  assert_true(covers(&ps, 1, "foo/bar", NULL));
  assert_true(covers(&ps, 0, "foo", "fop"));
  assert_true(covers(&ps, 0, "foo/a", "foo/b"));
  assert_false(covers(&ps, 0, "foo", "foz")); /* reaches past the prefix */
  assert_false(covers(&ps, 0, "fo", "fop"));  /* starts before it */
  assert_false(covers(&ps, 0, "fop", NULL));  /* the end is excluded */
  assert_true(covers(&ps, 1, "k1", "k5"));
  assert_true(covers(&ps, 1, "k4", NULL));
  assert_false(covers(&ps, 0, "k4", NULL)); /* WRITE grants no read */
  assert_false(covers(&ps, 1, "k5", NULL));
  assert_false(covers(&ps, 1, "foo", "k5")); /* spans the gap between the two */
}

static void test_union(void **state) {
  (void)state;
  perms_t ps = {0};
  perm(&ps, R, "c", "f"); /* not in key order: the union does not depend on it */
  perm(&ps, RW, "a", "d");
  perm(&ps, R, "f", "h"); /* touching: [c,f) and [f,h) leave no gap */
  assert_true(covers(&ps, 0, "a", "h"));
  assert_true(covers(&ps, 0, "b", "g"));
  assert_false(covers(&ps, 0, "a", "i"));
  assert_false(covers(&ps, 1, "a", "e")); /* only [a,d) is writable */
  assert_true(covers(&ps, 1, "a", "d"));
  perms_t gap = {0};
  perm(&gap, R, "a", "c");
  perm(&gap, R, "d", "e");
  assert_false(covers(&gap, 0, "b", "e"));
  assert_true(covers(&gap, 0, "d", "e"));
  assert_false(covers(&gap, 0, "c", NULL));
}

static void test_from_key(void **state) {
  (void)state;
  perms_t ps = {0};
  perm(&ps, R, "m", ""); /* every key from "m" on */
  assert_true(covers(&ps, 0, "m", NULL));
  assert_true(covers(&ps, 0, "zzz", NULL));
  assert_true(covers(&ps, 0, "n", ""));
  assert_true(covers(&ps, 0, "m", "q"));
  assert_false(covers(&ps, 0, "a", ""));
  assert_false(covers(&ps, 0, "l", NULL));
  assert_false(covers(&ps, 1, "n", NULL));
  perms_t bounded = {0};
  perm(&bounded, RW, "x", "y");
  assert_false(covers(&bounded, 0, "x", "")); /* a bounded permission never covers "from x on" */
  perms_t all = {0};
  perm(&all, RW, "\x01", ""); /* as etcdctl's "every key" (key "\0", which these helpers cannot spell) */
  assert_true(covers(&all, 1, "\x01", ""));
  assert_true(covers(&all, 0, "any", NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_key),
      cmocka_unit_test(test_prefix_and_range),
      cmocka_unit_test(test_union),
      cmocka_unit_test(test_from_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
