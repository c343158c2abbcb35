/* The TLS contexts of the client and peer ports: etcd's TLS flags, or the self-signed certificates of
 * --auto-tls and --peer-auto-tls. */
#include "server/tls_setup.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

/* etcd's --auto-tls: a certificate for every listen host, kept in <data-dir>/fixtures/<what>. */
static int self_cert(const lkv_config_t *cfg, const char *what, const lkv_config_url_t *urls, size_t n,
                     char *cert, char *key, size_t len, char *err, size_t errlen) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof(dir), "%s/fixtures/%s", cfg->data_dir, what) >= (int)sizeof(dir)) {
    snprintf(err, errlen, "--auto-tls: data dir path too long");
    return LKV_EINVAL;
  }
  const char **hosts = calloc(n ? n : 1, sizeof(*hosts));
  if (hosts == NULL) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) hosts[i] = urls[i].host;
  int rc = lkv_tls_self_cert(dir, hosts, n, cert, key, len, err, errlen);
  free(hosts);
  return rc;
}

/* One side's context from its flags; what names it ("client", "peer"). */
static int open_side(const lkv_config_t *cfg, const char *what, const lkv_config_tls_t *t,
                     const lkv_config_url_t *urls, size_t n, lkv_tls_options_t *o, lkv_tls_t **out, char *err,
                     size_t errlen) {
  o->cert_file = t->cert_file;
  o->key_file = t->key_file;
  o->trusted_ca_file = t->trusted_ca_file;
  o->client_cert_auth = t->client_cert_auth;
  o->crl_file = t->crl_file;
  o->allowed_hostname = t->allowed_hostname;
  o->allowed_cn = t->allowed_cn;
  o->cipher_suites = t->cipher_suites;
  char cert[PATH_MAX], key[PATH_MAX], why[512];
  if (t->auto_tls) { /* config_tls.c refused the client checks with it, as etcd would drop them */
    int rc = self_cert(cfg, what, urls, n, cert, key, sizeof(cert), why, sizeof(why));
    if (rc == LKV_EINVAL) snprintf(err, errlen, "%s TLS: %s", what, why);
    if (rc != 0) return rc;
    o->cert_file = cert;
    o->key_file = key;
    o->self_signed = 1;
  }
  int rc = lkv_tls_new(out, o, why, sizeof(why));
  if (rc == LKV_EINVAL) snprintf(err, errlen, "%s TLS: %s", what, why);
  return rc;
}

int lkv__server_client_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen) {
  int any = 0;
  for (size_t i = 0; i < cfg->n_listen_client_urls; i++) any |= cfg->listen_client_urls[i].tls;
  *out = NULL;
  if (!any) return 0;
  lkv_tls_options_t o = {.alpn = "h2"};
  return open_side(cfg, "client", &cfg->client_tls, cfg->listen_client_urls, cfg->n_listen_client_urls, &o,
                   out, err, errlen);
}

int lkv__server_metrics_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen) {
  int any = 0;
  for (size_t i = 0; i < cfg->n_listen_metrics_urls; i++) any |= cfg->listen_metrics_urls[i].tls;
  *out = NULL;
  if (!any) return 0;
  /* etcd's metrics listener (transport.NewListener) also checks a client certificate's SANs against the
   * client's address, as its peer listener does. */
  lkv_tls_options_t o = {.check_client_san = 1};
  return open_side(cfg, "client", &cfg->client_tls, cfg->listen_client_urls, cfg->n_listen_client_urls, &o,
                   out, err, errlen);
}

int lkv__server_peer_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen) {
  const lkv_config_tls_t *t = &cfg->peer_tls;
  *out = NULL;
  if (!t->cert_file && !t->auto_tls) return 0;
  lkv_tls_options_t o = {.check_client_san = !t->skip_san};
  return open_side(cfg, "peer", t, cfg->cluster.listen_peer_urls, cfg->cluster.n_listen_peer_urls, &o, out,
                   err, errlen);
}
