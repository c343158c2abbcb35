/* How user keys of any length become LMDB keys (at most 511 bytes), and byte-order helpers. */
#ifndef LKV_MVCC_KEYENC_H
#define LKV_MVCC_KEYENC_H

#include <stddef.h>
#include <stdint.h>

#include "mvcc/mvcc.h"

/*
 * A key of at most LKV_MVCC_KEY_INLINE bytes is its own encoding. A longer key is encoded as its first
 * LKV_MVCC_KEY_INLINE bytes followed by a 16-byte BLAKE2b hash of the whole key, so encoded lengths tell
 * the two kinds apart. Encoded order equals key order except among long keys with the same prefix (a
 * "group"), which sort by hash: scans re-sort a group by its full keys.
 */

#define LKV__KEY_HASH_LEN 16
#define LKV__KEYENC_MAX (LKV_MVCC_KEY_INLINE + LKV__KEY_HASH_LEN)

/* Encodes key into out and returns the encoded length. Pure. */
size_t lkv__key_encode(const uint8_t *key, size_t len, uint8_t out[LKV__KEYENC_MAX]);

/* Whether an encoded key stands for a long key (one whose full bytes live only in its records). */
static inline int lkv__key_enc_is_long(size_t enc_len) {
  return enc_len > LKV_MVCC_KEY_INLINE;
}

/* Byte-order comparison of two byte strings (a proper prefix sorts first): <0, 0 or >0. */
int lkv__bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
