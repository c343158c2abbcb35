/* Unit tests for Authenticate's bcrypt comparison (lkv__auth_bcrypt_check): a published "$2a$" vector,
 * a wrong password, a hash libxcrypt made at etcd's default cost, and hashes bcrypt cannot read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include <crypt.h>

#include "api/auth.h"
#include "common/error.h"

/* crypt_blowfish's published test vector for the password "U*U" at cost 5. */
#define VECTOR "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

static void test_vector(void **state) {
  (void)state;
  assert_int_equal(lkv__auth_bcrypt_check("U*U", VECTOR), 0);
  assert_int_equal(lkv__auth_bcrypt_check("U*V", VECTOR), LKV_EAUTHFAILED);
  assert_int_equal(lkv__auth_bcrypt_check("", VECTOR), LKV_EAUTHFAILED);
}

static void test_fresh_hash(void **state) {
  (void)state;
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  assert_non_null(crypt_gensalt_rn("$2a$", 10, NULL, 0, setting, sizeof(setting)));
  struct crypt_data *cd = calloc(1, sizeof(*cd));
  assert_non_null(cd);
  char *hash = strdup(crypt_r("s3cret", setting, cd));
  free(cd);
  assert_int_equal(strncmp(hash, "$2a$10$", 7), 0);
  assert_int_equal(lkv__auth_bcrypt_check("s3cret", hash), 0);
  assert_int_equal(lkv__auth_bcrypt_check("s3creT", hash), LKV_EAUTHFAILED);
  free(hash);
}

static void test_unreadable_hash(void **state) {
  (void)state;
  assert_int_equal(lkv__auth_bcrypt_check("x", ""), LKV_EAUTHFAILED);
  assert_int_equal(lkv__auth_bcrypt_check("x", "*0"), LKV_EAUTHFAILED);
  assert_int_equal(lkv__auth_bcrypt_check("U*U", "$2a$05$CCCC"), LKV_EAUTHFAILED); /* truncated */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vector),
      cmocka_unit_test(test_fresh_hash),
      cmocka_unit_test(test_unreadable_hash),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
