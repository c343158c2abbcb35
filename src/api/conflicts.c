/* ledgerkvpb.Conflicts' unary calls (causal mode): Siblings, Resolve, ReplicationStatus, each answered from
 * the causal thread, which owns the key states (replication/causal_node.h). */
#include "api/conflicts.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "replication/causal_node.h"

/* Who asked: the answer goes to call, stamped with api's identity. */
typedef struct {
  lkv_api_t *api;
  lkv_call_t *call;
} asker_t;

/* A request refused before it reached the causal thread: its state freed, the call failed with rc. */
static void refuse(lkv_call_t *call, void *state, int rc) {
  free(state);
  lkv__api_fail(call, rc);
}

/* ---- Siblings */

typedef struct {
  lkv_causal_query_t q; /* first: the node hands it back */
  asker_t who;
  size_t key_len;
  uint8_t key[];
} siblings_query_t;

/* A key as the service shows it: a reserved key (the members' auth records) has no write to show. */
static const lkv_causal_key_t *visible_key(const lkv_causal_member_t *m, const uint8_t *key, size_t len) {
  return lkv_causal_node_reserved_key(key, len) ? NULL : lkv_causal_member_key(m, key, len);
}

static void siblings_run(lkv_causal_query_t *q, const lkv_causal_member_t *m) {
  siblings_query_t *sq = (siblings_query_t *)q;
  lkv__conflicts_sibs_t s;
  lkv__conflicts_sibs(&s, m, visible_key(m, sq->key, sq->key_len));
  Ledgerkvpb__SiblingsResponse resp = LEDGERKVPB__SIBLINGS_RESPONSE__INIT;
  resp.member_id = sq->who.api->id.member_id;
  resp.revision = (int64_t)lkv_causal_member_revision(m) + 1;
  resp.n_siblings = s.n;
  resp.siblings = s.ptrs;
  resp.context = (ProtobufCBinaryData){.len = s.ctx_len, .data = s.ctx};
  lkv__api_reply(sq->who.call, &resp.base);
  free(sq);
}

void lkv__conflicts_siblings(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (lkv__conflicts_refused(api, call)) return;
  Ledgerkvpb__SiblingsRequest *req = (Ledgerkvpb__SiblingsRequest *)lkv__api_unpack(
      call, &ledgerkvpb__siblings_request__descriptor, data, len);
  if (!req) return;
  int rc = req->key.len ? 0 : LKV_EEMPTYKEY;
  siblings_query_t *sq = rc ? NULL : malloc(sizeof(*sq) + req->key.len);
  if (!rc && !sq) rc = LKV_ENOMEM;
  if (!rc) {
    *sq = (siblings_query_t){.q = {.run = siblings_run}, .who = {api, call}, .key_len = req->key.len};
    memcpy(sq->key, req->key.data, req->key.len);
    rc = lkv_causal_node_query(api->replicator, &sq->q);
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (rc) refuse(call, sq, rc);
}

/* ---- Resolve */

typedef struct {
  lkv_causal_resolve_t rs; /* first: the node hands it back */
  asker_t who;
  uint8_t bytes[]; /* key ‖ value */
} resolve_t;

static void resolve_done(lkv_causal_resolve_t *rs, int err) {
  resolve_t *r = (resolve_t *)rs;
  if (err == LKV_ENOENT)
    lkv_call_finish(
        r->who.call, LKV_GRPC_FAILED_PRECONDITION,
        "ledgerkv: the context names a write this member has not applied yet: resolve on the member "
        "that listed the siblings, or once this one has them");
  else if (err == LKV_EEXIST)
    lkv_call_finish(
        r->who.call, LKV_GRPC_FAILED_PRECONDITION,
        "ledgerkv: the key has a sibling written through this member that the context does not name: "
        "list the siblings again");
  else if (err)
    lkv__api_fail(r->who.call, err);
  if (err) {
    free(r);
    return;
  }
  Ledgerkvpb__EventId id = LEDGERKVPB__EVENT_ID__INIT;
  id.origin = r->who.api->id.member_id;
  id.seq = rs->seq;
  Ledgerkvpb__ResolveResponse resp = LEDGERKVPB__RESOLVE_RESPONSE__INIT;
  resp.member_id = r->who.api->id.member_id;
  resp.revision = rs->rev;
  resp.event = &id;
  lkv__api_reply(r->who.call, &resp.base);
  free(r);
}

/* Checks the request and builds its resolve into *out (malloc'd). Returns 0 or the code to fail with. */
static int resolve_build(lkv_api_t *api, const Ledgerkvpb__ResolveRequest *req, size_t len, resolve_t **out) {
  if (!req->key.len) return LKV_EEMPTYKEY;
  if (req->tombstone && req->value.len) return LKV_EVALUEPROVIDED;
  if (len > api->max_request_bytes) return LKV_ETOOLARGE;
  lkv_causal_event_id_t named[LKV_CAUSAL_CONTEXT_MAX];
  size_t n_named;
  if (lkv_causal_context_decode(req->context.data, req->context.len, named, &n_named)) return LKV_EINVAL;
  resolve_t *r = malloc(sizeof(*r) + req->key.len + req->value.len);
  if (!r) return LKV_ENOMEM;
  *r = (resolve_t){.who.api = api};
  memcpy(r->bytes, req->key.data, req->key.len);
  if (req->value.len) memcpy(r->bytes + req->key.len, req->value.data, req->value.len);
  r->rs = (lkv_causal_resolve_t){.key = r->bytes,
                                 .key_len = req->key.len,
                                 .value = r->bytes + req->key.len,
                                 .value_len = req->value.len,
                                 .tombstone = req->tombstone,
                                 .n_named = n_named,
                                 .done = resolve_done};
  memcpy(r->rs.named, named, n_named * sizeof(named[0]));
  *out = r;
  return 0;
}

void lkv__conflicts_resolve(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (lkv__conflicts_refused(api, call)) return;
  Ledgerkvpb__ResolveRequest *req = (Ledgerkvpb__ResolveRequest *)lkv__api_unpack(
      call, &ledgerkvpb__resolve_request__descriptor, data, len);
  if (!req) return;
  resolve_t *r = NULL;
  int rc = resolve_build(api, req, len, &r);
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (rc == LKV_EINVAL) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT,
                    "ledgerkv: malformed context (give back Siblings' bytes)");
    return;
  }
  if (!rc) {
    r->who.call = call;
    rc = lkv_causal_node_resolve(api->replicator, &r->rs);
  }
  if (rc) refuse(call, r, rc);
}

/* ---- ReplicationStatus */

typedef struct {
  lkv_causal_query_t q; /* first: the node hands it back */
  asker_t who;
  lkv_causal_event_id_t event; /* origin 0: none asked, or the key's winner (below) */
  uint64_t members[LKV_CAUSAL_MAX_ORIGINS];
  size_t n_members;
  size_t key_len;
  uint8_t key[];
} status_query_t;

typedef struct {
  Ledgerkvpb__MemberVector mv[LKV_CAUSAL_MAX_ORIGINS];
  Ledgerkvpb__MemberVector *mvp[LKV_CAUSAL_MAX_ORIGINS];
  Ledgerkvpb__EventId ids[LKV_CAUSAL_MAX_ORIGINS][LKV_CAUSAL_MAX_ORIGINS];
  Ledgerkvpb__EventId *idp[LKV_CAUSAL_MAX_ORIGINS][LKV_CAUSAL_MAX_ORIGINS];
} status_pb_t;

static void status_run(lkv_causal_query_t *q, const lkv_causal_member_t *m) {
  status_query_t *sq = (status_query_t *)q;
  Ledgerkvpb__ReplicationStatusResponse resp = LEDGERKVPB__REPLICATION_STATUS_RESPONSE__INIT;
  Ledgerkvpb__EventId ev = LEDGERKVPB__EVENT_ID__INIT;
  if (sq->key_len) {
    const lkv_causal_key_t *k = visible_key(m, sq->key, sq->key_len);
    const lkv_causal_sibling_t *w = k ? lkv_causal_member_winner(m, k) : NULL;
    if (!w) {
      lkv_call_finish(sq->who.call, LKV_GRPC_NOT_FOUND, "ledgerkv: the key has no write on this member");
      free(sq);
      return;
    }
    sq->event = (lkv_causal_event_id_t){.origin = w->origin, .seq = w->seq};
  }
  status_pb_t *pb = malloc(sizeof(*pb));
  if (!pb) {
    lkv__api_fail(sq->who.call, LKV_ENOMEM);
    free(sq);
    return;
  }
  for (size_t i = 0; i < sq->n_members; i++) {
    const lkv_causal_vv_t *v = lkv_causal_member_report(m, sq->members[i]);
    Ledgerkvpb__MemberVector *mv = &pb->mv[i];
    ledgerkvpb__member_vector__init(mv);
    mv->member_id = sq->members[i];
    mv->n_vector = lkv__conflicts_vector_pb(v, pb->ids[i], pb->idp[i]);
    mv->vector = pb->idp[i];
    mv->covers = sq->event.origin && v && lkv_causal_vv_covers(v, sq->event.origin, sq->event.seq);
    mv->last_heard_ms = (int64_t)lkv_causal_member_last_heard(m, sq->members[i]);
    mv->silent = lkv_causal_member_is_silent(m, sq->members[i]);
    pb->mvp[i] = mv;
  }
  if (sq->event.origin) {
    ev.origin = sq->event.origin;
    ev.seq = sq->event.seq;
    resp.event = &ev;
  }
  resp.member_id = sq->who.api->id.member_id;
  resp.revision = (int64_t)lkv_causal_member_revision(m) + 1;
  resp.n_members = sq->n_members;
  resp.members = pb->mvp;
  lkv__api_reply(sq->who.call, &resp.base);
  free(pb);
  free(sq);
}

/* The members, this one first, into sq. Returns 0 or what the replicator's member list returns. */
static int status_members(lkv_api_t *api, status_query_t *sq) {
  lkv_replication_member_t *ms;
  size_t n;
  int rc = lkv_replicator_members(api->replicator, &ms, &n);
  if (rc) return rc;
  sq->members[sq->n_members++] = api->id.member_id;
  for (size_t i = 0; i < n && sq->n_members < LKV_CAUSAL_MAX_ORIGINS; i++)
    if (ms[i].id != api->id.member_id) sq->members[sq->n_members++] = ms[i].id;
  lkv_replication_members_free(ms, n);
  return 0;
}

void lkv__conflicts_replication_status(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (lkv__conflicts_refused(api, call)) return;
  Ledgerkvpb__ReplicationStatusRequest *req = (Ledgerkvpb__ReplicationStatusRequest *)lkv__api_unpack(
      call, &ledgerkvpb__replication_status_request__descriptor, data, len);
  if (!req) return;
  int rc = 0;
  if (req->event && (!req->event->origin || !req->event->seq || req->key.len)) rc = LKV_EINVAL;
  status_query_t *sq = rc ? NULL : calloc(1, sizeof(*sq) + req->key.len);
  if (!rc && !sq) rc = LKV_ENOMEM;
  if (!rc) {
    sq->q.run = status_run;
    sq->who = (asker_t){api, call};
    sq->key_len = req->key.len;
    if (req->key.len) memcpy(sq->key, req->key.data, req->key.len);
    if (req->event) sq->event = (lkv_causal_event_id_t){.origin = req->event->origin, .seq = req->event->seq};
    rc = status_members(api, sq);
  }
  if (!rc) rc = lkv_causal_node_query(api->replicator, &sq->q);
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (rc == LKV_EINVAL) {
    free(sq);
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT,
                    "ledgerkv: give a key or an event (origin and seq, both non-zero), not both");
  } else if (rc) {
    refuse(call, sq, rc);
  }
}
