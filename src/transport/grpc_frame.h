/* gRPC length-prefixed message codec: incremental deframer, prefix framer, grpc-message percent-coding. */
#ifndef LKV_TRANSPORT_GRPC_FRAME_H
#define LKV_TRANSPORT_GRPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Pure codec (no sockets, no HTTP/2): every gRPC message on the wire is a 1-byte compressed flag, a 4-byte
 * big-endian length and the payload (grpc PROTOCOL-HTTP2.md, "Length-Prefixed-Message"). Messages arrive in
 * DATA frames whose boundaries are unrelated to message boundaries, so the deframer accepts arbitrary chunks.
 */

#define LKV__GRPC_PREFIX_LEN 5

/* Deframer state. Fields are private; zero-initialised by lkv__grpc_deframer_init. */
typedef struct lkv__grpc_deframer_s {
  size_t max_len;                       /* largest payload accepted */
  uint8_t prefix[LKV__GRPC_PREFIX_LEN]; /* prefix bytes seen so far */
  size_t prefix_have;                   /* 0..5; 5 means the body is being collected */
  size_t body_len;                      /* payload length announced by the prefix */
  size_t body_have;                     /* payload bytes copied into body */
  uint8_t *body;                        /* assembly buffer for a payload split across chunks */
  size_t body_cap;
} lkv__grpc_deframer_t;

/* Receives one complete payload (prefix stripped). msg is valid only during the call (it may point into the
 * chunk being fed). Return 0 to continue, any non-zero value to stop: feed then returns that value. */
typedef int (*lkv__grpc_message_cb)(void *ud, const uint8_t *msg, size_t len);

/* Prepares d to accept payloads of at most max_len bytes. Never fails; allocates nothing. */
void lkv__grpc_deframer_init(lkv__grpc_deframer_t *d, size_t max_len);

/* Releases the assembly buffer. d may be re-initialised afterwards. */
void lkv__grpc_deframer_free(lkv__grpc_deframer_t *d);

/* Consumes len bytes of data and calls cb (in order) for every message they complete. A payload that lies
 * entirely inside data is passed without copying; one split across chunks is assembled in a buffer that
 * grows only as bytes arrive (an announced length is never pre-allocated).
 * Returns 0 when all bytes were consumed, or:
 *   LKV_EMSGSIZE     a prefix announced more than max_len bytes (reported as soon as the prefix is complete,
 *                    before any of the body); lkv__grpc_deframer_announced gives the announced length;
 *   LKV_EUNSUPPORTED a prefix has the compressed flag set (this codec speaks identity encoding only);
 *   LKV_EPROTO       the flag byte is neither 0 nor 1;
 *   LKV_ENOMEM       the assembly buffer could not grow;
 *   cb's non-zero return value.
 * After any non-zero return the deframer must not be fed again (only freed). */
int lkv__grpc_deframer_feed(lkv__grpc_deframer_t *d, const uint8_t *data, size_t len, lkv__grpc_message_cb cb,
                            void *ud);

/* 1 when a message has begun (some prefix or body bytes consumed) but is not complete, else 0: a stream
 * that ends in this state was cut inside a message. */
int lkv__grpc_deframer_partial(const lkv__grpc_deframer_t *d);

/* The payload length announced by the last complete prefix (meaningful after LKV_EMSGSIZE). */
size_t lkv__grpc_deframer_announced(const lkv__grpc_deframer_t *d);

/* Writes the 5-byte prefix of an uncompressed message of len payload bytes into out. */
void lkv__grpc_frame_prefix(uint8_t out[LKV__GRPC_PREFIX_LEN], uint32_t len);

/* Percent-encodes msg for the grpc-message header: bytes outside 0x20..0x7E and '%' become "%XX" (upper-case
 * hex). Writes at most cap bytes including a terminating NUL into out (out may be NULL when cap is 0), like
 * snprintf. Returns the length of the full encoding without the NUL; the output was complete iff it is
 * smaller than cap. */
size_t lkv__grpc_percent_encode(char *out, size_t cap, const char *msg);

/* Decodes a received grpc-message value of len bytes (not NUL-terminated). A malformed escape is kept as
 * it stands, as grpc-go does. Returns a NUL-terminated malloc'd string, or NULL when out of memory. */
char *lkv__grpc_percent_decode(const uint8_t *v, size_t len);

#endif
