/* SHA-256 through OpenSSL's SHA256_* functions (see sha256.h). */
/* Deprecated in OpenSSL 3 in favour of EVP, which allocates a context and looks the algorithm up per hash:
 * the ledger hashes a few short messages per write (a Merkle node is 65 bytes), where that overhead is as
 * large as the hash. OpenSSL uses the CPU's SHA extensions where present: 3-8x faster here than
 * libsodium's portable code, which took 9% of a cluster member's CPU under puts. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "ledger/sha256.h"

#include <openssl/sha.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((lkv__sha256_t *)0)->state), "lkv__sha256_t too small");
_Static_assert(_Alignof(SHA256_CTX) <= 8, "lkv__sha256_t under-aligned");

void lkv__sha256_init(lkv__sha256_t *h) {
  SHA256_Init((SHA256_CTX *)h->state);
}

void lkv__sha256_update(lkv__sha256_t *h, const void *data, size_t len) {
  if (len) SHA256_Update((SHA256_CTX *)h->state, data, len);
}

void lkv__sha256_final(lkv__sha256_t *h, uint8_t out[LKV__SHA256_LEN]) {
  SHA256_Final(out, (SHA256_CTX *)h->state);
}

void lkv__sha256(const void *data, size_t len, uint8_t out[LKV__SHA256_LEN]) {
  lkv__sha256_t h;
  lkv__sha256_init(&h);
  lkv__sha256_update(&h, data, len);
  lkv__sha256_final(&h, out);
}
