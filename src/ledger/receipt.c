/* Offline verification of receipts, claims and signed-head consistency (see receipt.h). */
#include "ledger/receipt.h"

#include <sodium.h>

#include "common/error.h"

int lkv_ledger_receipt_verify(const lkv_ledger_receipt_t *r, const uint8_t *trusted_key) {
  lkv_merkle_hash_t leaf;
  if (lkv_ledger_sth_verify(&r->sth, trusted_key)) return LKV_EVERIFY;
  lkv_ledger_leaf_hash(&r->leaf, &leaf);
  return lkv_merkle_inclusion_verify(r->leaf_index, r->sth.head.tree_size, &leaf, &r->proof,
                                     &r->sth.head.root);
}

int lkv_ledger_receipt_check_claims(const lkv_ledger_receipt_t *r, const void *req, size_t req_len,
                                    const void *resp, size_t resp_len) {
  uint8_t claims[LKV_LEDGER_DIGEST_LEN];
  lkv_ledger_claims_digest(req, req_len, resp, resp_len, claims);
  return sodium_memcmp(claims, r->leaf.claims, sizeof(claims)) ? LKV_EVERIFY : 0;
}

int lkv_ledger_heads_verify_consistency(const lkv_ledger_signed_head_t *old_head,
                                        const lkv_ledger_signed_head_t *new_head,
                                        const lkv_merkle_proof_t *proof, const uint8_t *trusted_key) {
  if (lkv_ledger_sth_verify(old_head, trusted_key) || lkv_ledger_sth_verify(new_head, trusted_key))
    return LKV_EVERIFY;
  return lkv_merkle_consistency_verify(old_head->head.tree_size, new_head->head.tree_size,
                                       &old_head->head.root, &new_head->head.root, proof);
}
