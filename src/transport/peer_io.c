/* The peer byte stream over plain TCP: connect, accept, read, gathered writes, close (see peer_io.h). */
#include "transport/peer_io.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#define KEEPALIVE_IDLE_S 2   /* an idle connection is probed after this */
#define USER_TIMEOUT_MS 5000 /* data or probes unacknowledged this long break the connection */

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

static void on_close_cb(uv_handle_t *h) {
  lkv__peer_io_t *io = h->data;
  if (io->on_closed) io->on_closed(io);
}

int lkv__peer_io_init(uv_loop_t *loop, lkv__peer_io_t *io) {
  int rv = uv_tcp_init(loop, &io->tcp);
  if (rv != 0) return rv;
  io->tcp.data = io;
  io->open = 1;
  io->writing = 0;
  return 0;
}

static void on_connect_cb(uv_connect_t *req, int status) {
  lkv__peer_io_t *io = req->data;
  if (status == 0) tune(io);
  if (io->on_open) io->on_open(io, status);
}

int lkv__peer_io_connect(lkv__peer_io_t *io, const struct sockaddr *sa) {
  io->creq.data = io;
  return uv_tcp_connect(&io->creq, &io->tcp, sa, on_connect_cb);
}

int lkv__peer_io_accept(uv_stream_t *server, lkv__peer_io_t *io) {
  int rv = uv_accept(server, (uv_stream_t *)&io->tcp);
  if (rv == 0) tune(io);
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
  return uv_read_start((uv_stream_t *)&io->tcp, alloc_cb, read_cb);
}

static void write_cb(uv_write_t *req, int status) {
  lkv__peer_io_t *io = req->data;
  io->writing = 0;
  if (io->on_written) io->on_written(io, status);
}

int lkv__peer_io_write(lkv__peer_io_t *io, const uv_buf_t *bufs, unsigned n) {
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
