/* etcdserverpb.KV: Range served on the calling thread; Put, DeleteRange, Txn and Compact proposed. */
#include <stdlib.h>

#include "api/service.h"
#include "common/error.h"

void lkv__kv_range(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__RangeRequest *req =
      (Etcdserverpb__RangeRequest *)lkv__api_unpack(call, &etcdserverpb__range_request__descriptor, data, len);
  if (!req) return;
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  int rc = lkv_apply_range(api->store, &api->id, req, &resp, &resp_len);
  lkv__api_reply_result(call, rc, resp, resp_len);
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

static void unpack_and_propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind,
                               const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = lkv__api_unpack_write(api, call, kind, desc, data, len);
  if (msg) lkv__api_propose(api, call, kind, msg, data, len);
}

void lkv__kv_put(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  unpack_and_propose(api, call, LKV_OP_PUT, &etcdserverpb__put_request__descriptor, data, len);
}

void lkv__kv_delete_range(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  unpack_and_propose(api, call, LKV_OP_DELETE_RANGE, &etcdserverpb__delete_range_request__descriptor, data, len);
}

/* A txn whose every op is a Range is served from a snapshot on this thread, as etcd serves it without
 * its log; anything else is a write. */
void lkv__kv_txn(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = lkv__api_unpack_write(api, call, LKV_OP_TXN, &etcdserverpb__txn_request__descriptor, data, len);
  if (!msg) return;
  Etcdserverpb__TxnRequest *req = (Etcdserverpb__TxnRequest *)msg;
  if (!lkv_apply_txn_is_readonly(req)) {
    lkv__api_propose(api, call, LKV_OP_TXN, msg, data, len);
    return;
  }
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  int rc = lkv_apply_txn_read(api->store, &api->id, req, &resp, &resp_len);
  lkv__api_reply_result(call, rc, resp, resp_len);
  protobuf_c_message_free_unpacked(msg, NULL);
}

void lkv__kv_compact(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  unpack_and_propose(api, call, LKV_OP_COMPACT, &etcdserverpb__compaction_request__descriptor, data, len);
}
