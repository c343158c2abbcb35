/* The client port's TLS context, from etcd's client TLS flags or its --auto-tls certificate. */
#ifndef LKV_SERVER_CLIENT_TLS_H
#define LKV_SERVER_CLIENT_TLS_H

#include <stddef.h>

#include "server/config.h"
#include "transport/tls.h"

/* Makes the TLS context the https:// listen URLs share: --cert-file and --key-file with the client checks
 * of cfg->client_tls, or with --auto-tls a self-signed certificate for the listen hosts in
 * <data-dir>/fixtures/client (made once, reused on later starts, as etcd does).
 * out: out, the context (free with lkv_tls_free after the transport stopped), or NULL when no listen URL
 * is https://. err, errlen: out, the reason on failure.
 * Returns 0, LKV_EINVAL (unreadable or mismatched files, see lkv_tls_new) or LKV_ENOMEM. */
int lkv__server_client_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen);

#endif
