/* v3electionpb.Election/Observe: streams an election's leader and every change of it, as clientv3's
 * Election.Observe does in etcd's server. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/conc.h"
#include "api/leader.h"
#include "common/error.h"
#include "etcd/etcdserver/api/v3election/v3electionpb/v3election.pb-c.h"

/*
 * The loop (clientv3's observe): get the prefix's first-created key; without one, watch the prefix from
 * that get's revision for the first put and take its key as the leader (header revision = the put's).
 * Send the leader, then watch its key from the next revision: each put is sent (a new value proclaimed),
 * a delete starts the loop again. A failed get or watch (compacted) ends the stream with OK, as etcd's
 * Observe returns when its channel closes; a client gone away ends it. A stream that asked for a leader
 * (hasleader) is ended with "etcdserver: no leader" by the leader monitor, as etcd's stream interceptor
 * ends it.
 */

typedef struct observe_op_s {
  lkv__conc_t c;
  lkv__leader_stream_t lead; /* registered with the leader monitor when the client required a leader */
  uint8_t
      *leader; /* the leader's key while it is watched (lkv__conc_watch reads the key only at its start) */
  size_t leader_len;
  int64_t rev; /* the revision the leader was seen at */
} observe_op_t;

static void free_op(lkv__conc_t *c) {
  observe_op_t *op = (observe_op_t *)c;
  lkv__leader_unwatch(c->api, &op->lead);
  free(op->leader);
  free(op);
}

static void send_leader(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr, Mvccpb__KeyValue *kv) {
  V3electionpb__LeaderResponse resp = V3ELECTIONPB__LEADER_RESPONSE__INIT;
  resp.header = (Etcdserverpb__ResponseHeader *)hdr;
  resp.kv = kv;
  size_t len = protobuf_c_message_get_packed_size(&resp.base);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return; /* like a message lost in flight: the next change is sent */
  protobuf_c_message_pack(&resp.base, buf);
  lkv_call_send(c->call, buf, len); /* a stream gone away is ended by lkv__conc_cancel */
  free(buf);
}

static void observe_get(lkv__conc_t *c);

/* The member has had no leader for a while (leader.h). */
static void no_leader(lkv_api_t *api, lkv__leader_stream_t *s) {
  (void)api;
  lkv__conc_abort(&((observe_op_t *)((char *)s - offsetof(observe_op_t, lead)))->c, LKV_ENOLEADER);
}

static int leader_event(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr, const Mvccpb__Event *ev) {
  if (ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) return 1;
  send_leader(c, hdr, ev->kv);
  return 0;
}

static void leader_gone(lkv__conc_t *c, int err) {
  if (err)
    lkv__conc_end(c, NULL, 0);
  else
    observe_get(c);
}

/* Sends the leader and keeps its key (op->leader) to be watched. Returns 0 or LKV_ENOMEM (then
 * op->leader is NULL and nothing was sent). */
static int follow(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr, Mvccpb__KeyValue *kv) {
  observe_op_t *op = (observe_op_t *)c;
  free(op->leader);
  op->leader = malloc(kv->key.len + 1);
  if (!op->leader) return LKV_ENOMEM;
  memcpy(op->leader, kv->key.data, kv->key.len);
  op->leader_len = kv->key.len;
  op->rev = hdr->revision;
  send_leader(c, hdr, kv);
  return 0;
}

static void watch_leader(lkv__conc_t *c) {
  observe_op_t *op = (observe_op_t *)c;
  lkv__conc_watch(c, op->leader, op->leader_len, NULL, 0, op->rev + 1, leader_event, leader_gone);
}

/* Waiting for a first candidate: the first put under the prefix is the leader. */
static int first_put(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr, const Mvccpb__Event *ev) {
  if (ev->type != MVCCPB__EVENT__EVENT_TYPE__PUT || !ev->kv) return 0;
  Etcdserverpb__ResponseHeader h;
  lkv__conc_copy_header(&h, hdr);
  h.revision = ev->kv->mod_revision; /* the response may hold later revisions */
  (void)follow(c, &h, ev->kv);       /* without memory first_seen ends the stream */
  return 1;
}

static void first_seen(lkv__conc_t *c, int err) {
  if (err || !((observe_op_t *)c)->leader)
    lkv__conc_end(c, NULL, err ? 0 : LKV_ENOMEM);
  else
    watch_leader(c);
}

static void got_first(lkv__conc_t *c, int err) {
  if (err) {
    lkv__conc_end(c, NULL, 0);
    return;
  }
  const Etcdserverpb__RangeResponse *r = c->range;
  int64_t rev = r->header ? r->header->revision : 0;
  if (r->n_kvs == 0) {
    free(((observe_op_t *)c)->leader);
    ((observe_op_t *)c)->leader = NULL;
    lkv__conc_watch(c, c->pfx, c->pfx_len, lkv__conc_prefix_end(c), c->pfx_len, rev, first_put, first_seen);
    return;
  }
  Etcdserverpb__ResponseHeader h;
  lkv__conc_copy_header(&h, r->header);
  if (follow(c, &h, r->kvs[0]) == 0)
    watch_leader(c);
  else
    lkv__conc_end(c, NULL, LKV_ENOMEM);
}

static void observe_get(lkv__conc_t *c) {
  lkv__conc_get(c, LKV__CONC_FIRST, 0, got_first);
}

void lkv__election_observe(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  V3electionpb__LeaderRequest *req = (V3electionpb__LeaderRequest *)lkv__api_unpack(
      call, &v3electionpb__leader_request__descriptor, data, len);
  if (!req) return;
  observe_op_t *op = calloc(1, sizeof(*op));
  int rc = op ? lkv__conc_init(&op->c, api, call, req->name.data, req->name.len) : LKV_ENOMEM;
  v3electionpb__leader_request__free_unpacked(req, NULL);
  if (rc) {
    free(op);
    lkv__api_fail(call, rc);
    return;
  }
  op->c.free_op = free_op;
  op->lead.call = call;
  op->lead.cancel = no_leader;
  if (lkv__leader_required(call)) lkv__leader_watch(api, &op->lead);
  observe_get(&op->c);
}
