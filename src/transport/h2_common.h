/* HTTP/2 settings and helpers shared by the server (h2_conn.c) and the client (grpc_client_*.c). */
#ifndef LKV_TRANSPORT_H2_COMMON_H
#define LKV_TRANSPORT_H2_COMMON_H

#include <nghttp2/nghttp2.h>

/* Receive windows well above HTTP/2's 64 KiB default, so that large messages (a big Put or Range
 * response) stream in without a round trip per 64 KiB; nghttp2 returns the credit as soon as the bytes
 * are handed to us. */
#define LKV__H2_STREAM_WINDOW (1 << 20)
#define LKV__H2_CONN_WINDOW (16 << 20)

/* An nghttp2 header entry from a string literal name and a value of known length. */
#define LKV__NV(n, v, vlen) \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE }

#endif
