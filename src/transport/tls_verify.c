/* Client certificate checks with etcd's rules: the clientAuth usage, CRL serials, the allowed CN or host
 * name, the SANs against the client's address. */
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "transport/tls_internal.h"

/* What the verify callback needs beyond OpenSSL's own checks; hangs off the SSL_CTX (freed with it, so a
 * context replaced by a reload keeps its rules while old connections still use it). */
typedef struct rules_s {
  X509_CRL *crl; /* NULL: no CRL file */
  char *host;    /* NULL: no allowed host name */
  char *cn;      /* NULL: no allowed CN */
  int san;       /* check the SANs against the client's address */
} rules_t;

static int ctx_index = -1, ssl_index = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_rules(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  rules_t *r = ptr;
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  if (r == NULL) return;
  X509_CRL_free(r->crl);
  free(r->host);
  free(r->cn);
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

void lkv__tls_set_info(SSL *ssl, lkv__tls_info_t *info) {
  pthread_once(&once, make_indexes);
  info->why[0] = '\0';
  SSL_set_ex_data(ssl, ssl_index, info);
}

/* Whether name (NUL-terminated) is the DNS SAN dns[0..len), or under it when it is a wildcard. */
static int dns_matches(const char *name, const char *dns, size_t len) {
  size_t nl = strlen(name);
  if (len > 1 && dns[0] == '*' && dns[1] == '.')
    return nl > len - 1 && strncasecmp(name + nl - (len - 1), dns + 1, len - 1) == 0;
  return nl == len && strncasecmp(name, dns, len) == 0;
}

/* Whether name resolves to the numeric address host. */
static int resolves_to(const char *name, const char *host) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  int found = 0;
  if (getaddrinfo(name, NULL, &hints, &res) != 0) return 0;
  for (const struct addrinfo *a = res; a && !found; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN];
    found = getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST) == 0 &&
            strcmp(text, host) == 0;
  }
  freeaddrinfo(res);
  return found;
}

/* Whether a DNS SAN names host: its reverse lookup's name is one of them (or under a wildcard), or one of
 * them resolves to it (etcd's isHostInDNS). */
static int host_in_dns(const GENERAL_NAMES *sans, const char *host) {
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *num;
  char name[NI_MAXHOST] = "";
  if (getaddrinfo(host, NULL, &hints, &num) != 0) return 0;
  if (getnameinfo(num->ai_addr, num->ai_addrlen, name, sizeof(name), NULL, 0, NI_NAMEREQD) != 0)
    name[0] = '\0';
  freeaddrinfo(num);
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_DNS) continue;
    const char *dns = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
    size_t len = (size_t)ASN1_STRING_length(g->d.dNSName);
    if (name[0] && dns_matches(name, dns, len)) return 1;
    char copy[256];
    if (dns[0] == '*' || len >= sizeof(copy)) continue;
    memcpy(copy, dns, len);
    copy[len] = '\0';
    if (resolves_to(copy, host)) return 1;
  }
  return 0;
}

int lkv__tls_san_names(X509 *cert, const char *host, char *why) {
  GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  int ips = 0, names = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
    int type = sk_GENERAL_NAME_value(sans, i)->type;
    ips += type == GEN_IPADD;
    names += type == GEN_DNS;
  }
  int ok = (ips == 0 && names == 0) || (ips > 0 && X509_check_ip_asc(cert, host, 0) == 1) ||
           (names > 0 && host_in_dns(sans, host));
  if (!ok)
    snprintf(why, LKV__TLS_WHY, "the certificate's SANs do not name %s, the address it connects from", host);
  GENERAL_NAMES_free(sans);
  return ok;
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
  lkv__tls_info_t *info = ssl ? SSL_get_ex_data(ssl, ssl_index) : NULL;
  char *why = info ? info->why : NULL;
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
    return refuse(store, why, X509_V_ERR_CERT_REVOKED, "certificate serial %s revoked (CRL file)", hex);
  if (r == NULL || depth != 0) return 1;
  if (r->host != NULL && !lkv__tls_host_matches(cert, r->host))
    return refuse(store, why, X509_V_ERR_HOSTNAME_MISMATCH,
                  "client certificate authentication failed: it does not match the allowed host name %s",
                  r->host);
  char cn[256] = "";
  if (r->cn != NULL &&
      (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) < 0 ||
       strcmp(cn, r->cn) != 0))
    return refuse(store, why, X509_V_ERR_APPLICATION_VERIFICATION,
                  "client certificate authentication failed: CN \"%s\" is not the allowed CN \"%s\"", cn,
                  r->cn);
  if (r->san && info != NULL && !lkv__tls_san_names(cert, info->remote_host, info->why))
    return refuse(store, NULL, X509_V_ERR_HOSTNAME_MISMATCH, "");
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
      return lkv__tls_fail(err, errlen, "cannot read trusted CA file %s: %s", ca, lkv__tls_reason());
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names != NULL) SSL_CTX_set_client_CA_list(ctx, names);
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return lkv__tls_fail(err, errlen, "cannot load the system's CA certificates: %s", lkv__tls_reason());
  }
  rules_t *r = calloc(1, sizeof(*r));
  if (r == NULL) return LKV_ENOMEM;
  if (opts->crl_file && opts->crl_file[0] && (r->crl = read_crl(opts->crl_file)) == NULL) {
    free_rules(NULL, r, NULL, 0, 0, NULL);
    return lkv__tls_fail(err, errlen, "cannot read CRL file %s: %s", opts->crl_file, lkv__tls_reason());
  }
  r->san = opts->check_client_san;
  if ((opts->allowed_hostname && opts->allowed_hostname[0] &&
       (r->host = strdup(opts->allowed_hostname)) == NULL) ||
      (opts->allowed_cn && opts->allowed_cn[0] && (r->cn = strdup(opts->allowed_cn)) == NULL)) {
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
