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
  if (rc == 0)
    lkv__api_reply_packed(call, resp, resp_len);
  else
    lkv__api_fail(call, rc);
  free(resp);
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* Runs on the replicator's thread once the outcome is durable. */
static void write_done(lkv_proposal_t *p) {
  lkv_call_t *call = p->data;
  if (p->req.err == 0)
    lkv__api_reply_packed(call, p->req.resp, p->req.resp_len);
  else
    lkv__api_fail(call, p->req.err);
  free(p->req.resp);
  protobuf_c_message_free_unpacked((ProtobufCMessage *)p->req.msg, NULL);
  free(p);
}

/* Hands a validated request to the replicator; the answer comes from write_done. Takes ownership of msg. */
static void propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg) {
  int rc = LKV_ENOMEM;
  lkv_proposal_t *p = calloc(1, sizeof(*p));
  if (!p) goto err_after_unpack;
  p->req.kind = kind;
  p->req.msg = msg;
  p->done = write_done;
  p->data = call;
  rc = lkv_replicator_propose(api->replicator, p);
  if (rc == 0) return;
  free(p);
err_after_unpack:
  protobuf_c_message_free_unpacked(msg, NULL);
  lkv__api_fail(call, rc);
}

/* Unpacks and validates a write request; NULL when the call has been answered with an error. */
static ProtobufCMessage *unpack_write(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind,
                                      const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = lkv__api_unpack(call, desc, data, len);
  if (!msg) return NULL;
  int rc = lkv_apply_validate(kind, msg, &api->limits);
  if (rc == 0) return msg;
  protobuf_c_message_free_unpacked(msg, NULL);
  lkv__api_fail(call, rc);
  return NULL;
}

static void unpack_and_propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind,
                               const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = unpack_write(api, call, kind, desc, data, len);
  if (msg) propose(api, call, kind, msg);
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
  ProtobufCMessage *msg = unpack_write(api, call, LKV_OP_TXN, &etcdserverpb__txn_request__descriptor, data, len);
  if (!msg) return;
  Etcdserverpb__TxnRequest *req = (Etcdserverpb__TxnRequest *)msg;
  if (!lkv_apply_txn_is_readonly(req)) {
    propose(api, call, LKV_OP_TXN, msg);
    return;
  }
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  int rc = lkv_apply_txn_read(api->store, &api->id, req, &resp, &resp_len);
  if (rc == 0)
    lkv__api_reply_packed(call, resp, resp_len);
  else
    lkv__api_fail(call, rc);
  free(resp);
  protobuf_c_message_free_unpacked(msg, NULL);
}

void lkv__kv_compact(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  unpack_and_propose(api, call, LKV_OP_COMPACT, &etcdserverpb__compaction_request__descriptor, data, len);
}
