/* Converting the Ledger service's ReceiptResponse and SignedTreeHead messages into ledger types. */
#include "bench/receipt_pb.h"

#include <string.h>

#include "common/error.h"

int lkv_bench_head_from_pb(const Ledgerkvpb__SignedTreeHead *pb, lkv_ledger_signed_head_t *out) {
  memset(out, 0, sizeof(*out));
  if (!pb || pb->root.len != LKV_MERKLE_HASH_LEN || pb->public_key.len != LKV_LEDGER_KEY_LEN ||
      pb->signature.len != LKV_LEDGER_SIG_LEN)
    return LKV_EINVAL;
  out->head.tree_size = pb->tree_size;
  memcpy(out->head.root.b, pb->root.data, LKV_MERKLE_HASH_LEN);
  out->head.revision = pb->revision;
  out->head.timestamp_ms = pb->timestamp_ms;
  memcpy(out->public_key, pb->public_key.data, LKV_LEDGER_KEY_LEN);
  memcpy(out->signature, pb->signature.data, LKV_LEDGER_SIG_LEN);
  return 0;
}

int lkv_bench_proof_from_pb(const ProtobufCBinaryData *in, size_t n, lkv_merkle_proof_t *out) {
  if (n > LKV_MERKLE_PROOF_MAX) return LKV_EINVAL;
  out->n = n;
  for (size_t i = 0; i < n; i++) {
    if (in[i].len != LKV_MERKLE_HASH_LEN) return LKV_EINVAL;
    memcpy(out->h[i].b, in[i].data, LKV_MERKLE_HASH_LEN);
  }
  return 0;
}

int lkv_bench_receipt_from_pb(const Ledgerkvpb__ReceiptResponse *pb, lkv_ledger_receipt_t *out) {
  memset(out, 0, sizeof(*out));
  if (pb->write_set_digest.len != LKV_LEDGER_DIGEST_LEN || pb->claims_digest.len != LKV_LEDGER_DIGEST_LEN)
    return LKV_EINVAL;
  out->leaf.kind = (lkv_ledger_kind_t)pb->kind;
  out->leaf.revision = pb->revision;
  memcpy(out->leaf.ws_digest, pb->write_set_digest.data, LKV_LEDGER_DIGEST_LEN);
  memcpy(out->leaf.claims, pb->claims_digest.data, LKV_LEDGER_DIGEST_LEN);
  out->leaf_index = pb->leaf_index;
  int rc = lkv_bench_proof_from_pb(pb->proof, pb->n_proof, &out->proof);
  return rc ? rc : lkv_bench_head_from_pb(pb->head, &out->sth);
}
