/* A causal mode receipt's disclosed write set: checked against the leaf, decoded, the origin's signature. */
#include "tools/causal_receipt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int lkv_causal_receipt_open(const lkv_ledger_receipt_t *r, const uint8_t *body, size_t len,
                            lkv_causal_receipt_t *out) {
  memset(out, 0, sizeof(*out));
  if (r->leaf.kind != LKV_LEDGER_CAUSAL_EVENT) return LKV_EINVAL;
  uint8_t digest[LKV_LEDGER_DIGEST_LEN];
  crypto_hash_sha256(digest, body, len);
  if (memcmp(digest, r->leaf.ws_digest, sizeof(digest)) != 0) return LKV_EVERIFY;
  /* The entry as the ledger holds it: the leaf's header, then the body. */
  if (len > LKV_LEDGER_ENTRY_MAX - LKV_LEDGER_ENTRY_HEADER_LEN) return LKV_ECORRUPT;
  if (!(out->buf = malloc(LKV_LEDGER_ENTRY_HEADER_LEN + len))) return LKV_ENOMEM;
  out->buf[0] = (uint8_t)r->leaf.kind;
  for (int i = 0; i < 8; i++) out->buf[1 + i] = (uint8_t)((uint64_t)r->leaf.revision >> (56 - 8 * i));
  memcpy(out->buf + 9, r->leaf.claims, LKV_LEDGER_DIGEST_LEN);
  memcpy(out->buf + LKV_LEDGER_ENTRY_HEADER_LEN, body, len);
  int rc = lkv_ledger_entry_decode(out->buf, LKV_LEDGER_ENTRY_HEADER_LEN + len, &out->entry);
  if (!rc && lkv_causal_event_decode(out->entry.event, out->entry.event_len, &out->event)) rc = LKV_ECORRUPT;
  if (rc) lkv_causal_receipt_free(out);
  return rc;
}

int lkv_causal_receipt_verify_origin(const lkv_causal_receipt_t *c, const uint8_t pk[LKV_CAUSAL_PK_LEN]) {
  return lkv_causal_event_verify(c->entry.event, c->entry.event_len, pk) ? LKV_EVERIFY : 0;
}

int lkv_causal_receipt_puts(const lkv_causal_receipt_t *c, const void *key, size_t key_len, const void *value,
                            size_t value_len) {
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  for (lkv_ledger_ops_begin(&c->entry, &it); lkv_ledger_ops_next(&it, &op) == 1;)
    if (op.type == LKV_LEDGER_OP_PUT && op.key_len == key_len && memcmp(op.key, key, key_len) == 0)
      return op.value_len == value_len && (!value_len || memcmp(op.value, value, value_len) == 0);
  return 0;
}

void lkv_causal_receipt_free(lkv_causal_receipt_t *c) {
  free(c->buf);
  memset(c, 0, sizeof(*c));
}
