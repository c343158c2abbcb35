/* Receipts as JSON text (docs/ledger.md, "Receipt JSON"): writing and strict parsing (pure). */
#ifndef LKV_TOOLS_RECEIPT_JSON_H
#define LKV_TOOLS_RECEIPT_JSON_H

#include <stdio.h>

#include "ledger/receipt.h"

/* Writes r as one JSON object (hex digests, decimal numbers) followed by a newline; with write_set (len
 * bytes: the body a causal mode record discloses, ReceiptResponse.write_set) its "write_set" member too. */
void lkv_receipt_json_write(FILE *f, const lkv_ledger_receipt_t *r, const uint8_t *write_set, size_t len);

/* Writes a signed tree head as the JSON object found under "head" in a receipt (no newline). */
void lkv_receipt_json_write_head(FILE *f, const lkv_ledger_signed_head_t *h);

/* Writes a proof as a JSON array of hex hashes. */
void lkv_receipt_json_write_proof(FILE *f, const lkv_merkle_proof_t *p);

/* Parses the JSON text[0..len) lkv_receipt_json_write writes (any member order and white space; unknown
 * members are refused, every member is required but "write_set", allowed on a causal event's receipt only).
 * Returns 0 and fills *out and *write_set (malloc'd, the caller frees it; NULL without the member) /
 * *write_set_len, or LKV_EINVAL with a short reason in *why (static). */
int lkv_receipt_json_parse(const char *text, size_t len, lkv_ledger_receipt_t *out, uint8_t **write_set,
                           size_t *write_set_len, const char **why);

#endif
