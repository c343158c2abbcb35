/* The ledger's frontier: the perfect subtrees summarising a tree of n leaves, and its pure wire codec. */
#ifndef LKV_LEDGER_FRONTIER_H
#define LKV_LEDGER_FRONTIER_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/merkle.h"

/*
 * A tree of `size` leaves is the perfect subtrees of size's binary decomposition, largest (leftmost) first:
 * one per set bit of size, so at most 64. Those hashes are all a ledger needs to go on appending leaves
 * size, size + 1, ... and obtain exactly the roots of the full tree, and to prove every later leaf and
 * every later tree size (docs/ledger.md, "The base"). last_revision is the revision of leaf size - 1 (0
 * when size is 0), so that the ledger can go on checking its order rules after it.
 *
 * Encoding (version 1, big-endian): u8 version ‖ u64 size ‖ i64 last_revision ‖ u8 n ‖ n × 32-byte hash.
 * A receiver checks lkv_ledger_frontier_root against a signed head of that size before trusting it.
 */

#define LKV_LEDGER_FRONTIER_VERSION 1
#define LKV_LEDGER_FRONTIER_HEADER_LEN 18
/* The longest encoding: 64 hashes. */
#define LKV_LEDGER_FRONTIER_MAX (LKV_LEDGER_FRONTIER_HEADER_LEN + 64 * LKV_MERKLE_HASH_LEN)

typedef struct lkv_ledger_frontier_s {
  uint64_t size;                /* leaves summarised (< 2^63) */
  int64_t last_revision;        /* revision of leaf size - 1; 0 for size 0 */
  size_t n;                     /* hashes used: popcount(size) */
  lkv_merkle_hash_t hashes[64]; /* the subtrees left to right: hashes[0] is the largest */
} lkv_ledger_frontier_t;

/* Writes f's encoding into buf[0..cap) and its length to *len. Returns 0, or LKV_EINVAL (f is not a
 * frontier: n != popcount(size), size >= 2^63, a negative revision, or a revision for size 0) or
 * LKV_EMSGSIZE (cap too small; LKV_LEDGER_FRONTIER_MAX always suffices). Pure. */
int lkv_ledger_frontier_encode(const lkv_ledger_frontier_t *f, uint8_t *buf, size_t cap, size_t *len);

/* Decodes exactly len bytes into *f. Returns 0 or LKV_EBADMSG (another version, a wrong length, a hash
 * count that does not match the size, or values encode refuses); *f is unspecified then. Pure. */
int lkv_ledger_frontier_decode(const uint8_t *buf, size_t len, lkv_ledger_frontier_t *f);

/* *out = the root of the tree f summarises (the empty root for size 0). f must be valid (decoded or made
 * by the ledger). Pure. */
void lkv_ledger_frontier_root(const lkv_ledger_frontier_t *f, lkv_merkle_hash_t *out);

/* Conversions between the wire form and merkle.h's append state (h[level] per set bit of size); the
 * ledger's files and its node store work with the latter. last_revision is not part of it. */
void lkv_ledger_frontier_from_merkle(const lkv_merkle_frontier_t *m, int64_t last_revision,
                                     lkv_ledger_frontier_t *out);
void lkv_ledger_frontier_to_merkle(const lkv_ledger_frontier_t *f, lkv_merkle_frontier_t *out);

#endif
