/* Protocol-buffers style base-128 varints: size and encoding (header-only, pure). */
#ifndef LKV_COMMON_VARINT_H
#define LKV_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* Largest encoding of a 64-bit value. */
#define LKV_VARINT_MAX 10

/* Bytes that lkv_varint_put writes for v (1..10). */
static inline size_t lkv_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Writes v at p (room for lkv_varint_size(v) bytes) and returns the bytes written. */
static inline size_t lkv_varint_put(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Reads the varint at p (len bytes available) into *out and returns the bytes consumed, or 0 when it is
 * truncated, does not fit 64 bits, or is not in lkv_varint_put's (shortest) form. The last rule makes
 * every value's encoding unique, so decoding and re-encoding network input gives the same bytes. */
static inline size_t lkv_varint_get(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < LKV_VARINT_MAX; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (p[i] & 0x80) continue;
    if (i > 0 && p[i] == 0) return 0;                  /* padded: a shorter form exists */
    if (i == LKV_VARINT_MAX - 1 && p[i] > 1) return 0; /* bits beyond 64 */
    *out = v;
    return i + 1;
  }
  return 0;
}

#endif
