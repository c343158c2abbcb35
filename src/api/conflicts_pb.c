/* The Conflicts service's shared pieces: siblings as protobuf, etcd's ranges, the refusal in Raft mode. */
#include <string.h>

#include "api/conflicts.h"
#include "replication/causal_node.h"

void lkv__conflicts_sibs(lkv__conflicts_sibs_t *s, const lkv_causal_member_t *m, const lkv_causal_key_t *k) {
  const lkv_causal_sibling_t *order[LKV_CAUSAL_CONTEXT_MAX];
  const lkv_causal_sibling_t *win = k ? lkv_causal_member_winner(m, k) : NULL;
  s->n = 0;
  /* greatest first by the winner rule (insertion: a handful of siblings); the winner then leads */
  for (size_t i = 0; k && i < k->n && s->n < LKV_CAUSAL_CONTEXT_MAX; i++) {
    size_t j = s->n++;
    for (; j > 0 && lkv_causal_sibling_cmp(order[j - 1], &k->sib[i]) < 0; j--) order[j] = order[j - 1];
    order[j] = &k->sib[i];
  }
  for (size_t i = 1; win && i < s->n; i++)
    if (order[i] == win) memmove(&order[1], &order[0], i * sizeof(order[0])), order[0] = win;
  for (size_t i = 0; i < s->n; i++) {
    const lkv_causal_sibling_t *x = order[i];
    Ledgerkvpb__Sibling *pb = &s->sib[i];
    ledgerkvpb__sibling__init(pb);
    ledgerkvpb__event_id__init(&s->ids[i]);
    s->ids[i].origin = x->origin;
    s->ids[i].seq = x->seq;
    pb->event = &s->ids[i];
    pb->tombstone = x->tombstone;
    pb->value = (ProtobufCBinaryData){.len = x->value_len, .data = x->value};
    pb->hlc_wall_ms = x->hlc.wall;
    pb->hlc_logical = x->hlc.logical;
    pb->winner = x == win;
    pb->revision = (int64_t)x->rev + 1; /* core revision r is store revision r + 1 */
    s->ptrs[i] = pb;
  }
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
  size_t n = lkv_causal_context_of_key(k, ids);
  s->ctx_len = lkv_causal_context_size(n);
  lkv_causal_context_encode(ids, n, s->ctx);
}

size_t lkv__conflicts_vector_pb(const lkv_causal_vv_t *v, Ledgerkvpb__EventId *ids,
                                Ledgerkvpb__EventId **ptrs) {
  for (uint32_t i = 0; v && i < v->n; i++) {
    ledgerkvpb__event_id__init(&ids[i]);
    ids[i].origin = v->e[i].origin;
    ids[i].seq = v->e[i].seq;
    ptrs[i] = &ids[i];
  }
  return v ? v->n : 0;
}

int lkv__conflicts_in_range(const uint8_t *key, size_t key_len, const ProtobufCBinaryData *start,
                            const ProtobufCBinaryData *end) {
  if (lkv_causal_node_reserved_key(key, key_len)) return 0; /* the auth records: never shown */
  size_t n = key_len < start->len ? key_len : start->len;
  int c = n ? memcmp(key, start->data, n) : 0;
  if (c < 0 || (c == 0 && key_len < start->len)) return 0; /* before start */
  if (end->len == 0) return key_len == start->len && c == 0;
  if (end->len == 1 && end->data[0] == 0) return 1;
  n = key_len < end->len ? key_len : end->len;
  c = n ? memcmp(key, end->data, n) : 0;
  return c < 0 || (c == 0 && key_len < end->len);
}

int lkv__conflicts_refused(const lkv_api_t *api, lkv_call_t *call) {
  if (api->causal) return 0;
  lkv_call_finish(
      call, LKV_GRPC_FAILED_PRECONDITION,
      "ledgerkv: the Conflicts service is served in causal mode only (--consistency=causal): a Raft "
      "cluster keeps one value per key");
  return 1;
}

ProtobufCMessage *lkv__conflicts_request(lkv_api_t *api, lkv_call_t *call,
                                         const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                         size_t len) {
  return lkv__conflicts_refused(api, call) ? NULL : lkv__api_unpack(call, desc, data, len);
}
