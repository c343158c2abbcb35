/* Internal to src/api: the Conflicts service's shared pieces (causal mode's siblings as protobuf). */
#ifndef LKV_API_CONFLICTS_H
#define LKV_API_CONFLICTS_H

#include "api/service.h"
#include "causal/member.h"
#include "ledgerkv.pb-c.h"

/* A key's siblings as protobuf messages, winner first, then the others in the winner rule's order
 * (greatest first), with the context naming them. Values borrow the key's memory: use it while the key is
 * valid (on the causal thread, inside a query or the keys listener). No allocation. */
typedef struct {
  Ledgerkvpb__Sibling sib[LKV_CAUSAL_CONTEXT_MAX];
  Ledgerkvpb__Sibling *ptrs[LKV_CAUSAL_CONTEXT_MAX];
  Ledgerkvpb__EventId ids[LKV_CAUSAL_CONTEXT_MAX];
  size_t n;
  uint8_t ctx[1 + 16 * LKV_CAUSAL_CONTEXT_MAX]; /* lkv_causal_context_size(LKV_CAUSAL_CONTEXT_MAX) */
  size_t ctx_len;
} lkv__conflicts_sibs_t;

/* Fills *s with the siblings of k (NULL: none) as member m has them. */
void lkv__conflicts_sibs(lkv__conflicts_sibs_t *s, const lkv_causal_member_t *m, const lkv_causal_key_t *k);

/* A vector (NULL: empty) as repeated EventId (origin, highest seq): fills ids and ptrs
 * (LKV_CAUSAL_MAX_ORIGINS of each) and returns how many. No allocation. */
size_t lkv__conflicts_vector_pb(const lkv_causal_vv_t *v, Ledgerkvpb__EventId *ids,
                                Ledgerkvpb__EventId **ptrs);

/* 1 when key (key, key_len) is in etcd's range [start, end): end empty is start alone, "\0" every key from
 * start on; 0 for a reserved key (lkv_causal_node_reserved_key). */
int lkv__conflicts_in_range(const uint8_t *key, size_t key_len, const ProtobufCBinaryData *start,
                            const ProtobufCBinaryData *end);

/* A call's request unpacked (free with protobuf_c_message_free_unpacked), or NULL when the call was answered
 * already: refused in Raft mode (lkv__conflicts_refused) or not a valid message of desc. */
ProtobufCMessage *lkv__conflicts_request(lkv_api_t *api, lkv_call_t *call,
                                         const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                         size_t len);

/* Raft mode: finishes the call with FAILED_PRECONDITION (the service is causal mode's) and returns 1;
 * returns 0 in causal mode. */
int lkv__conflicts_refused(const lkv_api_t *api, lkv_call_t *call);

#endif
