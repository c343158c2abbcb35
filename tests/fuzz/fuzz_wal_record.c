/* libFuzzer target for the durable Raft log's pure codecs (src/wal/record.c: records, segment headers,
 * segment names; recovery probes them over damaged files): a record or header that parses re-encodes to
 * the same bytes, and parsing never reads past the bytes it is given. The input is salt (u64) ‖ position
 * (u64) ‖ flags (u8) ‖ image; flag 0x1 writes the right checksums into the image first, so that the checks
 * behind them are reached too. */
#include "common/crc32c.h"
#include "fuzz.h"
#include "wal/internal.h"

#define PREFIX 17

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The record's checksums, as lkv__wal_rec_encode computes them, when its payload lies within the image. */
static void fix_record(uint8_t *p, size_t len, uint64_t salt, uint64_t pos) {
  if (len < LKV__WAL_REC_HDR) return;
  uint32_t plen = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
  if (plen > len - LKV__WAL_REC_HDR) return;
  put_le32(p + 4, lkv_crc32c(0, p + LKV__WAL_REC_HDR, plen));
  uint8_t where[16];
  for (int i = 0; i < 8; i++) {
    where[i] = (uint8_t)(salt >> (8 * i));
    where[8 + i] = (uint8_t)(pos >> (8 * i));
  }
  put_le32(p, lkv_crc32c(lkv_crc32c(0, where, sizeof(where)), p + 4, LKV__WAL_REC_HDR - 4));
}

static void fuzz_record(const uint8_t *img, size_t len, uint64_t salt, uint64_t pos) {
  lkv__wal_rec_t r, r2;
  if (!lkv__wal_rec_parse(img, len, salt, pos, &r)) return;
  uint64_t size = lkv__wal_rec_size(r.len);
  lkv_fuzz_require(size <= len && r.payload == img + LKV__WAL_REC_HDR && r.epoch != 0);
  uint8_t *out = malloc(size);
  lkv_fuzz_require(out != NULL);
  lkv__wal_rec_encode(out, salt, pos, &r);
  /* Padding is not covered by the checksums: the header and payload are. */
  lkv_fuzz_require(memcmp(out, img, LKV__WAL_REC_HDR + r.len) == 0);
  lkv_fuzz_require(lkv__wal_rec_parse(out, size, salt, pos, &r2) == 1 && r2.kind == r.kind &&
                   r2.flags == r.flags && r2.aux == r.aux && r2.len == r.len && r2.epoch == r.epoch &&
                   r2.save_start == r.save_start && r2.index == r.index && r2.term == r.term);
  /* Checked at another position or with another salt, the same bytes are not a record. */
  lkv_fuzz_require(lkv__wal_rec_parse(out, size, salt, pos + 8, &r2) == 0);
  free(out);
}

static void fuzz_seg_hdr(uint8_t *img, size_t len, int fix) {
  if (fix && len >= LKV__WAL_SEG_HDR) put_le32(img + 44, lkv_crc32c(0, img, 44));
  lkv__wal_seg_hdr_t h;
  if (lkv__wal_seg_hdr_parse(img, len, &h) != 0) return;
  uint8_t out[LKV__WAL_SEG_HDR];
  lkv__wal_seg_hdr_encode(out, &h);
  lkv_fuzz_require(len >= LKV__WAL_SEG_HDR && memcmp(out, img, LKV__WAL_SEG_HDR) == 0);
}

static void fuzz_seg_name(const uint8_t *img, size_t len) {
  char name[64];
  size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
  memcpy(name, img, n);
  name[n] = '\0';
  uint64_t seq;
  if (!lkv__wal_seg_name_parse(name, &seq)) return;
  char out[32];
  lkv__wal_seg_name(out, seq);
  lkv_fuzz_require(strcmp(out, name) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < PREFIX) return 0;
  uint64_t salt = le64(data), pos = le64(data + 8);
  int fix = data[16] & 1;
  size_t len = size - PREFIX;
  uint8_t *img = malloc(len ? len : 1); /* exactly sized: a read past the image is caught */
  lkv_fuzz_require(img != NULL);
  memcpy(img, data + PREFIX, len);
  if (fix) fix_record(img, len, salt, pos);
  fuzz_record(img, len, salt, pos);
  memcpy(img, data + PREFIX, len);
  fuzz_seg_hdr(img, len, fix);
  fuzz_seg_name(data + PREFIX, len);
  free(img);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  uint8_t b[PREFIX + 128] = {0};
  uint64_t salt = 0x0123456789abcdefull, pos = (uint64_t)3 << 32 | 4096;
  for (int i = 0; i < 8; i++) {
    b[i] = (uint8_t)(salt >> (8 * i));
    b[8 + i] = (uint8_t)(pos >> (8 * i));
  }
  b[16] = 1;
  lkv__wal_rec_t r = {.kind = LKV__WAL_ENTRY,
                      .flags = LKV__WAL_FLAG_END,
                      .len = 11,
                      .epoch = 1,
                      .save_start = 4096,
                      .index = 7,
                      .term = 2,
                      .payload = (const uint8_t *)"entry bytes"};
  lkv__wal_rec_encode(b + PREFIX, salt, pos, &r);
  add(arg, b, PREFIX + (size_t)lkv__wal_rec_size(r.len));
  lkv__wal_seg_hdr_t h = {.seq = 3, .salt = salt, .prev_end = pos};
  lkv__wal_seg_hdr_encode(b + PREFIX, &h);
  add(arg, b, PREFIX + LKV__WAL_SEG_HDR);
  lkv__wal_seg_name((char *)b + PREFIX, 3);
  add(arg, b, PREFIX + strlen((char *)b + PREFIX));
}
