/* TLS sessions over memory BIOs: the transport reads and writes the socket, OpenSSL only sees buffers. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "transport/tls_internal.h"

/* A plaintext buffer larger than this is released after use rather than kept for the connection's life. */
#define KEEP_PLAIN (256 * 1024)

struct lkv__tls_conn_s {
  SSL *ssl;
  BIO *rbio, *wbio; /* received ciphertext in, ciphertext to send out; owned by ssl */
  int client;       /* we dialed */
  int ready;        /* handshake done */
  int failed;
  uint8_t *plain; /* produce's output before encryption */
  size_t plen, pcap;
  char remote[80];
  lkv__tls_info_t info; /* the verify callback's view: the client's address, its reason for a refusal */
  char cn[72];          /* the verified client certificate's subject CN once asked for, "" for none */
  int cn_read;
};

/* A dialing session checks that the server's certificate names the host dialed (Go's ServerName), and
 * sends that name as SNI unless it is an address. */
static int set_server(SSL *ssl, const char *name) {
  unsigned char addr[16];
  if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -1;
  return SSL_set1_host(ssl, name) == 1 && SSL_set_tlsext_host_name(ssl, name) == 1 ? 0 : -1;
}

/* The numeric host of remote into host (INET6_ADDRSTRLEN bytes) and its port; "?" and 0 when unknown. */
static int address(const struct sockaddr *remote, char *host) {
  snprintf(host, INET6_ADDRSTRLEN, "?");
  if (remote && remote->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)remote;
    inet_ntop(AF_INET6, &a->sin6_addr, host, INET6_ADDRSTRLEN);
    return ntohs(a->sin6_port);
  }
  if (remote && remote->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)remote;
    inet_ntop(AF_INET, &a->sin_addr, host, INET6_ADDRSTRLEN);
    return ntohs(a->sin_port);
  }
  return 0;
}

int lkv__tls_conn_new(lkv_tls_t *tls, const struct sockaddr *remote, const char *server_name,
                      lkv__tls_conn_t **out) {
  lkv__tls_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL) return LKV_ENOMEM;
  c->client = server_name != NULL;
  SSL_CTX *ctx = lkv__tls_acquire(tls, c->client);
  if (ctx == NULL) goto err_after_alloc;
  c->ssl = SSL_new(ctx);
  SSL_CTX_free(ctx); /* the SSL holds its own reference */
  if (c->ssl == NULL) goto err_after_alloc;
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->rbio == NULL || c->wbio == NULL) {
    BIO_free(c->rbio), BIO_free(c->wbio);
    goto err_after_ssl;
  }
  BIO_set_mem_eof_return(c->rbio, -1); /* an empty buffer means "more later", not end of stream */
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  if (c->client) {
    SSL_set_connect_state(c->ssl);
    if (set_server(c->ssl, server_name) != 0) goto err_after_ssl;
  } else {
    SSL_set_accept_state(c->ssl);
  }
  int port = address(remote, c->info.remote_host);
  lkv__tls_set_info(c->ssl, &c->info);
  snprintf(c->remote, sizeof(c->remote), strchr(c->info.remote_host, ':') ? "[%s]:%d" : "%s:%d",
           c->info.remote_host, port);
  *out = c;
  return 0;

err_after_ssl:
  SSL_free(c->ssl);
err_after_alloc:
  ERR_clear_error();
  free(c);
  return LKV_ENOMEM;
}

void lkv__tls_conn_free(lkv__tls_conn_t *c) {
  if (c == NULL) return;
  SSL_free(c->ssl);
  free(c->plain);
  free(c);
}

int lkv__tls_conn_failed(const lkv__tls_conn_t *c) {
  return c->failed;
}

int lkv__tls_conn_ready(const lkv__tls_conn_t *c) {
  return c->ready;
}

static const char *what(const lkv__tls_conn_t *c) {
  return c->ready    ? "closed the connection of"
         : c->client ? "handshake failed with"
                     : "refused a connection from";
}

const char *lkv__tls_conn_peer_cn(lkv__tls_conn_t *c) {
  if (c->client || !c->ready) return NULL;
  if (!c->cn_read) { /* read once: the certificate cannot change within a session (no renegotiation) */
    c->cn_read = 1;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (cert == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK ||
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, c->cn, sizeof(c->cn)) <= 0)
      c->cn[0] = '\0';
  }
  return c->cn[0] ? c->cn : NULL;
}

void lkv__tls_conn_expire(lkv__tls_conn_t *c, unsigned after_ms) {
  c->failed = 1;
  fprintf(stderr, "ledgerkv: tls: %s %s: no handshake within %u ms\n", what(c), c->remote, after_ms);
}

/* The session cannot go on: says why in one line (the verify callback's reason, else the server
 * certificate's verification, else OpenSSL's). A peer that simply ended the session (close_notify) is not
 * worth a line. */
static int failed(lkv__tls_conn_t *c, int ssl_error) {
  c->failed = 1;
  if (ssl_error != SSL_ERROR_ZERO_RETURN) {
    /* A dialer that verifies the server and refused it says why; else OpenSSL's error (an alert). */
    long v = c->client && (SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER) ? SSL_get_verify_result(c->ssl)
                                                                          : X509_V_OK;
    const char *why = c->info.why[0]   ? c->info.why
                      : v != X509_V_OK ? X509_verify_cert_error_string(v)
                                       : lkv__tls_reason();
    fprintf(stderr, "ledgerkv: tls: %s %s: %s\n", what(c), c->remote, why);
  }
  ERR_clear_error();
  return LKV_EPROTO;
}

/* Advances the handshake: 0 while it goes on or once it is done, else the failure. */
static int handshake(lkv__tls_conn_t *c) {
  if (c->ready) return 0;
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    c->ready = 1;
    return 0;
  }
  int e = SSL_get_error(c->ssl, r);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : failed(c, e);
}

int lkv__tls_conn_recv(lkv__tls_conn_t *c, const uint8_t *data, size_t len, uint8_t *scratch,
                       size_t scratch_len, lkv__tls_consume_fn consume, void *arg) {
  if (c->failed) return LKV_EPROTO;
  if (len > 0 && BIO_write(c->rbio, data, (int)len) != (int)len) return LKV_ENOMEM;
  int rv = handshake(c);
  if (rv != 0 || !c->ready) return rv;
  ERR_clear_error();
  for (;;) {
    int n = SSL_read(c->ssl, scratch, scratch_len > INT32_MAX ? INT32_MAX : (int)scratch_len);
    if (n <= 0) {
      int e = SSL_get_error(c->ssl, n);
      return e == SSL_ERROR_WANT_READ ? 0 : failed(c, e);
    }
    rv = consume(arg, scratch, (size_t)n);
    if (rv != 0) return rv;
  }
}

int lkv__tls_conn_write(lkv__tls_conn_t *c, const uint8_t *data, size_t len) {
  if (!c->ready || c->failed) return LKV_EPROTO;
  ERR_clear_error();
  /* A memory BIO takes everything: SSL_write writes all of it or fails. */
  if (len > 0 && SSL_write(c->ssl, data, (int)len) != (int)len) return failed(c, SSL_get_error(c->ssl, 0));
  return 0;
}

int lkv__tls_conn_send(lkv__tls_conn_t *c, lkv__tls_produce_fn produce, void *arg, uint8_t **buf, size_t *len,
                       size_t *cap, size_t limit) {
  if (!c->failed && c->client && !c->ready) {
    int rv = handshake(c); /* the first call writes the ClientHello */
    if (rv != 0) return rv;
  }
  if (c->ready && !c->failed && produce != NULL) {
    c->plen = 0;
    int rv = produce(arg, &c->plain, &c->plen, &c->pcap, limit);
    if (rv != 0 || (rv = lkv__tls_conn_write(c, c->plain, c->plen)) != 0) return rv;
    if (c->pcap > KEEP_PLAIN) {
      free(c->plain);
      c->plain = NULL;
      c->pcap = 0;
    }
  }
  size_t pending = BIO_ctrl_pending(c->wbio);
  if (pending == 0) return 0;
  void *p = *buf;
  if (lkv_grow(&p, cap, *len + pending, 1) != 0) return LKV_ENOMEM;
  *buf = p;
  int n = BIO_read(c->wbio, *buf + *len, (int)pending);
  if (n > 0) *len += (size_t)n;
  return 0;
}
