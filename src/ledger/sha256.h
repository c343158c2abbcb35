/* SHA-256 for the ledger's hashes (entries, claims, Merkle nodes): OpenSSL's implementation behind a
 * small streaming interface. */
#ifndef LKV_LEDGER_SHA256_H
#define LKV_LEDGER_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define LKV__SHA256_LEN 32

/* A hash in progress; plain memory on the caller's stack (no allocation, nothing to free). */
typedef struct lkv__sha256_s {
  _Alignas(8) unsigned char state[128];
} lkv__sha256_t;

/* Starts a hash in h. */
void lkv__sha256_init(lkv__sha256_t *h);
/* Adds len bytes of data (data may be NULL when len is 0). */
void lkv__sha256_update(lkv__sha256_t *h, const void *data, size_t len);
/* Writes the digest to out; h must be started again before another use. */
void lkv__sha256_final(lkv__sha256_t *h, uint8_t out[LKV__SHA256_LEN]);
/* The digest of len bytes of data, in one call. */
void lkv__sha256(const void *data, size_t len, uint8_t out[LKV__SHA256_LEN]);

#endif
