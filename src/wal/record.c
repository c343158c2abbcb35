/* Pure codecs of the durable log: records and segment headers (layouts in wal.h), and segment names. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/error.h"
#include "wal/internal.h"

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The header checksum: salt and position first, so a record only checks out at the place it was
 * written, in the log it was written for. */
static uint32_t header_crc(const uint8_t *hdr, uint64_t salt, uint64_t pos) {
  uint8_t where[16];
  put64(where, salt);
  put64(where + 8, pos);
  return lkv_crc32c(lkv_crc32c(0, where, sizeof(where)), hdr + 4, LKV__WAL_REC_HDR - 4);
}

void lkv__wal_rec_encode(uint8_t *out, uint64_t salt, uint64_t pos, const lkv__wal_rec_t *r) {
  uint64_t size = lkv__wal_rec_size(r->len);
  put32(out + 4, lkv_crc32c(0, r->payload, r->len));
  put32(out + 8, r->len);
  out[12] = r->kind;
  out[13] = r->flags;
  out[14] = r->aux;
  out[15] = 0;
  put64(out + 16, r->epoch);
  put64(out + 24, r->save_start);
  put64(out + 32, r->index);
  put64(out + 40, r->term);
  put32(out, header_crc(out, salt, pos));
  if (r->len) memcpy(out + LKV__WAL_REC_HDR, r->payload, r->len);
  memset(out + LKV__WAL_REC_HDR + r->len, 0, size - LKV__WAL_REC_HDR - r->len);
}

int lkv__wal_rec_parse(const uint8_t *p, uint64_t avail, uint64_t salt, uint64_t pos, lkv__wal_rec_t *r) {
  if (avail < LKV__WAL_REC_HDR) return 0;
  /* Cheap refusals first: recovery probes every aligned offset of a damaged region. */
  uint8_t kind = p[12];
  if (kind < LKV__WAL_ENTRY || kind > LKV__WAL_SNAPSHOT || (p[13] & ~LKV__WAL_FLAG_END) || p[15]) return 0;
  uint32_t len = get32(p + 8);
  if (lkv__wal_rec_size(len) > avail) return 0;
  if (get32(p) != header_crc(p, salt, pos)) return 0;
  if (get32(p + 4) != lkv_crc32c(0, p + LKV__WAL_REC_HDR, len)) return 0;
  r->kind = kind;
  r->flags = p[13];
  r->aux = p[14];
  r->len = len;
  r->epoch = get64(p + 16);
  r->save_start = get64(p + 24);
  r->index = get64(p + 32);
  r->term = get64(p + 40);
  r->payload = p + LKV__WAL_REC_HDR;
  return r->epoch != 0;
}

void lkv__wal_seg_hdr_encode(uint8_t out[LKV__WAL_SEG_HDR], const lkv__wal_seg_hdr_t *h) {
  memset(out, 0, LKV__WAL_SEG_HDR);
  memcpy(out, LKV__WAL_MAGIC, 8);
  put32(out + 8, LKV__WAL_VERSION);
  put64(out + 16, h->seq);
  put64(out + 24, h->salt);
  put64(out + 32, h->prev_end);
  put32(out + 44, lkv_crc32c(0, out, 44));
}

int lkv__wal_seg_hdr_parse(const uint8_t *p, uint64_t len, lkv__wal_seg_hdr_t *h) {
  if (len < LKV__WAL_SEG_HDR || memcmp(p, LKV__WAL_MAGIC, 8) || get32(p + 8) != LKV__WAL_VERSION ||
      get32(p + 12) || get32(p + 40) || get32(p + 44) != lkv_crc32c(0, p, 44))
    return LKV_ECORRUPT;
  h->seq = get64(p + 16);
  h->salt = get64(p + 24);
  h->prev_end = get64(p + 32);
  return 0;
}

void lkv__wal_seg_name(char out[32], uint64_t seq) {
  snprintf(out, 32, "%016" PRIx64 ".wal", seq);
}

int lkv__wal_seg_name_parse(const char *name, uint64_t *seq) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | (uint64_t)d;
  }
  if (strcmp(name + 16, ".wal")) return 0;
  *seq = v;
  return 1;
}
