/* TLS contexts: building the accepting and dialing SSL_CTX from etcd's TLS flags, and rebuilding them when
 * their files change. */
#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "transport/tls_internal.h"

/* A connection looks at the files at most this often: a stat of four files per second is nothing, and a
 * certificate rotated on disk is served within a second. */
#define RECHECK_MS 1000
#define N_FILES 4 /* cert, key, trusted CA, CRL */
#define CIPHERS_LEN 1024

/* What identifies a file's contents well enough to notice a rewrite or a rename over it. */
typedef struct stamp_s {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  int missing;
} stamp_t;

struct lkv_tls_s {
  lkv_tls_options_t o; /* strings owned */
  char ciphers[CIPHERS_LEN];
  int n_ciphers;           /* TLS 1.2 suites in ciphers; 0 with --cipher-suites given means TLS 1.3 only */
  unsigned char alpn[256]; /* o.alpn in ALPN's wire form (length byte, name) */
  pthread_mutex_t mu;
  SSL_CTX *ctx;            /* accepting; guarded by mu, replaced by a reload */
  SSL_CTX *client_ctx;     /* dialing; likewise */
  stamp_t stamps[N_FILES]; /* of the files the contexts were built from */
  uint64_t checked_ms;     /* CLOCK_MONOTONIC of the last look */
};

static void read_stamps(const lkv_tls_t *t, stamp_t *s) {
  const char *paths[N_FILES] = {t->o.cert_file, t->o.key_file, t->o.trusted_ca_file, t->o.crl_file};
  memset(s, 0, sizeof(stamp_t) * N_FILES);
  for (int i = 0; i < N_FILES; i++) {
    struct stat st;
    if (paths[i] == NULL || stat(paths[i], &st) != 0) {
      s[i].missing = 1;
      continue;
    }
    s[i].dev = st.st_dev, s[i].ino = st.st_ino, s[i].size = st.st_size, s[i].mtime = st.st_mtim;
  }
}

int lkv__tls_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  ERR_clear_error();
  return LKV_EINVAL;
}

const char *lkv__tls_reason(void) {
  const char *r = ERR_reason_error_string(ERR_peek_last_error());
  return r ? r : "unreadable";
}

/* Whether the client's ALPN list (wire form) offers HTTP/1.1. */
static int offers_http11(const unsigned char *in, unsigned int inlen) {
  for (unsigned i = 0; i < inlen; i += 1u + in[i])
    if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i + 1, "http/1.1", 8) == 0) return 1;
  return 0;
}

/* ALPN: the one protocol of the context (gRPC's "h2"). A client that offers protocols, none of them ours, is
 * refused, as Go's server does, but for Go's exception: an HTTP/1.1 client of an h2 server goes on without
 * ALPN (the JSON gateway serves it). One that offers none goes on too. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  const unsigned char *ours = arg;
  unsigned char *sel;
  (void)ssl;
  if (SSL_select_next_proto(&sel, outlen, ours, 1u + ours[0], in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }
  int h2 = ours[0] == 2 && memcmp(ours + 1, "h2", 2) == 0;
  return h2 && offers_http11(in, inlen) ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* What both ends of a context share: versions, suites, our certificate (etcd's peers present theirs when
 * dialing too). No renegotiation (Go never allows it on a server); no resumption, so that every
 * connection's certificate meets the current CA, CRL and rules (etcd checks the CRL on every accept). */
static int common(const lkv_tls_t *t, SSL_CTX *ctx, char *err, size_t errlen) {
  const lkv_tls_options_t *o = &t->o;
  SSL_CTX_set_min_proto_version(
      ctx, t->n_ciphers == 0 && t->ciphers[0] == '\0' && o->cipher_suites ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (t->n_ciphers > 0 && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
    return lkv__tls_fail(err, errlen, "OpenSSL supports none of the cipher suites %s", o->cipher_suites);
  if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
    return lkv__tls_fail(err, errlen, "cannot read certificate file %s: %s", o->cert_file, lkv__tls_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
    return lkv__tls_fail(err, errlen, "cannot read key file %s: %s", o->key_file, lkv__tls_reason());
  return 0;
}

static int build_server(const lkv_tls_t *t, SSL_CTX **out, char *err, size_t errlen) {
  const lkv_tls_options_t *o = &t->o;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) return LKV_ENOMEM;
  int rc = common(t, ctx, err, errlen);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (o->alpn) SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)t->alpn);
  if (rc == 0 && ((o->trusted_ca_file && o->trusted_ca_file[0]) || o->client_cert_auth))
    rc = lkv__tls_verify_setup(ctx, o, err, errlen);
  if (rc != 0) {
    SSL_CTX_free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

/* Dialing verifies the server's chain against the trusted CAs (the system's without a file) and, per
 * connection, the host dialed (tls_conn.c); not a self-signed --auto-tls certificate's, as etcd. */
static int build_client(const lkv_tls_t *t, SSL_CTX **out, char *err, size_t errlen) {
  const lkv_tls_options_t *o = &t->o;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) return LKV_ENOMEM;
  int rc = common(t, ctx, err, errlen);
  if (rc == 0 && !o->self_signed) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->trusted_ca_file && SSL_CTX_load_verify_locations(ctx, o->trusted_ca_file, NULL) != 1)
      rc = lkv__tls_fail(err, errlen, "cannot read trusted CA file %s: %s", o->trusted_ca_file,
                         lkv__tls_reason());
    else if (!o->trusted_ca_file && SSL_CTX_set_default_verify_paths(ctx) != 1)
      rc = lkv__tls_fail(err, errlen, "cannot load the system's CA certificates: %s", lkv__tls_reason());
  }
  if (rc != 0) {
    SSL_CTX_free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

/* Both contexts from the files as they are now. */
static int build(const lkv_tls_t *t, SSL_CTX **server, SSL_CTX **client, char *err, size_t errlen) {
  int rc = build_server(t, server, err, errlen);
  if (rc != 0) return rc;
  rc = build_client(t, client, err, errlen);
  if (rc != 0) SSL_CTX_free(*server);
  return rc;
}

static void free_strings(lkv_tls_options_t *o) {
  free((char *)o->cert_file), free((char *)o->key_file), free((char *)o->trusted_ca_file);
  free((char *)o->crl_file), free((char *)o->allowed_hostname), free((char *)o->cipher_suites);
  free((char *)o->alpn), free((char *)o->allowed_cn);
}

/* A copy of s, NULL for NULL or ""; sets *oom when the copy fails. */
static const char *copy(const char *s, int *oom) {
  if (s == NULL || s[0] == '\0') return NULL;
  char *c = strdup(s);
  if (c == NULL) *oom = 1;
  return c;
}

int lkv_tls_new(lkv_tls_t **out, const lkv_tls_options_t *opts, char *err, size_t errlen) {
  if (!opts->cert_file || !opts->cert_file[0] || !opts->key_file || !opts->key_file[0])
    return lkv__tls_fail(err, errlen, "TLS needs both a certificate and a key file");
  lkv_tls_t *t = calloc(1, sizeof(*t));
  if (t == NULL) return LKV_ENOMEM;
  int oom = 0, rc = LKV_ENOMEM;
  t->o.cert_file = copy(opts->cert_file, &oom);
  t->o.key_file = copy(opts->key_file, &oom);
  t->o.trusted_ca_file = copy(opts->trusted_ca_file, &oom);
  t->o.client_cert_auth = opts->client_cert_auth;
  t->o.crl_file = copy(opts->crl_file, &oom);
  t->o.allowed_hostname = copy(opts->allowed_hostname, &oom);
  t->o.cipher_suites = copy(opts->cipher_suites, &oom);
  t->o.alpn = copy(opts->alpn, &oom);
  t->o.allowed_cn = copy(opts->allowed_cn, &oom);
  t->o.check_client_san = opts->check_client_san;
  t->o.self_signed = opts->self_signed;
  if (oom) goto err_after_alloc;
  rc = LKV_EINVAL;
  if (t->o.allowed_cn && t->o.allowed_hostname) { /* etcd's words */
    lkv__tls_fail(err, errlen,
                  "AllowedCN and AllowedHostname are mutually exclusive (cn=\"%s\", hostname=\"%s\")",
                  t->o.allowed_cn, t->o.allowed_hostname);
    goto err_after_alloc;
  }
  if (t->o.alpn) {
    size_t n = strlen(t->o.alpn);
    if (n > 255) goto err_after_alloc;
    t->alpn[0] = (unsigned char)n;
    memcpy(t->alpn + 1, t->o.alpn, n);
  }
  if (t->o.cipher_suites) {
    rc = lkv_tls_cipher_list(t->o.cipher_suites, t->ciphers, sizeof(t->ciphers), err, errlen);
    if (rc < 0) goto err_after_alloc;
    t->n_ciphers = rc;
  }
  read_stamps(t, t->stamps);
  if ((rc = build(t, &t->ctx, &t->client_ctx, err, errlen)) != 0) goto err_after_alloc;
  if (pthread_mutex_init(&t->mu, NULL) != 0) {
    rc = LKV_ENOMEM;
    goto err_after_ctx;
  }
  t->checked_ms = lkv_clock_ms(CLOCK_MONOTONIC);
  *out = t;
  return 0;

err_after_ctx:
  SSL_CTX_free(t->ctx);
  SSL_CTX_free(t->client_ctx);
err_after_alloc:
  free_strings(&t->o);
  free(t);
  return rc;
}

void lkv_tls_free(lkv_tls_t *tls) {
  if (tls == NULL) return;
  SSL_CTX_free(tls->ctx);
  SSL_CTX_free(tls->client_ctx);
  pthread_mutex_destroy(&tls->mu);
  free_strings(&tls->o);
  free(tls);
}

/* Under t->mu: rebuilds the context when a file changed since it was built. A failed build (a half-written
 * file, a key that no longer matches) keeps the old context and is tried again a second later. */
static void maybe_reload(lkv_tls_t *t) {
  uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
  if (now - t->checked_ms < RECHECK_MS) return;
  t->checked_ms = now;
  stamp_t s[N_FILES];
  read_stamps(t, s);
  if (memcmp(s, t->stamps, sizeof(s)) == 0) return;
  char err[256];
  SSL_CTX *ctx, *client_ctx;
  if (build(t, &ctx, &client_ctx, err, sizeof(err)) != 0) {
    fprintf(stderr, "ledgerkv: tls: keeping the previous certificates: %s\n", err);
    return;
  }
  SSL_CTX_free(t->ctx); /* connections that use them hold their own references */
  SSL_CTX_free(t->client_ctx);
  t->ctx = ctx;
  t->client_ctx = client_ctx;
  memcpy(t->stamps, s, sizeof(s));
  fprintf(stderr, "ledgerkv: tls: certificates re-read from %s\n", t->o.cert_file);
}

SSL_CTX *lkv__tls_acquire(lkv_tls_t *tls, int client) {
  pthread_mutex_lock(&tls->mu);
  maybe_reload(tls);
  SSL_CTX *ctx = client ? tls->client_ctx : tls->ctx;
  SSL_CTX_up_ref(ctx);
  pthread_mutex_unlock(&tls->mu);
  return ctx;
}
