/* The peer byte stream over TCP, in TLS or not: connect, accept, read, gathered writes, close (see
 * peer_io.h). */
#include "transport/peer_io.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"
#include "transport/tls_internal.h"

#define KEEPALIVE_IDLE_S 2   /* an idle connection is probed after this */
#define USER_TIMEOUT_MS 5000 /* data or probes unacknowledged this long break the connection */
#define TLS_RBUF (64 << 10)  /* ciphertext read at once, then the plaintext decrypted from it */

/* A TLS stream's state: the session, the read buffer, the write of ciphertext in flight. */
struct lkv__peer_tls_s {
  lkv_tls_t *ctx;
  char *server_name; /* dialing: the host to verify; NULL when accepting */
  lkv__tls_conn_t *s;
  uint8_t *rbuf;
  int started; /* uv_read_start was called */
  int reading; /* the owner asked for reads */
  int opened;  /* dialing: on_open was called */
  uv_write_t req;
  uint8_t *out; /* the write in flight */
  size_t out_len, out_cap;
  int writing;        /* req in flight */
  int owner_pending;  /* the owner's write is encrypted, not yet in a write */
  int owner_inflight; /* the write in flight ends the owner's write */
};

/* Options of every peer socket. Raft messages are small and latency-bound: never let Nagle hold one back.
 * A member whose machine died sends no FIN: without a bound on unacknowledged data (TCP_USER_TIMEOUT, also
 * applied to keepalive probes) the connection would look up for the many minutes of TCP's retransmissions,
 * and its messages would pile up there instead of in the queue. Best effort: a failure leaves defaults. */
static void tune(lkv__peer_io_t *io) {
  uv_tcp_nodelay(&io->tcp, 1);
  uv_tcp_keepalive(&io->tcp, 1, KEEPALIVE_IDLE_S);
#ifdef TCP_USER_TIMEOUT
  uv_os_fd_t fd;
  unsigned ms = USER_TIMEOUT_MS;
  if (uv_fileno((uv_handle_t *)&io->tcp, &fd) == 0)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
#endif
}

static void free_tls(lkv__peer_io_t *io) {
  struct lkv__peer_tls_s *t = io->tls;
  if (!t) return;
  lkv__tls_conn_free(t->s);
  free(t->server_name);
  free(t->rbuf);
  free(t->out);
  free(t);
  io->tls = NULL;
}

static void on_close_cb(uv_handle_t *h) {
  lkv__peer_io_t *io = h->data;
  free_tls(io);
  if (io->on_closed) io->on_closed(io);
}

int lkv__peer_io_init(uv_loop_t *loop, lkv__peer_io_t *io) {
  int rv = uv_tcp_init(loop, &io->tcp);
  if (rv != 0) return rv;
  io->tcp.data = io;
  io->open = 1;
  io->writing = 0;
  io->tls = NULL;
  return 0;
}

int lkv__peer_io_use_tls(lkv__peer_io_t *io, lkv_tls_t *tls, const char *server_name) {
  struct lkv__peer_tls_s *t = calloc(1, sizeof(*t));
  if (!t) return LKV_ENOMEM;
  t->ctx = tls;
  t->rbuf = malloc(TLS_RBUF);
  if (!t->rbuf || (server_name && !(t->server_name = strdup(server_name)))) {
    free(t->rbuf);
    free(t);
    return LKV_ENOMEM;
  }
  io->tls = t;
  return 0;
}

/* ---- TLS: ciphertext out ---- */

static void tls_write_cb(uv_write_t *req, int status);

/* Writes whatever ciphertext the session has (handshake records, encrypted writes) unless a write is in
 * flight: its completion comes back here. Returns 0 or a negative errno. */
static int tls_flush(lkv__peer_io_t *io) {
  struct lkv__peer_tls_s *t = io->tls;
  if (t->writing || !io->open) return 0;
  t->out_len = 0;
  int rv = lkv__tls_conn_send(t->s, NULL, NULL, &t->out, &t->out_len, &t->out_cap, 0);
  if (rv != 0) return rv == LKV_ENOMEM ? UV_ENOMEM : UV_EPROTO;
  if (t->out_len == 0) return 0;
  uv_buf_t b = uv_buf_init((char *)t->out, (unsigned)t->out_len);
  t->req.data = io;
  rv = uv_write(&t->req, (uv_stream_t *)&io->tcp, &b, 1, tls_write_cb);
  if (rv != 0) return rv;
  t->writing = 1;
  t->owner_inflight = t->owner_pending;
  t->owner_pending = 0;
  return 0;
}

static void tls_write_cb(uv_write_t *req, int status) {
  lkv__peer_io_t *io = req->data;
  struct lkv__peer_tls_s *t = io->tls;
  t->writing = 0;
  if (t->owner_inflight) {
    t->owner_inflight = 0;
    io->writing = 0;
    if (io->on_written) io->on_written(io, status);
  }
  int rv = status == 0 && io->open ? tls_flush(io) : status;
  if (rv != 0 && t->owner_pending) { /* the owner's write cannot go out: it ends with the error */
    t->owner_pending = 0;
    io->writing = 0;
    if (io->on_written) io->on_written(io, rv);
  }
}

/* ---- TLS: ciphertext in ---- */

/* Dialing: the handshake is done, the owner may write (its hello). Once. */
static void tls_opened(lkv__peer_io_t *io) {
  struct lkv__peer_tls_s *t = io->tls;
  if (t->server_name && !t->opened && lkv__tls_conn_ready(t->s)) {
    t->opened = 1;
    if (io->on_open) io->on_open(io, 0);
  }
}

/* Hands decrypted bytes to the owner, through its own buffers. */
static int tls_deliver(void *arg, const uint8_t *data, size_t len) {
  lkv__peer_io_t *io = arg;
  struct lkv__peer_tls_s *t = io->tls;
  tls_opened(io);
  while (len > 0) {
    if (!io->open) return LKV_ECANCELED;
    if (!t->reading) return LKV_EPROTO; /* the peer protocol never sends before it is asked */
    uv_buf_t b;
    io->on_alloc(io, &b);
    size_t k = len < b.len ? len : b.len;
    memcpy(b.base, data, k);
    io->on_read(io, (ssize_t)k);
    data += k, len -= k;
  }
  return 0;
}

/* The stream ended or failed (status < 0): a dial not opened yet failed, else the owner's reads end. */
static void tls_broken(lkv__peer_io_t *io, int status) {
  struct lkv__peer_tls_s *t = io->tls;
  if (!io->open) return;
  if (t->server_name && !t->opened) {
    t->opened = 1;
    if (io->on_open) io->on_open(io, status);
  } else if (t->reading) {
    io->on_read(io, status);
  }
}

static void tls_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  lkv__peer_io_t *io = h->data;
  buf->base = (char *)io->tls->rbuf;
  buf->len = TLS_RBUF;
}

static void tls_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  lkv__peer_io_t *io = s->data;
  struct lkv__peer_tls_s *t = io->tls;
  if (n == 0 || !io->open) return;
  if (n < 0) {
    tls_broken(io, (int)n);
    return;
  }
  int rv = lkv__tls_conn_recv(t->s, t->rbuf, (size_t)n, t->rbuf, TLS_RBUF, tls_deliver, io);
  if (!io->open) return;
  tls_opened(io);
  int fv = tls_flush(io); /* handshake records, or the alert of a refusal */
  if (rv != 0 || fv != 0) {
    uv_read_stop(s);
    tls_broken(io, UV_EPROTO);
  }
}

/* The session, once the other end's address is known; dialing also sends the ClientHello. */
static int tls_start(lkv__peer_io_t *io) {
  struct lkv__peer_tls_s *t = io->tls;
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int known = uv_tcp_getpeername(&io->tcp, (struct sockaddr *)&ss, &len) == 0;
  if (lkv__tls_conn_new(t->ctx, known ? (struct sockaddr *)&ss : NULL, t->server_name, &t->s) != 0)
    return UV_ENOMEM;
  if (!t->server_name) return 0;
  int rv = uv_read_start((uv_stream_t *)&io->tcp, tls_alloc_cb, tls_read_cb);
  if (rv == 0) t->started = 1;
  return rv != 0 ? rv : tls_flush(io);
}

/* ---- the stream ---- */

static void on_connect_cb(uv_connect_t *req, int status) {
  lkv__peer_io_t *io = req->data;
  if (status == 0) tune(io);
  if (status == 0 && io->tls) { /* on_open follows the handshake */
    status = tls_start(io);
    if (status == 0) return;
    io->tls->opened = 1;
  }
  if (io->on_open) io->on_open(io, status);
}

int lkv__peer_io_connect(lkv__peer_io_t *io, const struct sockaddr *sa) {
  io->creq.data = io;
  return uv_tcp_connect(&io->creq, &io->tcp, sa, on_connect_cb);
}

int lkv__peer_io_accept(uv_stream_t *server, lkv__peer_io_t *io) {
  int rv = uv_accept(server, (uv_stream_t *)&io->tcp);
  if (rv == 0) tune(io);
  if (rv == 0 && io->tls) rv = tls_start(io);
  return rv;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  lkv__peer_io_t *io = h->data;
  io->on_alloc(io, buf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  lkv__peer_io_t *io = s->data;
  if (n == 0) return; /* EAGAIN: nothing this time */
  io->on_read(io, n);
}

int lkv__peer_io_read_start(lkv__peer_io_t *io) {
  struct lkv__peer_tls_s *t = io->tls;
  if (!t) return uv_read_start((uv_stream_t *)&io->tcp, alloc_cb, read_cb);
  t->reading = 1;
  if (t->started) return 0;
  int rv = uv_read_start((uv_stream_t *)&io->tcp, tls_alloc_cb, tls_read_cb);
  if (rv == 0) t->started = 1;
  return rv;
}

static void write_cb(uv_write_t *req, int status) {
  lkv__peer_io_t *io = req->data;
  io->writing = 0;
  if (io->on_written) io->on_written(io, status);
}

/* TLS: the buffers are encrypted at once (so the owner's memory is free again before on_written). */
static int tls_write(lkv__peer_io_t *io, const uv_buf_t *bufs, unsigned n) {
  struct lkv__peer_tls_s *t = io->tls;
  if (!t->s || !lkv__tls_conn_ready(t->s)) return UV_ENOTCONN;
  for (unsigned i = 0; i < n; i++)
    if (lkv__tls_conn_write(t->s, (const uint8_t *)bufs[i].base, bufs[i].len) != 0) return UV_EPROTO;
  io->writing = 1;
  t->owner_pending = 1;
  int rv = tls_flush(io);
  if (rv != 0) {
    io->writing = 0;
    t->owner_pending = 0;
  }
  return rv;
}

int lkv__peer_io_write(lkv__peer_io_t *io, const uv_buf_t *bufs, unsigned n) {
  if (io->tls) return tls_write(io, bufs, n);
  io->wreq.data = io;
  int rv = uv_write(&io->wreq, (uv_stream_t *)&io->tcp, bufs, n, write_cb);
  if (rv == 0) io->writing = 1;
  return rv;
}

void lkv__peer_io_close(lkv__peer_io_t *io) {
  if (!io->open) return;
  io->open = 0;
  uv_close((uv_handle_t *)&io->tcp, on_close_cb);
}
