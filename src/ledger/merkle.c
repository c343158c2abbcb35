/* RFC 9162 Merkle hashing, the append frontier, and proof generation/verification (see merkle.h). */
#include "ledger/merkle.h"

#include <string.h>

#include "common/error.h"
#include "ledger/sha256.h"

#define SIZE_LIMIT (UINT64_C(1) << 63)

/* A subtree of the RFC recursion: leaves [lo, hi). */
typedef struct range_s {
  uint64_t lo, hi;
} range_t;

void lkv_merkle_leaf_hash(const void *data, size_t len, lkv_merkle_hash_t *out) {
  static const uint8_t prefix = 0x00;
  lkv__sha256_t st;
  lkv__sha256_init(&st);
  lkv__sha256_update(&st, &prefix, 1);
  lkv__sha256_update(&st, data, len);
  lkv__sha256_final(&st, out->b);
}

void lkv_merkle_node_hash(const lkv_merkle_hash_t *l, const lkv_merkle_hash_t *r, lkv_merkle_hash_t *out) {
  uint8_t buf[1 + 2 * LKV_MERKLE_HASH_LEN];
  buf[0] = 0x01;
  memcpy(buf + 1, l->b, LKV_MERKLE_HASH_LEN);
  memcpy(buf + 1 + LKV_MERKLE_HASH_LEN, r->b, LKV_MERKLE_HASH_LEN);
  lkv__sha256(buf, sizeof(buf), out->b);
}

void lkv_merkle_empty_root(lkv_merkle_hash_t *out) {
  static const uint8_t none = 0;
  lkv__sha256(&none, 0, out->b);
}

static int hash_eq(const lkv_merkle_hash_t *a, const lkv_merkle_hash_t *b) {
  return memcmp(a->b, b->b, LKV_MERKLE_HASH_LEN) == 0;
}

/* The largest power of two strictly below x (x >= 2): RFC 9162's split point k. */
static uint64_t split_point(uint64_t x) {
  return UINT64_C(1) << (63 - __builtin_clzll(x - 1));
}

/* MTH of the RFC subtree [lo, hi): one read when it is perfect, otherwise the fold of the perfect
 * subtrees it is made of (one per set bit of its size, biggest leftmost; the RFC split makes every
 * subtree start on a multiple of a power of two at least its size, so each piece is aligned). */
static int subtree_hash(range_t r, lkv_merkle_node_fn get, void *arg, lkv_merkle_hash_t *out) {
  uint64_t m = r.hi - r.lo;
  if ((m & (m - 1)) == 0) {
    unsigned level = (unsigned)__builtin_ctzll(m);
    return get(arg, level, r.lo >> level, out);
  }
  int have = 0;
  for (unsigned level = 0; level < LKV_MERKLE_LEVELS; level++) {
    if (!((m >> level) & 1)) continue;
    uint64_t start = r.lo + ((m >> (level + 1)) << (level + 1));
    lkv_merkle_hash_t piece;
    int rc = get(arg, level, start >> level, &piece);
    if (rc) return rc;
    if (have) {
      lkv_merkle_node_hash(&piece, out, out);
    } else {
      *out = piece;
      have = 1;
    }
  }
  return 0;
}

void lkv_merkle_frontier_init(lkv_merkle_frontier_t *f) {
  memset(f, 0, sizeof(*f));
}

int lkv_merkle_frontier_append(lkv_merkle_frontier_t *f, const lkv_merkle_hash_t *leaf,
                               lkv_merkle_hash_t *completed) {
  if (f->size >= SIZE_LIMIT) return LKV_EINVAL;
  lkv_merkle_hash_t cur = *leaf;
  unsigned level = 0;
  if (completed) completed[0] = cur;
  /* Each set low bit is a left sibling waiting for exactly this right neighbour. */
  while ((f->size >> level) & 1) {
    lkv_merkle_node_hash(&f->h[level], &cur, &cur);
    level++;
    if (completed) completed[level] = cur;
  }
  f->h[level] = cur;
  f->size++;
  return (int)level + 1;
}

void lkv_merkle_frontier_root(const lkv_merkle_frontier_t *f, lkv_merkle_hash_t *out) {
  int have = 0;
  for (unsigned level = 0; level < LKV_MERKLE_LEVELS; level++) {
    if (!((f->size >> level) & 1)) continue;
    if (have) {
      lkv_merkle_node_hash(&f->h[level], out, out);
    } else {
      *out = f->h[level];
      have = 1;
    }
  }
  if (!have) lkv_merkle_empty_root(out);
}

int lkv_merkle_frontier_load(lkv_merkle_frontier_t *f, uint64_t size, lkv_merkle_node_fn get, void *arg) {
  if (size >= SIZE_LIMIT) return LKV_EINVAL;
  lkv_merkle_frontier_init(f);
  for (unsigned level = 0; level < LKV_MERKLE_LEVELS; level++) {
    if (!((size >> level) & 1)) continue;
    int rc = get(arg, level, (size >> level) - 1, &f->h[level]);
    if (rc) return rc;
  }
  f->size = size;
  return 0;
}

int lkv_merkle_root_at(uint64_t size, lkv_merkle_node_fn get, void *arg, lkv_merkle_hash_t *out) {
  if (size >= SIZE_LIMIT) return LKV_EINVAL;
  if (size == 0) {
    lkv_merkle_empty_root(out);
    return 0;
  }
  return subtree_hash((range_t){0, size}, get, arg, out);
}

/* Fills out with the hashes of ranges[0..n) in reverse: the walks below collect subtrees top-down,
 * proofs list them bottom-up. */
static int emit_reversed(const range_t *ranges, size_t n, lkv_merkle_node_fn get, void *arg,
                         lkv_merkle_proof_t *out) {
  for (size_t i = 0; i < n; i++) {
    int rc = subtree_hash(ranges[i], get, arg, &out->h[n - 1 - i]);
    if (rc) return rc;
  }
  out->n = n;
  return 0;
}

int lkv_merkle_inclusion_proof(uint64_t index, uint64_t size, lkv_merkle_node_fn get, void *arg,
                               lkv_merkle_proof_t *out) {
  out->n = 0;
  if (size >= SIZE_LIMIT || index >= size) return LKV_EINVAL;
  range_t sib[LKV_MERKLE_PROOF_MAX];
  size_t n = 0;
  uint64_t lo = 0, hi = size;
  while (hi - lo > 1) {
    uint64_t k = split_point(hi - lo);
    if (index < lo + k) {
      sib[n++] = (range_t){lo + k, hi};
      hi = lo + k;
    } else {
      sib[n++] = (range_t){lo, lo + k};
      lo += k;
    }
  }
  return emit_reversed(sib, n, get, arg, out);
}

int lkv_merkle_consistency_proof(uint64_t old_size, uint64_t new_size, lkv_merkle_node_fn get, void *arg,
                                 lkv_merkle_proof_t *out) {
  out->n = 0;
  if (new_size >= SIZE_LIMIT || old_size > new_size) return LKV_EINVAL;
  if (old_size == 0 || old_size == new_size) return 0;
  range_t nodes[LKV_MERKLE_PROOF_MAX];
  size_t n = 0;
  uint64_t lo = 0, hi = new_size, m = old_size;
  int whole_old_tree = 1; /* RFC's b: the old root itself is known to the verifier, leave it out */
  for (;;) {
    uint64_t k, size = hi - lo;
    if (m == size) {
      if (!whole_old_tree) nodes[n++] = (range_t){lo, hi};
      break;
    }
    k = split_point(size);
    if (m <= k) {
      nodes[n++] = (range_t){lo + k, hi};
      hi = lo + k;
    } else {
      nodes[n++] = (range_t){lo, lo + k};
      lo += k;
      m -= k;
      whole_old_tree = 0;
    }
  }
  return emit_reversed(nodes, n, get, arg, out);
}

/* RFC 9162's "right-shift fn and sn until LSB(fn) is set or fn is 0". */
static void shift_to_set_bit(uint64_t *fn, uint64_t *sn) {
  while (!(*fn & 1) && *fn != 0) {
    *fn >>= 1;
    *sn >>= 1;
  }
}

int lkv_merkle_inclusion_verify(uint64_t index, uint64_t size, const lkv_merkle_hash_t *leaf,
                                const lkv_merkle_proof_t *proof, const lkv_merkle_hash_t *root) {
  if (index >= size || proof->n > LKV_MERKLE_PROOF_MAX) return LKV_EVERIFY;
  uint64_t fn = index, sn = size - 1;
  lkv_merkle_hash_t r = *leaf;
  for (size_t i = 0; i < proof->n; i++) {
    if (sn == 0) return LKV_EVERIFY;
    if ((fn & 1) || fn == sn) {
      lkv_merkle_node_hash(&proof->h[i], &r, &r);
      if (!(fn & 1)) shift_to_set_bit(&fn, &sn);
    } else {
      lkv_merkle_node_hash(&r, &proof->h[i], &r);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && hash_eq(&r, root) ? 0 : LKV_EVERIFY;
}

int lkv_merkle_consistency_verify(uint64_t old_size, uint64_t new_size, const lkv_merkle_hash_t *old_root,
                                  const lkv_merkle_hash_t *new_root, const lkv_merkle_proof_t *proof) {
  if (old_size > new_size || proof->n > LKV_MERKLE_PROOF_MAX) return LKV_EVERIFY;
  if (old_size == new_size) return proof->n == 0 && hash_eq(old_root, new_root) ? 0 : LKV_EVERIFY;
  if (old_size == 0) {
    lkv_merkle_hash_t empty;
    lkv_merkle_empty_root(&empty);
    return proof->n == 0 && hash_eq(old_root, &empty) ? 0 : LKV_EVERIFY;
  }
  if (proof->n == 0) return LKV_EVERIFY;
  /* When the old tree is a perfect subtree, the RFC prepends its root to the path. */
  int prepend = (old_size & (old_size - 1)) == 0;
  size_t total = proof->n + (size_t)prepend;
  const lkv_merkle_hash_t *first = prepend ? old_root : &proof->h[0];
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  lkv_merkle_hash_t fr = *first, sr = *first;
  for (size_t i = 1; i < total; i++) {
    const lkv_merkle_hash_t *c = &proof->h[i - (size_t)prepend];
    if (sn == 0) return LKV_EVERIFY;
    if ((fn & 1) || fn == sn) {
      lkv_merkle_node_hash(c, &fr, &fr);
      lkv_merkle_node_hash(c, &sr, &sr);
      if (!(fn & 1)) shift_to_set_bit(&fn, &sn);
    } else {
      lkv_merkle_node_hash(&sr, c, &sr);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && hash_eq(&fr, old_root) && hash_eq(&sr, new_root) ? 0 : LKV_EVERIFY;
}
