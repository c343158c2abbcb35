/* `ledgerkv audit` on a causal member's data dir: who wrote each event, checked with the keys it recorded. */
#include "tools/audit_causal.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "replication/causal_node.h"

int lkv__audit_causal_load(lkv__audit_causal_t *a, const char *data_dir) {
  char dir[4096];
  memset(a, 0, sizeof(*a));
  if (snprintf(dir, sizeof(dir), "%s/member/causal", data_dir) >= (int)sizeof(dir)) return LKV_EINVAL;
  return lkv_causal_node_keys_read(dir, a->self, &a->has_self, a->peers, LKV_CAUSAL_MAX_ORIGINS, &a->n_peers);
}

static int fail(lkv__audit_causal_t *a, uint64_t index, const char *why) {
  a->bad_index = index;
  a->why = why;
  return LKV_EVERIFY;
}

int lkv__audit_causal_cb(void *arg, uint64_t index, const lkv_ledger_entry_t *e) {
  lkv__audit_causal_t *a = arg;
  if (e->kind != LKV_LEDGER_CAUSAL_EVENT) return 0;
  lkv_causal_event_t ev;
  if (lkv_causal_event_decode(e->event, e->event_len, &ev))
    return fail(a, index, "its event does not decode");
  const uint8_t *pk = a->has_self ? a->self : NULL; /* the member's own id is in no peers record */
  for (size_t i = 0; i < a->n_peers; i++)
    if (a->peers[i].id == ev.origin) pk = a->peers[i].pk;
  if (!pk) return fail(a, index, "the data dir records no key for its origin");
  if (lkv_causal_event_verify(e->event, e->event_len, pk))
    return fail(a, index, "the origin's signature over its event does not verify");
  a->events++;
  return 0;
}
