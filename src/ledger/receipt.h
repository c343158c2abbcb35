/* Receipts (a leaf, its inclusion proof and a signed tree head) and their offline verification (pure). */
#ifndef LKV_LEDGER_RECEIPT_H
#define LKV_LEDGER_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "ledger/signer.h"

/*
 * A receipt says: "the node holding the key sth.public_key signed a tree of sth.head.tree_size entries
 * whose entry leaf_index has these leaf components". Checking one needs no ledger and no server: the
 * leaf hash is recomputed from the components, the proof is checked against the head's root, and the
 * head's signature against a key the verifier trusts. docs/ledger.md says what that proves.
 */

typedef struct lkv_ledger_receipt_s {
  lkv_ledger_leaf_t leaf;       /* kind, revision, write-set digest, claims digest */
  uint64_t leaf_index;          /* position of the entry in the ledger */
  lkv_merkle_proof_t proof;     /* inclusion of the leaf in the head's tree */
  lkv_ledger_signed_head_t sth; /* the signed tree head */
} lkv_ledger_receipt_t;

/* Verifies r: leaf_index < tree size, the inclusion proof, and the signature with trusted_key
 * (LKV_LEDGER_KEY_LEN bytes; NULL checks only against the key the receipt names, which proves nothing
 * about who made it). Returns 0 or LKV_EVERIFY. */
int lkv_ledger_receipt_verify(const lkv_ledger_receipt_t *r, const uint8_t *trusted_key);

/* Checks that r's claims digest is that of this packed request and response (what a client that kept
 * them can do to detect a proxy that rewrote either). Returns 0 or LKV_EVERIFY. */
int lkv_ledger_receipt_check_claims(const lkv_ledger_receipt_t *r, const void *req, size_t req_len,
                                    const void *resp, size_t resp_len);

/* Verifies that two signed heads belong to one append-only ledger: both signatures with trusted_key
 * (NULL: each with its own key, which proves nothing about who made them), then the consistency proof
 * from the smaller tree to the larger. Returns 0 or LKV_EVERIFY. */
int lkv_ledger_heads_verify_consistency(const lkv_ledger_signed_head_t *old_head,
                                        const lkv_ledger_signed_head_t *new_head,
                                        const lkv_merkle_proof_t *proof, const uint8_t *trusted_key);

#endif
