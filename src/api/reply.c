/* Request decoding and the ways a handler answers a call: packed bytes, a message, or an error. */
#include <stdlib.h>

#include "api/service.h"
#include "common/error.h"

ProtobufCMessage *lkv__api_unpack(lkv_call_t *call, const ProtobufCMessageDescriptor *desc,
                                  const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, data);
  if (!msg) lkv_call_finish(call, LKV_GRPC_INTERNAL, "grpc: error unmarshalling request: malformed protobuf");
  return msg;
}

void lkv__api_identity(lkv_api_t *api, lkv_apply_identity_t *out) {
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  *out = api->id;
  out->raft_term = st.term;
}

void lkv__api_header(lkv_api_t *api, Etcdserverpb__ResponseHeader *h, int64_t revision) {
  lkv_apply_identity_t id;
  lkv__api_identity(api, &id);
  h->cluster_id = id.cluster_id;
  h->member_id = id.member_id;
  h->raft_term = id.raft_term;
  h->revision = revision;
}

void lkv__api_reply_packed(lkv_call_t *call, const uint8_t *resp, size_t len) {
  lkv_call_send(call, resp, len);
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

void lkv__api_reply_result(lkv_call_t *call, int rc, uint8_t *resp, size_t len) {
  if (rc == 0)
    lkv__api_reply_packed(call, resp, len);
  else
    lkv__api_fail(call, rc);
  free(resp);
}

void lkv__api_reply(lkv_call_t *call, const ProtobufCMessage *msg) {
  uint8_t small[512];
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = len <= sizeof(small) ? small : malloc(len);
  if (!buf) {
    lkv__api_fail(call, LKV_ENOMEM);
    return;
  }
  protobuf_c_message_pack(msg, buf);
  lkv__api_reply_packed(call, buf, len);
  if (buf != small) free(buf);
}
