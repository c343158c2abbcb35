/* The write path: a batch of requests in one durable transaction, each request atomic on its own. */
#include <stdlib.h>

#include "apply/auth_internal.h"
#include "apply/internal.h"
#include "common/error.h"

Etcdserverpb__ResponseHeader *lkv__header_new(lkv__arena_t *a, int64_t revision) {
  Etcdserverpb__ResponseHeader *h = lkv__arena_alloc(a, sizeof(*h));
  if (!h) return NULL;
  etcdserverpb__response_header__init(h);
  h->revision = revision;
  return h;
}

void lkv__header_fill(Etcdserverpb__ResponseHeader *h, const lkv_apply_identity_t *id) {
  h->cluster_id = id->cluster_id;
  h->member_id = id->member_id;
  h->raft_term = id->raft_term;
}

int lkv__pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *b = malloc(n ? n : 1);
  if (!b) return LKV_ENOMEM;
  *len = protobuf_c_message_pack(msg, b);
  *buf = b;
  return 0;
}

/* etcd's Compaction: the response revision is the store's current one. A physical one is answered
 * once the history is removed (etcd waits for it): here in the request itself, the same on every member;
 * otherwise the writer removes it in steps afterwards (lkv_apply_background_step). */
static int apply_compact(lkv__op_ctx_t *c, const Etcdserverpb__CompactionRequest *r,
                         Etcdserverpb__CompactionResponse **out) {
  int rc = lkv_mvcc_compact(c->t, r->revision);
  if (!rc && r->physical) rc = lkv_mvcc_compact_run(c->t, 0);
  if (rc) return rc;
  Etcdserverpb__CompactionResponse *resp = lkv__arena_alloc(c->arena, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__compaction_response__init(resp);
  resp->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!resp->header) return LKV_ENOMEM;
  *out = resp;
  return 0;
}

/* Runs one request and packs its response; the caller keeps or rolls back its changes. */
static int apply_one(lkv__op_ctx_t *c, const lkv_apply_identity_t *id, lkv_apply_req_t *req) {
  ProtobufCMessage *resp = NULL;
  Etcdserverpb__ResponseHeader **hdr = NULL;
  int rc = lkv__alarm_check(c->t, req);
  if (!rc) rc = lkv__auth_check(c->t, req);
  if (rc) return rc;
  switch (req->kind) {
    case LKV_OP_PUT: {
      const Etcdserverpb__PutRequest *p = (const Etcdserverpb__PutRequest *)req->msg;
      Etcdserverpb__PutResponse *r = NULL;
      rc = lkv__apply_put(c, p, 1, lkv__cost_put(p), &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    case LKV_OP_DELETE_RANGE: {
      Etcdserverpb__DeleteRangeResponse *r = NULL;
      rc = lkv__apply_delete(c, (const Etcdserverpb__DeleteRangeRequest *)req->msg, &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    case LKV_OP_TXN: {
      const Etcdserverpb__TxnRequest *t = (const Etcdserverpb__TxnRequest *)req->msg;
      Etcdserverpb__TxnResponse *r = NULL;
      rc = lkv__apply_txn(c, t, lkv__cost_txn(t), &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    case LKV_OP_COMPACT: {
      Etcdserverpb__CompactionResponse *r = NULL;
      rc = apply_compact(c, (const Etcdserverpb__CompactionRequest *)req->msg, &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    case LKV_OP_ALARM: {
      Etcdserverpb__AlarmResponse *r = NULL;
      rc = lkv__apply_alarm(c, id, (const Etcdserverpb__AlarmRequest *)req->msg, &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    case LKV_OP_LEASE_GRANT: {
      Etcdserverpb__LeaseGrantResponse *r = NULL;
      rc = lkv__apply_lease_grant(c, (const Etcdserverpb__LeaseGrantRequest *)req->msg, &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    case LKV_OP_LEASE_REVOKE: {
      Etcdserverpb__LeaseRevokeResponse *r = NULL;
      rc = lkv__apply_lease_revoke(c, (const Etcdserverpb__LeaseRevokeRequest *)req->msg, &r);
      if (r) resp = &r->base, hdr = &r->header;
      break;
    }
    default:
      rc = lkv__apply_auth(c, req, &resp, &hdr);
      break;
  }
  /* Past the capped check, running out of space is the member's own disk (its map), not replicated
   * state: a replicated member must not answer differently from the others, so the batch fails. */
  if (rc == LKV_ENOSPACE && c->no_quota) c->storage_full = 1;
  if (rc) return rc;
  lkv__header_fill(*hdr, id); /* the outer header only, as etcd's v3rpc layer */
  return lkv__pack(resp, &req->resp, &req->resp_len);
}

int lkv_apply_batch(lkv_mvcc_t *store, const lkv_apply_identity_t *id, lkv_apply_req_t *reqs, size_t n) {
  return lkv_apply_batch_logged(store, id, reqs, n, NULL, NULL);
}

/* Hands the recorded entries to log; the transaction is still open. */
static int log_entries(lkv__rec_t *rec, lkv_apply_log_cb log, void *arg) {
  if (!log || rec->n == 0) return 0;
  const lkv_ledger_entry_t *e = lkv__rec_entries(rec);
  if (!e) return LKV_ENOMEM;
  return log(arg, e, rec->n);
}

uint64_t lkv_apply_quota_cost(const lkv_apply_req_t *req) {
  if (req->kind == LKV_OP_PUT) return lkv__cost_put((const Etcdserverpb__PutRequest *)req->msg);
  if (req->kind == LKV_OP_TXN) return lkv__cost_txn((const Etcdserverpb__TxnRequest *)req->msg);
  if (req->kind == LKV_OP_LEASE_GRANT) return LKV__LEASE_QUOTA_COST;
  return 0;
}

int lkv_apply_quota_check(lkv_mvcc_t *store, const lkv_apply_req_t *req) {
  uint64_t cost = lkv_apply_quota_cost(req);
  if (cost == 0) return 0;
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv_mvcc_quota_check(t, cost);
  lkv_mvcc_txn_end(t);
  return rc;
}

int lkv_apply_req_took_effect(const lkv_apply_req_t *req) {
  return req->err == 0 || (req->kind == LKV_OP_LEASE_REVOKE && req->err == LKV_ELEASENOTFOUND);
}

int lkv_apply_batch_logged(lkv_mvcc_t *store, const lkv_apply_identity_t *id, lkv_apply_req_t *reqs, size_t n,
                           lkv_apply_log_cb log, void *arg) {
  lkv_apply_hooks_t hooks = {.log = log, .log_arg = arg};
  return lkv_apply_batch_hooked(store, id, reqs, n, &hooks);
}

int lkv_apply_batch_hooked(lkv_mvcc_t *store, const lkv_apply_identity_t *id, lkv_apply_req_t *reqs, size_t n,
                           const lkv_apply_hooks_t *hooks) {
  lkv_apply_log_cb log = hooks ? hooks->log : NULL;
  void *arg = hooks ? hooks->log_arg : NULL;
  lkv_mvcc_txn_t *t;
  lkv__rec_t rec;
  lkv__rec_init(&rec);
  for (size_t i = 0; i < n; i++) {
    reqs[i].err = 0;
    reqs[i].resp = NULL;
    reqs[i].resp_len = 0;
  }
  int rc = lkv_mvcc_write_begin(store, &t);
  if (rc) goto fail;
  for (size_t i = 0; i < n; i++) {
    lkv__arena_t arena;
    lkv__arena_init(&arena);
    lkv__op_ctx_t c = {
        .t = t, .arena = &arena, .copy = 1, .no_quota = hooks && hooks->no_quota, .index = reqs[i].index};
    int64_t rev_before = lkv_mvcc_txn_rev(t);
    int err = lkv_mvcc_req_begin(t);
    if (!err) {
      err = apply_one(&c, id, &reqs[i]);
      int end = lkv_mvcc_req_end(t, err == 0);
      if (!err) err = end;
    }
    lkv__arena_free(&arena);
    if (c.storage_full) {
      rc = LKV_ENOSPACE;
      lkv_mvcc_txn_end(t);
      goto fail;
    }
    if (!err && log) {
      /* The request is kept: without its entry the ledger would miss a change, so the batch fails. */
      rc = lkv__rec_request(&rec, t, &reqs[i], rev_before);
      if (rc) {
        lkv_mvcc_txn_end(t);
        goto fail;
      }
    }
    if (err) {
      free(reqs[i].resp);
      reqs[i].resp = NULL;
      reqs[i].resp_len = 0;
    }
    reqs[i].err = err;
    /* A write refused for lack of space raises NOSPACE, as etcd's quota check does: from then on writes
     * that add data are refused until the alarm is deactivated. */
    if (err == LKV_ENOSPACE) {
      rc = lkv__alarm_raise(t, LKV_MVCC_ALARM_NOSPACE);
      if (rc) {
        lkv_mvcc_txn_end(t);
        goto fail;
      }
    }
  }
  rc = log_entries(&rec, log, arg);
  if (!rc && hooks && hooks->record) rc = hooks->record(hooks->record_arg, t);
  if (rc) {
    lkv_mvcc_txn_end(t);
    goto fail;
  }
  rc = lkv_mvcc_write_commit(t);
  lkv__rec_free(&rec);
  if (!rc) return 0;

fail:
  lkv__rec_free(&rec);
  for (size_t i = 0; i < n; i++) {
    free(reqs[i].resp);
    reqs[i].resp = NULL;
    reqs[i].resp_len = 0;
    reqs[i].err = rc;
  }
  return rc;
}
