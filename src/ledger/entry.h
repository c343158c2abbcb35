/* Ledger entries: kinds, write sets, claims digests, the leaf definition, and their byte codec (pure). */
#ifndef LKV_LEDGER_ENTRY_H
#define LKV_LEDGER_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/merkle.h"
#include "ledger/signer.h"

/*
 * Encoding (all integers big-endian, signed ones two's complement; docs/ledger.md is normative):
 *   entry = kind (u8) ‖ revision (i64) ‖ claims digest (32) ‖ body
 *   body by kind:
 *     REVISION          n_ops (u32, >= 1) ‖ ops
 *     COMPACTION        compact_revision (i64)
 *     LEASE_GRANT       lease_id (i64) ‖ ttl_seconds (i64)
 *     LEASE_REVOKE      lease_id (i64) ‖ n_ops (u32) ‖ ops (DELETE only: the keys the lease held)
 *     SIGNED_TREE_HEAD  tree_size (u64) ‖ root (32) ‖ revision (i64) ‖ timestamp_ms (u64) ‖
 *                       public key (32) ‖ signature (64)
 *     STATE             n_leases (u32) ‖ n_keys (u32) ‖ leases ‖ keys (ledger/state.h)
 *     CAUSAL_EVENT      n_ops (u32, >= 0) ‖ event_len (u32, >= 1) ‖ event ‖ ops: an event applied by a member
 *                       in causal mode (docs/causal.md): the origin's signed event bytes (causal/event.h,
 *                       opaque here) and the winner changes it made on this member, possibly none
 *   op = type (u8: 1 PUT, 2 DELETE) ‖ key_len (u32, >= 1) ‖ key ‖
 *        PUT only: create_revision (i64) ‖ version (i64) ‖ lease (i64) ‖ value_len (u32) ‖ value
 * The ops of one entry are its write set in order: op i happened at (revision, sub revision i).
 *
 * `revision` is the store revision the entry produced (REVISION; LEASE_REVOKE with keys; CAUSAL_EVENT,
 * always: every applied event takes the member's next revision, even one that changed no key), or the store's
 * current revision when the entry changes no key (COMPACTION, LEASE_GRANT, LEASE_REVOKE without keys,
 * SIGNED_TREE_HEAD, where it equals the head's revision).
 *
 * Digests:
 *   write-set digest = SHA-256(body)   (so it covers every kind's state change, not only key writes)
 *   claims digest    = SHA-256(u64 len(request) ‖ request ‖ u64 len(response) ‖ response) over the packed
 *                      etcd request and response protobufs (both empty for entries no client asked for)
 *   leaf data        = kind (u8) ‖ revision (i64) ‖ write-set digest ‖ claims digest   (73 bytes)
 *   leaf hash        = SHA-256(0x00 ‖ leaf data)   (merkle.h)
 */

#define LKV_LEDGER_DIGEST_LEN 32
#define LKV_LEDGER_LEAF_DATA_LEN 73
#define LKV_LEDGER_ENTRY_HEADER_LEN 41
/* Largest encoded entry (the ledger's frame length is 32 bits). */
#define LKV_LEDGER_ENTRY_MAX ((size_t)1 << 31)

typedef enum {
  LKV_LEDGER_REVISION = 1,
  LKV_LEDGER_COMPACTION = 2,
  LKV_LEDGER_LEASE_GRANT = 3,
  LKV_LEDGER_LEASE_REVOKE = 4,
  LKV_LEDGER_SIGNED_TREE_HEAD = 5,
  LKV_LEDGER_STATE = 6,       /* a whole state taken as given (state.h): only as a ledger's first record */
  LKV_LEDGER_CAUSAL_EVENT = 7 /* an event applied in causal mode: the origin's signed bytes and its changes */
} lkv_ledger_kind_t;

#define LKV_LEDGER_KIND_MAX LKV_LEDGER_CAUSAL_EVENT

typedef enum { LKV_LEDGER_OP_PUT = 1, LKV_LEDGER_OP_DELETE = 2 } lkv_ledger_op_type_t;

/* One write of a write set. For DELETE only key is meaningful (value NULL, numbers 0). */
typedef struct lkv_ledger_op_s {
  lkv_ledger_op_type_t type;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
  int64_t create_revision;
  int64_t version;
  int64_t lease;
} lkv_ledger_op_t;

/* A write set being built: encoded ops in a growable buffer, reused across entries (reset keeps the
 * memory). Zero-initialise it (or lkv_ledger_ws_init) before use. */
typedef struct lkv_ledger_ws_s {
  uint8_t *buf;
  size_t len;
  size_t cap;
  uint32_t n_ops;
} lkv_ledger_ws_t;

/* An entry, for encoding (filled by the caller) or decoded (pointers into the decoded buffer). Fields a
 * kind does not use are ignored by encode and zeroed by decode. */
typedef struct lkv_ledger_entry_s {
  lkv_ledger_kind_t kind;
  int64_t revision;
  uint8_t claims[LKV_LEDGER_DIGEST_LEN];
  /* REVISION, LEASE_REVOKE, CAUSAL_EVENT: the encoded ops (e.g. a ws's buf/len/n_ops); STATE: its leases and
   * keys (n_ops: the number of keys) */
  const uint8_t *ops;
  size_t ops_len;
  uint32_t n_ops;
  uint32_t n_leases;            /* STATE */
  int64_t compact_revision;     /* COMPACTION */
  int64_t lease_id;             /* LEASE_GRANT, LEASE_REVOKE */
  int64_t lease_ttl;            /* LEASE_GRANT, seconds */
  lkv_ledger_signed_head_t sth; /* SIGNED_TREE_HEAD */
  const uint8_t *event;         /* CAUSAL_EVENT: the origin's signed event (at least one byte) */
  size_t event_len;
} lkv_ledger_entry_t;

/* What a leaf commits to, and what a receipt discloses. */
typedef struct lkv_ledger_leaf_s {
  lkv_ledger_kind_t kind;
  int64_t revision;
  uint8_t ws_digest[LKV_LEDGER_DIGEST_LEN];
  uint8_t claims[LKV_LEDGER_DIGEST_LEN];
} lkv_ledger_leaf_t;

/* Reads ops one by one; see lkv_ledger_ops_begin. */
typedef struct lkv_ledger_op_iter_s {
  const uint8_t *p;
  size_t left;
  uint32_t remaining;
} lkv_ledger_op_iter_t;

/* ---- write sets ---- */

/* Empties ws without memory (same as zero-initialising it). */
void lkv_ledger_ws_init(lkv_ledger_ws_t *ws);

/* Appends a PUT (copies key and value). Returns 0, LKV_EINVAL (empty key, a length beyond 32 bits, or the
 * write set would exceed LKV_LEDGER_ENTRY_MAX) or LKV_ENOMEM; on error ws is unchanged. */
int lkv_ledger_ws_put(lkv_ledger_ws_t *ws, const void *key, size_t key_len, const void *value,
                      size_t value_len, int64_t create_revision, int64_t version, int64_t lease);

/* Appends a DELETE of key (copied). Returns as lkv_ledger_ws_put. */
int lkv_ledger_ws_delete(lkv_ledger_ws_t *ws, const void *key, size_t key_len);

/* Empties ws, keeping its memory for the next entry. */
void lkv_ledger_ws_reset(lkv_ledger_ws_t *ws);

/* Frees ws's memory and empties it. */
void lkv_ledger_ws_free(lkv_ledger_ws_t *ws);

/* Points e's ops at ws's (valid while ws is not changed). */
void lkv_ledger_entry_set_ws(lkv_ledger_entry_t *e, const lkv_ledger_ws_t *ws);

/* Starts reading e's ops (none for kinds without a write set). */
void lkv_ledger_ops_begin(const lkv_ledger_entry_t *e, lkv_ledger_op_iter_t *it);

/* Reads the next op into *op (pointers into the ops buffer). Returns 1 (an op), 0 (no more) or
 * LKV_ECORRUPT (malformed ops; never after a successful decode or encode of the entry). */
int lkv_ledger_ops_next(lkv_ledger_op_iter_t *it, lkv_ledger_op_t *op);

/* ---- digests ---- */

/* out = the claims digest of a packed request and response (either may be NULL with length 0). */
void lkv_ledger_claims_digest(const void *req, size_t req_len, const void *resp, size_t resp_len,
                              uint8_t out[LKV_LEDGER_DIGEST_LEN]);

/* Fills *leaf from e (computes the write-set digest). e must be valid (encoded or decoded fine). */
void lkv_ledger_entry_leaf(const lkv_ledger_entry_t *e, lkv_ledger_leaf_t *leaf);

/* out = the 73 bytes of leaf data. */
void lkv_ledger_leaf_data(const lkv_ledger_leaf_t *leaf, uint8_t out[LKV_LEDGER_LEAF_DATA_LEN]);

/* *out = the Merkle leaf hash of leaf. */
void lkv_ledger_leaf_hash(const lkv_ledger_leaf_t *leaf, lkv_merkle_hash_t *out);

/* ---- codec ---- */

/* Encoded size of e (meaningful only for an entry lkv_ledger_entry_encode accepts). */
size_t lkv_ledger_entry_size(const lkv_ledger_entry_t *e);

/* Encodes e into out[0..cap) and sets *len. Returns 0, LKV_EINVAL (unknown kind, REVISION without ops,
 * CAUSAL_EVENT without event bytes,
 * a STATE body breaking state.h's rules,
 * malformed ops, a non-DELETE op in LEASE_REVOKE, a head whose revision differs from e->revision, or
 * larger than LKV_LEDGER_ENTRY_MAX) or LKV_EMSGSIZE (cap too small; nothing useful written). */
int lkv_ledger_entry_encode(const lkv_ledger_entry_t *e, uint8_t *out, size_t cap, size_t *len);

/* Decodes exactly buf[0..len) into *out, whose pointers then point into buf. Every rule of encode is
 * checked and no trailing byte is allowed. Returns 0 or LKV_ECORRUPT. */
int lkv_ledger_entry_decode(const uint8_t *buf, size_t len, lkv_ledger_entry_t *out);

/* Whether e produced a new store revision (REVISION; LEASE_REVOKE with keys; CAUSAL_EVENT). */
int lkv_ledger_entry_is_revision(const lkv_ledger_entry_t *e);

#endif
