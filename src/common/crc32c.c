/* CRC-32C: a slicing-by-8 table version and an SSE4.2 version chosen once at run time. */
#include "common/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t lkv_crc32c_sw(uint32_t crc, const void *p, size_t len) {
  const uint8_t *b = p;
  pthread_once(&table_once, table_init);
  crc = ~crc;
  while (len >= 8) {
    uint32_t lo = crc ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
          table[4][lo >> 24] ^ table[3][b[4]] ^ table[2][b[5]] ^ table[1][b[6]] ^ table[0][b[7]];
    b += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ table[0][(crc ^ *b++) & 0xff];
  return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *p, size_t len) {
  const uint8_t *b = p;
  uint64_t c = ~crc;
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, b, 8);
    c = __builtin_ia32_crc32di(c, v);
    b += 8;
    len -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (len--) c32 = __builtin_ia32_crc32qi(c32, *b++);
  return ~c32;
}

uint32_t lkv_crc32c(uint32_t crc, const void *p, size_t len) {
  /* Every thread that races here computes the same answer. */
  static _Atomic int has_hw = -1;
  int hw = atomic_load_explicit(&has_hw, memory_order_relaxed);
  if (hw < 0) {
    __builtin_cpu_init();
    hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    atomic_store_explicit(&has_hw, hw, memory_order_relaxed);
  }
  return hw ? crc32c_hw(crc, p, len) : lkv_crc32c_sw(crc, p, len);
}
#else
uint32_t lkv_crc32c(uint32_t crc, const void *p, size_t len) {
  return lkv_crc32c_sw(crc, p, len);
}
#endif
