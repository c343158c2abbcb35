/* Listening sockets: socket/bind/listen by hand (libuv 1.44 lacks SO_REUSEPORT), then given to libuv. */
#include "transport/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"

#define LKV__LISTEN_BACKLOG 1024

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof(*ss));
  if (port < 0 || port > 65535) return LKV_EINVAL;
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof(*in4);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*in6);
    return 0;
  }
  return LKV_EINVAL;
}

/* A TCP socket with SO_REUSEADDR (and SO_REUSEPORT when reuseport) bound to *ss: its fd, or a negative
 * errno with nothing left open. */
static int bound_socket(const struct sockaddr_storage *ss, socklen_t len, int reuseport) {
  int one = 1;
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
      bind(fd, (const struct sockaddr *)ss, len) != 0) {
    int rv = -errno;
    close(fd);
    return rv;
  }
  return fd;
}

int lkv__listener_open(uv_loop_t *uv, uv_tcp_t *tcp, const char *host, int port,
                       uv_connection_cb on_connection, int *bound_port) {
  struct sockaddr_storage ss;
  socklen_t len;
  int rv = parse_addr(host, port, &ss, &len);
  if (rv != 0) return rv;

  int fd = bound_socket(&ss, len, 1);
  if (fd < 0) return fd;
  if (listen(fd, LKV__LISTEN_BACKLOG) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    rv = -errno;
    goto err_after_socket;
  }
  *bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);

  if ((rv = uv_tcp_init(uv, tcp)) != 0) goto err_after_socket;
  if ((rv = uv_tcp_open(tcp, fd)) != 0) goto err_after_init;
  /* From here the handle owns fd: closing the handle closes it. */
  if ((rv = uv_listen((uv_stream_t *)tcp, LKV__LISTEN_BACKLOG, on_connection)) != 0) {
    uv_close((uv_handle_t *)tcp, NULL);
    return rv;
  }
  return 0;

err_after_init:
  uv_close((uv_handle_t *)tcp, NULL);
err_after_socket:
  close(fd);
  return rv;
}

int lkv__listener_probe(const char *host, int port) {
  struct sockaddr_storage ss;
  socklen_t len;
  int rv = parse_addr(host, port, &ss, &len);
  if (rv != 0 || port == 0) return rv;
  /* SO_REUSEADDR as the listeners have it: a port left in TIME_WAIT by a previous run is free. */
  int fd = bound_socket(&ss, len, 0);
  if (fd < 0) return fd;
  close(fd);
  return 0;
}
