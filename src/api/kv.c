/* etcdserverpb.KV: reads served from a snapshot (after a read barrier unless serializable); Put,
 * DeleteRange, Txn and Compact proposed. */
#include <stdlib.h>

#include "api/auth.h"
#include "api/service.h"
#include "common/error.h"

/* A read: a Range, or a txn whose every op is a Range. */
typedef struct read_s {
  lkv_api_t *api;
  lkv_call_t *call;
  ProtobufCMessage *msg;
  int txn;
} read_t;

/* etcd's doSerialize check for the call's user: read access to the range, or checkTxnAuth. */
static int read_permitted(read_t *r) {
  lkv__who_t w;
  int rc = lkv__auth_who(r->api, r->call, &w);
  if (rc) return rc;
  lkv_apply_auth_t who = {.user = w.user, .revision = w.revision};
  const Etcdserverpb__RangeRequest *range = (const Etcdserverpb__RangeRequest *)r->msg;
  rc = r->txn ? lkv_apply_auth_txn_permitted(r->api->store, &who, (const Etcdserverpb__TxnRequest *)r->msg)
              : lkv_apply_auth_permitted(r->api->store, &who, 0, range->key.data, range->key.len,
                                         range->range_end.data, range->range_end.len);
  lkv__who_free(&w);
  return rc;
}

/* Serves r from a snapshot on the calling thread, answers and frees it. */
static void serve_read(read_t *r) {
  lkv_apply_identity_t id;
  lkv__api_identity(r->api, &id);
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  int rc = read_permitted(r);
  if (!rc)
    rc = r->txn ? lkv_apply_txn_read(r->api->store, &id, (const Etcdserverpb__TxnRequest *)r->msg, &resp,
                                     &resp_len)
                : lkv_apply_range(r->api->store, &id, (const Etcdserverpb__RangeRequest *)r->msg, &resp,
                                  &resp_len);
  lkv__api_reply_result(r->call, rc, resp, resp_len);
  protobuf_c_message_free_unpacked(r->msg, NULL);
  free(r);
}

static void serve_on_loop(lkv_call_t *call, void *arg) {
  (void)call;
  serve_read(arg);
}

/* Runs on the replicator's thread: the read itself goes back to the call's loop thread, so linearizable
 * reads run in parallel on every loop, not one after another on the replicator's thread. */
static void barrier_passed(void *arg, int err) {
  read_t *r = arg;
  if (err == 0) err = lkv_call_run(r->call, serve_on_loop, r);
  if (err == 0) return;
  lkv__api_fail(r->call, err); /* the read's checks belong on the call's loop thread, not here */
  protobuf_c_message_free_unpacked(r->msg, NULL);
  free(r);
}

/* etcd's default reads are linearizable: they pass a read barrier (ReadIndex) and see everything
 * acknowledged before they arrived; a one-member cluster serves them at once (no other member can lead,
 * and every acknowledged write is already applied). Serializable reads are
 * served from this member's store as it stands. Takes msg. */
static void start_read(lkv_api_t *api, lkv_call_t *call, ProtobufCMessage *msg, int txn, int serializable) {
  read_t *r = malloc(sizeof(*r));
  if (!r) {
    protobuf_c_message_free_unpacked(msg, NULL);
    lkv__api_fail(call, LKV_ENOMEM);
    return;
  }
  *r = (read_t){.api = api, .call = call, .msg = msg, .txn = txn};
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  if (st.is_learner && !serializable) { /* a learner may lag: etcd serves it serializable reads only */
    barrier_passed(r, LKV_ELEARNER);
    return;
  }
  if (serializable || st.single) {
    serve_read(r);
    return;
  }
  int rc = lkv_replicator_read_barrier(api->replicator, barrier_passed, r);
  if (rc != 0) barrier_passed(r, rc);
}

void lkv__kv_range(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__RangeRequest *req = (Etcdserverpb__RangeRequest *)lkv__api_unpack(
      call, &etcdserverpb__range_request__descriptor, data, len);
  if (req) start_read(api, call, &req->base, 0, req->serializable);
}

/* etcd's isTxnSerializable: every op of both branches is a serializable Range. */
static int txn_serializable(const Etcdserverpb__TxnRequest *t) {
  for (int b = 0; b < 2; b++) {
    size_t n = b ? t->n_failure : t->n_success;
    Etcdserverpb__RequestOp **ops = b ? t->failure : t->success;
    for (size_t i = 0; i < n; i++)
      if (ops[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE ||
          !ops[i]->request_range->serializable)
        return 0;
  }
  return 1;
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
  unpack_and_propose(api, call, LKV_OP_DELETE_RANGE, &etcdserverpb__delete_range_request__descriptor, data,
                     len);
}

/* A txn whose every op is a Range is served from a snapshot on this thread, as etcd serves it without
 * its log; anything else is a write. */
void lkv__kv_txn(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg =
      lkv__api_unpack_write(api, call, LKV_OP_TXN, &etcdserverpb__txn_request__descriptor, data, len);
  if (!msg) return;
  Etcdserverpb__TxnRequest *req = (Etcdserverpb__TxnRequest *)msg;
  if (!lkv_apply_txn_is_readonly(req)) {
    lkv__api_propose(api, call, LKV_OP_TXN, msg, data, len);
    return;
  }
  start_read(api, call, msg, 1, txn_serializable(req));
}

void lkv__kv_compact(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  unpack_and_propose(api, call, LKV_OP_COMPACT, &etcdserverpb__compaction_request__descriptor, data, len);
}
