/* The read path: Range and read-only Txn served from a snapshot on the caller's thread. */
#include "apply/internal.h"
#include "common/error.h"

/* One read operation: runs req on c and returns the response message and its outer header. */
typedef int (*read_op_fn)(lkv__op_ctx_t *c, const void *req, ProtobufCMessage **resp,
                          Etcdserverpb__ResponseHeader **hdr, const lkv_apply_identity_t *id);

/* Runs op in a read snapshot and packs its response while the snapshot is still open, so the response
 * can point straight into storage memory. */
static int serve(lkv_mvcc_t *store, const lkv_apply_identity_t *id, read_op_fn op, const void *req,
                 uint8_t **resp, size_t *resp_len) {
  lkv_mvcc_txn_t *t;
  lkv__arena_t arena;
  ProtobufCMessage *msg;
  Etcdserverpb__ResponseHeader *hdr;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  lkv__arena_init(&arena);
  lkv__op_ctx_t c = {.t = t, .arena = &arena, .copy = 0};
  rc = op(&c, req, &msg, &hdr, id);
  if (!rc) {
    lkv__header_fill(hdr, id);
    rc = lkv__pack(msg, resp, resp_len);
  }
  lkv_mvcc_txn_end(t);
  lkv__arena_free(&arena);
  return rc;
}

static int range_op(lkv__op_ctx_t *c, const void *req, ProtobufCMessage **resp,
                    Etcdserverpb__ResponseHeader **hdr, const lkv_apply_identity_t *id) {
  (void)id;
  Etcdserverpb__RangeResponse *r;
  int rc = lkv__apply_range(c, req, &r);
  if (rc) return rc;
  *resp = &r->base;
  *hdr = r->header;
  return 0;
}

static int txn_op(lkv__op_ctx_t *c, const void *req, ProtobufCMessage **resp,
                  Etcdserverpb__ResponseHeader **hdr, const lkv_apply_identity_t *id) {
  (void)id;
  Etcdserverpb__TxnResponse *r;
  int rc = lkv__apply_txn(c, req, 0, &r);
  if (rc) return rc;
  *resp = &r->base;
  *hdr = r->header;
  return 0;
}

static int alarm_op(lkv__op_ctx_t *c, const void *req, ProtobufCMessage **resp,
                    Etcdserverpb__ResponseHeader **hdr, const lkv_apply_identity_t *id) {
  Etcdserverpb__AlarmResponse *r;
  int rc = lkv__apply_alarm(c, id, req, &r);
  if (rc) return rc;
  *resp = &r->base;
  *hdr = r->header;
  return 0;
}

int lkv_apply_range(lkv_mvcc_t *store, const lkv_apply_identity_t *id, const Etcdserverpb__RangeRequest *req,
                    uint8_t **resp, size_t *resp_len) {
  if (req->key.len == 0) return LKV_EEMPTYKEY;
  return serve(store, id, range_op, req, resp, resp_len);
}

int lkv_apply_txn_read(lkv_mvcc_t *store, const lkv_apply_identity_t *id, const Etcdserverpb__TxnRequest *req,
                       uint8_t **resp, size_t *resp_len) {
  if (!lkv_apply_txn_is_readonly(req)) return LKV_EINVAL;
  return serve(store, id, txn_op, req, resp, resp_len);
}

int lkv_apply_alarm_get(lkv_mvcc_t *store, const lkv_apply_identity_t *id,
                        const Etcdserverpb__AlarmRequest *req, uint8_t **resp, size_t *resp_len) {
  if (req->action != ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET) return LKV_EINVAL;
  return serve(store, id, alarm_op, req, resp, resp_len);
}
