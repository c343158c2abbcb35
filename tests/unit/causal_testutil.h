/* Helpers for the causal-mode unit tests: member key pairs, configurations, signed events, batches. */
#ifndef LKV_TESTS_CAUSAL_TESTUTIL_H
#define LKV_TESTS_CAUSAL_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "causal/member.h"

#define CT_MAX 4

/* Members 1..n, keys from seeds (id, 0, ...). */
typedef struct {
  lkv_causal_peer_t peers[CT_MAX];
  uint8_t sk[CT_MAX][LKV_CAUSAL_SK_LEN];
  size_t n;
} ct_cluster_t;

static inline void ct_cluster(ct_cluster_t *c, size_t n) {
  memset(c, 0, sizeof(*c));
  c->n = n;
  for (size_t i = 0; i < n; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1)};
    c->peers[i].id = i + 1;
    if (lkv_causal_keypair_from_seed(seed, c->peers[i].pk, c->sk[i])) abort();
  }
}

static inline lkv_causal_config_t ct_config(const ct_cluster_t *c, uint64_t id) {
  lkv_causal_config_t cfg = {.id = id,
                             .members = c->peers,
                             .n_members = c->n,
                             .max_ahead = 1000,
                             .max_held_events = 64,
                             .max_held_bytes = 1 << 20,
                             .max_ship_events = 100,
                             .max_ship_bytes = 1 << 20};
  memcpy(cfg.sk, c->sk[id - 1], LKV_CAUSAL_SK_LEN);
  return cfg;
}

/* Encodes and signs an event of origin (1-based member) with a one-put payload into out (cap bytes). */
static inline size_t ct_event(const ct_cluster_t *c, uint64_t origin, uint64_t seq, uint64_t wall,
                              const lkv_causal_vv_t *deps, const char *key, const char *value, uint8_t *out,
                              size_t cap) {
  lkv_causal_mutation_t mu = {.kind = value ? LKV_CAUSAL_PUT : LKV_CAUSAL_DEL,
                              .key = (const uint8_t *)key,
                              .key_len = strlen(key),
                              .value = (const uint8_t *)value,
                              .value_len = value ? strlen(value) : 0};
  uint8_t payload[256];
  size_t plen = 0;
  if (lkv_causal_mutations_encode(&mu, 1, payload, sizeof(payload), &plen)) abort();
  lkv_causal_event_t e = {
      .origin = origin, .seq = seq, .hlc = {.wall = wall}, .payload = payload, .payload_len = plen};
  if (deps)
    e.deps = *deps;
  else
    lkv_causal_vv_init(&e.deps);
  size_t len = 0;
  if (lkv_causal_event_encode_signed(&e, c->sk[origin - 1], out, cap, &len)) abort();
  return len;
}

#endif
