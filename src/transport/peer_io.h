/* The peer transport's byte stream: the one place that reads and writes peer sockets, in TLS or not. */
#ifndef LKV_TRANSPORT_PEER_IO_H
#define LKV_TRANSPORT_PEER_IO_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "transport/tls.h"

/*
 * Connection code (peer_conn.c, peer_accept.c) never calls uv_read/uv_write itself: it asks this layer
 * for a connected stream and gets plaintext bytes through its callbacks. The stream is plain TCP, or TLS
 * (lkv__peer_io_use_tls): the handshake runs between the socket connecting and on_open (dialing) or after
 * the accept (its failure then ends the reads), received records are decrypted into the buffers the
 * owner's on_alloc provides, and what lkv__peer_io_write is given is encrypted at once; the owner code is
 * the same either way.
 *
 * One write at a time (the owner batches); the owner's callbacks never run after on_closed.
 */

typedef struct lkv__peer_io_s lkv__peer_io_t;

struct lkv__peer_io_s {
  uv_tcp_t tcp; /* tcp.data == this */
  uv_connect_t creq;
  uv_write_t wreq;
  void *owner;
  /* Connect finished: status 0 or a negative errno. Only after lkv__peer_io_connect. */
  void (*on_open)(lkv__peer_io_t *io, int status);
  /* Where the next plaintext bytes may go. */
  void (*on_alloc)(lkv__peer_io_t *io, uv_buf_t *buf);
  /* n > 0 bytes landed at the start of the last on_alloc buffer; n < 0: end of stream (UV_EOF) or error. */
  void (*on_read)(lkv__peer_io_t *io, ssize_t n);
  /* The write finished: status 0 (all handed to the kernel) or an error (nothing more can be written). */
  void (*on_written)(lkv__peer_io_t *io, int status);
  void (*on_closed)(lkv__peer_io_t *io);
  int open;                    /* between lkv__peer_io_init and lkv__peer_io_close */
  int writing;                 /* a write is in flight */
  struct lkv__peer_tls_s *tls; /* NULL: plain TCP (peer_io.c) */
};

/* Initialises the socket handle on loop. Returns 0 or a negative errno. On success the owner must call
 * lkv__peer_io_close (and wait for on_closed) before the memory goes. */
int lkv__peer_io_init(uv_loop_t *loop, lkv__peer_io_t *io);

/* Makes io speak TLS with tls's context (which must outlive io): dialing server_name, which the server's
 * certificate must name, or accepting when server_name is NULL. After lkv__peer_io_init, before
 * lkv__peer_io_connect or lkv__peer_io_accept. Returns 0 or LKV_ENOMEM. */
int lkv__peer_io_use_tls(lkv__peer_io_t *io, lkv_tls_t *tls, const char *server_name);

/* Starts connecting to sa; on_open follows (with TLS, once the handshake is done, or with its failure).
 * Returns 0 or a negative errno (then no on_open). */
int lkv__peer_io_connect(lkv__peer_io_t *io, const struct sockaddr *sa);

/* Accepts a pending connection of server into io (initialised). Returns 0 or a negative errno. */
int lkv__peer_io_accept(uv_stream_t *server, lkv__peer_io_t *io);

/* Starts delivering bytes through on_alloc / on_read. Returns 0 or a negative errno. */
int lkv__peer_io_read_start(lkv__peer_io_t *io);

/* Writes bufs[0..n) in order (gathered: one writev for the lot as far as the kernel takes it); the buffers
 * must stay valid until on_written. Only when no write is in flight. Returns 0 or a negative errno (then
 * no on_written). */
int lkv__peer_io_write(lkv__peer_io_t *io, const uv_buf_t *bufs, unsigned n);

/* Closes the stream: a write in flight finishes with an error first, then on_closed runs. Idempotent. */
void lkv__peer_io_close(lkv__peer_io_t *io);

#endif
