/* v3electionpb.Election's unary calls: Campaign, Proclaim, Resign and Leader, as clientv3's Election runs
 * them in etcd's server (Observe is in election_observe.c). */
#include <stdlib.h>
#include <string.h>

#include "api/conc.h"
#include "common/error.h"
#include "etcd/etcdserver/api/v3election/v3electionpb/v3election.pb-c.h"

/*
 * A candidate's key is "<name>/<lease in hex>", created with its lease; the leader is the key under the
 * prefix with the lowest create revision. Campaign creates the key (or finds it, then proclaims the new
 * value) and waits until every key created before it is deleted; a client gone meanwhile resigns (the key
 * is deleted). Proclaim and Resign act only while the leader key still has the create revision the client
 * holds (LeaderKey.rev). Requests without a lease get a session lease of 60 s, as etcd's do.
 */

typedef struct elect_op_s {
  lkv__conc_t c;
  int64_t rev;                      /* the leader key's create revision (Campaign: once known) */
  Etcdserverpb__ResponseHeader hdr; /* Campaign: the first txn's header, its answer's */
  uint8_t *value;
  size_t value_len;
  int err;    /* Campaign: answered after a resign */
  int resign; /* Resign rather than Proclaim */
} elect_op_t;

static void free_op(lkv__conc_t *c) {
  elect_op_t *op = (elect_op_t *)c;
  free(op->value);
  free(op);
}

/* Starts an op on name with a copy of value; NULL when the call has been answered. Takes nothing. */
static elect_op_t *op_new(lkv_api_t *api, lkv_call_t *call, ProtobufCBinaryData name,
                          ProtobufCBinaryData value) {
  elect_op_t *op = calloc(1, sizeof(*op));
  if (op) op->value = malloc(value.len + 1);
  int rc = op && op->value ? lkv__conc_init(&op->c, api, call, name.data, name.len) : LKV_ENOMEM;
  if (rc) {
    if (op) free(op->value);
    free(op);
    lkv__api_fail(call, rc);
    return NULL;
  }
  if (value.len) memcpy(op->value, value.data, value.len);
  op->value_len = value.len;
  op->c.free_op = free_op;
  return op;
}

/* A header-only answer (Proclaim, Resign) from the last txn. */
static void answer_header(lkv__conc_t *c, const ProtobufCMessageDescriptor *desc) {
  /* ProclaimResponse and ResignResponse are both { header = 1 }. */
  union {
    V3electionpb__ProclaimResponse p;
    V3electionpb__ResignResponse r;
  } u;
  protobuf_c_message_init(desc, &u);
  u.p.header = c->txn->header;
  lkv__conc_end(c, &u.p.base, 0);
}

/* ---- Campaign ---- */

static void resigned(lkv__conc_t *c, int err) {
  (void)err; /* etcd answers with what made it resign */
  lkv__conc_end(c, NULL, ((elect_op_t *)c)->err);
}

/* Deletes the key if it still has the campaign's create revision, then fails with err. */
static void resign_then_fail(lkv__conc_t *c, int err) {
  elect_op_t *op = (elect_op_t *)c;
  op->err = err;
  lkv__conc_guard_t del = {.rev = op->rev, .del = 1};
  lkv__conc_guarded(c, &del, resigned);
}

/* The key the creating txn made or found: its create revision, or 0 when t is malformed. */
static int64_t created_rev(const Etcdserverpb__TxnResponse *t) {
  if (!t->header) return 0;
  if (t->succeeded) return t->header->revision;
  if (t->n_responses != 1 || !t->responses[0]->response_range || t->responses[0]->response_range->n_kvs == 0)
    return 0;
  return t->responses[0]->response_range->kvs[0]->create_revision;
}

/* A client gone while the creating txn was in flight: c->txn is its response (conc.h). */
static void campaign_cancel(lkv__conc_t *c) {
  elect_op_t *op = (elect_op_t *)c;
  if (!op->rev && c->txn) op->rev = created_rev(c->txn);
  if (op->rev)
    resign_then_fail(c, LKV_ECANCELED);
  else
    lkv__conc_end(c, NULL, LKV_ECANCELED);
}

static void elected(lkv__conc_t *c, int err) {
  elect_op_t *op = (elect_op_t *)c;
  if (err) { /* not canceled (that resigns): etcd leaves the key */
    lkv__conc_end(c, NULL, err);
    return;
  }
  V3electionpb__LeaderKey leader = V3ELECTIONPB__LEADER_KEY__INIT;
  leader.name = (ProtobufCBinaryData){c->pfx_len - 1, c->pfx};
  leader.key = (ProtobufCBinaryData){c->key_len, c->key};
  leader.rev = op->rev;
  leader.lease = c->lease;
  V3electionpb__CampaignResponse resp = V3ELECTIONPB__CAMPAIGN_RESPONSE__INIT;
  resp.header = &op->hdr;
  resp.leader = &leader;
  lkv__conc_end(c, &resp.base, 0);
}

static void reproclaimed(lkv__conc_t *c, int err) {
  if (err)
    resign_then_fail(c, err);
  else if (!c->txn->succeeded) /* the key was replaced meanwhile: not ours to delete */
    lkv__conc_end(c, NULL, LKV_ENOTELECTLEADER);
  else
    lkv__conc_wait_deletes(c, ((elect_op_t *)c)->rev - 1, elected);
}

static void created(lkv__conc_t *c, int err) {
  elect_op_t *op = (elect_op_t *)c;
  const Etcdserverpb__TxnResponse *t = c->txn;
  if (!err && !(op->rev = created_rev(t))) err = LKV_EIO;
  if (err) {
    lkv__conc_end(c, NULL, err);
    return;
  }
  lkv__conc_copy_header(&op->hdr, t->header);
  if (t->succeeded) {
    lkv__conc_wait_deletes(c, op->rev - 1, elected);
    return;
  }
  /* The key exists (this lease campaigned before): campaign with it, under the new value. */
  const Mvccpb__KeyValue *kv = t->responses[0]->response_range->kvs[0];
  if (kv->value.len == op->value_len &&
      (!op->value_len || memcmp(kv->value.data, op->value, op->value_len) == 0)) {
    lkv__conc_wait_deletes(c, op->rev - 1, elected);
    return;
  }
  lkv__conc_guard_t put = {.rev = op->rev, .value = op->value, .value_len = op->value_len};
  lkv__conc_guarded(c, &put, reproclaimed);
}

static void campaign_session(lkv__conc_t *c, int err) {
  elect_op_t *op = (elect_op_t *)c;
  if (err == 0) err = lkv__conc_set_key(c);
  if (err) {
    lkv__conc_end(c, NULL, err);
    return;
  }
  lkv__conc_guard_t create = {.rev = 0, .value = op->value, .value_len = op->value_len, .else_get = 1};
  lkv__conc_guarded(c, &create, created);
}

void lkv__election_campaign(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3electionpb__CampaignRequest *req = (V3electionpb__CampaignRequest *)lkv__api_unpack(
      call, &v3electionpb__campaign_request__descriptor, data, len);
  if (!req) return;
  elect_op_t *op = op_new(api, call, req->name, req->value);
  if (op) {
    op->c.lease = req->lease;
    op->c.on_cancel = campaign_cancel;
    lkv__conc_session(&op->c, campaign_session);
  }
  v3electionpb__campaign_request__free_unpacked(req, NULL);
}

/* ---- Proclaim and Resign: act on the leader key the client holds ---- */

static void proclaimed(lkv__conc_t *c, int err) {
  if (!err && !c->txn->succeeded) err = LKV_ENOTELECTLEADER;
  if (err)
    lkv__conc_end(c, NULL, err);
  else
    answer_header(c, &v3electionpb__proclaim_response__descriptor);
}

static void resign_done(lkv__conc_t *c, int err) {
  if (err) /* a resign that finds the key replaced is no error (etcd's) */
    lkv__conc_end(c, NULL, err);
  else
    answer_header(c, &v3electionpb__resign_response__descriptor);
}

/* The guarded txn on the held key, once the session lease is known. */
static void held_session(lkv__conc_t *c, int err) {
  elect_op_t *op = (elect_op_t *)c;
  if (err) {
    lkv__conc_end(c, NULL, err);
    return;
  }
  lkv__conc_guard_t g = {.rev = op->rev, .value = op->value, .value_len = op->value_len, .del = op->resign};
  lkv__conc_guarded(c, &g, op->resign ? resign_done : proclaimed);
}

/* Proclaim and Resign: the leader key's name, key, rev and lease; resign selects Resign. */
static void start_held(lkv_api_t *api, lkv_call_t *call, const V3electionpb__LeaderKey *leader,
                       ProtobufCBinaryData value, int resign) {
  if (!leader) {
    lkv__api_fail_unknown(call, LKV_ENOLEADERKEY);
    return;
  }
  elect_op_t *op = op_new(api, call, leader->name, value);
  if (!op) return;
  int rc = lkv__conc_use_key(&op->c, leader->key.data, leader->key.len);
  if (rc) {
    lkv__conc_end(&op->c, NULL, rc);
    return;
  }
  op->rev = leader->rev;
  op->resign = resign;
  op->c.lease = leader->lease;
  lkv__conc_session(&op->c, held_session);
}

void lkv__election_proclaim(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3electionpb__ProclaimRequest *req = (V3electionpb__ProclaimRequest *)lkv__api_unpack(
      call, &v3electionpb__proclaim_request__descriptor, data, len);
  if (!req) return;
  start_held(api, call, req->leader, req->value, 0);
  v3electionpb__proclaim_request__free_unpacked(req, NULL);
}

void lkv__election_resign(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3electionpb__ResignRequest *req = (V3electionpb__ResignRequest *)lkv__api_unpack(
      call, &v3electionpb__resign_request__descriptor, data, len);
  if (!req) return;
  start_held(api, call, req->leader, (ProtobufCBinaryData){0, NULL}, 1);
  v3electionpb__resign_request__free_unpacked(req, NULL);
}

/* ---- Leader ---- */

static void got_leader(lkv__conc_t *c, int err) {
  if (!err && c->range->n_kvs == 0) err = LKV_ENOELECTLEADER;
  if (err) {
    lkv__conc_end(c, NULL, err);
    return;
  }
  V3electionpb__LeaderResponse resp = V3ELECTIONPB__LEADER_RESPONSE__INIT;
  resp.header = c->range->header;
  resp.kv = c->range->kvs[0];
  lkv__conc_end(c, &resp.base, 0);
}

void lkv__election_leader(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3electionpb__LeaderRequest *req = (V3electionpb__LeaderRequest *)lkv__api_unpack(
      call, &v3electionpb__leader_request__descriptor, data, len);
  if (!req) return;
  elect_op_t *op = op_new(api, call, req->name, (ProtobufCBinaryData){0, NULL});
  if (op) lkv__conc_get(&op->c, LKV__CONC_FIRST, 0, got_leader);
  v3electionpb__leader_request__free_unpacked(req, NULL);
}
