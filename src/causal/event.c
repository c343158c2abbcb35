/* The event codec: canonical encoding, Ed25519 signing and verification (libsodium). */
#include "causal/event.h"

#include <sodium.h>
#include <string.h>

#include "common/error.h"
#include "common/le.h"

static const uint8_t magic[8] = {'l', 'k', 'v', 'c', 'e', 'v', 't', '1'};

/* magic, origin, seq, wall, logical; then deps (a vector's encoding), payload_len, payload. */
#define HEAD_LEN (8 + 8 + 8 + 8 + 4)

size_t lkv_causal_event_size(const lkv_causal_event_t *e) {
  return HEAD_LEN + lkv_causal_vv_encoded_size(&e->deps) + 4 + e->payload_len + LKV_CAUSAL_SIG_LEN;
}

/* The canonical rules the decoder enforces (deps are sorted and non-zero by the vector's own rules). */
static int canonical(const lkv_causal_event_t *e) {
  return e->origin != 0 && e->seq >= 1 && lkv_causal_vv_get(&e->deps, e->origin) == e->seq - 1 &&
         e->payload_len <= LKV_CAUSAL_EVENT_MAX_PAYLOAD;
}

int lkv_causal_event_encode_signed(lkv_causal_event_t *e, const uint8_t sk[LKV_CAUSAL_SK_LEN], uint8_t *out,
                                   size_t cap, size_t *len) {
  if (!canonical(e) || sodium_init() < 0) return LKV_EINVAL;
  size_t size = lkv_causal_event_size(e);
  if (cap < size) return LKV_EMSGSIZE;
  uint8_t *p = out;
  memcpy(p, magic, 8);
  lkv_le64_put(p + 8, e->origin);
  lkv_le64_put(p + 16, e->seq);
  lkv_le64_put(p + 24, e->hlc.wall);
  lkv_le32_put(p + 32, e->hlc.logical);
  p += HEAD_LEN;
  lkv_causal_vv_encode(&e->deps, p);
  p += lkv_causal_vv_encoded_size(&e->deps);
  lkv_le32_put(p, (uint32_t)e->payload_len);
  p += 4;
  if (e->payload_len) memcpy(p, e->payload, e->payload_len);
  p += e->payload_len;
  crypto_sign_detached(e->sig, NULL, out, (unsigned long long)(p - out), sk);
  memcpy(p, e->sig, LKV_CAUSAL_SIG_LEN);
  *len = size;
  return 0;
}

int lkv_causal_event_decode(const uint8_t *buf, size_t len, lkv_causal_event_t *e) {
  if (len < HEAD_LEN + 4 + LKV_CAUSAL_SIG_LEN || memcmp(buf, magic, 8) != 0) return LKV_EBADMSG;
  e->origin = lkv_le64_get(buf + 8);
  e->seq = lkv_le64_get(buf + 16);
  e->hlc.wall = lkv_le64_get(buf + 24);
  e->hlc.logical = lkv_le32_get(buf + 32);
  size_t rest = len - HEAD_LEN - LKV_CAUSAL_SIG_LEN, used = 0;
  if (lkv_causal_vv_decode(buf + HEAD_LEN, rest, &e->deps, &used)) return LKV_EBADMSG;
  rest -= used;
  const uint8_t *p = buf + HEAD_LEN + used;
  if (rest < 4) return LKV_EBADMSG;
  rest -= 4;
  e->payload_len = lkv_le32_get(p);
  if (e->payload_len != rest) return LKV_EBADMSG;
  e->payload = p + 4;
  memcpy(e->sig, p + 4 + rest, LKV_CAUSAL_SIG_LEN);
  return canonical(e) ? 0 : LKV_EBADMSG;
}

int lkv_causal_event_verify(const uint8_t *buf, size_t len, const uint8_t pk[LKV_CAUSAL_PK_LEN]) {
  if (len < LKV_CAUSAL_SIG_LEN) return LKV_EBADMSG;
  if (sodium_init() < 0) return LKV_EVERIFY;
  size_t body = len - LKV_CAUSAL_SIG_LEN;
  return crypto_sign_verify_detached(buf + body, buf, body, pk) == 0 ? 0 : LKV_EVERIFY;
}

int lkv_causal_keypair_from_seed(const uint8_t seed[32], uint8_t pk[LKV_CAUSAL_PK_LEN],
                                 uint8_t sk[LKV_CAUSAL_SK_LEN]) {
  if (sodium_init() < 0) return LKV_EINVAL;
  return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : LKV_EINVAL;
}
