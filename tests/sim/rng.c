/* The simulator's generators (splitmix64 to seed, xoshiro256** to draw) and the hashes it checks with. */
#include "sim.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void lkv__sim_rng_seed(lkv__sim_rng_t *g, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&x);
}

uint64_t lkv__sim_rng_next(lkv__sim_rng_t *g) {
  uint64_t *s = g->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Lemire's multiply-shift; the tiny bias does not matter for fault schedules. */
uint64_t lkv__sim_rng_below(lkv__sim_rng_t *g, uint64_t n) {
  return (uint64_t)(((unsigned __int128)lkv__sim_rng_next(g) * n) >> 64);
}

int lkv__sim_rng_chance(lkv__sim_rng_t *g, unsigned per_mille) {
  return lkv__sim_rng_below(g, 1000) < per_mille;
}

uint64_t lkv__sim_rng_core(void *arg) {
  return lkv__sim_rng_next(arg);
}

uint64_t lkv__sim_mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  return splitmix64(&x);
}

uint64_t lkv__sim_hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ n;
}

uint64_t lkv__sim_chain(uint64_t prev, const lkv_raft_entry_t *e) {
  uint64_t h = lkv__sim_mix(prev, e->term);
  h = lkv__sim_mix(h, e->type);
  return lkv__sim_mix(h, lkv__sim_hash_bytes(e->data, e->len));
}
