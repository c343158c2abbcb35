/* The node's Ed25519 ledger key (created on first use, mode 0600) and signed tree heads. */
#ifndef LKV_LEDGER_SIGNER_H
#define LKV_LEDGER_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/merkle.h"

/*
 * Key file: <data-dir>/ledger/node.key, 80 bytes: "lkvedkey" ‖ u32 BE version 1 ‖ u32 0 ‖ Ed25519 seed (32)
 * ‖ public key (32). It must be a regular file owned by the process's user with no group/other
 * permission bits; anything else is refused rather than used.
 *
 * A tree head is signed over its canonical encoding (LKV_LEDGER_STH_MSG_LEN bytes):
 *   "ledgerkv-sth-v1\n" (16 ASCII bytes) ‖ tree_size (u64 BE) ‖ root (32) ‖ revision (i64 BE) ‖
 *   timestamp_ms (u64 BE)
 * with Ed25519 (RFC 8032, libsodium crypto_sign_detached). docs/ledger.md has the trust model.
 */

#define LKV_LEDGER_KEY_LEN 32
#define LKV_LEDGER_SIG_LEN 64
#define LKV_LEDGER_STH_MSG_LEN 72
/* Encoded signed head (lkv_ledger_signed_head_encode). */
#define LKV_LEDGER_SIGNED_HEAD_LEN 152
/* Text forms of a public key, with the terminating NUL. */
#define LKV_LEDGER_KEY_HEX_LEN 65
#define LKV_LEDGER_KEY_B64_LEN 45

/* A tree head: the tree of the first tree_size ledger entries has this root; revision is the store
 * revision of the last of them; timestamp_ms the signer's wall clock (ms since the Unix epoch). */
typedef struct lkv_ledger_sth_s {
  uint64_t tree_size;
  lkv_merkle_hash_t root;
  int64_t revision;
  uint64_t timestamp_ms;
} lkv_ledger_sth_t;

/* A tree head with its signature and the key that made it. */
typedef struct lkv_ledger_signed_head_s {
  lkv_ledger_sth_t head;
  uint8_t public_key[LKV_LEDGER_KEY_LEN];
  uint8_t signature[LKV_LEDGER_SIG_LEN];
} lkv_ledger_signed_head_t;

typedef struct lkv_ledger_signer_s lkv_ledger_signer_t;

/* lkv_ledger_signer_open flag: create the key (and <data-dir>/ledger) if there is none. */
#define LKV_LEDGER_SIGNER_CREATE 1u

/* Writes h's canonical encoding into out. Pure. */
void lkv_ledger_sth_message(const lkv_ledger_sth_t *h, uint8_t out[LKV_LEDGER_STH_MSG_LEN]);

/* Writes sh as tree_size (u64 BE) ‖ root (32) ‖ revision (i64 BE) ‖ timestamp_ms (u64 BE) ‖ public key (32)
 * ‖ signature (64): the body of a version-1 log's SIGNED_TREE_HEAD entry and of a ledger.heads record.
 * Pure. */
void lkv_ledger_signed_head_encode(const lkv_ledger_signed_head_t *sh,
                                   uint8_t out[LKV_LEDGER_SIGNED_HEAD_LEN]);

/* Reads what lkv_ledger_signed_head_encode wrote (every byte string decodes). Pure. */
void lkv_ledger_signed_head_decode(const uint8_t in[LKV_LEDGER_SIGNED_HEAD_LEN],
                                   lkv_ledger_signed_head_t *out);

/* Checks sh's signature with trusted_key (LKV_LEDGER_KEY_LEN bytes), or with sh->public_key when
 * trusted_key is NULL (which proves only self-consistency). A trusted_key different from
 * sh->public_key fails. Pure. Returns 0 or LKV_EVERIFY. */
int lkv_ledger_sth_verify(const lkv_ledger_signed_head_t *sh, const uint8_t *trusted_key);

/* Loads the key of data_dir; with LKV_LEDGER_SIGNER_CREATE, generates and durably stores one (directories
 * 0700, file 0600) when there is none. *created (may be NULL) says whether it did. Returns 0 and sets
 * *out, or LKV_ENOENT (no key, not asked to create), LKV_EPERM (not a regular file, another owner, or
 * permissions wider than 0600), LKV_ECORRUPT (wrong size, magic, or public key not matching the seed),
 * LKV_ENOMEM, LKV_EINVAL (path too long) or a negated errno. The secret key lives in guarded memory
 * that is wiped by lkv_ledger_signer_close. */
int lkv_ledger_signer_open(lkv_ledger_signer_t **out, const char *data_dir, unsigned flags, int *created);

/* Wipes and frees the key. NULL is ignored. */
void lkv_ledger_signer_close(lkv_ledger_signer_t *s);

/* The public key (LKV_LEDGER_KEY_LEN bytes), valid until close. Any thread. */
const uint8_t *lkv_ledger_signer_public_key(const lkv_ledger_signer_t *s);

/* Signs h: out gets h, the public key and the signature. Any thread. Returns 0 or LKV_EIO (libsodium
 * failed). */
int lkv_ledger_signer_sign(const lkv_ledger_signer_t *s, const lkv_ledger_sth_t *h,
                           lkv_ledger_signed_head_t *out);

/* Lowercase hex (64 characters + NUL) of a public key. */
void lkv_ledger_key_hex(const uint8_t key[LKV_LEDGER_KEY_LEN], char out[LKV_LEDGER_KEY_HEX_LEN]);

/* Standard base64 with padding (44 characters + NUL) of a public key. */
void lkv_ledger_key_base64(const uint8_t key[LKV_LEDGER_KEY_LEN], char out[LKV_LEDGER_KEY_B64_LEN]);

/* Parses a public key written as 64 hex digits or 44 base64 characters (as the two functions above write
 * them). Returns 0 or LKV_EINVAL. */
int lkv_ledger_key_parse(const char *text, uint8_t key[LKV_LEDGER_KEY_LEN]);

#endif
