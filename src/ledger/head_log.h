/* ledger.heads: the node's signed tree heads, kept outside the Merkle tree, append-only and checksummed. */
#ifndef LKV_LEDGER_HEAD_LOG_H
#define LKV_LEDGER_HEAD_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/signer.h"

/*
 * <data-dir>/ledger/ledger.heads (docs/ledger.md §9 has the byte layout):
 *   header = "lkvheads" ‖ u32 BE version 1 ‖ u32 0
 *   record = tree_size (u64) ‖ root (32) ‖ revision (i64) ‖ timestamp_ms (u64) ‖ public key (32) ‖
 *            signature (64) ‖ crc32c (u32) of the 152 bytes before it          (156 bytes, fixed)
 * Heads are not leaves: every member of a cluster holds the same tree and signs its own heads over it, at
 * its own times, with its own key. Records are in signing order: tree sizes and revisions never decrease.
 *
 * Durability: lkv_ledger_head_log_append returns after one fdatasync; after a failed sync the file
 * refuses further appends (the kernel may have dropped the page).
 *
 * Recovery on open: bytes after the last whole record, and a last whole record whose checksum fails, are
 * an append a crash cut short (never acknowledged: the append had not returned) and are cut off
 * (info->truncated_bytes). If the record before it fails its checksum too, the damage is not a torn
 * write: open fails with LKV_ECORRUPT. Earlier records are not read on open (the audit reads them all).
 *
 * Threads: one writer (append) at a time; count and read from any thread, concurrently with it.
 */

/* A signed head (signer.h's encoding, 152 bytes) and its CRC-32C (4). */
#define LKV_LEDGER_HEAD_RECORD_LEN (LKV_LEDGER_SIGNED_HEAD_LEN + 4)

typedef struct lkv_ledger_head_log_s lkv_ledger_head_log_t;

typedef struct lkv_ledger_head_log_info_s {
  uint64_t records;         /* whole records after recovery */
  uint64_t truncated_bytes; /* torn tail cut off */
} lkv_ledger_head_log_info_t;

/* Encodes sh as one record (with its checksum). Pure. */
void lkv_ledger_head_record_encode(const lkv_ledger_signed_head_t *sh,
                                   uint8_t out[LKV_LEDGER_HEAD_RECORD_LEN]);

/* Decodes one record into *out. Pure; does not check the signature. Returns 0 or LKV_ECORRUPT (checksum
 * mismatch). */
int lkv_ledger_head_record_decode(const uint8_t in[LKV_LEDGER_HEAD_RECORD_LEN],
                                  lkv_ledger_signed_head_t *out);

/* Opens (creating, mode 0600, with a synced header) dir/ledger.heads, recovering as described above. dir
 * must exist. info may be NULL. Returns 0 and sets *out, or LKV_ECORRUPT (another magic or version,
 * damage before the last record), LKV_ENOMEM, LKV_EINVAL (path too long) or a negated errno. */
int lkv_ledger_head_log_open(lkv_ledger_head_log_t **out, const char *dir, lkv_ledger_head_log_info_t *info);

/* Closes the file. NULL is ignored. */
void lkv_ledger_head_log_close(lkv_ledger_head_log_t *hl);

/* Appends sh durably (one pwrite, one fdatasync). Does not check the signature (the ledger signs what it
 * appends). Returns 0, LKV_EINVAL (tree size or revision below the last record's), LKV_EIO (also: a sync
 * failed before and the file refuses appends) or a negated errno; on error the record is not visible. */
int lkv_ledger_head_log_append(lkv_ledger_head_log_t *hl, const lkv_ledger_signed_head_t *sh);

/* Number of records. Any thread. */
uint64_t lkv_ledger_head_log_count(const lkv_ledger_head_log_t *hl);

/* Reads record `index` and checks its checksum (not its signature). Any thread. Returns 0, LKV_ENOENT
 * (index >= count), LKV_ECORRUPT, LKV_EIO or a negated errno. */
int lkv_ledger_head_log_read(lkv_ledger_head_log_t *hl, uint64_t index, lkv_ledger_signed_head_t *out);

#endif
