/* The Ledger service's protobuf answers as ledger types (pure; used by the bench and `ledgerkv receipt`). */
#ifndef LKV_BENCH_RECEIPT_PB_H
#define LKV_BENCH_RECEIPT_PB_H

#include <stddef.h>

#include "ledger/receipt.h"
#include "ledgerkv.pb-c.h"

/* Copies a SignedTreeHead message into *out (overwritten). Returns 0, or LKV_EINVAL when pb is NULL or its
 * root, public key or signature has the wrong length. pb is not modified and may be freed afterwards. */
int lkv_bench_head_from_pb(const Ledgerkvpb__SignedTreeHead *pb, lkv_ledger_signed_head_t *out);

/* Copies n proof hashes (32 bytes each) into *out. Returns 0, or LKV_EINVAL when n exceeds
 * LKV_MERKLE_PROOF_MAX or a hash has the wrong length. */
int lkv_bench_proof_from_pb(const ProtobufCBinaryData *in, size_t n, lkv_merkle_proof_t *out);

/* Copies a ReceiptResponse into *out (overwritten): leaf components, leaf index, proof and head. Returns 0,
 * or LKV_EINVAL when a digest, hash, key or signature has the wrong length or the head is missing. Nothing
 * is verified here (lkv_ledger_receipt_verify does that). */
int lkv_bench_receipt_from_pb(const Ledgerkvpb__ReceiptResponse *pb, lkv_ledger_receipt_t *out);

#endif
