/* v3lockpb.Lock: Lock waits its turn under "<name>/" as clientv3's Mutex does; Unlock deletes the key. */
#include <stdlib.h>

#include "api/conc.h"
#include "common/error.h"
#include "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.pb-c.h"

/*
 * Lock (etcd's v3lock server with concurrency.Mutex): the key "<name>/<lease in hex>" is created with the
 * request's lease unless it exists (the same lease asked before), in one txn that also reads the prefix's
 * first-created key. The lock is held once every key under the prefix created before it is deleted
 * (waitDeletes) and the key itself still exists: a key whose lease expired while it waited is not a lock
 * ("mutex: session is expired", as etcd 3.5 checks; 3.4 answered such a lock held). A request without a lease
 * gets a session lease of 60 s, as etcd's does. If the client goes away while waiting, the key is deleted
 * again (etcd's Unlock after a failed wait); so is it after a failed wait.
 */

typedef struct lock_op_s {
  lkv__conc_t c;
  int64_t my_rev;                   /* the key's create revision */
  int err;                          /* the wait's error, answered once the key is deleted */
  Etcdserverpb__ResponseHeader hdr; /* waitDeletes' last get's, the answer's */
} lock_op_t;

static void free_op(lkv__conc_t *c) {
  free(c);
}

/* Answers with the header of the txn (held at once) or of waitDeletes' last get. */
static void answer(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr) {
  V3lockpb__LockResponse resp = V3LOCKPB__LOCK_RESPONSE__INIT;
  resp.header = (Etcdserverpb__ResponseHeader *)hdr;
  resp.key = (ProtobufCBinaryData){c->key_len, c->key};
  lkv__conc_end(c, &resp.base, 0);
}

static void unlocked(lkv__conc_t *c, int err) {
  (void)err; /* the wait's error is the answer, as etcd ignores Unlock's */
  lkv__conc_end(c, NULL, ((lock_op_t *)c)->err);
}

/* Deletes the key and then fails with err (LKV_ECANCELED: the client is gone). */
static void release(lkv__conc_t *c, int err) {
  ((lock_op_t *)c)->err = err;
  Etcdserverpb__DeleteRangeRequest del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  del.key = (ProtobufCBinaryData){c->key_len, c->key};
  lkv__conc_propose(c, LKV_OP_DELETE_RANGE, &del.base, unlocked);
}

/* The key exists once the creating txn succeeded, even if the client left before its answer came back
 * (c->txn is then that txn's response). */
static void on_cancel(lkv__conc_t *c) {
  if (((lock_op_t *)c)->my_rev || c->txn)
    release(c, LKV_ECANCELED);
  else /* before the txn, or it failed: no key of ours exists */
    lkv__conc_end(c, NULL, LKV_ECANCELED);
}

/* The key is gone (its lease expired while it waited): the lock is not held (etcd 3.5's check). */
static void key_checked(lkv__conc_t *c, int err) {
  if (!err && c->range->n_kvs == 0) err = LKV_ESESSIONEXPIRED;
  if (err)
    lkv__conc_end(c, NULL, err);
  else
    answer(c, &((lock_op_t *)c)->hdr);
}

static void waited(lkv__conc_t *c, int err) {
  if (err) {
    release(c, err);
    return;
  }
  lkv__conc_copy_header(&((lock_op_t *)c)->hdr, c->range->header);
  lkv__conc_get(c, LKV__CONC_KEY, 0, key_checked);
}

static void txn_done(lkv__conc_t *c, int err) {
  lock_op_t *op = (lock_op_t *)c;
  if (err) {
    lkv__conc_end(c, NULL, err);
    return;
  }
  const Etcdserverpb__TxnResponse *t = c->txn;
  /* Then: [put, owner]; Else: [get key, owner]. */
  if (t->n_responses != 2 || !t->header) {
    lkv__conc_end(c, NULL, LKV_EIO);
    return;
  }
  op->my_rev = t->header->revision;
  if (!t->succeeded) {
    const Etcdserverpb__RangeResponse *mine = t->responses[0]->response_range;
    if (!mine || mine->n_kvs == 0) { /* deleted between the compare and the get: impossible in one txn */
      lkv__conc_end(c, NULL, LKV_EIO);
      return;
    }
    op->my_rev = mine->kvs[0]->create_revision;
  }
  const Etcdserverpb__RangeResponse *owner = t->responses[1]->response_range;
  if (!owner || owner->n_kvs == 0 || owner->kvs[0]->create_revision == op->my_rev) {
    answer(c, t->header);
    return;
  }
  lkv__conc_wait_deletes(c, op->my_rev - 1, waited);
}

static void session_ready(lkv__conc_t *c, int err) {
  if (err == 0) err = lkv__conc_set_key(c);
  if (err) {
    lkv__conc_end(c, NULL, err);
    return;
  }
  static const lkv__conc_guard_t create = {.rev = 0, .else_get = 1, .owner = 1};
  lkv__conc_guarded(c, &create, txn_done);
}

void lkv__lock_lock(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3lockpb__LockRequest *req =
      (V3lockpb__LockRequest *)lkv__api_unpack(call, &v3lockpb__lock_request__descriptor, data, len);
  if (!req) return;
  lock_op_t *op = calloc(1, sizeof(*op));
  int rc = op ? lkv__conc_init(&op->c, api, call, req->name.data, req->name.len) : LKV_ENOMEM;
  if (rc) {
    free(op);
    lkv__api_fail(call, rc);
  } else {
    op->c.lease = req->lease;
    op->c.on_cancel = on_cancel;
    op->c.free_op = free_op;
    lkv__conc_session(&op->c, session_ready);
  }
  v3lockpb__lock_request__free_unpacked(req, NULL);
}

/* Unlock is a plain delete of the key (no check that it is a lock key, as etcd's). */
typedef struct unlock_op_s {
  lkv__conc_t c;
} unlock_op_t;

static void deleted(lkv__conc_t *c, int err) {
  Etcdserverpb__DeleteRangeResponse *d =
      err ? NULL : etcdserverpb__delete_range_response__unpack(NULL, c->resp_len, c->resp);
  if (!err && !d) err = LKV_ENOMEM;
  V3lockpb__UnlockResponse resp = V3LOCKPB__UNLOCK_RESPONSE__INIT;
  if (d) resp.header = d->header;
  lkv__conc_end(c, &resp.base, err);
  if (d) etcdserverpb__delete_range_response__free_unpacked(d, NULL);
}

void lkv__lock_unlock(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3lockpb__UnlockRequest *req =
      (V3lockpb__UnlockRequest *)lkv__api_unpack(call, &v3lockpb__unlock_request__descriptor, data, len);
  if (!req) return;
  unlock_op_t *op = calloc(1, sizeof(*op));
  int rc = op ? lkv__conc_init(&op->c, api, call, NULL, 0) : LKV_ENOMEM;
  if (rc) {
    free(op);
    lkv__api_fail(call, rc);
  } else {
    op->c.free_op = free_op;
    Etcdserverpb__DeleteRangeRequest del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    del.key = req->key;
    lkv__conc_propose(&op->c, LKV_OP_DELETE_RANGE, &del.base, deleted);
  }
  v3lockpb__unlock_request__free_unpacked(req, NULL);
}
