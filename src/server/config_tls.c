/* etcd's client TLS flags, read together and checked against the client URLs as etcd 3.4 does. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_internal.h"
#include "transport/tls.h"

/* A string flag's value, copied; NULL when not given or empty. Returns 0 or LKV_ENOMEM. */
static int text(lkv__config_parse_t *p, const char *name, char **out) {
  const char *v = lkv__config_given(p, name);
  *out = NULL;
  if (v == NULL || v[0] == '\0') return 0;
  *out = strdup(v);
  return *out ? 0 : lkv__config_nomem(p);
}

/* Go's strconv.ParseBool, already validated when given. */
static int boolean(const lkv__config_parse_t *p, const char *name) {
  const char *v = lkv__config_given(p, name);
  return v != NULL && v[0] != '\0' && strchr("1tT", v[0]) != NULL;
}

/* etcd's warnings and errors for each listen URL (embed.configureClientListeners). */
static int check_urls(lkv__config_parse_t *p, const lkv_config_tls_t *t) {
  const lkv_config_t *cfg = p->cfg;
  int has_files = t->cert_file || t->key_file;
  for (size_t i = 0; i < cfg->n_listen_client_urls; i++) {
    const lkv_config_url_t *u = &cfg->listen_client_urls[i];
    int rc = 0;
    if (!u->tls && has_files)
      rc = lkv__config_warn(p,
                            "--listen-client-urls %s: scheme is HTTP while key and cert files are present; "
                            "ignoring key and cert files",
                            u->url);
    if (rc == 0 && !u->tls && t->client_cert_auth)
      rc = lkv__config_warn(p,
                            "--listen-client-urls %s: scheme is HTTP while --client-cert-auth is enabled; "
                            "ignoring client cert auth for this URL",
                            u->url);
    if (rc == 0 && u->tls && has_files && (t->cert_file == NULL || t->key_file == NULL))
      rc = lkv__config_fail(p, "KeyFile and CertFile must both be present[key: %s, cert: %s]",
                            t->key_file ? t->key_file : "", t->cert_file ? t->cert_file : "");
    if (rc == 0 && u->tls && !has_files && !t->auto_tls)
      rc = lkv__config_fail(p,
                            "TLS key/cert (--cert-file, --key-file) must be provided for client url %s with "
                            "HTTPS scheme",
                            u->url);
    if (rc != 0) return rc;
  }
  return 0;
}

int lkv__config_tls_check(lkv__config_parse_t *p) {
  lkv_config_tls_t *t = &p->cfg->client_tls;
  int rc = text(p, "cert-file", &t->cert_file);
  if (rc == 0) rc = text(p, "key-file", &t->key_file);
  if (rc == 0) rc = text(p, "trusted-ca-file", &t->trusted_ca_file);
  if (rc == 0) rc = text(p, "client-crl-file", &t->crl_file);
  if (rc == 0) rc = text(p, "client-cert-allowed-hostname", &t->allowed_hostname);
  if (rc == 0) rc = text(p, "cipher-suites", &t->cipher_suites);
  if (rc != 0) return rc;
  t->client_cert_auth = boolean(p, "client-cert-auth");
  t->auto_tls = boolean(p, "auto-tls");
  if (t->cipher_suites) {
    char list[1024], err[256];
    rc = lkv_tls_cipher_list(t->cipher_suites, list, sizeof(list), err, sizeof(err));
    if (rc == LKV_EINVAL) return lkv__config_fail(p, "%s", err);
    if (rc < 0) return lkv__config_nomem(p);
  }
  if (t->auto_tls && (t->cert_file || t->key_file)) {
    t->auto_tls = 0;
    if ((rc = lkv__config_warn(p, "ignoring client auto TLS since certs given")) != 0) return rc;
  }
  /* etcd 3.4 replaces all of its client TLS settings with the self-signed certificate's: it would accept
   * every client. Refused rather than serving without the checks asked for. */
  if (t->auto_tls && (t->client_cert_auth || t->trusted_ca_file || t->crl_file || t->allowed_hostname))
    return lkv__config_fail(
        p,
        "--auto-tls: etcd 3.4 ignores --client-cert-auth, --trusted-ca-file, --client-crl-file "
        "and --client-cert-allowed-hostname with a self-signed certificate; refusing to start "
        "rather than serve without the client certificate checks you asked for");
  return check_urls(p, t);
}
