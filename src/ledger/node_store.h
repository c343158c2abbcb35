/* Persistent store of the Merkle tree's perfect-subtree hashes, so roots and proofs cost O(log n) reads. */
#ifndef LKV_LEDGER_NODE_STORE_H
#define LKV_LEDGER_NODE_STORE_H

#include <stdint.h>

#include "ledger/merkle.h"

/*
 * One file: a 16-byte header ("lkvnodes" ‖ u32 BE version 1 ‖ u32 0) followed by 32-byte hashes in the
 * order an append completes them (a post-order walk): appending leaf i writes the leaf hash, then the
 * node of level 1, 2, ... it completes. So perfect subtree (L, j), whose last leaf is
 * i = (j+1)·2^L - 1, sits at node position 2i - popcount(i) + L, and a tree of n leaves holds
 * 2n - popcount(n) nodes. Appends are sequential writes; every read is one pread.
 *
 * The store is derived data (everything in it can be recomputed from the ledger's leaf hashes), so it
 * is not synced on append; lkv_ledger_nodes_sync and close sync it. Opening recovers from a crash:
 * a partial tail is cut back to whole leaves, and leaves whose completed nodes do not hash up from their
 * children are dropped. What is left must still be checked against the ledger (ledger.c does).
 *
 * Threads: one writer (append, truncate, sync) at a time; lkv_ledger_nodes_get and _size from any
 * thread at any time, seeing every leaf whose append has returned.
 */

typedef struct lkv_ledger_nodes_s lkv_ledger_nodes_t;

/* Opens (creating if missing) the store at path for a ledger whose base is base (NULL or size 0: it
 * starts at leaf 0; see lkv_ledger_nodes_set_base). *dropped (may be NULL) gets the number of leaves lost
 * to recovery, which never goes below the base. Returns 0 and sets *out, or LKV_ECORRUPT (not a node
 * store, or an unknown version), LKV_ENOMEM, or a negated errno from the file system. Free with
 * lkv_ledger_nodes_close. */
int lkv_ledger_nodes_open(lkv_ledger_nodes_t **out, const char *path, const lkv_merkle_frontier_t *base,
                          uint64_t *dropped);

/* Syncs and closes the store. NULL is ignored. */
void lkv_ledger_nodes_close(lkv_ledger_nodes_t *ns);

/* Number of leaves stored. Any thread. */
uint64_t lkv_ledger_nodes_size(const lkv_ledger_nodes_t *ns);

/* Appends n leaf hashes and the nodes they complete, in one write (not synced). Returns 0, LKV_EINVAL
 * (the tree would reach 2^63 leaves), LKV_ENOMEM or a negated errno; on error the store is unchanged. */
int lkv_ledger_nodes_append(lkv_ledger_nodes_t *ns, const lkv_merkle_hash_t *leaves, size_t n);

/* Drops every leaf from index `size` on (the ledger lost them, or they must be recomputed). Returns 0,
 * LKV_EINVAL (size larger than the store, or below its base) or a negated errno. */
int lkv_ledger_nodes_truncate(lkv_ledger_nodes_t *ns, uint64_t size);

/* Makes what was appended durable (fdatasync). Returns 0 or a negated errno. */
int lkv_ledger_nodes_sync(lkv_ledger_nodes_t *ns);

/* A lkv_merkle_node_fn over the store (arg is the lkv_ledger_nodes_t *): reads perfect subtree
 * (level, index). Returns 0, LKV_EINVAL (not complete in the store), LKV_ELEDGERPRUNED (it ends below
 * the base and is not one of the base's subtrees), LKV_EIO (short read) or a negated errno. */
int lkv_ledger_nodes_get(void *ns, unsigned level, uint64_t index, lkv_merkle_hash_t *out);

/* *out = the current root (from the in-memory frontier, no I/O). Writer thread only. */
void lkv_ledger_nodes_root(const lkv_ledger_nodes_t *ns, lkv_merkle_hash_t *out);

/*
 * The base (docs/ledger.md, "The base"): the subtrees of a ledger's first base.size leaves are reduced to
 * the base's own (its frontier, held in memory and given at each open by the ledger, which keeps it in
 * ledger.base); the file keeps its layout, the positions below the base being a hole. Every subtree a
 * root, inclusion or consistency proof at or after the base needs is either one of the base's or ends at
 * or after it, so those keep working. The three calls below change what lkv_ledger_nodes_get answers:
 * the caller keeps readers out while they run (the ledger's lock).
 */

/* The base's size. Any thread. */
uint64_t lkv_ledger_nodes_base(const lkv_ledger_nodes_t *ns);

/* Moves the base up to base->size (at most the store's size; base must be the store's own frontier
 * there, lkv_merkle_frontier_load). No I/O. Returns 0 or LKV_EINVAL (below the base or beyond the
 * store). */
int lkv_ledger_nodes_set_base(lkv_ledger_nodes_t *ns, const lkv_merkle_frontier_t *base);

/* Replaces the whole store by `base`: base->size leaves, none below it stored; the next append is leaf
 * base->size. Returns 0 or a negated errno (then the store must be reopened). */
int lkv_ledger_nodes_reset(lkv_ledger_nodes_t *ns, const lkv_merkle_frontier_t *base);

/* Frees the disk space of the nodes below the base (a hole punched; positions do not move). Returns 0 or
 * a negated errno (-EOPNOTSUPP: the file system cannot punch holes). */
int lkv_ledger_nodes_punch(lkv_ledger_nodes_t *ns);

#endif
