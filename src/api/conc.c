/* The concurrency recipes' call state and their proposal and read steps (conc.h). */
#include "api/conc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "common/error.h"

/* The call data of a finished call: a late on_cancel for it does nothing. */
static int conc_finished;

/* clientv3/concurrency's default session TTL, used when a request names no lease. */
#define CONC_SESSION_TTL 60

int lkv__conc_init(lkv__conc_t *c, lkv_api_t *api, lkv_call_t *call, const uint8_t *name, size_t name_len) {
  c->api = api;
  c->call = call;
  /* The prefix and, right after it, the end of its range ("<name>0": '/' + 1 is '0'). */
  c->pfx = malloc(2 * (name_len + 1));
  if (!c->pfx) return LKV_ENOMEM;
  if (name_len) memcpy(c->pfx, name, name_len);
  c->pfx[name_len] = '/';
  c->pfx_len = name_len + 1;
  memcpy(c->pfx + c->pfx_len, c->pfx, c->pfx_len);
  c->pfx[2 * c->pfx_len - 1] = '0';
  lkv_call_set_data(call, c);
  return 0;
}

const uint8_t *lkv__conc_prefix_end(const lkv__conc_t *c) {
  return c->pfx + c->pfx_len;
}

int lkv__conc_set_key(lkv__conc_t *c) {
  char hex[24];
  /* Go's %x of a signed id: a minus sign and the magnitude. */
  int n = c->lease < 0 ? snprintf(hex, sizeof(hex), "-%" PRIx64, -(uint64_t)c->lease)
                       : snprintf(hex, sizeof(hex), "%" PRIx64, (uint64_t)c->lease);
  uint8_t *key = malloc(c->pfx_len + (size_t)n);
  if (!key) return LKV_ENOMEM;
  memcpy(key, c->pfx, c->pfx_len);
  memcpy(key + c->pfx_len, hex, (size_t)n);
  free(c->key);
  c->key = key;
  c->key_len = c->pfx_len + (size_t)n;
  return 0;
}

int lkv__conc_use_key(lkv__conc_t *c, const uint8_t *key, size_t key_len) {
  uint8_t *copy = malloc(key_len + 1);
  if (!copy) return LKV_ENOMEM;
  if (key_len) memcpy(copy, key, key_len);
  free(c->key);
  c->key = copy;
  c->key_len = key_len;
  return 0;
}

void lkv__conc_copy_header(Etcdserverpb__ResponseHeader *dst, const Etcdserverpb__ResponseHeader *src) {
  etcdserverpb__response_header__init(dst);
  if (!src) return;
  dst->cluster_id = src->cluster_id;
  dst->member_id = src->member_id;
  dst->revision = src->revision;
  dst->raft_term = src->raft_term;
}

static void clear_results(lkv__conc_t *c) {
  if (c->txn) etcdserverpb__txn_response__free_unpacked(c->txn, NULL);
  if (c->range) etcdserverpb__range_response__free_unpacked(c->range, NULL);
  free(c->resp);
  c->txn = NULL;
  c->range = NULL;
  c->resp = NULL;
  c->resp_len = 0;
}

void lkv__conc_end(lkv__conc_t *c, const ProtobufCMessage *msg, int err) {
  lkv_call_t *call = c->call;
  lkv_call_set_data(call, &conc_finished);
  if (err == LKV_ECANCELED)
    lkv_call_finish(call, LKV_GRPC_CANCELLED, "context canceled");
  else if (err && err == c->abort_err) /* the server ended it, as etcd's interceptors end streams */
    lkv__api_fail(call, err);
  else if (err)
    lkv__api_fail_unknown(call, err);
  else if (msg)
    lkv__api_reply(call, msg);
  else
    lkv_call_finish(call, LKV_GRPC_OK, NULL);
  clear_results(c);
  free(c->pfx);
  free(c->key);
  c->free_op(c);
}

/* The client went away and nothing is outstanding: the op's clean-up, or the end. */
static void run_cancel(lkv__conc_t *c) {
  c->canceled = 2;
  if (c->on_cancel)
    c->on_cancel(c);
  else
    lkv__conc_end(c, NULL, c->abort_err);
}

void lkv__conc_continue(lkv__conc_t *c, int err) {
  if (c->canceled == 1) {
    run_cancel(c);
    return;
  }
  lkv__conc_fn next = c->next;
  c->next = NULL;
  next(c, err);
}

void lkv__conc_abort(lkv__conc_t *c, int err) {
  if (c->canceled) return;
  c->canceled = 1;
  c->abort_err = err;
  lkv__conc_unwatch(c);
  if (!c->busy) run_cancel(c);
}

void lkv__conc_cancel(lkv_api_t *api, lkv_call_t *call) {
  (void)api;
  lkv__conc_t *c = lkv_call_get_data(call);
  if (c && c != (lkv__conc_t *)&conc_finished) lkv__conc_abort(c, LKV_ECANCELED);
}

/* Runs on the loop thread: a step's outcome is back. */
static void back_on_loop(lkv_call_t *call, void *arg) {
  (void)call;
  lkv__conc_t *c = arg;
  c->busy = 0;
  lkv__conc_continue(c, c->step_err);
}

/* Hands the step's outcome (err) to the loop thread. Any thread; c is not touched afterwards. */
static void hand_back(lkv__conc_t *c, int err) {
  c->step_err = err;
  if (lkv_call_run(c->call, back_on_loop, c) == 0) return;
  /* No memory to hand it over: only the loop thread may free c, so the call ends here and c is left. */
  lkv__api_fail(c->call, LKV_ENOMEM);
}

/* Starts a step that ends with hand_back. */
static void step(lkv__conc_t *c, lkv__conc_fn next) {
  clear_results(c);
  c->next = next;
  c->busy = 1;
}

/* ---- proposals ---- */

typedef struct conc_prop_s {
  lkv_proposal_t p;
  lkv__conc_t *c;
  uint8_t raw[]; /* the packed request (the ledger's claims cover it), then the user's name */
} conc_prop_t;

/* Replicator's thread: the outcome is durable. */
static void proposal_done(lkv_proposal_t *p) {
  conc_prop_t *cp = (conc_prop_t *)p;
  lkv__conc_t *c = cp->c;
  c->resp = p->req.resp;
  c->resp_len = p->req.resp_len;
  int err = p->req.err;
  /* Unpacked here, not in the continuation: a client gone meanwhile skips it, and on_cancel needs to know
   * whether the txn created the call's key. */
  if (err == 0 && p->req.kind == LKV_OP_TXN &&
      !(c->txn = etcdserverpb__txn_response__unpack(NULL, c->resp_len, c->resp)))
    err = LKV_ENOMEM;
  protobuf_c_message_free_unpacked((ProtobufCMessage *)p->req.msg, NULL);
  free(cp);
  hand_back(c, err);
}

void lkv__conc_propose(lkv__conc_t *c, lkv_op_kind_t kind, const ProtobufCMessage *msg, lkv__conc_fn next) {
  step(c, next);
  size_t len = protobuf_c_message_get_packed_size(msg);
  int rc = LKV_ETOOLARGE;
  if (len > c->api->max_request_bytes) goto err;
  lkv__who_t who; /* run as the client: its user is checked when the txn is applied */
  rc = lkv__auth_who(c->api, c->call, &who);
  if (rc) goto err;
  rc = LKV_ENOMEM;
  conc_prop_t *cp = calloc(1, sizeof(*cp) + len + lkv__who_size(&who));
  if (!cp) {
    lkv__who_free(&who);
    goto err;
  }
  protobuf_c_message_pack(msg, cp->raw);
  lkv__who_attach(&who, &cp->p.req, (char *)cp->raw + len);
  /* The replicator and the state machine take an unpacked message, as from a client. */
  ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, cp->raw);
  if (!copy) goto err_after_alloc;
  rc = lkv_apply_validate(kind, copy, &c->api->limits);
  if (rc) goto err_after_unpack;
  cp->c = c;
  cp->p.req.kind = kind;
  cp->p.req.msg = copy;
  cp->p.req.raw = cp->raw;
  cp->p.req.raw_len = len;
  cp->p.done = proposal_done;
  rc = lkv_replicator_propose(c->api->replicator, &cp->p);
  if (rc == 0) return;
err_after_unpack:
  protobuf_c_message_free_unpacked(copy, NULL);
err_after_alloc:
  free(cp);
err:
  hand_back(c, rc);
}

static void session_granted(lkv__conc_t *c, int err) {
  lkv__conc_fn next = c->after;
  if (err == 0) {
    Etcdserverpb__LeaseGrantResponse *r =
        etcdserverpb__lease_grant_response__unpack(NULL, c->resp_len, c->resp);
    if (r) {
      c->lease = r->id;
      etcdserverpb__lease_grant_response__free_unpacked(r, NULL);
    } else {
      err = LKV_ENOMEM;
    }
  }
  next(c, err);
}

void lkv__conc_session(lkv__conc_t *c, lkv__conc_fn next) {
  if (c->lease != 0) {
    next(c, 0);
    return;
  }
  /* The server picks the id before proposing, as for a client's LeaseGrant (lease.c). */
  Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  req.ttl = CONC_SESSION_TTL;
  req.id = lkv_lessor_next_id(c->api->lessor);
  c->after = next;
  lkv__conc_propose(c, LKV_OP_LEASE_GRANT, &req.base, session_granted);
}

void lkv__conc_guarded(lkv__conc_t *c, const lkv__conc_guard_t *g, lkv__conc_fn next) {
  ProtobufCBinaryData key = {c->key_len, c->key};
  Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
  cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
  cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE;
  cmp.key = key;
  cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
  cmp.create_revision = g->rev;
  Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
  put.key = key;
  put.value = (ProtobufCBinaryData){g->value_len, (uint8_t *)g->value};
  put.lease = c->lease;
  Etcdserverpb__DeleteRangeRequest del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  del.key = key;
  Etcdserverpb__RangeRequest get = ETCDSERVERPB__RANGE_REQUEST__INIT;
  get.key = key;
  /* clientv3's WithFirstCreate: the prefix, by create revision ascending, one key. */
  Etcdserverpb__RangeRequest owner = ETCDSERVERPB__RANGE_REQUEST__INIT;
  owner.key = (ProtobufCBinaryData){c->pfx_len, c->pfx};
  owner.range_end = (ProtobufCBinaryData){c->pfx_len, (uint8_t *)lkv__conc_prefix_end(c)};
  owner.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
  owner.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
  owner.limit = 1;
  Etcdserverpb__RequestOp ops[4] = {ETCDSERVERPB__REQUEST_OP__INIT, ETCDSERVERPB__REQUEST_OP__INIT,
                                    ETCDSERVERPB__REQUEST_OP__INIT, ETCDSERVERPB__REQUEST_OP__INIT};
  if (g->del) {
    ops[0].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    ops[0].request_delete_range = &del;
  } else {
    ops[0].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    ops[0].request_put = &put;
  }
  ops[1].request_case = ops[2].request_case = ops[3].request_case =
      ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
  ops[1].request_range = &owner;
  ops[2].request_range = &get;
  ops[3].request_range = &owner;
  Etcdserverpb__RequestOp *then_ops[2] = {&ops[0], &ops[1]};
  Etcdserverpb__RequestOp *else_ops[2] = {&ops[2], &ops[3]};
  Etcdserverpb__Compare *cmps[1] = {&cmp};
  Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
  txn.n_compare = 1;
  txn.compare = cmps;
  txn.n_success = g->owner ? 2 : 1;
  txn.success = then_ops;
  /* Without the get of the key, the else branch holds the owner's get alone (or nothing). */
  txn.n_failure = (size_t)(g->else_get != 0) + (size_t)(g->owner != 0);
  txn.failure = g->else_get ? else_ops : else_ops + 1;
  lkv__conc_propose(c, LKV_OP_TXN, &txn.base, next);
}

/* ---- linearizable reads ---- */

/* Loop thread: the read barrier has passed (or failed); the get runs from a snapshot here. */
static void serve_get(lkv__conc_t *c, int err) {
  if (err == 0) {
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    if (c->get_what == LKV__CONC_KEY) {
      req.key = (ProtobufCBinaryData){c->key_len, c->key};
    } else {
      req.key = (ProtobufCBinaryData){c->pfx_len, c->pfx};
      req.range_end = (ProtobufCBinaryData){c->pfx_len, (uint8_t *)lkv__conc_prefix_end(c)};
      req.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
      req.sort_order = c->get_what == LKV__CONC_LAST ? ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND
                                                     : ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
      req.limit = 1;
      if (c->get_what == LKV__CONC_LAST) req.max_create_revision = c->max_create_rev;
    }
    lkv_apply_identity_t id;
    lkv__api_identity(c->api, &id);
    err = lkv__auth_read_check(c->api, c->call, 0, &req.key, &req.range_end); /* the client's own get */
    if (err == 0) err = lkv_apply_range(c->api->store, &id, &req, &c->resp, &c->resp_len);
    if (err == 0 && !(c->range = etcdserverpb__range_response__unpack(NULL, c->resp_len, c->resp)))
      err = LKV_ENOMEM;
  }
  c->after(c, err);
}

static void barrier_passed(void *arg, int err) {
  hand_back(arg, err);
}

void lkv__conc_get(lkv__conc_t *c, lkv__conc_get_t what, int64_t max_create_rev, lkv__conc_fn next) {
  step(c, serve_get);
  c->after = next;
  c->get_what = what;
  c->max_create_rev = max_create_rev;
  /* clientv3's gets are linearizable: a cluster member passes a read barrier first. A single node has
   * applied every acknowledged write; the get still runs from the loop's queue, as every step does. */
  lkv_replication_status_t st;
  lkv_replicator_status(c->api->replicator, &st);
  int rc = st.single ? 0 : lkv_replicator_read_barrier(c->api->replicator, barrier_passed, c);
  if (st.single || rc != 0) hand_back(c, rc);
}
