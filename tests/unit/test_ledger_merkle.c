/* Unit tests for the RFC 9162 Merkle tree: roots, frontier, inclusion and consistency proofs. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/merkle.h"

#define MAX_LEAVES 300

/* Leaf i's data is its index as 4 bytes: distinct leaves, trivially reproducible. */
static void leaf_of(uint32_t i, lkv_merkle_hash_t *out) {
  uint8_t d[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
  lkv_merkle_leaf_hash(d, sizeof(d), out);
}

/* RFC 9162's recursive definition of MTH, written independently of merkle.c's iterative code. */
static void brute_root(uint64_t lo, uint64_t hi, lkv_merkle_hash_t *out) {
  if (hi - lo == 1) {
    leaf_of((uint32_t)lo, out);
    return;
  }
  uint64_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  uint8_t buf[65];
  lkv_merkle_hash_t l, r;
  brute_root(lo, lo + k, &l);
  brute_root(lo + k, hi, &r);
  buf[0] = 1;
  memcpy(buf + 1, l.b, 32);
  memcpy(buf + 33, r.b, 32);
  crypto_hash_sha256(out->b, buf, sizeof(buf));
}

/* An in-memory node store filled from the frontier's completed nodes, counting reads. */
typedef struct mem_store_s {
  lkv_merkle_hash_t *level[10];
  uint64_t size;
  unsigned reads;
} mem_store_t;

static int mem_get(void *arg, unsigned level, uint64_t index, lkv_merkle_hash_t *out) {
  mem_store_t *m = arg;
  m->reads++;
  if (level >= 10 || index >= (m->size >> level)) return LKV_EINVAL;
  *out = m->level[level][index];
  return 0;
}

static mem_store_t *mem_build(uint64_t n) {
  mem_store_t *m = calloc(1, sizeof(*m));
  lkv_merkle_frontier_t f;
  lkv_merkle_hash_t leaf, done[LKV_MERKLE_LEVELS];
  for (unsigned l = 0; l < 10; l++) m->level[l] = calloc(n + 1, sizeof(lkv_merkle_hash_t));
  lkv_merkle_frontier_init(&f);
  for (uint64_t i = 0; i < n; i++) {
    leaf_of((uint32_t)i, &leaf);
    int count = lkv_merkle_frontier_append(&f, &leaf, done);
    assert_true(count >= 1);
    for (int l = 0; l < count; l++) m->level[l][i >> l] = done[l];
  }
  m->size = n;
  return m;
}

static void mem_free(mem_store_t *m) {
  for (unsigned l = 0; l < 10; l++) free(m->level[l]);
  free(m);
}

static unsigned log2_ceil(uint64_t n) {
  unsigned l = 0;
  while ((UINT64_C(1) << l) < n) l++;
  return l;
}

static void test_known_answers(void **state) {
  (void)state;
  /* Values computed with Python's hashlib from the definitions (SHA-256, 0x00/0x01 prefixes). */
  static const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  static const char *empty_leaf = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
  static const char *ab = "b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb";
  static const char *abc = "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1";
  char hex[65];
  lkv_merkle_hash_t h, a, b, c, root;
  lkv_merkle_frontier_t f;
  lkv_merkle_empty_root(&h);
  assert_string_equal(sodium_bin2hex(hex, sizeof(hex), h.b, 32), empty);
  lkv_merkle_leaf_hash(NULL, 0, &h);
  assert_string_equal(sodium_bin2hex(hex, sizeof(hex), h.b, 32), empty_leaf);
  lkv_merkle_leaf_hash("a", 1, &a);
  lkv_merkle_leaf_hash("b", 1, &b);
  lkv_merkle_leaf_hash("c", 1, &c);
  lkv_merkle_frontier_init(&f);
  lkv_merkle_frontier_root(&f, &root);
  assert_string_equal(sodium_bin2hex(hex, sizeof(hex), root.b, 32), empty);
  lkv_merkle_frontier_append(&f, &a, NULL);
  lkv_merkle_frontier_append(&f, &b, NULL);
  lkv_merkle_frontier_root(&f, &root);
  assert_string_equal(sodium_bin2hex(hex, sizeof(hex), root.b, 32), ab);
  lkv_merkle_frontier_append(&f, &c, NULL);
  lkv_merkle_frontier_root(&f, &root);
  assert_string_equal(sodium_bin2hex(hex, sizeof(hex), root.b, 32), abc);
}

static void test_roots_match_definition(void **state) {
  (void)state;
  mem_store_t *m = mem_build(MAX_LEAVES);
  lkv_merkle_frontier_t f, loaded;
  lkv_merkle_hash_t leaf, want, got;
  lkv_merkle_frontier_init(&f);
  for (uint64_t n = 1; n <= MAX_LEAVES; n++) {
    leaf_of((uint32_t)(n - 1), &leaf);
    lkv_merkle_frontier_append(&f, &leaf, NULL);
    brute_root(0, n, &want);
    lkv_merkle_frontier_root(&f, &got);
    assert_memory_equal(got.b, want.b, 32);
    m->reads = 0;
    assert_int_equal(lkv_merkle_root_at(n, mem_get, m, &got), 0);
    assert_memory_equal(got.b, want.b, 32);
    assert_true(m->reads <= log2_ceil(n) + 1);
    assert_int_equal(lkv_merkle_frontier_load(&loaded, n, mem_get, m), 0);
    lkv_merkle_frontier_root(&loaded, &got);
    assert_memory_equal(got.b, want.b, 32);
  }
  assert_int_equal(lkv_merkle_root_at(0, mem_get, m, &got), 0);
  lkv_merkle_empty_root(&want);
  assert_memory_equal(got.b, want.b, 32);
  mem_free(m);
}

static void test_frontier_completed_nodes(void **state) {
  (void)state;
  lkv_merkle_frontier_t f;
  lkv_merkle_hash_t leaf, done[LKV_MERKLE_LEVELS], want;
  lkv_merkle_frontier_init(&f);
  for (uint64_t i = 0; i < 64; i++) {
    leaf_of((uint32_t)i, &leaf);
    int count = lkv_merkle_frontier_append(&f, &leaf, done);
    /* leaf i completes one node per trailing one bit of i, plus the leaf itself */
    assert_int_equal(count, __builtin_ctzll(~i) + 1);
    for (int l = 0; l < count; l++) {
      uint64_t first = (i >> l) << l;
      brute_root(first, first + (UINT64_C(1) << l), &want);
      assert_memory_equal(done[l].b, want.b, 32);
    }
  }
  f.size = UINT64_C(1) << 63;
  assert_int_equal(lkv_merkle_frontier_append(&f, &leaf, NULL), LKV_EINVAL);
}

/* Every way to damage a valid inclusion proof must fail verification. */
static void check_inclusion_tampering(uint64_t i, uint64_t n, const lkv_merkle_hash_t *leaf,
                                      const lkv_merkle_proof_t *p, const lkv_merkle_hash_t *root) {
  lkv_merkle_proof_t bad = *p;
  lkv_merkle_hash_t other = *root;
  for (size_t k = 0; k < p->n; k++) {
    bad.h[k].b[k % 32] ^= 0x40;
    assert_int_equal(lkv_merkle_inclusion_verify(i, n, leaf, &bad, root), LKV_EVERIFY);
    bad.h[k] = p->h[k];
  }
  other.b[0] ^= 1;
  assert_int_equal(lkv_merkle_inclusion_verify(i, n, leaf, p, &other), LKV_EVERIFY);
  assert_int_equal(lkv_merkle_inclusion_verify(i, n, &other, p, root), LKV_EVERIFY);
  if (n > 1) assert_int_equal(lkv_merkle_inclusion_verify((i + 1) % n, n, leaf, p, root), LKV_EVERIFY);
  assert_int_equal(lkv_merkle_inclusion_verify(n, n, leaf, p, root), LKV_EVERIFY);
  if (p->n) {
    bad.n = p->n - 1;
    assert_int_equal(lkv_merkle_inclusion_verify(i, n, leaf, &bad, root), LKV_EVERIFY);
  }
  bad.n = p->n + 1;
  bad.h[p->n] = *root;
  assert_int_equal(lkv_merkle_inclusion_verify(i, n, leaf, &bad, root), LKV_EVERIFY);
}

static void test_every_inclusion_proof(void **state) {
  (void)state;
  mem_store_t *m = mem_build(MAX_LEAVES);
  lkv_merkle_proof_t p;
  lkv_merkle_hash_t leaf, root;
  for (uint64_t n = 1; n <= MAX_LEAVES; n++) {
    brute_root(0, n, &root);
    for (uint64_t i = 0; i < n; i++) {
      leaf_of((uint32_t)i, &leaf);
      m->reads = 0;
      assert_int_equal(lkv_merkle_inclusion_proof(i, n, mem_get, m, &p), 0);
      assert_true(p.n <= log2_ceil(n));
      assert_true(m->reads <= 2 * log2_ceil(n));
      assert_int_equal(lkv_merkle_inclusion_verify(i, n, &leaf, &p, &root), 0);
      if (n % 37 == 0 || n <= 9) check_inclusion_tampering(i, n, &leaf, &p, &root);
    }
  }
  assert_int_equal(lkv_merkle_inclusion_proof(5, 5, mem_get, m, &p), LKV_EINVAL);
  mem_free(m);
}

static void check_consistency(mem_store_t *m, uint64_t a, uint64_t b) {
  lkv_merkle_proof_t p, bad;
  lkv_merkle_hash_t ra, rb, other;
  brute_root(0, a, &ra);
  brute_root(0, b, &rb);
  m->reads = 0;
  assert_int_equal(lkv_merkle_consistency_proof(a, b, mem_get, m, &p), 0);
  assert_true(p.n <= log2_ceil(b) + 1);
  assert_true(m->reads <= 2 * log2_ceil(b) + 1);
  assert_int_equal(lkv_merkle_consistency_verify(a, b, &ra, &rb, &p), 0);
  if (a == b) {
    assert_int_equal(p.n, 0);
    return;
  }
  /* the proof binds both roots (sizes are bound by the signed heads, not by the proof: a path can fit
   * another size whose right edge has the same shape) */
  other = ra;
  other.b[3] ^= 8;
  assert_int_equal(lkv_merkle_consistency_verify(a, b, &other, &rb, &p), LKV_EVERIFY);
  other = rb;
  other.b[3] ^= 8;
  assert_int_equal(lkv_merkle_consistency_verify(a, b, &ra, &other, &p), LKV_EVERIFY);
  assert_int_equal(lkv_merkle_consistency_verify(b, a, &rb, &ra, &p), LKV_EVERIFY);
  bad = p;
  for (size_t k = 0; k < p.n; k++) {
    bad.h[k].b[31] ^= 0x80;
    assert_int_equal(lkv_merkle_consistency_verify(a, b, &ra, &rb, &bad), LKV_EVERIFY);
    bad.h[k] = p.h[k];
  }
  if (p.n) {
    bad.n = p.n - 1;
    assert_int_equal(lkv_merkle_consistency_verify(a, b, &ra, &rb, &bad), LKV_EVERIFY);
  }
}

static void test_consistency_proofs(void **state) {
  (void)state;
  mem_store_t *m = mem_build(MAX_LEAVES);
  for (uint64_t b = 1; b <= 64; b++)
    for (uint64_t a = 1; a <= b; a++) check_consistency(m, a, b);
  srand(4242);
  for (int k = 0; k < 3000; k++) {
    uint64_t b = 1 + (uint64_t)rand() % MAX_LEAVES;
    uint64_t a = 1 + (uint64_t)rand() % b;
    check_consistency(m, a, b);
  }
  mem_free(m);
}

static void test_consistency_edges(void **state) {
  (void)state;
  mem_store_t *m = mem_build(16);
  lkv_merkle_proof_t p;
  lkv_merkle_hash_t empty, r8, r16;
  lkv_merkle_empty_root(&empty);
  brute_root(0, 8, &r8);
  brute_root(0, 16, &r16);
  /* the empty tree is a prefix of everything, with an empty proof */
  assert_int_equal(lkv_merkle_consistency_proof(0, 16, mem_get, m, &p), 0);
  assert_int_equal(p.n, 0);
  assert_int_equal(lkv_merkle_consistency_verify(0, 16, &empty, &r16, &p), 0);
  assert_int_equal(lkv_merkle_consistency_verify(0, 16, &r8, &r16, &p), LKV_EVERIFY);
  /* equal sizes need equal roots */
  assert_int_equal(lkv_merkle_consistency_verify(8, 8, &r8, &r8, &p), 0);
  assert_int_equal(lkv_merkle_consistency_verify(8, 8, &r8, &r16, &p), LKV_EVERIFY);
  /* a non-trivial claim with no proof at all fails */
  assert_int_equal(lkv_merkle_consistency_verify(8, 16, &r8, &r16, &p), LKV_EVERIFY);
  assert_int_equal(lkv_merkle_consistency_proof(9, 8, mem_get, m, &p), LKV_EINVAL);
  /* a read error reaches the caller unchanged */
  assert_int_equal(lkv_merkle_consistency_proof(3, 17, mem_get, m, &p), LKV_EINVAL);
  mem_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_roots_match_definition),
      cmocka_unit_test(test_frontier_completed_nodes),
      cmocka_unit_test(test_every_inclusion_proof),
      cmocka_unit_test(test_consistency_proofs),
      cmocka_unit_test(test_consistency_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
