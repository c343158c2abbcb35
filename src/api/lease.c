/* etcdserverpb.Lease: grants and revokes proposed; TTL lookups (the leader's lessor answers them) and
 * listings served by the lessor. Keep-alives are in keepalive.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/service.h"
#include "common/error.h"

/* A grant or revoke on its way through the replicator, with what its completion needs. */
typedef struct lease_write_s {
  lkv_proposal_t p;
  lkv_api_t *api;
  lkv_call_t *call;
  uint8_t raw[]; /* the request as received (the ledger's claims cover it), then the user's name */
} lease_write_t;

/* Answers the client with the write's outcome and frees w. Any thread. */
static void lease_write_reply(lease_write_t *w) {
  lkv_proposal_t *p = &w->p;
  if (p->req.err == 0)
    lkv__api_reply_packed(w->call, p->req.resp, p->req.resp_len);
  else
    lkv__api_fail(w->call, p->req.err);
  free(p->req.resp);
  protobuf_c_message_free_unpacked((ProtobufCMessage *)p->req.msg, NULL);
  free(w);
}

/* The grant's first renewal is done (or failed: the grant stands all the same). */
static void grant_renewed(void *arg, int err, int64_t ttl, int64_t granted_ttl) {
  (void)err, (void)ttl, (void)granted_ttl;
  lease_write_reply(arg);
}

/* Runs on the replicator's thread once the outcome is durable. The lessor has already learnt of the
 * change (lkv_api_lease_applied), so a keep-alive sent right after the grant's answer finds the lease.
 * In a cluster a grant is answered after a renewal made through the leader: every member counts the
 * lease from when it applied the grant, and this member may have applied it after the leader of a later
 * term did; the renewal, recorded by a majority (lease/sync.h), is later than this member's apply. The
 * forwarder is still there: the server stops it after the transport, whose stop waits for this call. */
static void lease_write_done(lkv_proposal_t *p) {
  lease_write_t *w = (lease_write_t *)p;
  lkv_replication_status_t st;
  lkv_replicator_status(w->api->replicator, &st);
  /* A sole voter applied the grant as the leader: no later term can have applied it first. */
  if (p->req.err == 0 && p->req.kind == LKV_OP_LEASE_GRANT && w->api->lease_fwd && !st.single) {
    int64_t id = ((const Etcdserverpb__LeaseGrantRequest *)p->req.msg)->id;
    if (lkv_lease_fwd_renew(w->api->lease_fwd, id, grant_renewed, w) == 0) return;
  }
  lease_write_reply(w);
}

static void propose_lease(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                          const uint8_t *data, size_t len) {
  lkv__who_t who; /* LeaseRevoke needs write access to the lease's keys when applied */
  int rc = lkv__auth_who(api, call, &who);
  if (rc) goto err_after_unpack;
  rc = LKV_ENOMEM;
  lease_write_t *w = calloc(1, sizeof(*w) + len + lkv__who_size(&who));
  if (!w) {
    lkv__who_free(&who);
    goto err_after_unpack;
  }
  w->api = api;
  w->call = call;
  w->p.req.kind = kind;
  w->p.req.msg = msg;
  memcpy(w->raw, data, len);
  w->p.req.raw = w->raw;
  w->p.req.raw_len = len;
  lkv__who_attach(&who, &w->p.req, (char *)w->raw + len);
  w->p.done = lease_write_done;
  rc = lkv_replicator_propose(api->replicator, &w->p);
  if (rc == 0) return;
  free(w);
err_after_unpack:
  protobuf_c_message_free_unpacked(msg, NULL);
  lkv__api_fail(call, rc);
}

/* etcd picks the id before proposing (and raises the TTL to the minimum in its lessor); both are done
 * here so that the proposal carries everything and its apply needs no configuration. */
void lkv__lease_grant(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__LeaseGrantRequest *req = (Etcdserverpb__LeaseGrantRequest *)lkv__api_unpack_write(
      api, call, LKV_OP_LEASE_GRANT, &etcdserverpb__lease_grant_request__descriptor, data, len);
  if (!req) return;
  int chosen = req->id == 0 || req->ttl < lkv_lessor_min_ttl(api->lessor);
  if (req->id == 0) req->id = lkv_lessor_next_id(api->lessor);
  if (req->ttl < lkv_lessor_min_ttl(api->lessor)) req->ttl = lkv_lessor_min_ttl(api->lessor);
  if (chosen && api->lease_fwd) {
    /* A cluster's log carries request bytes, and every member applies what they say: they must carry the
     * id and TTL chosen here (the claims then cover these, which the client can rebuild from the
     * response). Two integer fields: well below the buffer. */
    uint8_t packed[32];
    size_t n = etcdserverpb__lease_grant_request__pack(req, packed);
    propose_lease(api, call, LKV_OP_LEASE_GRANT, &req->base, packed, n);
    return;
  }
  /* The claims cover what the client sent (id 0, its TTL), which is what it can recompute. */
  propose_lease(api, call, LKV_OP_LEASE_GRANT, &req->base, data, len);
}

void lkv__lease_revoke(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = lkv__api_unpack_write(api, call, LKV_OP_LEASE_REVOKE,
                                                &etcdserverpb__lease_revoke_request__descriptor, data, len);
  if (msg) propose_lease(api, call, LKV_OP_LEASE_REVOKE, msg, data, len);
}

/* etcd's header.fill: identity and the current revision. */
static void fill_header(lkv_api_t *api, lkv_mvcc_txn_t *t, Etcdserverpb__ResponseHeader *h) {
  lkv__api_header(api, h, lkv_mvcc_txn_rev(t));
}

/* Copies of a lease's keys for a TimeToLive response. */
typedef struct keys_s {
  ProtobufCBinaryData *v;
  size_t n, cap;
} keys_t;

static int add_key(void *arg, const uint8_t *key, size_t key_len) {
  keys_t *k = arg;
  if (k->n == k->cap) {
    size_t cap = k->cap ? 2 * k->cap : 16;
    ProtobufCBinaryData *v = realloc(k->v, cap * sizeof(*v));
    if (!v) return LKV_ENOMEM;
    k->v = v;
    k->cap = cap;
  }
  uint8_t *copy = malloc(key_len);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, key, key_len);
  k->v[k->n++] = (ProtobufCBinaryData){.len = key_len, .data = copy};
  return 0;
}

/* Answers a TimeToLive with what the (local or leader's) lessor said; keys from this member's store. */
static void ttl_reply(lkv_api_t *api, lkv_call_t *call, int64_t id, int keys, int found, int64_t granted_ttl,
                      int64_t ttl) {
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  Etcdserverpb__LeaseTimeToLiveResponse resp = ETCDSERVERPB__LEASE_TIME_TO_LIVE_RESPONSE__INIT;
  keys_t k = {0};
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(api->store, &t);
  if (rc) goto done;
  fill_header(api, t, &hdr);
  resp.header = &hdr;
  resp.id = id;
  if (!found) { /* unknown leases answer TTL -1 without an error (etcd's v3rpc LeaseTimeToLive) */
    resp.ttl = -1;
  } else {
    resp.grantedttl = granted_ttl;
    resp.ttl = ttl;
    if (keys) {
      rc = lkv_mvcc_lease_keys(t, id, add_key, &k);
      resp.n_keys = k.n;
      resp.keys = k.v;
    }
  }
  lkv_mvcc_txn_end(t);
done:
  if (rc)
    lkv__api_fail(call, rc);
  else
    lkv__api_reply(call, &resp.base);
  for (size_t i = 0; i < k.n; i++) free(k.v[i].data);
  free(k.v);
}

/* A TimeToLive waiting for the leader's answer. */
typedef struct ttl_fwd_s {
  lkv_api_t *api;
  lkv_call_t *call;
  int64_t id;
  int keys;
} ttl_fwd_t;

/* Any thread (a unary call may be finished from any). The keys come from this member's store: the leader
 * only tells how long the lease has left. */
static void ttl_answered(void *arg, int err, int64_t ttl, int64_t granted_ttl) {
  ttl_fwd_t *q = arg;
  if (err == 0 || err == LKV_ELEASENOTFOUND)
    ttl_reply(q->api, q->call, q->id, q->keys, err == 0, granted_ttl, ttl);
  else
    lkv__api_fail(q->call, err);
  free(q);
}

static void ttl_forward(lkv_api_t *api, lkv_call_t *call, int64_t id, int keys) {
  ttl_fwd_t *q = malloc(sizeof(*q));
  int rc = LKV_ENOMEM;
  if (q) {
    *q = (ttl_fwd_t){.api = api, .call = call, .id = id, .keys = keys};
    rc = lkv_lease_fwd_time_to_live(api->lease_fwd, id, ttl_answered, q);
    if (rc == 0) return;
    free(q);
  }
  lkv__api_fail(call, rc);
}

/* On a member that does not lead, the leader's lessor answers, as etcd's followers ask theirs. */
void lkv__lease_time_to_live(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__LeaseTimeToLiveRequest *req = (Etcdserverpb__LeaseTimeToLiveRequest *)lkv__api_unpack(
      call, &etcdserverpb__lease_time_to_live_request__descriptor, data, len);
  if (!req) return;
  int64_t id = req->id;
  int keys = req->keys;
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (api->lease_fwd && lkv_lease_fwd_remote(api->lease_fwd, id)) {
    ttl_forward(api, call, id, keys);
    return;
  }
  int64_t granted = 0, ttl = 0;
  int found = lkv_lessor_lookup(api->lessor, id, &granted, &ttl) == 0;
  ttl_reply(api, call, id, keys, found, granted, ttl);
}

void lkv__lease_leases(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  ProtobufCMessage *req = lkv__api_unpack(call, &etcdserverpb__lease_leases_request__descriptor, data, len);
  if (!req) return;
  protobuf_c_message_free_unpacked(req, NULL); /* it has no fields */
  Etcdserverpb__ResponseHeader hdr = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  Etcdserverpb__LeaseLeasesResponse resp = ETCDSERVERPB__LEASE_LEASES_RESPONSE__INIT;
  Etcdserverpb__LeaseStatus *st = NULL, **ptrs = NULL;
  int64_t *ids = NULL;
  size_t n = 0;
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(api->store, &t);
  if (rc) goto done;
  fill_header(api, t, &hdr);
  lkv_mvcc_txn_end(t);
  resp.header = &hdr;
  rc = lkv_lessor_list(api->lessor, &ids, &n);
  if (rc || n == 0) goto done;
  st = calloc(n, sizeof(*st));
  ptrs = calloc(n, sizeof(*ptrs));
  if (!st || !ptrs) {
    rc = LKV_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    etcdserverpb__lease_status__init(&st[i]);
    st[i].id = ids[i];
    ptrs[i] = &st[i];
  }
  resp.n_leases = n;
  resp.leases = ptrs;
done:
  if (rc)
    lkv__api_fail(call, rc);
  else
    lkv__api_reply(call, &resp.base);
  free(st);
  free(ptrs);
  free(ids);
}

void lkv_api_lease_applied(void *arg, const lkv_apply_req_t *req) {
  lkv_api_t *api = arg;
  if (req->kind == LKV_OP_LEASE_GRANT) {
    const Etcdserverpb__LeaseGrantRequest *g = (const Etcdserverpb__LeaseGrantRequest *)req->msg;
    /* Without memory the lease would never expire: say so (it is revoked at the next restart's expiry). */
    if (lkv_lessor_granted(api->lessor, g->id, g->ttl) != 0)
      fprintf(stderr, "ledgerkv: out of memory: lease %lld will not expire until a restart\n",
              (long long)g->id);
  } else if (req->kind == LKV_OP_LEASE_REVOKE) {
    lkv_lessor_revoked(api->lessor, ((const Etcdserverpb__LeaseRevokeRequest *)req->msg)->id);
  } else {
    lkv__auth_applied(api, req);
  }
}
