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

/* Opens (creating if missing) the store at path. *dropped (may be NULL) gets the number of leaves lost to
 * recovery. Returns 0 and sets *out, or LKV_ECORRUPT (not a node store, or an unknown version),
 * LKV_ENOMEM, or a negated errno from the file system. Free with lkv_ledger_nodes_close. */
int lkv_ledger_nodes_open(lkv_ledger_nodes_t **out, const char *path, uint64_t *dropped);

/* Syncs and closes the store. NULL is ignored. */
void lkv_ledger_nodes_close(lkv_ledger_nodes_t *ns);

/* Number of leaves stored. Any thread. */
uint64_t lkv_ledger_nodes_size(const lkv_ledger_nodes_t *ns);

/* Appends n leaf hashes and the nodes they complete, in one write (not synced). Returns 0, LKV_EINVAL
 * (the tree would reach 2^63 leaves), LKV_ENOMEM or a negated errno; on error the store is unchanged. */
int lkv_ledger_nodes_append(lkv_ledger_nodes_t *ns, const lkv_merkle_hash_t *leaves, size_t n);

/* Drops every leaf from index `size` on (the ledger lost them, or they must be recomputed). Returns 0,
 * LKV_EINVAL (size larger than the store) or a negated errno. */
int lkv_ledger_nodes_truncate(lkv_ledger_nodes_t *ns, uint64_t size);

/* Makes what was appended durable (fdatasync). Returns 0 or a negated errno. */
int lkv_ledger_nodes_sync(lkv_ledger_nodes_t *ns);

/* A lkv_merkle_node_fn over the store (arg is the lkv_ledger_nodes_t *): reads perfect subtree
 * (level, index). Returns 0, LKV_EINVAL (not complete in the store), LKV_EIO (short read) or a negated
 * errno. */
int lkv_ledger_nodes_get(void *ns, unsigned level, uint64_t index, lkv_merkle_hash_t *out);

/* *out = the current root (from the in-memory frontier, no I/O). Writer thread only. */
void lkv_ledger_nodes_root(const lkv_ledger_nodes_t *ns, lkv_merkle_hash_t *out);

#endif
