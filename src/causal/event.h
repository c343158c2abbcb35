/* The causal mode's event: origin, sequence, clock stamp, deps and payload, signed by its origin. */
#ifndef LKV_CAUSAL_EVENT_H
#define LKV_CAUSAL_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "causal/hlc.h"
#include "causal/vv.h"

/*
 * Encoding (little-endian, canonical: one event has exactly one byte string):
 *   body = "lkvcevt1" (8 ASCII bytes) ‖ origin u64 ‖ seq u64 ‖ hlc.wall u64 ‖ hlc.logical u32 ‖
 *          n_deps u32 ‖ n_deps × (origin u64 ‖ seq u64) ‖ payload_len u32 ‖ payload
 *   event = body ‖ Ed25519 signature (64) of body by the origin's key (libsodium crypto_sign_detached)
 * Canonical: origin != 0, seq >= 1, deps sorted by origin, each seq > 0, and deps[origin] == seq - 1 (an
 * origin has applied its own earlier events); nothing after the signature. The magic separates these
 * signatures from every other thing the same key signs (tree heads).
 */

#define LKV_CAUSAL_PK_LEN 32  /* Ed25519 public key */
#define LKV_CAUSAL_SK_LEN 64  /* libsodium's Ed25519 secret key (seed ‖ public key) */
#define LKV_CAUSAL_SIG_LEN 64 /* Ed25519 signature */
#define LKV_CAUSAL_EVENT_MAX_PAYLOAD (64u << 20)

typedef struct {
  uint64_t origin; /* the member that accepted the write; never 0 */
  uint64_t seq;    /* the origin's sequence, from 1 without gaps */
  lkv_causal_hlc_t hlc;
  lkv_causal_vv_t deps;   /* the origin's vector when it accepted the write */
  const uint8_t *payload; /* the write set (mutation.h); borrowed */
  size_t payload_len;
  uint8_t sig[LKV_CAUSAL_SIG_LEN];
} lkv_causal_event_t;

/* Bytes of e's encoding, signature included. */
size_t lkv_causal_event_size(const lkv_causal_event_t *e);

/* Encodes e into out (cap bytes, at least lkv_causal_event_size(e)) and signs it with sk, storing the
 * signature in e->sig too. *len receives the size. Returns 0, LKV_EINVAL when e is not canonical (see the
 * encoding) or its payload is too large, LKV_EMSGSIZE when cap is too small. */
int lkv_causal_event_encode_signed(lkv_causal_event_t *e, const uint8_t sk[LKV_CAUSAL_SK_LEN], uint8_t *out,
                                   size_t cap, size_t *len);

/* Decodes buf (len bytes) into *e; e->payload points into buf (valid while buf is). Checks the form, not
 * the signature. Returns 0 or LKV_EBADMSG (truncated, trailing bytes, not canonical). */
int lkv_causal_event_decode(const uint8_t *buf, size_t len, lkv_causal_event_t *e);

/* Verifies the signature of an encoded event (buf, len) against the origin's public key pk. Returns 0,
 * LKV_EBADMSG when buf is too short to hold a signature, or LKV_EVERIFY when the signature does not match
 * (a tampered event or another key). */
int lkv_causal_event_verify(const uint8_t *buf, size_t len, const uint8_t pk[LKV_CAUSAL_PK_LEN]);

/* Makes an Ed25519 key pair from a 32-byte seed (deterministic: the simulator and tests use it; a member
 * uses its ledger key). Returns 0 or LKV_EINVAL. */
int lkv_causal_keypair_from_seed(const uint8_t seed[32], uint8_t pk[LKV_CAUSAL_PK_LEN],
                                 uint8_t sk[LKV_CAUSAL_SK_LEN]);

#endif
