/* The gRPC length-prefixed message codec: deframing chunks into messages, framing, percent-coding. */
#include "transport/grpc_frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void lkv__grpc_deframer_init(lkv__grpc_deframer_t *d, size_t max_len) {
  memset(d, 0, sizeof(*d));
  d->max_len = max_len;
}

void lkv__grpc_deframer_free(lkv__grpc_deframer_t *d) {
  free(d->body);
  d->body = NULL;
  d->body_cap = 0;
}

int lkv__grpc_deframer_partial(const lkv__grpc_deframer_t *d) {
  return d->prefix_have > 0;
}

size_t lkv__grpc_deframer_announced(const lkv__grpc_deframer_t *d) {
  return d->body_len;
}

/* Validates a complete prefix and records the announced length. */
static int take_prefix(lkv__grpc_deframer_t *d) {
  const uint8_t *p = d->prefix;
  d->body_len = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | (size_t)p[4];
  d->body_have = 0;
  if (p[0] == 1) return LKV_EUNSUPPORTED;
  if (p[0] != 0) return LKV_EPROTO;
  if (d->body_len > d->max_len) return LKV_EMSGSIZE;
  return 0;
}

/* Appends n body bytes to the assembly buffer, growing it geometrically but never past the announced size,
 * so a peer that announces a large message and sends little costs little. */
static int buffer_body(lkv__grpc_deframer_t *d, const uint8_t *data, size_t n) {
  size_t need = d->body_have + n;
  if (need > d->body_cap) {
    size_t cap = d->body_cap ? d->body_cap * 2 : 4096;
    if (cap < need) cap = need;
    if (cap > d->body_len) cap = d->body_len;
    uint8_t *nb = realloc(d->body, cap);
    if (!nb) return LKV_ENOMEM;
    d->body = nb;
    d->body_cap = cap;
  }
  memcpy(d->body + d->body_have, data, n);
  d->body_have = need;
  return 0;
}

int lkv__grpc_deframer_feed(lkv__grpc_deframer_t *d, const uint8_t *data, size_t len, lkv__grpc_message_cb cb,
                            void *ud) {
  size_t off = 0;
  int rv;
  while (off < len || (d->prefix_have == LKV__GRPC_PREFIX_LEN && d->body_len == d->body_have)) {
    if (d->prefix_have < LKV__GRPC_PREFIX_LEN) {
      size_t n = LKV__GRPC_PREFIX_LEN - d->prefix_have;
      if (n > len - off) n = len - off;
      memcpy(d->prefix + d->prefix_have, data + off, n);
      d->prefix_have += n;
      off += n;
      if (d->prefix_have < LKV__GRPC_PREFIX_LEN) return 0;
      if ((rv = take_prefix(d)) != 0) return rv;
      continue;
    }
    size_t missing = d->body_len - d->body_have;
    const uint8_t *msg;
    if (d->body_have == 0 && missing <= len - off) {
      msg = data + off; /* whole payload inside this chunk: no copy */
      off += missing;
    } else {
      size_t n = missing < len - off ? missing : len - off;
      if ((rv = buffer_body(d, data + off, n)) != 0) return rv;
      off += n;
      if (d->body_have < d->body_len) return 0;
      msg = d->body;
    }
    /* Reset before the callback so that it sees a deframer between messages. */
    size_t msg_len = d->body_len;
    d->prefix_have = 0;
    d->body_have = 0;
    if ((rv = cb(ud, msg, msg_len)) != 0) return rv;
  }
  return 0;
}

void lkv__grpc_frame_prefix(uint8_t out[LKV__GRPC_PREFIX_LEN], uint32_t len) {
  out[0] = 0;
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
}

size_t lkv__grpc_percent_encode(char *out, size_t cap, const char *msg) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
    char enc[3];
    size_t k = 1;
    if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
      enc[0] = (char)*p;
    } else {
      enc[0] = '%';
      enc[1] = hex[*p >> 4];
      enc[2] = hex[*p & 0xf];
      k = 3;
    }
    for (size_t i = 0; i < k; i++, n++) {
      if (n + 1 < cap) out[n] = enc[i];
    }
  }
  if (cap > 0) out[n < cap ? n : cap - 1] = '\0';
  return n;
}

static int from_hex(uint8_t ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

char *lkv__grpc_percent_decode(const uint8_t *v, size_t len) {
  char *out = malloc(len + 1);
  size_t n = 0;
  if (!out) return NULL;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (v[i] == '%' && i + 2 < len && (hi = from_hex(v[i + 1])) >= 0 && (lo = from_hex(v[i + 2])) >= 0) {
      out[n++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[n++] = (char)v[i];
    }
  }
  out[n] = '\0';
  return out;
}
