/* Internal to the TLS module (tls*.c) and the connections that use it: contexts, checks, sessions. */
#ifndef LKV_TRANSPORT_TLS_INTERNAL_H
#define LKV_TRANSPORT_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport/tls.h"

/* Room for the reason a handshake was refused (the verify callback writes it, the session logs it). */
#define LKV__TLS_WHY 200

/* What the verify callback knows of one connection: where it comes from, and where it says why it refused. */
typedef struct lkv__tls_info_s {
  char why[LKV__TLS_WHY];
  char remote_host[64]; /* numeric address of the other end */
} lkv__tls_info_t;

/* The context's current SSL_CTX for accepting (client 0) or dialing (client 1), with a reference the caller
 * drops with SSL_CTX_free (an SSL made from it keeps its own). At most once a second it first looks at the
 * files' stamps and, when one changed, builds new contexts from them; a build that fails is logged and the
 * previous contexts stay. Any thread. Returns NULL only when out of memory. */
SSL_CTX *lkv__tls_acquire(lkv_tls_t *tls, int client);

/* Writes a formatted reason into err (errlen may be 0), clears OpenSSL's error queue; returns LKV_EINVAL. */
int lkv__tls_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* OpenSSL's reason for its last error on this thread (a static string), or "unreadable". */
const char *lkv__tls_reason(void);

/* tls_verify.c. Whether cert's extended key usage allows a TLS client, as Go's x509 verification asks for
 * every certificate of a client's chain: no extension at all, anyExtendedKeyUsage or clientAuth. Pure. */
int lkv__tls_eku_allows_client(X509 *cert);

/* tls_verify.c. Whether cert matches host as Go's Certificate.VerifyHostname does (etcd's
 * --client-cert-allowed-hostname): an IP address against the IP SANs, a name against the DNS SANs
 * (wildcards in the leftmost label), never the subject's CN. Pure. */
int lkv__tls_host_matches(X509 *cert, const char *host);

/* tls_verify.c. Whether cert's SANs name host, the address a client connects from, as etcd's peer listener
 * asks (checkCertSAN): no IP or DNS SAN at all, an IP SAN equal to it, or a DNS SAN that resolves to it or
 * that its reverse lookup gives (the lookups block). On a mismatch writes the reason to why (LKV__TLS_WHY
 * bytes) and returns 0; else 1. */
int lkv__tls_san_names(X509 *cert, const char *host, char *why);

/* tls_verify.c. Sets ctx to require and verify client certificates with opts' rules: the chain to the
 * trusted CAs (or the system's), the clientAuth usage on every certificate of the chain, the CRL's serials,
 * the allowed CN or host name, the SANs against the client's address. Reads the CA and CRL files. Returns 0
 * or LKV_EINVAL (reason in err). */
int lkv__tls_verify_setup(SSL_CTX *ctx, const lkv_tls_options_t *opts, char *err, size_t errlen);

/* tls_verify.c. Hands the verify callback info (owned by the caller for the SSL's life): the client's
 * address, and the place to write why it was refused (cleared here). */
void lkv__tls_set_info(SSL *ssl, lkv__tls_info_t *info);

/*
 * A session: one TLS connection over memory buffers, for a transport that does its own reads and writes on
 * a libuv loop (so a handshake never blocks the thread). Received bytes go in with lkv__tls_conn_recv, which
 * hands the plaintext on; bytes to write come out of lkv__tls_conn_send, which encrypts what the producer
 * gives it. One thread at a time.
 */
typedef struct lkv__tls_conn_s lkv__tls_conn_t;

/* Hands len bytes of plaintext on; returns 0 or an error that ends the connection. */
typedef int (*lkv__tls_consume_fn)(void *arg, const uint8_t *data, size_t len);
/* Appends up to about limit bytes of plaintext to *buf (grown as needed); the shape of
 * lkv__h2_conn_send. Returns 0 or an error. */
typedef int (*lkv__tls_produce_fn)(void *arg, uint8_t **buf, size_t *len, size_t *cap, size_t limit);

/* Starts a session on tls's current context: accepting when server_name is NULL, else dialing server_name
 * (a host name or numeric address, without brackets), whose certificate must name it unless the context is
 * self-signed. remote: in, the other end's IPv4 or IPv6 address (log lines, the client SAN check), or NULL
 * when unknown. Returns 0 and *out, or LKV_ENOMEM. */
int lkv__tls_conn_new(lkv_tls_t *tls, const struct sockaddr *remote, const char *server_name,
                      lkv__tls_conn_t **out);

/* Frees a session. NULL is ignored. */
void lkv__tls_conn_free(lkv__tls_conn_t *c);

/* Feeds len received bytes: advances the handshake, then decrypts records and passes their plaintext to
 * consume through scratch (scratch_len bytes; it may be the very buffer data points into: data is taken
 * first). Returns 0; LKV_EPROTO when the handshake or a record failed (the refusal is logged with the
 * reason, lkv__tls_conn_failed turns true, and lkv__tls_conn_send still yields the alert to send before
 * closing) or when the peer ended the session (close_notify); LKV_ENOMEM; or consume's error. */
int lkv__tls_conn_recv(lkv__tls_conn_t *c, const uint8_t *data, size_t len, uint8_t *scratch,
                       size_t scratch_len, lkv__tls_consume_fn consume, void *arg);

/* Appends the bytes to write to *buf (grown as needed; *len and *cap updated): handshake records (a dialing
 * session's first call starts the handshake) and alerts, and once the handshake is done, produce's
 * plaintext (asked for up to limit bytes; produce may be NULL) encrypted.
 * Returns 0, LKV_ENOMEM, LKV_EPROTO, or produce's error. */
int lkv__tls_conn_send(lkv__tls_conn_t *c, lkv__tls_produce_fn produce, void *arg, uint8_t **buf, size_t *len,
                       size_t *cap, size_t limit);

/* Encrypts len bytes of plaintext into the session's output, which the next lkv__tls_conn_send yields.
 * Only once the handshake is done. Returns 0, or LKV_EPROTO (failed; logged). */
int lkv__tls_conn_write(lkv__tls_conn_t *c, const uint8_t *data, size_t len);

/* 1 once the session failed: nothing more is read or sent but a pending alert. */
int lkv__tls_conn_failed(const lkv__tls_conn_t *c);

/* 1 once the handshake is done. */
int lkv__tls_conn_ready(const lkv__tls_conn_t *c);

/* The handshake took too long (the owner's deadline): logs the refusal with after_ms and marks the session
 * failed. */
void lkv__tls_conn_expire(lkv__tls_conn_t *c, unsigned after_ms);

/* The subject CN of the certificate an accepted session's client presented and the context verified, or NULL
 * (no certificate, none asked for, no CN, handshake not done, a dialing session). Valid as long as c. */
const char *lkv__tls_conn_peer_cn(lkv__tls_conn_t *c);

#endif
