/* The client port's TLS context: etcd's client TLS flags, or the self-signed certificate of --auto-tls. */
#include "server/client_tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

/* etcd's --auto-tls: a certificate for every listen host, kept in the data dir. */
static int self_cert(const lkv_config_t *cfg, char *cert, char *key, size_t len, char *err, size_t errlen) {
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof(dir), "%s/fixtures/client", cfg->data_dir) >= (int)sizeof(dir)) {
    snprintf(err, errlen, "--auto-tls: data dir path too long");
    return LKV_EINVAL;
  }
  const char **hosts = calloc(cfg->n_listen_client_urls, sizeof(*hosts));
  if (hosts == NULL) return LKV_ENOMEM;
  for (size_t i = 0; i < cfg->n_listen_client_urls; i++) hosts[i] = cfg->listen_client_urls[i].host;
  int rc = lkv_tls_self_cert(dir, hosts, cfg->n_listen_client_urls, cert, key, len, err, errlen);
  free(hosts);
  return rc;
}

int lkv__server_client_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen) {
  const lkv_config_tls_t *t = &cfg->client_tls;
  int any = 0;
  for (size_t i = 0; i < cfg->n_listen_client_urls; i++) any |= cfg->listen_client_urls[i].tls;
  *out = NULL;
  if (!any) return 0;
  lkv_tls_options_t o = {.cert_file = t->cert_file,
                         .key_file = t->key_file,
                         .trusted_ca_file = t->trusted_ca_file,
                         .client_cert_auth = t->client_cert_auth,
                         .crl_file = t->crl_file,
                         .allowed_hostname = t->allowed_hostname,
                         .cipher_suites = t->cipher_suites};
  char cert[PATH_MAX], key[PATH_MAX];
  if (t->auto_tls) { /* config_tls.c refused the client checks with it, as etcd would drop them */
    int rc = self_cert(cfg, cert, key, sizeof(cert), err, errlen);
    if (rc != 0) return rc;
    o.cert_file = cert;
    o.key_file = key;
  }
  return lkv_tls_new(out, &o, err, errlen);
}
