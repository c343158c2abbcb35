/* Key encoding for LMDB's key size limit (see keyenc.h). */
#include "mvcc/keyenc.h"

#include <sodium.h>
#include <string.h>

size_t lkv__key_encode(const uint8_t *key, size_t len, uint8_t out[LKV__KEYENC_MAX]) {
  if (len <= LKV_MVCC_KEY_INLINE) {
    if (len) memcpy(out, key, len);
    return len;
  }
  memcpy(out, key, LKV_MVCC_KEY_INLINE);
  crypto_generichash(out + LKV_MVCC_KEY_INLINE, LKV__KEY_HASH_LEN, key, len, NULL, 0);
  return LKV__KEYENC_MAX;
}

int lkv__bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0) return c;
  return alen < blen ? -1 : (alen > blen ? 1 : 0);
}
