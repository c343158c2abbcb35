/* etcd's client and peer TLS flags, each side read together and checked against its URLs as etcd 3.4 does. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_internal.h"
#include "transport/tls.h"

/* The flag names of one side; NULL: the side has no such flag. */
typedef struct side_s {
  const char *what; /* "client" or "peer", for messages */
  const char *cert, *key, *ca, *crl, *hostname, *cn, *cert_auth, *auto_tls, *skip_san;
} side_t;

static const side_t client_side = {"client",
                                   "cert-file",
                                   "key-file",
                                   "trusted-ca-file",
                                   "client-crl-file",
                                   "client-cert-allowed-hostname",
                                   NULL,
                                   "client-cert-auth",
                                   "auto-tls",
                                   NULL};
static const side_t peer_side = {"peer",
                                 "peer-cert-file",
                                 "peer-key-file",
                                 "peer-trusted-ca-file",
                                 "peer-crl-file",
                                 "peer-cert-allowed-hostname",
                                 "peer-cert-allowed-cn",
                                 "peer-client-cert-auth",
                                 "peer-auto-tls",
                                 "experimental-peer-skip-client-san-verification"};

/* A string flag's value, copied; NULL when not given or empty (or no such flag). Returns 0 or LKV_ENOMEM. */
static int text(lkv__config_parse_t *p, const char *name, char **out) {
  const char *v = name ? lkv__config_given(p, name) : NULL;
  *out = NULL;
  if (v == NULL || v[0] == '\0') return 0;
  *out = strdup(v);
  return *out ? 0 : lkv__config_nomem(p);
}

/* Go's strconv.ParseBool, already validated when given. */
static int boolean(const lkv__config_parse_t *p, const char *name) {
  const char *v = name ? lkv__config_given(p, name) : NULL;
  return v != NULL && v[0] != '\0' && strchr("1tT", v[0]) != NULL;
}

/* etcd's warnings and errors for each listen URL of a side (embed.configureClientListeners and
 * configurePeerListeners). */
static int check_urls(lkv__config_parse_t *p, const side_t *s, const lkv_config_tls_t *t,
                      const lkv_config_url_t *urls, size_t n) {
  int has_files = t->cert_file || t->key_file;
  for (size_t i = 0; i < n; i++) {
    const lkv_config_url_t *u = &urls[i];
    int rc = 0;
    if (!u->tls && has_files)
      rc = lkv__config_warn(p,
                            "--listen-%s-urls %s: scheme is HTTP while key and cert files are present; "
                            "ignoring key and cert files",
                            s->what, u->url);
    if (rc == 0 && !u->tls && t->client_cert_auth)
      rc = lkv__config_warn(p,
                            "--listen-%s-urls %s: scheme is HTTP while --%s is enabled; ignoring client cert "
                            "auth for this URL",
                            s->what, u->url, s->cert_auth);
    if (rc == 0 && u->tls && has_files && (t->cert_file == NULL || t->key_file == NULL))
      rc = lkv__config_fail(p, "KeyFile and CertFile must both be present[key: %s, cert: %s]",
                            t->key_file ? t->key_file : "", t->cert_file ? t->cert_file : "");
    if (rc == 0 && u->tls && !has_files && !t->auto_tls)
      rc = lkv__config_fail(p, "TLS key/cert (--%s, --%s) must be provided for %s url %s with HTTPS scheme",
                            s->cert, s->key, s->what, u->url);
    if (rc != 0) return rc;
  }
  return 0;
}

static int read_side(lkv__config_parse_t *p, const side_t *s, lkv_config_tls_t *t,
                     const lkv_config_url_t *urls, size_t n) {
  int rc = text(p, s->cert, &t->cert_file);
  if (rc == 0) rc = text(p, s->key, &t->key_file);
  if (rc == 0) rc = text(p, s->ca, &t->trusted_ca_file);
  if (rc == 0) rc = text(p, s->crl, &t->crl_file);
  if (rc == 0) rc = text(p, s->hostname, &t->allowed_hostname);
  if (rc == 0) rc = text(p, s->cn, &t->allowed_cn);
  if (rc == 0) rc = text(p, "cipher-suites", &t->cipher_suites);
  if (rc != 0) return rc;
  t->client_cert_auth = boolean(p, s->cert_auth);
  t->auto_tls = boolean(p, s->auto_tls);
  t->skip_san = boolean(p, s->skip_san);
  if (t->allowed_cn && t->allowed_hostname) /* etcd's words (TLSInfo.baseConfig) */
    return lkv__config_fail(
        p, "AllowedCN and AllowedHostname are mutually exclusive (cn=\"%s\", hostname=\"%s\")", t->allowed_cn,
        t->allowed_hostname);
  if (t->auto_tls && (t->cert_file || t->key_file)) {
    t->auto_tls = 0;
    if ((rc = lkv__config_warn(p, "ignoring %s auto TLS since certs given", s->what)) != 0) return rc;
  }
  /* etcd 3.4 replaces all of a side's TLS settings with the self-signed certificate's: it would accept every
   * client. Refused rather than serving without the checks asked for. */
  if (t->auto_tls &&
      (t->client_cert_auth || t->trusted_ca_file || t->crl_file || t->allowed_hostname || t->allowed_cn))
    return lkv__config_fail(
        p,
        "--%s: etcd 3.4 ignores the %s certificate checks (--%s, --%s, --%s, the allowed "
        "names) with a self-signed certificate; refusing to start rather than serve without "
        "the client certificate checks you asked for",
        s->auto_tls, s->what, s->cert_auth, s->ca, s->crl);
  return check_urls(p, s, t, urls, n);
}

int lkv__config_tls_check(lkv__config_parse_t *p) {
  lkv_config_t *cfg = p->cfg;
  const char *suites = lkv__config_given(p, "cipher-suites");
  if (suites && suites[0]) {
    char list[1024], err[256];
    int rc = lkv_tls_cipher_list(suites, list, sizeof(list), err, sizeof(err));
    if (rc == LKV_EINVAL) return lkv__config_fail(p, "%s", err);
    if (rc < 0) return lkv__config_nomem(p);
  }
  int rc = read_side(p, &client_side, &cfg->client_tls, cfg->listen_client_urls, cfg->n_listen_client_urls);
  /* https:// metrics URLs are served with the client side's settings (etcd's serveMetrics). */
  for (size_t i = 0; rc == 0 && i < cfg->n_listen_metrics_urls; i++) {
    const lkv_config_url_t *u = &cfg->listen_metrics_urls[i];
    if (u->tls && !cfg->client_tls.cert_file && !cfg->client_tls.auto_tls)
      rc = lkv__config_fail(p, "cannot listen on TLS for %s:%d: KeyFile and CertFile are not presented",
                            u->host, u->port);
  }
  if (rc == 0)
    rc = read_side(p, &peer_side, &cfg->peer_tls, cfg->cluster.listen_peer_urls,
                   cfg->cluster.n_listen_peer_urls);
  return rc;
}
