/* The node's verifiable ledger: log + Merkle node store + signing key behind one handle. */
#ifndef LKV_LEDGER_LEDGER_H
#define LKV_LEDGER_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/entry.h"
#include "ledger/frontier.h"
#include "ledger/head_log.h"
#include "ledger/log_file.h"
#include "ledger/merkle.h"
#include "ledger/receipt.h"
#include "ledger/signer.h"

/*
 * Files, all in <data-dir>/ledger/ (mode 0700): ledger.log and ledger.idx (log_file.h), ledger.heads
 * (head_log.h), ledger.nodes (node_store.h), node.key (signer.h). Record i of the log is leaf i of the
 * tree; signed heads are not leaves (they are kept in ledger.heads), so the tree holds state changes only
 * and is the same on every member of a cluster, each member signing its own heads over it. A version-1
 * log (log_file.h) keeps the heads it holds as leaves; new heads go to ledger.heads there too.
 *
 * Integration contract:
 *  - The committer appends each batch's entries with lkv_ledger_append before acknowledging any of
 *    them: it returns after one fdatasync covering the batch.
 *  - A timer signs every --ledger-sign-interval when lkv_ledger_needs_sign says so, and once more at
 *    shutdown: lkv_ledger_sign_prepare on the committer's thread takes the head (cheap), and
 *    lkv_ledger_sign_finish, on another thread while appends go on, makes what it covers durable (up to
 *    four fdatasyncs), signs it and stores it. Each member (a single node too) signs with its own key.
 *  - Receipts, heads and proofs may be asked for from any thread at any time.
 *
 * Crash consistency: the log is the source of truth. The node store and the log's index are synced
 * before each signed head is appended to ledger.heads, so on open every node the last head covers is
 * durable; the nodes after it are recomputed
 * from the (verified) log records, and the root of the last head is checked against the store (on a
 * mismatch the store is rebuilt from the whole log, and if the log still disagrees with its own signed
 * head, open fails with LKV_ECORRUPT).
 */

typedef struct lkv_ledger_s lkv_ledger_t;

typedef struct lkv_ledger_open_info_s {
  lkv_ledger_log_info_t log;        /* the log's recovery report */
  lkv_ledger_head_log_info_t heads; /* ledger.heads' recovery report */
  uint64_t leaves_recomputed;       /* leaves re-added to the node store from the log */
  int store_rebuilt;                /* the node store disagreed with the last signed head and was rebuilt */
  int key_created;                  /* node.key was created by this open */
  int key_changed;                  /* the last signed head was made with another key than node.key's: the
                                     * caller decides whether to refuse (earlier heads do not verify with
                                     * the new key; docs/ledger.md, key rotation) */
} lkv_ledger_open_info_t;

/* Opens (creating on first use) the ledger of data_dir, recovering as described above. info may be NULL.
 * Returns 0 and sets *out, or the codes of lkv_ledger_log_open, lkv_ledger_head_log_open,
 * lkv_ledger_nodes_open and lkv_ledger_signer_open (LKV_EPERM: key file permissions), LKV_ECORRUPT (the
 * last signed head does not verify, covers more records than the log holds, or does not match the log). */
int lkv_ledger_open(lkv_ledger_t **out, const char *data_dir, lkv_ledger_open_info_t *info);

/* Closes the ledger (syncing the derived files). Does not sign: call lkv_ledger_sign first at shutdown.
 * NULL is ignored. */
void lkv_ledger_close(lkv_ledger_t *l);

/* Appends entries[0..n) durably (one fdatasync) and adds their leaves to the tree. Committer thread.
 * Returns 0 once the entries are durable, or the codes of lkv_ledger_log_append (then none was
 * appended). A failure of the node store after the log write does not fail the append (the entries are
 * durable); the store catches up later and lkv_ledger_sign reports the error if it cannot. */
int lkv_ledger_append(lkv_ledger_t *l, const lkv_ledger_entry_t *entries, size_t n);

/* For a committer whose own write-ahead log holds everything the entries hold (a cluster member's Raft
 * log, from which a lost tail is made again identically): from now on lkv_ledger_append returns without
 * its fdatasync; lkv_ledger_sign flushes the log before a head may cover it, and lkv_ledger_flush (any
 * thread) makes every entry appended before the call durable. Committer thread, before appending. */
void lkv_ledger_defer_sync(lkv_ledger_t *l);

/* Makes every entry appended before the call durable. Any thread (a checkpoint copy calls it before the
 * copy may be trusted). Returns 0 or LKV_EIO (sticky: appends fail from then on). */
int lkv_ledger_flush(lkv_ledger_t *l);

/* Whether records were appended since the latest signed head (or there are records and no head yet).
 * Committer thread. */
int lkv_ledger_needs_sign(lkv_ledger_t *l);

/* A head taken for signing: the tree's size, root and last revision at lkv_ledger_sign_prepare. */
typedef struct lkv_ledger_sign_job_s {
  lkv_ledger_sth_t head;
  uint64_t resets; /* lkv_ledger_reset calls before it was taken */
} lkv_ledger_sign_job_t;

/* Takes the current tree's head (catching the node store up to the log first) with timestamp now_ms (the
 * signer's wall clock, ms since the epoch). Committer thread. Returns 0 or an error of the node store. */
int lkv_ledger_sign_prepare(lkv_ledger_t *l, uint64_t now_ms, lkv_ledger_sign_job_t *job);

/* Makes the records, nodes and index entries job covers durable, signs its head with node.key and appends
 * it to ledger.heads, durably; it then becomes the head receipts are issued against (out, may be NULL,
 * receives it). Any thread, one call at a time, in the order of their prepares, concurrently with
 * appends; a reset or retain waits for it. Returns 0, LKV_EAGAIN (a reset replaced the tree since the
 * prepare: nothing signed), or an error of a sync, the signer or lkv_ledger_head_log_append (LKV_EIO
 * after a failed sync: heads are refused until a restart). */
int lkv_ledger_sign_finish(lkv_ledger_t *l, const lkv_ledger_sign_job_t *job, lkv_ledger_signed_head_t *out);

/* lkv_ledger_sign_prepare then lkv_ledger_sign_finish, on the committer's thread. */
int lkv_ledger_sign(lkv_ledger_t *l, uint64_t now_ms, lkv_ledger_signed_head_t *out);

/* The latest signed head. Any thread. Returns 0 or LKV_ENOENT (nothing signed yet). */
int lkv_ledger_latest_head(lkv_ledger_t *l, lkv_ledger_signed_head_t *out);

/* A receipt for ledger record `index` against the latest signed head. Any thread. Returns 0,
 * LKV_ENOENT (no such record, or no signed head yet), LKV_EAGAIN (the record is newer than the latest
 * signed head: ask again after the next signing), LKV_ECORRUPT, LKV_ENOMEM, LKV_EIO or a negated errno. */
int lkv_ledger_receipt_at(lkv_ledger_t *l, uint64_t index, lkv_ledger_receipt_t *out);

/* A receipt for the entry that produced `revision` (see lkv_ledger_receipt_at for the codes; LKV_ENOENT
 * also when no entry produced it, e.g. a compacted-away or future revision). Any thread. */
int lkv_ledger_receipt(lkv_ledger_t *l, int64_t revision, lkv_ledger_receipt_t *out);

/* The consistency proof between the trees of old_size and new_size entries (new_size at most the
 * current size). Any thread. Returns 0, LKV_EINVAL (old_size > new_size or new_size too large), LKV_EIO
 * or a negated errno. */
int lkv_ledger_consistency(lkv_ledger_t *l, uint64_t old_size, uint64_t new_size, lkv_merkle_proof_t *out);

/*
 * The base and retention (docs/ledger.md, "The base" and "Retention"). A ledger may start at a base b > 0:
 * records [0, b) are summarised by their frontier (frontier.h) and not stored. Its size, roots and signed
 * heads are those of the whole tree; lkv_ledger_append continues at leaf size. Receipts and consistency
 * proofs work for every record and tree size at or after the base; a record below it is refused with
 * LKV_ELEDGERPRUNED (and a consistency proof from an older size too, when it needs a pruned subtree).
 * Signed heads made before stay in ledger.heads; open checks the last one against the tree only when it
 * is not below the base (one below was checked when it was made).
 */

/* The ledger's base: the first record it stores (0 when it holds its whole history). Any thread. */
uint64_t lkv_ledger_base(lkv_ledger_t *l);

/* *out = the frontier of the tree of the first `size` records, with the revision of record size - 1: what
 * a member that starts from a copy of the store taken at that ledger length needs (lkv_ledger_reset).
 * size may be anything from the base to the current size. Any thread. Returns 0, LKV_ELEDGERPRUNED
 * (size below the base), LKV_EINVAL (size beyond the tree), or an I/O error of the node store or index. */
int lkv_ledger_frontier_at(lkv_ledger_t *l, uint64_t size, lkv_ledger_frontier_t *out);

/* Replaces the ledger's whole content by "records [0, f->size) summarised by f, none stored": afterwards
 * the size is f->size, the root lkv_ledger_frontier_root(f), and appends continue at leaf f->size. The
 * caller has checked f (its root against a signed head of that size). Durable and atomic: a crash
 * leaves the old ledger or the new one (the log is flushed, then ledger.base is renamed into place).
 * Signed heads stay. Committer thread; readers on other threads get a valid answer or an error
 * (LKV_ELEDGERPRUNED, LKV_EAGAIN) meanwhile. Returns 0, LKV_EINVAL (f is not a frontier, or f->size is
 * below the latest signed head's tree size: the tree would go back past a head this member signed), or
 * the errors of lkv_ledger_log_reset (and of the node store: then the ledger must be reopened). */
int lkv_ledger_reset(lkv_ledger_t *l, const lkv_ledger_frontier_t *f);

/* Drops the records below `base` (no more than the tree holds) and frees their disk space: ledger.base
 * records the new base first, then holes are punched in ledger.log, ledger.idx and ledger.nodes. The
 * caller makes sure nothing still needs them as a write-ahead log (lkv_ledger_retention_base). Any
 * thread, concurrently with appends and readers. Returns 0 (also when base is not above the current
 * base), LKV_EINVAL (base beyond the tree), the I/O errors of lkv_ledger_frontier_at and
 * lkv_ledger_log_set_base (then nothing changed), or a negated errno from punching (-EOPNOTSUPP: the file
 * system cannot; the records are dropped all the same, their space is not freed). */
int lkv_ledger_retain(lkv_ledger_t *l, uint64_t base);

/* A retention policy (--ledger-retention). Both 0 keeps everything. */
typedef struct lkv_ledger_retention_s {
  uint64_t records; /* keep at least the newest `records` records */
  uint64_t bytes;   /* keep at least the newest records that fit in `bytes` bytes of ledger.log */
} lkv_ledger_retention_t;

/* *base = where the policy lets the base move now: never past the first record of revision
 * covered_revision or later (the revision of the store's latest published checkpoint, at least: a
 * rebuild replays from there), and never below the current base. Any thread. Returns 0 or an I/O error
 * of the index. */
int lkv_ledger_retention_base(lkv_ledger_t *l, const lkv_ledger_retention_t *p, int64_t covered_revision,
                              uint64_t *base);

/* Sets the policy lkv_ledger_apply_retention follows (a new ledger keeps everything). Any thread. */
void lkv_ledger_set_retention(lkv_ledger_t *l, const lkv_ledger_retention_t *p);

/* Applies the policy once the store's checkpoint covering covered_revision is published (the
 * checkpointer calls it after each copy): lkv_ledger_retention_base, then lkv_ledger_retain. Any thread.
 * Returns 0 or their errors. */
int lkv_ledger_apply_retention(lkv_ledger_t *l, int64_t covered_revision);

/* The node's public key (LKV_LEDGER_KEY_LEN bytes), valid until close. Any thread. */
const uint8_t *lkv_ledger_public_key(const lkv_ledger_t *l);

/* The underlying log, for replay and audit (its read functions are safe from any thread). Valid until
 * close. */
lkv_ledger_log_t *lkv_ledger_log(lkv_ledger_t *l);

#endif
