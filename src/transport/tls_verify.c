/* Client certificate checks with etcd's rules: the clientAuth usage, CRL serials, the allowed host name. */
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "transport/tls_internal.h"

/* What the verify callback needs beyond OpenSSL's own checks; hangs off the SSL_CTX (freed with it, so a
 * context replaced by a reload keeps its rules while old connections still use it). */
typedef struct rules_s {
  X509_CRL *crl; /* NULL: no --client-crl-file */
  char *host;    /* NULL: no --client-cert-allowed-hostname */
} rules_t;

static int ctx_index = -1, ssl_index = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_rules(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  rules_t *r = ptr;
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  if (r == NULL) return;
  X509_CRL_free(r->crl);
  free(r->host);
  free(r);
}

static void make_indexes(void) {
  ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_rules);
  ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int lkv__tls_eku_allows_client(X509 *cert) {
  if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0) return 1; /* no extension: any use */
  return (X509_get_extended_key_usage(cert) & (XKU_SSL_CLIENT | XKU_ANYEKU)) != 0;
}

int lkv__tls_host_matches(X509 *cert, const char *host) {
  char bare[64];
  unsigned char addr[16];
  size_t len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(bare)) {
    memcpy(bare, host + 1, len - 2);
    bare[len - 2] = '\0';
    host = bare;
  }
  if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
    return X509_check_ip_asc(cert, host, 0) == 1;
  unsigned flags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
  return X509_check_host(cert, host, strlen(host), flags, NULL) == 1;
}

void lkv__tls_set_why(SSL *ssl, char *why) {
  pthread_once(&once, make_indexes);
  why[0] = '\0';
  SSL_set_ex_data(ssl, ssl_index, why);
}

static int refuse(X509_STORE_CTX *store, char *why, int error, const char *fmt, ...) {
  if (why != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, LKV__TLS_WHY, fmt, ap);
    va_end(ap);
  }
  X509_STORE_CTX_set_error(store, error);
  return 0;
}

static int revoked(const rules_t *r, X509 *cert, char *hex, size_t hexlen) {
  X509_REVOKED *rev;
  if (r->crl == NULL || X509_CRL_get0_by_serial(r->crl, &rev, X509_get0_serialNumber(cert)) != 1) return 0;
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *s = bn ? BN_bn2hex(bn) : NULL;
  snprintf(hex, hexlen, "%s", s ? s : "?");
  OPENSSL_free(s);
  BN_free(bn);
  return 1;
}

/* Runs for every certificate of the client's chain, root first, after OpenSSL's own check of it (ok). */
static int verify_cb(int ok, X509_STORE_CTX *store) {
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  char *why = ssl ? SSL_get_ex_data(ssl, ssl_index) : NULL;
  const rules_t *r = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index) : NULL;
  X509 *cert = X509_STORE_CTX_get_current_cert(store);
  int depth = X509_STORE_CTX_get_error_depth(store);
  if (!ok) {
    int e = X509_STORE_CTX_get_error(store);
    if (e == X509_V_ERR_INVALID_PURPOSE) /* OpenSSL's own usage check got there first */
      return refuse(store, why, e, "certificate at depth %d lacks the clientAuth extended key usage", depth);
    return refuse(store, why, e, "certificate at depth %d: %s", depth, X509_verify_cert_error_string(e));
  }
  if (cert == NULL) return refuse(store, why, X509_V_ERR_UNSPECIFIED, "no certificate");
  if (!lkv__tls_eku_allows_client(cert))
    return refuse(store, why, X509_V_ERR_INVALID_PURPOSE,
                  "certificate at depth %d lacks the clientAuth extended key usage", depth);
  char hex[96];
  if (r != NULL && revoked(r, cert, hex, sizeof(hex)))
    return refuse(store, why, X509_V_ERR_CERT_REVOKED, "certificate serial %s revoked (--client-crl-file)",
                  hex);
  if (r != NULL && r->host != NULL && depth == 0 && !lkv__tls_host_matches(cert, r->host))
    return refuse(store, why, X509_V_ERR_HOSTNAME_MISMATCH,
                  "client certificate authentication failed: it does not match "
                  "--client-cert-allowed-hostname %s",
                  r->host);
  return 1;
}

/* A CRL in PEM or DER, as Go's x509.ParseCRL takes either. */
static X509_CRL *read_crl(const char *path) {
  BIO *b = BIO_new_file(path, "rb");
  if (b == NULL) return NULL;
  X509_CRL *crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
  if (crl == NULL && BIO_reset(b) == 0) crl = d2i_X509_CRL_bio(b, NULL);
  BIO_free(b);
  return crl;
}

int lkv__tls_verify_setup(SSL_CTX *ctx, const lkv_tls_options_t *opts, char *err, size_t errlen) {
  const char *ca = opts->trusted_ca_file;
  pthread_once(&once, make_indexes);
  if (ca && ca[0]) {
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
      return lkv__tls_fail(err, errlen, "cannot read --trusted-ca-file %s: %s", ca, lkv__tls_reason());
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names != NULL) SSL_CTX_set_client_CA_list(ctx, names);
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return lkv__tls_fail(err, errlen, "cannot load the system's CA certificates: %s", lkv__tls_reason());
  }
  rules_t *r = calloc(1, sizeof(*r));
  if (r == NULL) return LKV_ENOMEM;
  if (opts->crl_file && opts->crl_file[0] && (r->crl = read_crl(opts->crl_file)) == NULL) {
    free_rules(NULL, r, NULL, 0, 0, NULL);
    return lkv__tls_fail(err, errlen, "cannot read --client-crl-file %s: %s", opts->crl_file,
                         lkv__tls_reason());
  }
  if (opts->allowed_hostname && opts->allowed_hostname[0] &&
      (r->host = strdup(opts->allowed_hostname)) == NULL) {
    free_rules(NULL, r, NULL, 0, 0, NULL);
    return LKV_ENOMEM;
  }
  if (SSL_CTX_set_ex_data(ctx, ctx_index, r) != 1) {
    free_rules(NULL, r, NULL, 0, 0, NULL);
    return LKV_ENOMEM;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
  return 0;
}
