/* Listening sockets: one per loop and address, shared through SO_REUSEPORT. */
#ifndef LKV_TRANSPORT_LISTENER_H
#define LKV_TRANSPORT_LISTENER_H

#include <uv.h>

/* Creates a socket on host:port with SO_REUSEADDR and SO_REUSEPORT (so every loop can listen on the same
 * address and the kernel spreads connections), binds, listens, and wraps it in tcp (initialised here on uv)
 * with on_connection as the accept callback. port 0 binds a free port. *bound_port receives the port bound.
 * Returns 0, LKV_EINVAL for a host that is not a numeric IPv4/IPv6 address, or a negative errno (e.g.
 * -EADDRINUSE). On failure no socket is left open, but tcp may be closing: run uv until its close completes
 * before releasing tcp's memory. Call before uv runs. */
int lkv__listener_open(uv_loop_t *uv, uv_tcp_t *tcp, const char *host, int port,
                       uv_connection_cb on_connection, int *bound_port);

/* Checks that nothing listens on host:port yet, with a socket bound without SO_REUSEPORT and closed again:
 * SO_REUSEPORT would let this process join another server's port (of the same user) and take part of its
 * connections, where etcd stops with "address already in use". Call before the first lkv__listener_open of
 * an address. Returns 0 (free, or port 0: the kernel picks a free one), LKV_EINVAL, or a negative errno
 * (-EADDRINUSE). */
int lkv__listener_probe(const char *host, int port);

#endif
