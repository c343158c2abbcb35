/* The peer transport's pure functions: hello, reply and frame codec (peer_frame.c), peer URL parsing
 * (peer_url.c). */
#ifndef LKV_TRANSPORT_PEER_FRAME_H
#define LKV_TRANSPORT_PEER_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addrinfo;

/* The layouts are documented in peer.h. Buffer in, result out: no allocation, no I/O; every decoder checks
 * lengths before reading and refuses malformed input, since all of it comes from the network. */

#define LKV__PEER_MAGIC "lkvpeer" /* 7 bytes, without its NUL */
#define LKV__PEER_MAGIC_LEN 7
#define LKV__PEER_HELLO_SIZE 32
#define LKV__PEER_REPLY_HEAD 20
#define LKV__PEER_REPLY_MAX_TEXT 1024
#define LKV__PEER_FRAME_HEAD 4

typedef enum {
  LKV__PEER_OK = 0,
  LKV__PEER_CLUSTER_MISMATCH = 1,
  LKV__PEER_REMOVED = 2,
  LKV__PEER_WRONG_RECIPIENT = 3,
  LKV__PEER_UNSUPPORTED_VERSION = 4,
  LKV__PEER_QUERY_REFUSED = 5, /* a membership query this net does not answer (no on_query, or it failed) */
  LKV__PEER_REMOVED_PROOF = 6, /* as REMOVED, the text being the removal (opaque bytes) instead of a reason */
  LKV__PEER_STATUS_MAX = 6
} lkv__peer_status_t;

typedef struct {
  uint8_t version;
  uint64_t cluster_id;
  uint64_t from;
  uint64_t to;
  int query; /* a membership query: cluster id, from and to are all 0 on the wire (no member has id 0) */
} lkv__peer_hello_t;

typedef struct {
  uint8_t status; /* lkv__peer_status_t */
  uint8_t version;
  uint64_t cluster_id;
  uint64_t member_id;
  const char *text; /* not NUL-terminated; decode: points into the buffer */
  size_t text_len;
} lkv__peer_reply_t;

/* Writes h into out (LKV__PEER_HELLO_SIZE bytes); with h->query set, a query hello (the ids written as 0,
 * whatever h holds). */
void lkv__peer_hello_encode(const lkv__peer_hello_t *h, uint8_t *out);

/* Decodes a hello from the len bytes received so far. Returns 0 when complete (*h filled; the hello is
 * LKV__PEER_HELLO_SIZE bytes; h->query set for a query hello, whose ids are all 0); LKV_EAGAIN when the
 * bytes so far are a valid beginning but more are needed; LKV_EUNSUPPORTED when the version is newer than
 * ours (known after 8 bytes: h->version set, the rest of h zero); LKV_EPROTO for a wrong magic (detected
 * from the first differing byte), version 0, or a from or to id of 0 in a hello that is not a query. */
int lkv__peer_hello_decode(const uint8_t *buf, size_t len, lkv__peer_hello_t *h);

/* Bytes r needs: LKV__PEER_REPLY_HEAD + text_len (text_len must be <= LKV__PEER_REPLY_MAX_TEXT). */
size_t lkv__peer_reply_size(const lkv__peer_reply_t *r);

/* Writes r into out (cap bytes). Returns the size written, or 0 when cap is too small or r->text_len is
 * above LKV__PEER_REPLY_MAX_TEXT. */
size_t lkv__peer_reply_encode(const lkv__peer_reply_t *r, uint8_t *out, size_t cap);

/* Decodes a reply from the len bytes received so far. Returns 0 when complete (*r filled, r->text points
 * into buf, *used = its size); LKV_EAGAIN when more bytes are needed; LKV_EPROTO for an unknown status or
 * a text longer than LKV__PEER_REPLY_MAX_TEXT. */
int lkv__peer_reply_decode(const uint8_t *buf, size_t len, lkv__peer_reply_t *r, size_t *used);

/* Decodes the acceptor's whole answer to a query hello from the len bytes received so far: a reply, and
 * after an OK one, a frame carrying the blob (at most max bytes). Returns 0 when complete (*r filled as by
 * lkv__peer_reply_decode; for an OK reply *blob / *blob_len point at the blob in buf, else they are NULL /
 * 0; *used = the answer's size); LKV_EAGAIN when more bytes are needed (*used = the answer's total size
 * once the lengths are known, else a lower bound); LKV_EPROTO for a malformed reply; LKV_EMSGSIZE when the
 * blob announced is above max. */
int lkv__peer_answer_decode(const uint8_t *buf, size_t len, size_t max, lkv__peer_reply_t *r,
                            const uint8_t **blob, size_t *blob_len, size_t *used);

/* Writes the 4-byte length prefix of a frame carrying len payload bytes. */
void lkv__peer_frame_head(uint32_t len, uint8_t *out);

/* Looks for one frame at the start of buf (len bytes). Returns 0 with *payload / *payload_len set and
 * *used = LKV__PEER_FRAME_HEAD + *payload_len when the whole frame is there; LKV_EAGAIN when it is not
 * (*used = the frame's total size once the prefix is there, else LKV__PEER_FRAME_HEAD); LKV_EMSGSIZE when
 * the prefix announces more than max payload bytes. */
int lkv__peer_frame_next(const uint8_t *buf, size_t len, size_t max, const uint8_t **payload,
                         size_t *payload_len, size_t *used);

/* A peer URL, parsed. */
#define LKV__PEER_HOST_MAX 253 /* a DNS name's longest text form */
typedef struct {
  char host[LKV__PEER_HOST_MAX + 1]; /* NUL-terminated; IPv6 literals without their brackets */
  uint16_t port;
  int family; /* AF_INET or AF_INET6 for a literal (addr holds it), AF_UNSPEC for a name to resolve */
  uint8_t addr[16];
  int tls; /* https:// */
} lkv__peer_url_t;

/* Parses "http://host:port" or "https://host:port" (host: a DNS name, an IPv4 literal, or an IPv6 literal
 * in brackets; port 1..65535; nothing after the port but an optional "/"). Returns 0 or LKV_EINVAL. */
int lkv__peer_url_parse(const char *url, lkv__peer_url_t *out);

/* Fills *ss with an address of family (AF_INET: addr holds 4 bytes, AF_INET6: 16) and port. */
void lkv__peer_sockaddr(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port);

#define LKV__PEER_MAX_ADDRS 8 /* addresses tried per resolved name (both dialers) */

/* Copies the IPv4 and IPv6 addresses of a getaddrinfo result (in its order, others skipped) into
 * out[0..max) with port. Returns how many. */
size_t lkv__peer_addrinfo_take(const struct addrinfo *res, uint16_t port, struct sockaddr_storage *out,
                               size_t max);

#endif
