/* Byte layouts of what the MVCC store keeps in LMDB: revision keys, history records, key-index entries. */
#ifndef LKV_MVCC_RECORD_H
#define LKV_MVCC_RECORD_H

#include <stddef.h>
#include <stdint.h>

/*
 * Pure codecs (buffer in, value out); no LMDB. Integers in keys are big-endian so that byte order is
 * numeric order.
 *
 * Revision key (DB "rev"): main(8) ‖ sub(8).
 *
 * Record (DB "rev" value): flags(1) ‖ varint create ‖ varint version ‖ varint lease ‖ varint key_len ‖
 * key ‖ value (the rest). Varints are LEB128 of the two's-complement uint64. flags bit 0 = tombstone;
 * the other bits must be 0 (room for a format change).
 *
 * Index entry (DB "key" duplicate value, 41 bytes): main(8) ‖ sub(8) ‖ flags(1) ‖ create(8) ‖
 * version(8) ‖ lease(8). LMDB sorts duplicates bytewise, so a key's entries are in revision order.
 */

#define LKV__REVKEY_LEN 16
#define LKV__DUP_LEN 41
#define LKV__REC_TOMBSTONE 1u
/* Upper bound of the fixed part of a record: flags + 4 varints of at most 10 bytes. */
#define LKV__REC_HEADER_MAX 41

typedef struct lkv__rec_s {
  unsigned flags; /* LKV__REC_TOMBSTONE or 0 */
  int64_t create;
  int64_t version;
  int64_t lease;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
} lkv__rec_t;

typedef struct lkv__dup_s {
  int64_t main;
  int64_t sub;
  unsigned flags; /* LKV__REC_TOMBSTONE or 0 */
  int64_t create;
  int64_t version;
  int64_t lease;
} lkv__dup_t;

/* Writes main ‖ sub into out. */
void lkv__revkey_encode(int64_t main, int64_t sub, uint8_t out[LKV__REVKEY_LEN]);
/* Reads a revision key. Returns 0, or LKV_ECORRUPT when len is wrong. */
int lkv__revkey_decode(const uint8_t *buf, size_t len, int64_t *main, int64_t *sub);

/* Encoded size of r. */
size_t lkv__rec_size(const lkv__rec_t *r);
/* Encodes r into out (at least lkv__rec_size(r) bytes); returns the number of bytes written. */
size_t lkv__rec_encode(const lkv__rec_t *r, uint8_t *out);
/* Decodes buf; out's key and value point into buf. Returns 0, or LKV_ECORRUPT. */
int lkv__rec_decode(const uint8_t *buf, size_t len, lkv__rec_t *out);

/* Encodes d into out. */
void lkv__dup_encode(const lkv__dup_t *d, uint8_t out[LKV__DUP_LEN]);
/* Decodes an index entry. Returns 0, or LKV_ECORRUPT. */
int lkv__dup_decode(const uint8_t *buf, size_t len, lkv__dup_t *out);

#endif
