/* Encoding and decoding of revision keys, history records and key-index entries (see record.h). */
#include "mvcc/record.h"

#include <endian.h>
#include <string.h>

#include "common/error.h"
#include "common/varint.h"

/* Index entries are decoded for every key a scan passes: keep these to one load and a byte swap. */
static void put_be64(uint8_t *p, uint64_t v) {
  v = htobe64(v);
  memcpy(p, &v, 8);
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return be64toh(v);
}

/* Returns bytes consumed, or 0 if the varint is truncated or longer than 10 bytes. */
static size_t varint_get(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

void lkv__revkey_encode(int64_t main, int64_t sub, uint8_t out[LKV__REVKEY_LEN]) {
  put_be64(out, (uint64_t)main);
  put_be64(out + 8, (uint64_t)sub);
}

int lkv__revkey_decode(const uint8_t *buf, size_t len, int64_t *main, int64_t *sub) {
  if (len != LKV__REVKEY_LEN) return LKV_ECORRUPT;
  *main = (int64_t)get_be64(buf);
  *sub = (int64_t)get_be64(buf + 8);
  return 0;
}

size_t lkv__rec_size(const lkv__rec_t *r) {
  return 1 + lkv_varint_size((uint64_t)r->create) + lkv_varint_size((uint64_t)r->version) +
         lkv_varint_size((uint64_t)r->lease) + lkv_varint_size(r->key_len) + r->key_len + r->value_len;
}

size_t lkv__rec_encode(const lkv__rec_t *r, uint8_t *out) {
  size_t n = 0;
  out[n++] = (uint8_t)(r->flags & LKV__REC_TOMBSTONE);
  n += lkv_varint_put(out + n, (uint64_t)r->create);
  n += lkv_varint_put(out + n, (uint64_t)r->version);
  n += lkv_varint_put(out + n, (uint64_t)r->lease);
  n += lkv_varint_put(out + n, r->key_len);
  if (r->key_len) memcpy(out + n, r->key, r->key_len);
  n += r->key_len;
  if (r->value_len) memcpy(out + n, r->value, r->value_len);
  return n + r->value_len;
}

int lkv__rec_decode(const uint8_t *buf, size_t len, lkv__rec_t *out) {
  uint64_t f[4];
  size_t n = 1;
  if (len < 1 || (buf[0] & ~LKV__REC_TOMBSTONE) != 0) return LKV_ECORRUPT;
  for (int i = 0; i < 4; i++) {
    size_t used = varint_get(buf + n, len - n, &f[i]);
    if (used == 0) return LKV_ECORRUPT;
    n += used;
  }
  if (f[3] > len - n) return LKV_ECORRUPT;
  out->flags = buf[0];
  out->create = (int64_t)f[0];
  out->version = (int64_t)f[1];
  out->lease = (int64_t)f[2];
  out->key = buf + n;
  out->key_len = (size_t)f[3];
  out->value = buf + n + f[3];
  out->value_len = len - n - (size_t)f[3];
  return 0;
}

void lkv__dup_encode(const lkv__dup_t *d, uint8_t out[LKV__DUP_LEN]) {
  put_be64(out, (uint64_t)d->main);
  put_be64(out + 8, (uint64_t)d->sub);
  out[16] = (uint8_t)(d->flags & LKV__REC_TOMBSTONE);
  put_be64(out + 17, (uint64_t)d->create);
  put_be64(out + 25, (uint64_t)d->version);
  put_be64(out + 33, (uint64_t)d->lease);
}

int lkv__dup_decode(const uint8_t *buf, size_t len, lkv__dup_t *out) {
  if (len != LKV__DUP_LEN || (buf[16] & ~LKV__REC_TOMBSTONE) != 0) return LKV_ECORRUPT;
  out->main = (int64_t)get_be64(buf);
  out->sub = (int64_t)get_be64(buf + 8);
  out->flags = buf[16];
  out->create = (int64_t)get_be64(buf + 17);
  out->version = (int64_t)get_be64(buf + 25);
  out->lease = (int64_t)get_be64(buf + 33);
  return 0;
}
