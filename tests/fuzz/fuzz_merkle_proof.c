/* libFuzzer target for the checks behind every receipt (src/ledger/merkle.c: RFC 9162 inclusion and
 * consistency proofs). Receipts and signed heads reach `ledgerkv verify` and clients from a server they do
 * not trust, so the verifiers must accept exactly the genuine proofs. The input is leaves (u8) ‖ old size
 * (u8) ‖ index (u8) ‖ salt (u8) ‖ tamper bytes: the fuzzer builds that tree, requires its own proofs to
 * verify, then changes one proof hash bit, the leaf, the index, the old root or the proof's length as the
 * tamper bytes say, and requires the verifier to refuse. The same bytes are also handed to the verifiers
 * as a raw proof of arbitrary sizes, which must never read outside the proof. */
#include "common/error.h"
#include "fuzz.h"
#include "ledger/merkle.h"

#define MAX_LEAVES 64

typedef struct {
  lkv_merkle_hash_t node[7][MAX_LEAVES]; /* perfect subtrees: [level][index] */
} store_t;

static int get(void *arg, unsigned level, uint64_t index, lkv_merkle_hash_t *out) {
  store_t *s = arg;
  lkv_fuzz_require(level < 7 && index < (uint64_t)(MAX_LEAVES >> level));
  *out = s->node[level][index];
  return 0;
}

static void leaf_of(uint64_t i, uint8_t salt, lkv_merkle_hash_t *out) {
  uint8_t d[2] = {(uint8_t)i, salt};
  lkv_merkle_leaf_hash(d, sizeof(d), out);
}

/* Changes p as t says (never to nothing); returns 0 when t asks for no change it can make. */
static int tamper_proof(lkv_merkle_proof_t *p, const uint8_t *t, size_t tlen) {
  if (tlen < 2) return 0;
  if (t[0] & 0x80) { /* a hash bit */
    if (p->n == 0) return 0;
    size_t at = t[1] % p->n;
    p->h[at].b[(t[0] & 0x7f) % LKV_MERKLE_HASH_LEN] ^= (uint8_t)(1u << (t[1] >> 5));
    return 1;
  }
  if (t[0] & 0x40) { /* one hash more */
    if (p->n == LKV_MERKLE_PROOF_MAX) return 0;
    memset(&p->h[p->n], t[1], sizeof(p->h[0]));
    p->n++;
    return 1;
  }
  if (p->n == 0) return 0; /* one hash less */
  p->n--;
  return 1;
}

static void fuzz_genuine(const uint8_t *data, size_t size) {
  if (size < 4) return;
  uint64_t n = 1 + data[0] % MAX_LEAVES, old = data[1] % (n + 1), index = data[2] % n;
  uint8_t salt = data[3];
  const uint8_t *t = data + 4;
  size_t tlen = size - 4;
  static store_t s;
  lkv_merkle_frontier_t f, f_old;
  lkv_merkle_frontier_init(&f);
  f_old = f;
  for (uint64_t i = 0; i < n; i++) {
    lkv_merkle_hash_t leaf, done[LKV_MERKLE_LEVELS];
    leaf_of(i, salt, &leaf);
    int c = lkv_merkle_frontier_append(&f, &leaf, done);
    lkv_fuzz_require(c >= 1);
    for (int l = 0; l < c; l++) s.node[l][i >> l] = done[l];
    if (i + 1 == old) f_old = f;
  }
  lkv_merkle_hash_t root, old_root, leaf, at;
  lkv_merkle_frontier_root(&f, &root);
  lkv_merkle_frontier_root(&f_old, &old_root);
  lkv_fuzz_require(lkv_merkle_root_at(n, get, &s, &at) == 0 && memcmp(&at, &root, sizeof(at)) == 0);
  lkv_fuzz_require(lkv_merkle_root_at(old, get, &s, &at) == 0 && memcmp(&at, &old_root, sizeof(at)) == 0);

  lkv_merkle_proof_t p, q;
  leaf_of(index, salt, &leaf);
  lkv_fuzz_require(lkv_merkle_inclusion_proof(index, n, get, &s, &p) == 0);
  lkv_fuzz_require(lkv_merkle_inclusion_verify(index, n, &leaf, &p, &root) == 0);
  q = p;
  if (tamper_proof(&q, t, tlen))
    lkv_fuzz_require(lkv_merkle_inclusion_verify(index, n, &leaf, &q, &root) != 0);
  lkv_merkle_hash_t other;
  leaf_of(index, (uint8_t)(salt + 1), &other);
  lkv_fuzz_require(lkv_merkle_inclusion_verify(index, n, &other, &p, &root) != 0);
  if (n > 1) {
    uint64_t moved = (index + 1 + (tlen ? t[0] : 0) % (n - 1)) % n;
    lkv_fuzz_require(moved != index && lkv_merkle_inclusion_verify(moved, n, &leaf, &p, &root) != 0);
  }
  lkv_fuzz_require(lkv_merkle_inclusion_verify(n, n, &leaf, &p, &root) != 0);

  lkv_fuzz_require(lkv_merkle_consistency_proof(old, n, get, &s, &p) == 0);
  lkv_fuzz_require(lkv_merkle_consistency_verify(old, n, &old_root, &root, &p) == 0);
  q = p;
  if (tamper_proof(&q, t, tlen))
    lkv_fuzz_require(lkv_merkle_consistency_verify(old, n, &old_root, &root, &q) != 0);
  if (old < n) { /* a different old tree is not a prefix */
    lkv_merkle_hash_t wrong = old_root;
    wrong.b[(tlen > 2 ? t[2] : 0) % LKV_MERKLE_HASH_LEN] ^= 1;
    lkv_fuzz_require(lkv_merkle_consistency_verify(old, n, &wrong, &root, &p) != 0);
  }
}

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* index/old (u64) ‖ size (u64) ‖ n (u8, any value up to 255) ‖ hashes: never a read outside the proof. */
static void fuzz_raw(const uint8_t *data, size_t size) {
  if (size < 17 + 2 * LKV_MERKLE_HASH_LEN) return;
  static lkv_merkle_proof_t p[4]; /* room for what an over-long n would make the verifier read */
  uint64_t a = be64(data), b = be64(data + 8);
  size_t n = data[16];
  const uint8_t *rest = data + 17;
  size_t left = size - 17;
  lkv_merkle_hash_t x, y;
  memcpy(&x, rest, sizeof(x));
  memcpy(&y, rest + sizeof(x), sizeof(y));
  rest += 2 * sizeof(x), left -= 2 * sizeof(x);
  memset(p, 0, sizeof(p));
  size_t have =
      left / LKV_MERKLE_HASH_LEN < LKV_MERKLE_PROOF_MAX ? left / LKV_MERKLE_HASH_LEN : LKV_MERKLE_PROOF_MAX;
  for (size_t i = 0; i < have; i++) memcpy(&p[0].h[i], rest + i * LKV_MERKLE_HASH_LEN, LKV_MERKLE_HASH_LEN);
  p[0].n = n;
  int inc = lkv_merkle_inclusion_verify(a, b, &x, &p[0], &y);
  int con = lkv_merkle_consistency_verify(a, b, &x, &y, &p[0]);
  if (n > LKV_MERKLE_PROOF_MAX) lkv_fuzz_require(inc == LKV_EVERIFY && con == LKV_EVERIFY);
  if (a >= b) lkv_fuzz_require(inc == LKV_EVERIFY);
  if (a > b) lkv_fuzz_require(con == LKV_EVERIFY);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_genuine(data, size);
  fuzz_raw(data, size);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  const uint8_t trees[][6] = {
      {0, 0, 0, 1, 0x80, 0},    {6, 3, 2, 7, 0x81, 0x22},    {12, 5, 9, 3, 0x40, 9},
      {63, 31, 40, 2, 0x00, 0}, {31, 32, 31, 5, 0xff, 0xff}, {7, 8, 0, 9, 0xc0, 1},
  };
  for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) add(arg, trees[i], sizeof(trees[i]));
  uint8_t raw[17 + 4 * LKV_MERKLE_HASH_LEN];
  memset(raw, 0x11, sizeof(raw));
  memset(raw, 0, 16);
  raw[7] = 3, raw[15] = 9, raw[16] = 2;
  add(arg, raw, sizeof(raw));
  raw[16] = 200; /* longer than any proof */
  add(arg, raw, sizeof(raw));
}
