/* etcd's --auto-tls: a self-signed certificate made at start-up, as etcd 3.4's transport.SelfCert makes it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "transport/tls_internal.h"

#define YEAR_SECONDS (365L * 24 * 3600)

/* One extension from OpenSSL's configuration syntax ("critical,digitalSignature"). */
static int add_ext(X509 *x, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (ext == NULL) return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? 0 : -1;
}

/* "IP:127.0.0.1,DNS:node1": each host as an IP SAN when it is an address, else as a DNS SAN. */
static char *san_list(const char *const *hosts, size_t n) {
  size_t cap = 1;
  for (size_t i = 0; i < n; i++) cap += strlen(hosts[i]) + 5;
  char *s = malloc(cap);
  if (s == NULL) return NULL;
  size_t used = 0;
  s[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    unsigned char addr[16];
    int ip = inet_pton(AF_INET, hosts[i], addr) == 1 || inet_pton(AF_INET6, hosts[i], addr) == 1;
    used += (size_t)snprintf(s + used, cap - used, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS", hosts[i]);
  }
  return s;
}

/* The certificate for key, valid for a year from now. */
static X509 *make_cert(EVP_PKEY *key, const char *const *hosts, size_t n) {
  X509 *x = X509_new();
  unsigned char serial[16];
  BIGNUM *bn = NULL;
  char *sans = NULL;
  if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1) goto err;
  serial[0] &= 0x7f; /* a positive 128-bit number, as etcd draws below 2^128 */
  bn = BN_bin2bn(serial, sizeof(serial), NULL);
  if (bn == NULL || X509_set_version(x, 2) != 1 || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
    goto err;
  X509_NAME *name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"etcd", -1, -1, 0) != 1 ||
      X509_set_issuer_name(x, name) != 1 || X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
      X509_gmtime_adj(X509_getm_notAfter(x), YEAR_SECONDS) == NULL || X509_set_pubkey(x, key) != 1)
    goto err;
  if (add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") != 0 ||
      add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
      add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0)
    goto err;
  if (n > 0 && ((sans = san_list(hosts, n)) == NULL || add_ext(x, NID_subject_alt_name, sans) != 0)) goto err;
  if (X509_sign(x, key, EVP_sha512()) == 0) goto err;
  free(sans);
  BN_free(bn);
  return x;

err:
  free(sans);
  BN_free(bn);
  X509_free(x);
  return NULL;
}

/* Writes the key ("EC PRIVATE KEY", as etcd) with mode 0600 and the certificate. Returns 0 or -1. */
static int write_files(const char *cert_path, const char *key_path, EVP_PKEY *key, X509 *x) {
  int fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  BIO *b = BIO_new_fd(fd, BIO_NOCLOSE);
  int ok = b != NULL && PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL, NULL) == 1;
  BIO_free(b);
  ok &= close(fd) == 0;
  FILE *f = fopen(cert_path, "w");
  if (!ok || f == NULL) {
    if (f) fclose(f);
    return -1;
  }
  ok = PEM_write_X509(f, x) == 1;
  ok &= fclose(f) == 0;
  return ok ? 0 : -1;
}

int lkv_tls_self_cert(const char *dir, const char *const *hosts, size_t n, char *cert_path, char *key_path,
                      size_t path_len, char *err, size_t errlen) {
  int a = snprintf(cert_path, path_len, "%s/cert.pem", dir);
  int b = snprintf(key_path, path_len, "%s/key.pem", dir);
  if (a < 0 || b < 0 || (size_t)a >= path_len || (size_t)b >= path_len)
    return lkv__tls_fail(err, errlen, "--auto-tls: path too long: %s", dir);
  int rc = lkv_fs_mkdirs(dir, 0700);
  if (rc != 0) return lkv__tls_fail(err, errlen, "--auto-tls: cannot create %s: %s", dir, lkv_strerror(rc));
  struct stat st;
  if (stat(cert_path, &st) == 0 && stat(key_path, &st) == 0) return 0; /* made by an earlier start */

  EVP_PKEY *key = EVP_EC_gen("P-521");
  X509 *x = key ? make_cert(key, hosts, n) : NULL;
  rc = x == NULL ? lkv__tls_fail(err, errlen, "--auto-tls: cannot make a certificate: %s", lkv__tls_reason())
       : write_files(cert_path, key_path, key, x) != 0
           ? lkv__tls_fail(err, errlen, "--auto-tls: cannot write %s: %s", dir, strerror(errno))
           : 0;
  X509_free(x);
  EVP_PKEY_free(key);
  if (rc == 0) fprintf(stderr, "ledgerkv: --auto-tls: created %s and %s\n", cert_path, key_path);
  return rc;
}
