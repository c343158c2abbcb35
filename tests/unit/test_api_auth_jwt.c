/* Unit tests for etcd's JWT tokens (api/auth_jwt.c): keys made here with OpenSSL, every method family
 * signed and verified, expiry, tampering, another method's or key's tokens, a verifying-only provider,
 * HS* secrets (a token made by Python's hmac verified), and the options refused. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* clang-format off: cmocka needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "api/auth_jwt.h"
#include "common/error.h"

static char dir[] = "/tmp/lkv-jwt-XXXXXX";

/* Writes a new key (RSA 2048 or EC on curve) as name.key and name.pub in dir. */
static void make_key(const char *name, const char *curve) {
  EVP_PKEY *k =
      curve ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve) : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  assert_non_null(k);
  char path[256];
  snprintf(path, sizeof(path), "%s/%s.key", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
  fclose(f);
  snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_PUBKEY(f, k), 1);
  fclose(f);
  EVP_PKEY_free(k);
}

static const char *path(const char *name, char *buf) {
  snprintf(buf, 256, "%s/%s", dir, name);
  return buf;
}

static int setup(void **state) {
  (void)state;
  if (!mkdtemp(dir)) return -1;
  make_key("rsa", NULL);
  make_key("rsa2", NULL);
  make_key("ec256", "P-256");
  make_key("ec384", "P-384");
  make_key("ec521", "P-521");
  char p[256];
  FILE *f = fopen(path("secret", p), "w"); /* an HS* secret: the file's bytes, newline included */
  if (!f || fputs("s3cret\n", f) < 0) return -1;
  fclose(f);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  return system(cmd);
}

static lkv_api_jwt_t *provider(const char *method, const char *pub, const char *priv) {
  char a[256], b[256], err[256];
  lkv_api_jwt_t *j = NULL;
  int rc = lkv_api_jwt_new(&j, method, pub ? path(pub, a) : NULL, priv ? path(priv, b) : NULL, 300, err,
                           sizeof(err));
  if (rc) fail_msg("%s: %s", method, err);
  return j;
}

/* A token j signed for user at rev (now 1000), checked to verify to the same (free it). */
static char *round_trip(const lkv_api_jwt_t *j, const char *user, uint64_t rev) {
  char *token = NULL, *got = NULL;
  uint64_t got_rev = 0;
  assert_int_equal(lkv_api_jwt_sign(j, user, rev, 1000, &token), 0);
  assert_int_equal(lkv_api_jwt_verify(j, token, 1000, &got, &got_rev), 0);
  assert_string_equal(got, user);
  assert_int_equal(got_rev, rev);
  free(got);
  return token;
}

/* Every method signs a token that verifies to the same user and revision, until it expires. */
static void test_round_trip(void **state) {
  (void)state;
  static const struct {
    const char *method, *key;
  } cases[] = {{"RS256", "rsa"}, {"RS384", "rsa"},   {"RS512", "rsa"},   {"PS256", "rsa"},  {"PS384", "rsa"},
               {"PS512", "rsa"}, {"ES256", "ec256"}, {"ES384", "ec384"}, {"ES512", "ec521"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char pub[64], priv[64];
    snprintf(pub, sizeof(pub), "%s.pub", cases[i].key);
    snprintf(priv, sizeof(priv), "%s.key", cases[i].key);
    lkv_api_jwt_t *j = provider(cases[i].method, pub, priv);
    char *token = round_trip(j, "al\"ice", 42), *user = NULL;
    uint64_t rev = 0;
    assert_int_equal(lkv_api_jwt_verify(j, token, 1300, &user, &rev), 0); /* exp itself still counts */
    free(user);
    assert_int_equal(lkv_api_jwt_verify(j, token, 1301, &user, &rev), LKV_EINVALIDTOKEN);
    /* a verifying provider (the public key only) takes it, and cannot sign */
    lkv_api_jwt_t *v = provider(cases[i].method, pub, NULL);
    assert_int_equal(lkv_api_jwt_verify(v, token, 1000, &user, &rev), 0);
    free(user);
    char *none = NULL;
    assert_int_equal(lkv_api_jwt_sign(v, "x", 1, 1000, &none), LKV_EPERM);
    lkv_api_jwt_free(v);
    free(token);
    lkv_api_jwt_free(j);
  }
}

/* HS*: the private key file's bytes are the secret (etcd's hmacKey; any file will do): tokens verify with
 * the same secret and method only, and one signed outside (Python's hmac, HS384, secret "s3cret\n")
 * verifies, so the MAC is jwt-go's. */
static void test_hmac(void **state) {
  (void)state;
  static const char *const methods[] = {"HS256", "HS384", "HS512"};
  lkv_api_jwt_t *other = provider("HS256", NULL, "rsa2.key");
  for (size_t i = 0; i < 3; i++) {
    lkv_api_jwt_t *j = provider(methods[i], NULL, "rsa.key");
    char *token = round_trip(j, "alice", 9), *user = NULL;
    uint64_t rev = 0;
    assert_int_equal(lkv_api_jwt_verify(j, token, 1301, &user, &rev), LKV_EINVALIDTOKEN);
    assert_int_equal(lkv_api_jwt_verify(other, token, 1000, &user, &rev), LKV_EINVALIDTOKEN);
    token[strlen(token) - 2] ^= 1; /* a signature byte changed */
    assert_int_equal(lkv_api_jwt_verify(j, token, 1000, &user, &rev), LKV_EINVALIDTOKEN);
    free(token);
    lkv_api_jwt_free(j);
  }
  lkv_api_jwt_free(other);
  static const char python[] =
      "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjIwMDAsInJldmlzaW9uIjo1LCJ1c2VybmFt"
      "ZSI6ImJvYiJ9.X8MDb8bJjVnSeRUkpxMXXgq8D8n0ABosJTGkOC5SAASmEUmkxODt-DEfnRaYMgrm";
  lkv_api_jwt_t *j = provider("HS384", "rsa.pub", "secret"), *j256 = provider("HS256", NULL, "secret");
  char *user = NULL;
  uint64_t rev = 0;
  assert_int_equal(lkv_api_jwt_verify(j, python, 1000, &user, &rev), 0);
  assert_string_equal(user, "bob");
  assert_int_equal(rev, 5);
  free(user);
  assert_int_equal(lkv_api_jwt_verify(j256, python, 1000, &user, &rev), LKV_EINVALIDTOKEN); /* alg differs */
  lkv_api_jwt_free(j);
  lkv_api_jwt_free(j256);
}

/* Tampered claims, another key, another method of the same key, and malformed tokens are refused. */
static void test_refused_tokens(void **state) {
  (void)state;
  lkv_api_jwt_t *j = provider("RS256", "rsa.pub", "rsa.key"),
                *other = provider("RS256", "rsa2.pub", "rsa2.key");
  lkv_api_jwt_t *pss = provider("PS256", "rsa.pub", "rsa.key");
  char *token, *forged, *user;
  uint64_t rev;
  assert_int_equal(lkv_api_jwt_sign(other, "root", 1, 1000, &forged), 0);
  assert_int_equal(lkv_api_jwt_verify(j, forged, 1000, &user, &rev), LKV_EINVALIDTOKEN);
  free(forged);
  assert_int_equal(lkv_api_jwt_sign(pss, "root", 1, 1000, &forged), 0);
  assert_int_equal(lkv_api_jwt_verify(j, forged, 1000, &user, &rev), LKV_EINVALIDTOKEN); /* alg differs */
  free(forged);
  assert_int_equal(lkv_api_jwt_sign(j, "alice", 7, 1000, &token), 0);
  char *dot = strchr(token, '.');
  dot[3] ^= 1; /* a claims byte changed */
  assert_int_equal(lkv_api_jwt_verify(j, token, 1000, &user, &rev), LKV_EINVALIDTOKEN);
  free(token);
  static const char *const bad[] = {"", "a.b", "a.b.c.d", "...", "eyJhbGciOiJSUzI1NiJ9.e30.", "x.y.z"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(lkv_api_jwt_verify(j, bad[i], 1000, &user, &rev), LKV_EINVALIDTOKEN);
  lkv_api_jwt_free(j);
  lkv_api_jwt_free(other);
  lkv_api_jwt_free(pss);
}

/* Options etcd refuses: an unknown method, no key, a key of the wrong kind, keys that do not match, a key
 * file that cannot be read. */
static void test_refused_options(void **state) {
  (void)state;
  char a[256], b[256], err[256];
  lkv_api_jwt_t *j = NULL;
  assert_int_equal(lkv_api_jwt_new(&j, "HS1", path("rsa.pub", a), NULL, 300, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "auth: invalid auth signature method \"HS1\"");
  assert_int_equal(lkv_api_jwt_new(&j, "RS256", NULL, NULL, 300, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "auth: missing key data");
  assert_int_equal(lkv_api_jwt_new(&j, "ES256", path("rsa.pub", a), NULL, 300, err, sizeof(err)), LKV_EINVAL);
  assert_int_equal(
      lkv_api_jwt_new(&j, "RS256", path("rsa.pub", a), path("rsa2.key", b), 300, err, sizeof(err)),
      LKV_EINVAL);
  assert_string_equal(err, "auth: public and private keys don't match");
  assert_int_equal(lkv_api_jwt_new(&j, "RS256", path("nope.pub", a), NULL, 300, err, sizeof(err)),
                   LKV_EINVAL);
  /* HS*: the secret is the private key file, a public key alone is none (etcd's "hmac pub key") */
  assert_int_equal(lkv_api_jwt_new(&j, "HS256", NULL, NULL, 300, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "auth: missing key data");
  assert_int_equal(lkv_api_jwt_new(&j, "HS256", path("rsa.pub", a), NULL, 300, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "auth: missing key data");
  assert_int_equal(lkv_api_jwt_new(&j, "HS256", NULL, path("nope.key", b), 300, err, sizeof(err)),
                   LKV_EINVAL);
  assert_int_equal(
      lkv_api_jwt_new(&j, "HS512", path("nope.pub", a), path("rsa.key", b), 300, err, sizeof(err)),
      LKV_EINVAL);
  assert_null(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_hmac),
      cmocka_unit_test(test_refused_tokens),
      cmocka_unit_test(test_refused_options),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
