/* bbolt's byte layout shared by the writer and the reader: page header, elements, meta page, checksum. */
#ifndef LKV_SNAPSHOT_BBOLT_FORMAT_H
#define LKV_SNAPSHOT_BBOLT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "common/le.h"

/* All integers are little-endian (bbolt writes its structs in the machine's order; etcd runs on
 * little-endian machines, and so do we).
 *
 * Page header (16 bytes): id u64 ‖ flags u16 ‖ count u16 ‖ overflow u32 (pages after the first).
 * Leaf element (16 bytes): flags u32 ‖ pos u32 ‖ ksize u32 ‖ vsize u32, pos counted from the element.
 * Branch element (16 bytes): pos u32 ‖ ksize u32 ‖ child page id u64.
 * Bucket value: root page u64 ‖ sequence u64, then (root 0) an inline leaf page.
 * Meta (at offset 16 of pages 0 and 1): magic u32 ‖ version u32 ‖ page size u32 ‖ flags u32 ‖ root page
 * u64 ‖ root sequence u64 ‖ freelist page u64 ‖ high water u64 ‖ txid u64 ‖ checksum u64, the checksum
 * being FNV-1a 64 of the 56 bytes before it.
 * Freelist page: count page ids (u64); a count of 0xFFFF means the real count is the first u64. */

#define LKV__BB_HDR 16
#define LKV__BB_ELEM 16
#define LKV__BB_BRANCH 0x01
#define LKV__BB_LEAF 0x02
#define LKV__BB_META 0x04
#define LKV__BB_FREELIST 0x10
#define LKV__BB_BUCKET_FLAG 0x01
#define LKV__BB_MAGIC 0xED0CDAEDu
#define LKV__BB_VERSION 2u
#define LKV__BB_META_SUMMED 56
#define LKV__BB_META_LEN 64
#define LKV__BB_BUCKET_HDR 16
#define LKV__BB_NO_FREELIST UINT64_MAX
#define LKV__BB_MAX_KEY 32768

static inline void lkv__le16_put(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static inline uint16_t lkv__le16_get(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint64_t lkv__fnv1a64(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

#endif
