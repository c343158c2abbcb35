/* The TLS contexts of the client and peer ports, from etcd's TLS flags or its --auto-tls certificates. */
#ifndef LKV_SERVER_TLS_SETUP_H
#define LKV_SERVER_TLS_SETUP_H

#include <stddef.h>

#include "server/config.h"
#include "transport/tls.h"

/* Makes the TLS context the https:// client listen URLs share: --cert-file and --key-file with the client
 * checks of cfg->client_tls (ALPN h2), or with --auto-tls a self-signed certificate for the listen hosts in
 * <data-dir>/fixtures/client (made once, reused on later starts, as etcd does).
 * out: out, the context (free with lkv_tls_free after the transport stopped), or NULL when no listen URL
 * is https://. err, errlen: out, the reason on failure ("client TLS: ...").
 * Returns 0, LKV_EINVAL (unreadable or mismatched files, see lkv_tls_new) or LKV_ENOMEM. */
int lkv__server_client_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen);

/* The context of the https:// --listen-metrics-urls, as etcd serves them: the client TLS settings
 * (--cert-file, --key-file, --client-cert-auth, --trusted-ca-file, --client-crl-file, the allowed name,
 * --cipher-suites, or --auto-tls's certificate for the client listen hosts) and, as etcd's listener, a client
 * certificate's IP or DNS SANs checked against the client's address; no ALPN (HTTP/1.1 only, where etcd
 * also offers h2). NULL when no metrics URL is https://. As lkv__server_client_tls otherwise. */
int lkv__server_metrics_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen);

/* The same for the peers, from cfg->peer_tls: the context https:// peer URLs are dialed and accepted with
 * (--peer-cert-allowed-cn, the SAN check against the member's address unless
 * --experimental-peer-skip-client-san-verification; --peer-auto-tls in <data-dir>/fixtures/peer, whose
 * servers are not verified, as etcd). NULL when no peer certificate is configured. */
int lkv__server_peer_tls(const lkv_config_t *cfg, lkv_tls_t **out, char *err, size_t errlen);

#endif
