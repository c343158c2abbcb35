/* `ledgerkv verify-receipt` on a causal mode receipt: who wrote the event, and what this member served. */
#include "tools/causal_check.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "tools/causal_receipt.h"
#include "tools/ledger_client.h"

#define CMD "ledgerkv verify-receipt"

static int has_event_key(const Ledgerkvpb__MemberKey *k, const void *id) {
  return k->id == *(const uint64_t *)id && k->event_public_key.len == LKV_CAUSAL_PK_LEN;
}

/* The event key the membership at endpoint lists for member id. Returns 0 or an exit status. */
static int listed_key(const char *endpoint, uint64_t id, uint8_t pk[LKV_CAUSAL_PK_LEN]) {
  Ledgerkvpb__MemberKeysResponse *m;
  int status = lkv__tools_member_keys("verify-receipt", endpoint, &m);
  if (status) return status;
  const Ledgerkvpb__MemberKey *k = lkv__tools_member_find(m, has_event_key, &id);
  if (k) memcpy(pk, k->event_public_key.data, LKV_CAUSAL_PK_LEN);
  ledgerkvpb__member_keys_response__free_unpacked(m, NULL);
  if (!k) fprintf(stderr, CMD ": FAILED: the membership lists no event key for member %" PRIx64 "\n", id);
  return k ? 0 : 1;
}

int lkv__tools_causal_check(const lkv_ledger_receipt_t *r, const uint8_t *body, size_t len,
                            const char *origin_key, const char *endpoint, const char *kv, char *note,
                            size_t cap) {
  if (!body) {
    fputs(CMD ": FAILED: a causal event's receipt without its write_set\n", stderr);
    return 1;
  }
  uint8_t pk[LKV_LEDGER_KEY_LEN];
  if (origin_key && lkv_ledger_key_parse(origin_key, pk) != 0) {
    fputs(CMD ": --origin-key: expected 64 hex digits or 44 base64 characters\n", stderr);
    return 2;
  }
  if (!origin_key && !endpoint) {
    fputs(CMD ": a causal event's receipt needs --origin-key or --endpoints to check who wrote it\n", stderr);
    return 2;
  }
  lkv_causal_receipt_t c;
  int rc = lkv_causal_receipt_open(r, body, len, &c);
  if (rc) {
    fprintf(stderr, CMD ": FAILED: the write_set %s\n",
            rc == LKV_EVERIFY ? "is not the one the leaf commits to" : "does not decode");
    return 1;
  }
  int status = origin_key ? 0 : listed_key(endpoint, c.event.origin, pk);
  if (!status && lkv_causal_receipt_verify_origin(&c, pk) != 0) {
    fprintf(stderr,
            CMD ": FAILED: the origin's signature over the event does not verify (member %" PRIx64 ")\n",
            c.event.origin);
    status = 1;
  }
  const char *eq = kv ? strchr(kv, '=') : NULL;
  if (!status && kv && (!eq || !lkv_causal_receipt_puts(&c, kv, (size_t)(eq - kv), eq + 1, strlen(eq + 1)))) {
    fprintf(stderr, CMD ": FAILED: the record does not put %s at revision %" PRId64 "\n", kv,
            r->leaf.revision);
    status = 1;
  }
  if (!status) {
    size_t used = strlen(note);
    snprintf(note + used, cap - used,
             "; event %" PRIu64 " of member %" PRIx64 ", origin signature verified%s%s", c.event.seq,
             c.event.origin, kv ? "; it put " : "", kv ? kv : "");
  }
  lkv_causal_receipt_free(&c);
  return status;
}
