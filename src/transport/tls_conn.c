/* TLS sessions over memory BIOs: the transport reads and writes the socket, OpenSSL only sees buffers. */
#include <openssl/err.h>
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
  int ready;        /* handshake done */
  int failed;
  uint8_t *plain; /* produce's output before encryption */
  size_t plen, pcap;
  char remote[64];
  char why[LKV__TLS_WHY]; /* the verify callback's reason for a refusal */
};

int lkv__tls_conn_new(lkv_tls_t *tls, const char *remote, lkv__tls_conn_t **out) {
  lkv__tls_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL) return LKV_ENOMEM;
  SSL_CTX *ctx = lkv__tls_acquire(tls);
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
  SSL_set_accept_state(c->ssl);
  lkv__tls_set_why(c->ssl, c->why);
  snprintf(c->remote, sizeof(c->remote), "%s", remote);
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

void lkv__tls_conn_expire(lkv__tls_conn_t *c, unsigned after_ms) {
  c->failed = 1;
  fprintf(stderr, "ledgerkv: tls: refused a connection from %s: no handshake within %u ms\n", c->remote,
          after_ms);
}

/* The session cannot go on: says why in one line (the verify callback's reason, else OpenSSL's). A peer
 * that simply went away (close_notify, or nothing to say) is not worth a line. */
static int failed(lkv__tls_conn_t *c, int ssl_error) {
  c->failed = 1;
  if (ssl_error != SSL_ERROR_ZERO_RETURN) {
    const char *why = c->why[0] ? c->why : lkv__tls_reason();
    fprintf(stderr, "ledgerkv: tls: %s %s: %s\n",
            c->ready ? "closed the connection of" : "refused a connection from", c->remote, why);
  }
  ERR_clear_error();
  return LKV_EPROTO;
}

int lkv__tls_conn_recv(lkv__tls_conn_t *c, const uint8_t *data, size_t len, uint8_t *scratch,
                       size_t scratch_len, lkv__tls_consume_fn consume, void *arg) {
  if (c->failed) return LKV_EPROTO;
  if (len > 0 && BIO_write(c->rbio, data, (int)len) != (int)len) return LKV_ENOMEM;
  ERR_clear_error();
  if (!c->ready) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : failed(c, e);
    }
    c->ready = 1;
  }
  for (;;) {
    int n = SSL_read(c->ssl, scratch, scratch_len > INT32_MAX ? INT32_MAX : (int)scratch_len);
    if (n <= 0) {
      int e = SSL_get_error(c->ssl, n);
      return e == SSL_ERROR_WANT_READ ? 0 : failed(c, e);
    }
    int rv = consume(arg, scratch, (size_t)n);
    if (rv != 0) return rv;
  }
}

int lkv__tls_conn_send(lkv__tls_conn_t *c, lkv__tls_produce_fn produce, void *arg, uint8_t **buf, size_t *len,
                       size_t *cap, size_t limit) {
  if (c->ready && !c->failed) {
    c->plen = 0;
    int rv = produce(arg, &c->plain, &c->plen, &c->pcap, limit);
    if (rv != 0) return rv;
    ERR_clear_error();
    /* A memory BIO takes everything: SSL_write writes all of it or fails. */
    if (c->plen > 0 && SSL_write(c->ssl, c->plain, (int)c->plen) != (int)c->plen)
      return failed(c, SSL_get_error(c->ssl, 0));
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
