/* A causal mode receipt's disclosed write set: its digest, the origin's signed event, the changes (pure). */
#ifndef LKV_TOOLS_CAUSAL_RECEIPT_H
#define LKV_TOOLS_CAUSAL_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "causal/event.h"
#include "ledger/receipt.h"

/*
 * A CAUSAL_EVENT record (ledger/entry.h) discloses its body in the receipt (ReceiptResponse.write_set, the
 * receipt JSON's "write_set"): n_ops ‖ event_len ‖ event ‖ ops. Its SHA-256 is the leaf's write-set digest,
 * so once the receipt verifies, the body is what the member's signed head covers: the origin's signed event
 * (who wrote it: origin, seq, and a signature anyone with the origin's key checks) and the winner changes
 * the member made for it at the receipt's revision (what Range served from then on).
 */
typedef struct lkv_causal_receipt_s {
  lkv_ledger_entry_t entry; /* decoded; event and ops point into buf */
  lkv_causal_event_t event; /* decoded from entry.event (signature not checked) */
  uint8_t *buf;
} lkv_causal_receipt_t;

/* Checks that body (len bytes) is the body of r's leaf (kind CAUSAL_EVENT, SHA-256 = the write-set digest)
 * and decodes it into *out (free with lkv_causal_receipt_free). Returns 0, LKV_EINVAL (r is not a causal
 * event's receipt), LKV_EVERIFY (the digest differs), LKV_ECORRUPT (the body or its event does not decode)
 * or LKV_ENOMEM. */
int lkv_causal_receipt_open(const lkv_ledger_receipt_t *r, const uint8_t *body, size_t len,
                            lkv_causal_receipt_t *out);

/* Verifies the origin's signature over the event with its public key. Returns 0 or LKV_EVERIFY. */
int lkv_causal_receipt_verify_origin(const lkv_causal_receipt_t *c, const uint8_t pk[LKV_CAUSAL_PK_LEN]);

/* Whether the record's changes put key = value (1) or not (0). */
int lkv_causal_receipt_puts(const lkv_causal_receipt_t *c, const void *key, size_t key_len, const void *value,
                            size_t value_len);

/* Frees what open allocated. */
void lkv_causal_receipt_free(lkv_causal_receipt_t *c);

#endif
