/* The conflicts service's context codec: a key's sibling identities as one canonical byte string. */
#include "causal/context.h"

#include "causal/vv.h"
#include "common/error.h"
#include "common/le.h"

_Static_assert(LKV_CAUSAL_CONTEXT_MAX == LKV_CAUSAL_MAX_ORIGINS, "one sibling per origin at most");

#define VERSION 1
#define ENTRY 16 /* origin u64 ‖ seq u64 */

size_t lkv_causal_context_of_key(const lkv_causal_key_t *k, lkv_causal_event_id_t *ids) {
  size_t n = 0;
  for (size_t i = 0; k && i < k->n && n < LKV_CAUSAL_CONTEXT_MAX; i++) {
    /* insertion by origin: a handful of siblings */
    size_t j = n++;
    for (; j > 0 && ids[j - 1].origin > k->sib[i].origin; j--) ids[j] = ids[j - 1];
    ids[j] = (lkv_causal_event_id_t){.origin = k->sib[i].origin, .seq = k->sib[i].seq};
  }
  return n;
}

size_t lkv_causal_context_size(size_t n) {
  return n ? 1 + n * ENTRY : 0;
}

void lkv_causal_context_encode(const lkv_causal_event_id_t *ids, size_t n, uint8_t *out) {
  if (!n) return;
  out[0] = VERSION;
  for (size_t i = 0; i < n; i++) {
    lkv_le64_put(out + 1 + i * ENTRY, ids[i].origin);
    lkv_le64_put(out + 1 + i * ENTRY + 8, ids[i].seq);
  }
}

int lkv_causal_context_decode(const uint8_t *buf, size_t len, lkv_causal_event_id_t *ids, size_t *n) {
  *n = 0;
  if (len == 0) return 0;
  if (buf[0] != VERSION || (len - 1) % ENTRY != 0 || (len - 1) / ENTRY > LKV_CAUSAL_CONTEXT_MAX || len == 1)
    return LKV_EBADMSG;
  size_t cnt = (len - 1) / ENTRY;
  for (size_t i = 0; i < cnt; i++) {
    uint64_t origin = lkv_le64_get(buf + 1 + i * ENTRY), seq = lkv_le64_get(buf + 1 + i * ENTRY + 8);
    if (!origin || !seq || (i && origin <= ids[i - 1].origin)) return LKV_EBADMSG;
    ids[i] = (lkv_causal_event_id_t){.origin = origin, .seq = seq};
  }
  *n = cnt;
  return 0;
}
