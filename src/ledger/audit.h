/* Offline audit of a ledger directory: every record, the order rules, every signed head's root and key. */
#ifndef LKV_LEDGER_AUDIT_H
#define LKV_LEDGER_AUDIT_H

#include <stdint.h>

#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "ledger/signer.h"

/*
 * The audit reads ledger.log and ledger.heads alone, read-only (it trusts neither the index nor the node
 * store), and recomputes the Merkle tree from the records. It checks:
 *  - the log's header (version 1 or 2), and every record's framing, decoding and leaf hash;
 *  - the order rules of log_file.h (revisions; head records only in a version-1 log, with their tree
 *    sizes);
 *  - every signed head, those of ledger.heads and a version-1 log's head records: its root equals the
 *    root recomputed over the first tree_size records, its revision is the revision of the last of them
 *    (0 for an empty tree), and its signature verifies with the trusted key (or, without one, with the key
 *    the head names); ledger.heads' records have good checksums and non-decreasing tree sizes, none beyond
 *    the log's records. A missing ledger.heads holds no head.
 * A ledger with a base (ledger.base, log_file.h) is audited from it: the tree starts from the base's
 * frontier, the order rules from its revision; a head of a tree smaller than the base has its signature
 * and order checked, not its root (the records are gone); a head of exactly the base's size is checked
 * against the frontier's root.
 * A last record cut short (a torn tail, or a writer still appending) is reported in tail_bytes (the log)
 * or heads_tail_bytes (ledger.heads: also a whole last record whose checksum fails), not an error. The
 * callback sees every verified entry in order, which is what a replay into a fresh store needs.
 */

typedef struct lkv_ledger_audit_s {
  uint64_t records;       /* the size of the tree the audit recomputed: the base and the records after it */
  lkv_merkle_hash_t root; /* that tree's root (MTH of all its records) */
  uint64_t base;          /* records below the base (ledger.base): summarised by its frontier, not stored */
  uint64_t heads_below_base; /* signed heads of trees smaller than the base: signature checked, root not */
  uint32_t log_version;      /* of ledger.log's header */
  uint64_t revisions;        /* records that produced a revision */
  uint64_t heads;            /* signed heads verified, in ledger.heads and (version 1) in the log */
  uint64_t head_leaves;      /* of which records of a version-1 log */
  uint64_t ops;              /* writes in all write sets */
  int64_t last_revision;
  uint64_t tail_bytes;                /* incomplete bytes after the log's last record */
  uint64_t heads_tail_bytes;          /* bytes after ledger.heads' last good record */
  uint64_t unsigned_records;          /* records no signed head covers */
  int has_head;                       /* last_head is set */
  lkv_ledger_signed_head_t last_head; /* the verified head covering the most records (the latest) */
  int failed_in_heads;    /* on failure: the fault is in ledger.heads (failed_index is a head record) */
  uint64_t failed_index;  /* on failure: the record at fault */
  uint64_t failed_offset; /* on failure: its file offset */
  const char *failure;    /* on failure: a static description, NULL otherwise */
} lkv_ledger_audit_t;

/* Called for each verified record, in order; e and what it points to are valid during the call. Return 0
 * to continue or a negative code to stop the audit (which then returns that code). */
typedef int (*lkv_ledger_audit_cb)(void *arg, uint64_t index, const lkv_ledger_entry_t *e);

/* Audits the ledger in dir (<data-dir>/ledger: its ledger.log and ledger.heads). trusted_key
 * (LKV_LEDGER_KEY_LEN bytes) may be NULL; cb may be NULL. *report is always filled. Returns 0 when
 * everything verifies, LKV_EVERIFY (a signed head does not match the records or its signature fails) or
 * LKV_ECORRUPT (a bad record, header, checksum or order) with report->failure/failed_in_heads/
 * failed_index/failed_offset set, cb's code, LKV_EINVAL (path too long) or a negated errno (a file cannot
 * be read; -ENOENT when there is no ledger.log). */
int lkv_ledger_audit_dir(const char *dir, const uint8_t *trusted_key, lkv_ledger_audit_cb cb, void *arg,
                         lkv_ledger_audit_t *report);

#endif
