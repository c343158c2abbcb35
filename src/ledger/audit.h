/* Offline audit of a whole ledger file: every record, the order rules, every signed head's root and key. */
#ifndef LKV_LEDGER_AUDIT_H
#define LKV_LEDGER_AUDIT_H

#include <stdint.h>

#include "ledger/entry.h"
#include "ledger/signer.h"

/*
 * The audit reads ledger.log alone, read-only (it trusts neither the index nor the node store), and
 * recomputes the Merkle tree from the records. It checks:
 *  - the file header, and every record's framing, decoding and leaf hash;
 *  - the order rules of log_file.h (revisions, tree sizes of signed heads);
 *  - every SIGNED_TREE_HEAD: its root equals the root recomputed over the records before it, and its
 *    signature verifies with the trusted key (or, without one, with the key the head names).
 * A last record cut short (a torn tail, or a writer still appending) is reported in tail_bytes, not an
 * error. The callback sees every verified entry in order, which is what a replay into a fresh store needs.
 */

typedef struct lkv_ledger_audit_s {
  uint64_t records;   /* verified records */
  uint64_t revisions; /* of which produced a revision */
  uint64_t heads;     /* of which signed tree heads */
  uint64_t ops;       /* writes in all write sets */
  int64_t last_revision;
  uint64_t tail_bytes;       /* incomplete bytes after the last record */
  uint64_t unsigned_records; /* records after the last signed head */
  int has_head;              /* last_head is set */
  lkv_ledger_signed_head_t last_head;
  uint64_t failed_index;  /* on failure: the record at fault */
  uint64_t failed_offset; /* on failure: its file offset */
  const char *failure;    /* on failure: a static description, NULL otherwise */
} lkv_ledger_audit_t;

/* Called for each verified record, in order; e and what it points to are valid during the call. Return 0
 * to continue or a negative code to stop the audit (which then returns that code). */
typedef int (*lkv_ledger_audit_cb)(void *arg, uint64_t index, const lkv_ledger_entry_t *e);

/* Audits the ledger file at path (…/ledger/ledger.log). trusted_key (LKV_LEDGER_KEY_LEN bytes) may be
 * NULL; cb may be NULL. *report is always filled. Returns 0 when everything verifies, LKV_EVERIFY (a
 * signed head does not match the records or its signature fails) or LKV_ECORRUPT (a bad record, header or
 * order) with report->failure/failed_index/failed_offset set, cb's code, or a negated errno (the file
 * cannot be read). */
int lkv_ledger_audit_file(const char *path, const uint8_t *trusted_key, lkv_ledger_audit_cb cb, void *arg,
                          lkv_ledger_audit_t *report);

#endif
