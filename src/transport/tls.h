/* TLS contexts with etcd 3.4's semantics: server certificates, client certificate checks, re-reading on
 * change. */
#ifndef LKV_TRANSPORT_TLS_H
#define LKV_TRANSPORT_TLS_H

#include <stddef.h>

/*
 * A TLS context is the set of certificates and rules a listener uses for every handshake it accepts, and the
 * peer transport also for the connections it dials (with the same certificate, as etcd's peers do). It
 * mirrors etcd 3.4's TLSInfo.ServerConfig and ClientConfig: TLS 1.2 at least, client certificates required
 * and verified when a trusted CA file is given or client_cert_auth is set, servers verified against the
 * trusted CAs and the host dialed, and the files re-read when they change on disk (looked at, at most once
 * a second, when a connection begins), so that rotating a certificate needs no restart. A context is shared
 * by every thread; libssl stays inside src/transport.
 */

typedef struct lkv_tls_s lkv_tls_t;

typedef struct lkv_tls_options_s {
  const char *cert_file;        /* PEM certificate (chain), required */
  const char *key_file;         /* PEM private key of cert_file, required */
  const char *trusted_ca_file;  /* PEM CA bundle for client certificates; NULL or "" for none */
  int client_cert_auth;         /* require a client certificate (etcd also requires it when a trusted CA
                                 * file is given); without a CA file the system's roots verify it */
  const char *crl_file;         /* PEM or DER CRL: a client chain with a listed serial is refused (etcd
                                 * matches serials only); NULL or "" for none */
  const char *allowed_hostname; /* a client certificate must match this host name or IP address (its
                                 * SANs); NULL or "" for any */
  const char *cipher_suites;    /* comma-separated Go cipher-suite names (etcd's --cipher-suites); NULL or
                                 * "" for OpenSSL's defaults. TLS 1.3 suites are always on, as in Go */
  const char *alpn;             /* the one ALPN protocol accepted connections speak ("h2" for gRPC): a client
                                 * offering others only is refused, as Go's server does; NULL for none */
  const char *allowed_cn;       /* a client certificate's subject CN must be exactly this (etcd's
                                 * --peer-cert-allowed-cn); NULL or "" for any; not with allowed_hostname */
  int check_client_san;         /* a client certificate with IP or DNS SANs must name the address it connects
                                 * from (etcd's peer listener; DNS names are resolved, which blocks the
                                 * calling thread) */
  int self_signed;              /* cert_file is --auto-tls's: connections dialed do not verify the server,
                                 * as etcd does with its self-signed certificates */
} lkv_tls_options_t;

/* Creates a context and loads its files once, so that a bad file is reported at start-up.
 * out: out, the context (free with lkv_tls_free). opts: in, copied (strings included).
 * err, errlen: out, on LKV_EINVAL a one-line reason naming the file or the suite.
 * Returns 0, LKV_EINVAL (unreadable or mismatched files, unknown cipher suite, no usable suite, both
 * allowed_cn and allowed_hostname) or LKV_ENOMEM; *out is then untouched. */
int lkv_tls_new(lkv_tls_t **out, const lkv_tls_options_t *opts, char *err, size_t errlen);

/* Frees a context. Every connection that used it must be closed (the transport that used it stopped). NULL
 * is ignored. */
void lkv_tls_free(lkv_tls_t *tls);

/* Translates etcd's --cipher-suites value (Go's names, comma-separated, no spaces) into an OpenSSL cipher
 * list for TLS 1.2 ("ECDHE-RSA-AES128-GCM-SHA256:..."). Go's TLS 1.3 names are accepted and skipped: those
 * suites cannot be configured in Go either. Pure.
 * names: in. out, outlen: out, the NUL-terminated list ("" when only TLS 1.3 names were given).
 * err, errlen: out, on LKV_EINVAL etcd's words: unexpected TLS cipher suite "X".
 * Returns the number of TLS 1.2 suites written (>= 0), or LKV_EINVAL (unknown name, empty name) or
 * LKV_ENOMEM (out too small). */
int lkv_tls_cipher_list(const char *names, char *out, size_t outlen, char *err, size_t errlen);

/* etcd's --auto-tls: makes a self-signed certificate as etcd 3.4's transport.SelfCert does (P-521 ECDSA
 * key, random 128-bit serial, subject O=etcd, one year, key usage digitalSignature and keyEncipherment,
 * extended key usage serverAuth, not a CA, the hosts as IP or DNS SANs) in dir/cert.pem and dir/key.pem
 * (mode 0600), unless both files exist already: then they are used as they are, as etcd does.
 * dir: in, created with its parents if missing. hosts: in, n host names or numeric addresses (no port).
 * cert_path, key_path: out, buffers of path_len bytes receiving the two paths.
 * err, errlen: out, the reason on failure.
 * Returns 0, LKV_EINVAL (a path too long, a file that cannot be written) or LKV_ENOMEM. */
int lkv_tls_self_cert(const char *dir, const char *const *hosts, size_t n, char *cert_path, char *key_path,
                      size_t path_len, char *err, size_t errlen);

#endif
