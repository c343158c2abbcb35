/* Tests for the pure parts of the TLS module: Go cipher-suite names to OpenSSL's, the clientAuth usage
 * check, host name matching, --auto-tls's certificate, and contexts refusing bad files. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "transport/tls.h"
#include "transport/tls_internal.h"

static void test_cipher_names(void **state) {
  (void)state;
  char out[512], err[128];
  assert_int_equal(lkv_tls_cipher_list("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_256_CBC_SHA",
                                       out, sizeof(out), err, sizeof(err)),
                   2);
  assert_string_equal(out, "ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA");
  /* etcd's two aliases, and Go's full names */
  assert_int_equal(lkv_tls_cipher_list("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,"
                                       "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                                       out, sizeof(out), err, sizeof(err)),
                   2);
  assert_string_equal(out, "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  /* TLS 1.3 names are accepted and not configured (as in Go) */
  assert_int_equal(lkv_tls_cipher_list("TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256", out,
                                       sizeof(out), err, sizeof(err)),
                   0);
  assert_string_equal(out, "");
}

static void test_cipher_refusals(void **state) {
  (void)state;
  char out[512], err[128];
  assert_int_equal(
      lkv_tls_cipher_list("TLS_RSA_WITH_AES_128_CBC_SHA,TLS_NOPE", out, sizeof(out), err, sizeof(err)),
      LKV_EINVAL);
  assert_string_equal(err, "unexpected TLS cipher suite \"TLS_NOPE\"");
  /* Go's names are exact: no spaces, no lower case, no empty item */
  assert_int_equal(lkv_tls_cipher_list("TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_AES_256_CBC_SHA", out,
                                       sizeof(out), err, sizeof(err)),
                   LKV_EINVAL);
  assert_string_equal(err, "unexpected TLS cipher suite \" TLS_RSA_WITH_AES_256_CBC_SHA\"");
  assert_int_equal(lkv_tls_cipher_list("tls_rsa_with_aes_128_cbc_sha", out, sizeof(out), err, sizeof(err)),
                   LKV_EINVAL);
  assert_int_equal(lkv_tls_cipher_list("TLS_RSA_WITH_AES_128_CBC_SHA,", out, sizeof(out), err, sizeof(err)),
                   LKV_EINVAL);
  assert_string_equal(err, "unexpected TLS cipher suite \"\"");
  assert_int_equal(lkv_tls_cipher_list("TLS_RSA_WITH_AES_128_CBC_SHA", out, 5, err, sizeof(err)), LKV_ENOMEM);
}

/* A self-signed certificate with the given extensions (NID, value) pairs, ended by 0. */
static X509 *cert_with(int nid, const char *value, ...) {
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  assert_non_null(key);
  assert_non_null(x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             (const unsigned char *)"foo.example", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  va_list ap;
  va_start(ap, value);
  for (; nid != 0; nid = va_arg(ap, int), value = nid ? va_arg(ap, const char *) : NULL) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  va_end(ap);
  assert_true(X509_sign(x, key, EVP_sha256()) > 0);
  EVP_PKEY_free(key);
  return x;
}

static void test_client_auth_usage(void **state) {
  (void)state;
  struct {
    const char *eku; /* NULL: no extension */
    int allowed;
  } cases[] = {
      {NULL, 1},
      {"clientAuth", 1},
      {"serverAuth,clientAuth", 1},
      {"anyExtendedKeyUsage", 1},
      {"serverAuth", 0},
      {"codeSigning,emailProtection", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    X509 *x = cases[i].eku ? cert_with(NID_ext_key_usage, cases[i].eku, 0) : cert_with(0, NULL);
    if (lkv__tls_eku_allows_client(x) != cases[i].allowed) fail_msg("EKU %s", cases[i].eku);
    X509_free(x);
  }
}

static void test_host_matching(void **state) {
  (void)state;
  X509 *x = cert_with(NID_subject_alt_name, "DNS:*.example.com,DNS:node1,IP:10.0.0.1,IP:::1", 0);
  assert_true(lkv__tls_host_matches(x, "a.example.com"));
  assert_true(lkv__tls_host_matches(x, "NODE1"));
  assert_true(lkv__tls_host_matches(x, "10.0.0.1"));
  assert_true(lkv__tls_host_matches(x, "::1"));
  assert_true(lkv__tls_host_matches(x, "[::1]"));
  assert_false(lkv__tls_host_matches(x, "example.com"));
  assert_false(lkv__tls_host_matches(x, "a.b.example.com"));
  assert_false(lkv__tls_host_matches(x, "10.0.0.2"));
  assert_false(lkv__tls_host_matches(x, "node2"));
  X509_free(x);
  /* the subject's CN is never a host name (Go since 1.15) */
  x = cert_with(0, NULL);
  assert_false(lkv__tls_host_matches(x, "foo.example"));
  X509_free(x);
}

/* etcd's SAN check of a member's client certificate against the address it connects from. */
static void test_san_names_the_remote_address(void **state) {
  (void)state;
  char why[LKV__TLS_WHY] = "";
  X509 *x = cert_with(NID_subject_alt_name, "IP:10.0.0.1,IP:::1", 0);
  assert_true(lkv__tls_san_names(x, "10.0.0.1", why));
  assert_true(lkv__tls_san_names(x, "::1", why));
  assert_false(lkv__tls_san_names(x, "10.0.0.2", why));
  assert_string_equal(why, "the certificate's SANs do not name 10.0.0.2, the address it connects from");
  X509_free(x);
  x = cert_with(0, NULL); /* no SANs: nothing to check, as etcd */
  assert_true(lkv__tls_san_names(x, "10.9.9.9", why));
  X509_free(x);
  /* a DNS SAN counts when it resolves to the address (localhost: /etc/hosts, no DNS server needed) */
  x = cert_with(NID_subject_alt_name, "DNS:localhost", 0);
  assert_true(lkv__tls_san_names(x, "127.0.0.1", why));
  assert_false(lkv__tls_san_names(x, "10.9.9.9", why));
  X509_free(x);
  x = cert_with(NID_subject_alt_name, "IP:10.0.0.1,DNS:localhost", 0); /* either kind may name it */
  assert_true(lkv__tls_san_names(x, "127.0.0.1", why));
  X509_free(x);
}

static X509 *read_cert(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  assert_non_null(x);
  return x;
}

static void test_self_cert(void **state) {
  (void)state;
  char dir[] = "/tmp/lkv-tls-XXXXXX", sub[64], cert[256], key[256], err[256];
  assert_non_null(mkdtemp(dir));
  snprintf(sub, sizeof(sub), "%s/fixtures/client", dir);
  const char *hosts[] = {"127.0.0.1", "node1.example"};
  assert_int_equal(lkv_tls_self_cert(sub, hosts, 2, cert, key, sizeof(cert), err, sizeof(err)), 0);
  struct stat st;
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  X509 *x = read_cert(cert);
  assert_true(lkv__tls_host_matches(x, "127.0.0.1"));
  assert_true(lkv__tls_host_matches(x, "node1.example"));
  assert_false(lkv__tls_eku_allows_client(x)); /* serverAuth only, as etcd's */
  char o[16];
  assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, o, sizeof(o)),
                   4);
  assert_string_equal(o, "etcd");
  EVP_PKEY *pub = X509_get0_pubkey(x);
  assert_int_equal(EVP_PKEY_get_bits(pub), 521);
  assert_true(X509_get_pathlen(x) < 0 && !X509_check_ca(x));
  /* a second start keeps the files as they are */
  assert_int_equal(lkv_tls_self_cert(sub, hosts, 2, cert, key, sizeof(cert), err, sizeof(err)), 0);
  X509 *again = read_cert(cert);
  assert_int_equal(X509_cmp(x, again), 0);
  X509_free(again);
  X509_free(x);

  /* a context loads them; a key of another certificate is refused */
  lkv_tls_t *tls = NULL;
  lkv_tls_options_t o1 = {.cert_file = cert, .key_file = key};
  assert_int_equal(lkv_tls_new(&tls, &o1, err, sizeof(err)), 0);
  lkv_tls_free(tls);
  char sub2[80], cert2[256], key2[256];
  snprintf(sub2, sizeof(sub2), "%s/other", dir);
  assert_int_equal(lkv_tls_self_cert(sub2, hosts, 1, cert2, key2, sizeof(cert2), err, sizeof(err)), 0);
  lkv_tls_options_t o2 = {.cert_file = cert, .key_file = key2};
  assert_int_equal(lkv_tls_new(&tls, &o2, err, sizeof(err)), LKV_EINVAL);
  assert_non_null(strstr(err, "cannot read key file"));
  assert_non_null(strstr(err, "key values mismatch"));
  lkv_tls_options_t o3 = {.cert_file = cert, .key_file = key, .trusted_ca_file = "/nonexistent/ca.pem"};
  assert_int_equal(lkv_tls_new(&tls, &o3, err, sizeof(err)), LKV_EINVAL);
  assert_non_null(strstr(err, "cannot read trusted CA file /nonexistent/ca.pem"));
  lkv_tls_options_t o4 = {.cert_file = cert, .key_file = key, .cipher_suites = "TLS_BOGUS"};
  assert_int_equal(lkv_tls_new(&tls, &o4, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "unexpected TLS cipher suite \"TLS_BOGUS\"");
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cipher_names),
      cmocka_unit_test(test_cipher_refusals),
      cmocka_unit_test(test_client_auth_usage),
      cmocka_unit_test(test_host_matching),
      cmocka_unit_test(test_san_names_the_remote_address),
      cmocka_unit_test(test_self_cert),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
