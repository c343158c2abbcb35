/* ledgerkvpb.Conflicts/WatchPosition (causal mode): a member's revision as a version vector, and a vector as
 * the revision another member's watch resumes from (docs/causal.md §17). Answered on the causal thread. */
#include <stdlib.h>
#include <string.h>

#include "api/conflicts.h"
#include "common/error.h"
#include "replication/causal_node.h"

typedef struct {
  lkv_causal_query_t q; /* first: the node hands it back */
  lkv_api_t *api;
  lkv_call_t *call;
  int64_t revision;       /* own: the store revision asked about; else 0 */
  lkv_causal_vv_t vector; /* another member's: the vector given */
} position_query_t;

/* Store revision r is core revision r - 1 (a fresh store starts at 1: causal_node.h); core revision c holds
 * the c-th event applied here. */

/* The vector of the events applied here at store revisions up to rev (2 .. rev): those compacted
 * (docs/causal.md §7) and those after. A revision among the compacted ones has no exact vector: etcd's
 * "compacted". */
static int vector_at(const lkv_causal_member_t *m, int64_t rev, lkv_causal_vv_t *v) {
  uint64_t first = lkv_causal_member_first_rev(m);
  if (first > 1 && (uint64_t)rev < first + 1) return LKV_ECOMPACTED;
  lkv_causal_member_base_vv(m, v);
  for (uint64_t c = first; c + 1 <= (uint64_t)rev; c++) {
    const lkv_causal_held_t *h = lkv_causal_member_event_at(m, c);
    if (!h) return LKV_ECORRUPT;
    if (h->ev.seq > lkv_causal_vv_get(v, h->ev.origin) && lkv_causal_vv_set(v, h->ev.origin, h->ev.seq))
      return LKV_ECORRUPT; /* more origins than members */
  }
  return 0;
}

/* The first store revision here whose event v does not cover (the next revision when it covers them all).
 * When v lacks a compacted event, that revision is not known here: the first one (2) is answered, at or
 * before it (a watch from there gets etcd's "compacted" if the store's history is gone too). */
static int64_t first_uncovered(const lkv_causal_member_t *m, const lkv_causal_vv_t *v) {
  uint64_t last = lkv_causal_member_revision(m), c = lkv_causal_member_first_rev(m);
  lkv_causal_vv_t base;
  lkv_causal_member_base_vv(m, &base);
  if (!lkv_causal_vv_leq(&base, v)) return 2;
  for (; c <= last; c++) {
    const lkv_causal_held_t *h = lkv_causal_member_event_at(m, c);
    if (!h || !lkv_causal_vv_covers(v, h->ev.origin, h->ev.seq)) break; /* unknown: counted as not covered */
  }
  return (int64_t)c + 1;
}

static void position_run(lkv_causal_query_t *q, const lkv_causal_member_t *m) {
  position_query_t *pq = (position_query_t *)q;
  Ledgerkvpb__WatchPositionResponse resp = LEDGERKVPB__WATCH_POSITION_RESPONSE__INIT;
  Ledgerkvpb__EventId ids[LKV_CAUSAL_MAX_ORIGINS], *ptrs[LKV_CAUSAL_MAX_ORIGINS];
  int64_t now = (int64_t)lkv_causal_member_revision(m) + 1;
  int rc = 0;
  if (pq->revision > now)
    rc = LKV_EFUTUREREV;
  else if (pq->revision)
    rc = vector_at(m, pq->revision, &pq->vector);
  if (rc) {
    lkv__api_fail(pq->call, rc);
    free(pq);
    return;
  }
  resp.member_id = pq->api->id.member_id;
  resp.revision = now;
  resp.n_vector = lkv__conflicts_vector_pb(&pq->vector, ids, ptrs);
  resp.vector = ptrs;
  resp.start_revision = pq->revision ? pq->revision + 1 : first_uncovered(m, &pq->vector);
  lkv__api_reply(pq->call, &resp.base);
  free(pq);
}

/* Reads the request's vector into v. Returns 0, or LKV_EINVAL (an entry with a zero origin or seq, an origin
 * twice, more than LKV_CAUSAL_MAX_ORIGINS). */
static int vector_in(const Ledgerkvpb__WatchPositionRequest *req, lkv_causal_vv_t *v) {
  lkv_causal_vv_init(v);
  for (size_t i = 0; i < req->n_vector; i++) {
    const Ledgerkvpb__EventId *e = req->vector[i];
    if (!e->origin || !e->seq || lkv_causal_vv_get(v, e->origin) || lkv_causal_vv_set(v, e->origin, e->seq))
      return LKV_EINVAL;
  }
  return 0;
}

void lkv__conflicts_watch_position(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Ledgerkvpb__WatchPositionRequest *req = (Ledgerkvpb__WatchPositionRequest *)lkv__conflicts_request(
      api, call, &ledgerkvpb__watch_position_request__descriptor, data, len);
  if (!req) return;
  position_query_t *pq = calloc(1, sizeof(*pq));
  int own = !req->member_id || req->member_id == api->id.member_id, rc = pq ? 0 : LKV_ENOMEM;
  const char *why = NULL;
  if (!rc && own && (req->revision < 1 || req->n_vector))
    why = "ledgerkv: a position on this member is its revision (at least 1), without a vector";
  else if (!rc && !own && vector_in(req, &pq->vector))
    why = "ledgerkv: a vector names each member once, with a non-zero sequence";
  if (!rc && !why) {
    pq->q.run = position_run;
    pq->api = api, pq->call = call;
    pq->revision = own ? req->revision : 0;
    rc = lkv_causal_node_query(api->replicator, &pq->q);
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (why) lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, why);
  if (why || rc) free(pq);
  if (!why && rc) lkv__api_fail(call, rc);
}
