/* Unit tests for the simple token table (api/auth_token.c): etcd's token form, TTL renewed on use,
 * expiry, per-user and global invalidation, duplicate and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "api/auth_token.h"
#include "common/error.h"

/* The user token names at now_ms, or NULL when it is invalid. The caller frees the result. */
static char *user_of(lkv_api_tokens_t *t, const char *token, uint64_t now_ms) {
  char *u = NULL;
  int rc = lkv_api_tokens_user(t, token, now_ms, &u);
  if (rc) {
    assert_int_equal(rc, LKV_EINVALIDTOKEN);
    return NULL;
  }
  return u;
}

static int valid(lkv_api_tokens_t *t, const char *token, uint64_t now_ms) {
  char *u = user_of(t, token, now_ms);
  free(u);
  return u != NULL;
}

static void test_prefix(void **state) {
  (void)state;
  char a[LKV_API_TOKEN_PREFIX_LEN + 1], b[LKV_API_TOKEN_PREFIX_LEN + 1];
  assert_int_equal(lkv_api_tokens_prefix(a), 0);
  assert_int_equal(lkv_api_tokens_prefix(b), 0);
  assert_int_equal(strlen(a), LKV_API_TOKEN_PREFIX_LEN);
  for (size_t i = 0; i < LKV_API_TOKEN_PREFIX_LEN; i++)
    assert_true((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z'));
  assert_string_not_equal(a, b); /* 52^16 possibilities */
}

static void test_assign_and_ttl(void **state) {
  (void)state;
  lkv_api_tokens_t *t;
  assert_int_equal(lkv_api_tokens_new(&t, 1000), 0);
  char tok[64], tok2[64];
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefghABCDEFGH", 42, "alice", 100, tok, sizeof(tok)), 0);
  assert_string_equal(tok, "abcdefghABCDEFGH.42");
  char *u = user_of(t, tok, 500);
  assert_non_null(u);
  assert_string_equal(u, "alice");
  free(u);
  assert_true(valid(t, tok, 1499)); /* used at 500: alive until 1500, renewed again to 2499 */
  assert_true(valid(t, tok, 2498));
  assert_false(valid(t, tok, 3498 + 1)); /* unused for a whole TTL: gone */
  assert_false(valid(t, tok, 0));        /* and forgotten, whatever the clock says later */
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefghABCDEFGH", 43, "bob", 5000, tok2, sizeof(tok2)), 0);
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefghABCDEFGH", 43, "bob", 5000, tok, sizeof(tok)),
                   LKV_EEXIST);
  assert_false(valid(t, "abcdefghABCDEFGH", 5000));
  assert_false(valid(t, "", 5000));
  lkv_api_tokens_free(t);
}

static void test_default_ttl(void **state) {
  (void)state;
  lkv_api_tokens_t *t;
  assert_int_equal(lkv_api_tokens_new(&t, 0), 0);
  char tok[64];
  assert_int_equal(lkv_api_tokens_assign(t, "ABCDEFGHIJKLMNOP", 7, "u", 0, tok, sizeof(tok)), 0);
  assert_true(valid(t, tok, 299999)); /* etcd's 300 s, renewed to 599999 */
  assert_false(valid(t, tok, 599999));
  lkv_api_tokens_free(t);
}

static void test_invalidate(void **state) {
  (void)state;
  lkv_api_tokens_t *t;
  assert_int_equal(lkv_api_tokens_new(&t, 1000), 0);
  char a1[64], a2[64], b1[64];
  assert_int_equal(lkv_api_tokens_assign(t, "aaaaaaaaaaaaaaaa", 1, "alice", 0, a1, sizeof(a1)), 0);
  assert_int_equal(lkv_api_tokens_assign(t, "aaaaaaaaaaaaaaaa", 2, "alice", 0, a2, sizeof(a2)), 0);
  assert_int_equal(lkv_api_tokens_assign(t, "bbbbbbbbbbbbbbbb", 3, "bob", 0, b1, sizeof(b1)), 0);
  lkv_api_tokens_drop_user(t, "alice");
  assert_false(valid(t, a1, 1));
  assert_false(valid(t, a2, 1));
  assert_true(valid(t, b1, 1));
  lkv_api_tokens_clear(t);
  assert_false(valid(t, b1, 2));
  lkv_api_tokens_free(t);
}

static void test_bad_input(void **state) {
  (void)state;
  lkv_api_tokens_t *t;
  assert_int_equal(lkv_api_tokens_new(&t, 1000), 0);
  char tok[64];
  assert_int_equal(lkv_api_tokens_assign(t, "short", 1, "u", 0, tok, sizeof(tok)), LKV_EINVAL);
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefghABCDEFGHI", 1, "u", 0, tok, sizeof(tok)), LKV_EINVAL);
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefgh.BCDEFGH", 1, "u", 0, tok, sizeof(tok)), LKV_EINVAL);
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefghABCDEFGH", 1, "", 0, tok, sizeof(tok)), LKV_EINVAL);
  assert_int_equal(lkv_api_tokens_assign(t, "abcdefghABCDEFGH", 123, "u", 0, tok, 19), LKV_EINVAL);
  assert_false(valid(t, "abcdefghABCDEFGH.123", 0)); /* nothing was recorded */
  lkv_api_tokens_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prefix),      cmocka_unit_test(test_assign_and_ttl),
      cmocka_unit_test(test_default_ttl), cmocka_unit_test(test_invalidate),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
