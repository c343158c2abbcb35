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

#endif
