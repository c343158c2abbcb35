/* RFC 9162 Merkle tree hashing: leaves, nodes, roots, inclusion and consistency proofs (pure). */
#ifndef LKV_LEDGER_MERKLE_H
#define LKV_LEDGER_MERKLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The tree over leaves d[0..n) is RFC 9162's (section 2.1.1), with SHA-256:
 *   leaf hash  = SHA-256(0x00 ‖ data)
 *   node hash  = SHA-256(0x01 ‖ left ‖ right)
 *   MTH({})    = SHA-256("")
 *   MTH(d[0:n])= H(MTH(d[0:k]), MTH(d[k:n])) with k the largest power of two < n.
 *
 * A *perfect subtree* (level L, index i) covers leaves [i·2^L, (i+1)·2^L); level 0 is the leaf hashes.
 * Once leaf (i+1)·2^L - 1 is appended its hash never changes, so a store of those hashes (node_store.h)
 * answers any root or proof of any tree size with O(log n) reads: every RFC subtree is either perfect
 * or a right edge made of at most log2(n) perfect subtrees. Proof generation reads them through a
 * lkv_merkle_node_fn, so this file does no I/O.
 *
 * Tree sizes are below 2^63.
 */

#define LKV_MERKLE_HASH_LEN 32
/* A consistency proof has at most one node per level plus one (RFC 9162 SUBPROOF's final node). */
#define LKV_MERKLE_PROOF_MAX 65
#define LKV_MERKLE_LEVELS 64

typedef struct lkv_merkle_hash_s {
  uint8_t b[LKV_MERKLE_HASH_LEN];
} lkv_merkle_hash_t;

/* An audit path or consistency proof, in RFC 9162 order (bottom-up). */
typedef struct lkv_merkle_proof_s {
  size_t n;
  lkv_merkle_hash_t h[LKV_MERKLE_PROOF_MAX];
} lkv_merkle_proof_t;

/* Reads the hash of perfect subtree (level, index) into *out. Returns 0 or a negative LKV_E* code, which
 * the generating function returns unchanged. Only subtrees inside the tree size asked for are read. */
typedef int (*lkv_merkle_node_fn)(void *arg, unsigned level, uint64_t index, lkv_merkle_hash_t *out);

/* The compact state needed to append: h[L] is the perfect subtree of level L ending the tree, present
 * iff bit L of size is set. Copyable. */
typedef struct lkv_merkle_frontier_s {
  uint64_t size;
  lkv_merkle_hash_t h[LKV_MERKLE_LEVELS];
} lkv_merkle_frontier_t;

/* *out = SHA-256(0x00 ‖ data[0..len)). data may be NULL when len is 0. */
void lkv_merkle_leaf_hash(const void *data, size_t len, lkv_merkle_hash_t *out);

/* *out = SHA-256(0x01 ‖ *l ‖ *r). out may alias l or r. */
void lkv_merkle_node_hash(const lkv_merkle_hash_t *l, const lkv_merkle_hash_t *r, lkv_merkle_hash_t *out);

/* *out = MTH of the empty tree, SHA-256(""). */
void lkv_merkle_empty_root(lkv_merkle_hash_t *out);

/* Empties f (size 0). */
void lkv_merkle_frontier_init(lkv_merkle_frontier_t *f);

/* Appends one leaf hash. completed (may be NULL; room for LKV_MERKLE_LEVELS) receives the perfect
 * subtrees this leaf completes, completed[L] being subtree (L, old_size >> L), L = 0..count-1: exactly
 * what a node store must persist. Returns the count (>= 1), or LKV_EINVAL when f->size is 2^63. */
int lkv_merkle_frontier_append(lkv_merkle_frontier_t *f, const lkv_merkle_hash_t *leaf,
                               lkv_merkle_hash_t *completed);

/* *out = the root of the tree f describes (the empty root for size 0). */
void lkv_merkle_frontier_root(const lkv_merkle_frontier_t *f, lkv_merkle_hash_t *out);

/* Loads the frontier of a tree of `size` leaves from a node store (popcount(size) reads). Returns 0,
 * LKV_EINVAL (size >= 2^63) or get's error; f is unspecified on error. */
int lkv_merkle_frontier_load(lkv_merkle_frontier_t *f, uint64_t size, lkv_merkle_node_fn get, void *arg);

/* *out = the root of the first `size` leaves (any size up to what the store holds; O(log n) reads).
 * Returns 0, LKV_EINVAL (size >= 2^63) or get's error. */
int lkv_merkle_root_at(uint64_t size, lkv_merkle_node_fn get, void *arg, lkv_merkle_hash_t *out);

/* RFC 9162 2.1.3.1: the inclusion proof of leaf `index` in the tree of `size` leaves. Returns 0,
 * LKV_EINVAL (index >= size, size >= 2^63) or get's error. */
int lkv_merkle_inclusion_proof(uint64_t index, uint64_t size, lkv_merkle_node_fn get, void *arg,
                               lkv_merkle_proof_t *out);

/* RFC 9162 2.1.3.2: checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is
 * `root`. Returns 0 or LKV_EVERIFY (including index >= size or a proof of the wrong length). */
int lkv_merkle_inclusion_verify(uint64_t index, uint64_t size, const lkv_merkle_hash_t *leaf,
                                const lkv_merkle_proof_t *proof, const lkv_merkle_hash_t *root);

/* RFC 9162 2.1.4.1: the proof that the tree of old_size leaves is a prefix of the tree of new_size
 * leaves. Empty when old_size is 0 or equal to new_size. Returns 0, LKV_EINVAL (old_size > new_size,
 * new_size >= 2^63) or get's error. */
int lkv_merkle_consistency_proof(uint64_t old_size, uint64_t new_size, lkv_merkle_node_fn get, void *arg,
                                 lkv_merkle_proof_t *out);

/* RFC 9162 2.1.4.2: checks that old_root (of old_size leaves) and new_root (of new_size leaves) belong to
 * one append-only log. old_size == new_size needs an empty proof and equal roots; old_size == 0 needs an
 * empty proof and old_root equal to the empty root. Returns 0 or LKV_EVERIFY. */
int lkv_merkle_consistency_verify(uint64_t old_size, uint64_t new_size, const lkv_merkle_hash_t *old_root,
                                  const lkv_merkle_hash_t *new_root, const lkv_merkle_proof_t *proof);

#endif
