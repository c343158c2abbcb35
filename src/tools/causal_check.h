/* `ledgerkv verify-receipt` on a causal mode receipt: the origin's signature and the key-value it served. */
#ifndef LKV_TOOLS_CAUSAL_CHECK_H
#define LKV_TOOLS_CAUSAL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/receipt.h"

/* Checks a verified receipt r of a CAUSAL_EVENT record with its disclosed body (body NULL: missing): the
 * body against the leaf, the origin's signature with origin_key (hex or base64) or, without it, with the
 * event key the membership at endpoint lists for the origin; with kv ("KEY=VALUE", may be NULL) that the
 * record puts exactly that. Appends what it found to note (cap bytes). Returns 0 or the command's exit
 * status after a message on stderr (1: a check failed, 2: nothing to check the origin with). */
int lkv__tools_causal_check(const lkv_ledger_receipt_t *r, const uint8_t *body, size_t len,
                            const char *origin_key, const char *endpoint, const char *kv, char *note,
                            size_t cap);

#endif
