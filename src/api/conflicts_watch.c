/* ledgerkvpb.Conflicts/WatchConflicts: server streams of the conflicts in a key range, fed by the causal
 * replicator's keys listener on the causal thread. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/conflicts.h"
#include "common/error.h"
#include "common/grow.h"
#include "replication/causal_node.h"

/* A stream further behind than this (bytes queued, not yet taken by HTTP/2) is ended: the client reads too
 * slowly for the conflicts it asked for, and would otherwise hold the server's memory. */
#define MAX_BEHIND (8u << 20)

/* A key the stream reported in conflict, with the context of its last reported sibling set. */
typedef struct {
  uint8_t *key;
  size_t key_len;
  uint8_t ctx[1 + 16 * LKV_CAUSAL_CONTEXT_MAX];
  size_t ctx_len;
} tracked_t;

/* PENDING: the first listing is queued; ACTIVE: in the registry; CANCELED: the stream ended while PENDING
 * (the listing frees it); DROPPED: ended as too slow, out of the registry (the cancel hook frees it). */
enum { PENDING, ACTIVE, CANCELED, DROPPED };

typedef struct watcher_s {
  lkv_causal_query_t q; /* first: the node hands it back (the first listing) */
  lkv_api_t *api;
  lkv_call_t *call;
  int state;
  ProtobufCBinaryData start, end; /* the range (owned copies) */
  tracked_t *tr;
  size_t n_tr, cap_tr;
  struct watcher_s *next;
} watcher_t;

struct lkv_api_conflicts_s {
  pthread_mutex_t mu; /* guards every watcher's state, tracked keys and the list; held while sending */
  watcher_t *head;
};

static void watcher_free(watcher_t *w) {
  for (size_t i = 0; i < w->n_tr; i++) free(w->tr[i].key);
  free(w->tr);
  free(w->start.data);
  free(w->end.data);
  free(w);
}

static tracked_t *tracked_find(watcher_t *w, const lkv_causal_key_t *k) {
  for (size_t i = 0; i < w->n_tr; i++)
    if (w->tr[i].key_len == k->key_len && memcmp(w->tr[i].key, k->key, k->key_len) == 0) return &w->tr[i];
  return NULL;
}

/* Records that k was reported with context s. Returns 0 or LKV_ENOMEM. */
static int tracked_set(watcher_t *w, tracked_t *t, const lkv_causal_key_t *k,
                       const lkv__conflicts_sibs_t *s) {
  if (!t) {
    if (lkv_grow((void **)&w->tr, &w->cap_tr, w->n_tr + 1, sizeof(*w->tr))) return LKV_ENOMEM;
    t = &w->tr[w->n_tr];
    if (!(t->key = malloc(k->key_len))) return LKV_ENOMEM;
    memcpy(t->key, k->key, k->key_len);
    t->key_len = k->key_len;
    w->n_tr++;
  }
  memcpy(t->ctx, s->ctx, s->ctx_len);
  t->ctx_len = s->ctx_len;
  return 0;
}

static void event_pb(Ledgerkvpb__ConflictEvent *ev, const lkv_causal_key_t *k, lkv__conflicts_sibs_t *s) {
  ledgerkvpb__conflict_event__init(ev);
  ev->key = (ProtobufCBinaryData){.len = k->key_len, .data = k->key};
  ev->conflicted = s->n > 1;
  ev->n_siblings = s->n;
  ev->siblings = s->ptrs;
  ev->context = (ProtobufCBinaryData){.len = s->ctx_len, .data = s->ctx};
}

/* Ends a stream from the causal thread: its loop aborts it, then the cancel hook finishes and frees it. */
static void abort_on_loop(lkv_call_t *call, void *arg) {
  lkv_call_abort(call, LKV_GRPC_RESOURCE_EXHAUSTED, arg);
}

/* Sends one response; a stream too far behind (or out of memory) leaves the registry (DROPPED) and is
 * ended. registry->mu held. */
static void send(lkv_api_conflicts_t *reg, watcher_t *w, const Ledgerkvpb__WatchConflictsResponse *resp) {
  static char too_slow[] =
      "ledgerkv: the conflicts watch cannot keep up (its client reads too slowly, or memory ran out): watch "
      "again";
  size_t len = protobuf_c_message_get_packed_size(&resp->base);
  uint8_t *buf = malloc(len ? len : 1);
  int rc = buf && lkv_call_pending_bytes(w->call) < MAX_BEHIND ? 0 : LKV_ENOMEM;
  if (!rc) {
    protobuf_c_message_pack(&resp->base, buf);
    rc = lkv_call_send(w->call, buf, len);
  }
  free(buf);
  if (rc == 0 || rc == LKV_ECANCELED) return; /* gone: the cancel hook is coming */
  for (watcher_t **p = &reg->head; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  w->state = DROPPED;
  /* not even the abort could be posted: kept, and tried again at its next event */
  if (lkv_call_run(w->call, abort_on_loop, too_slow)) w->state = ACTIVE, w->next = reg->head, reg->head = w;
}

/* The first listing: every key in range with siblings, then the watcher joins the registry. */
static void first_listing(lkv_causal_query_t *q, const lkv_causal_member_t *m) {
  watcher_t *w = (watcher_t *)q;
  lkv_api_conflicts_t *reg = w->api->conflicts;
  pthread_mutex_lock(&reg->mu);
  if (w->state == CANCELED) {
    pthread_mutex_unlock(&reg->mu);
    watcher_free(w);
    return;
  }
  size_t cap = 0, n = 0, total = lkv_causal_member_n_keys(m);
  for (size_t i = 0; i < total; i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    if (k->n > 1 && lkv__conflicts_in_range(k->key, k->key_len, &w->start, &w->end)) cap++;
  }
  lkv__conflicts_sibs_t *sibs = calloc(cap ? cap : 1, sizeof(*sibs));
  Ledgerkvpb__ConflictEvent *evs = calloc(cap ? cap : 1, sizeof(*evs));
  Ledgerkvpb__ConflictEvent **evp = calloc(cap ? cap : 1, sizeof(*evp));
  int rc = sibs && evs && evp ? 0 : LKV_ENOMEM;
  for (size_t i = 0; !rc && i < total && n < cap; i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    if (k->n < 2 || !lkv__conflicts_in_range(k->key, k->key_len, &w->start, &w->end)) continue;
    lkv__conflicts_sibs(&sibs[n], m, k);
    event_pb(&evs[n], k, &sibs[n]);
    evp[n] = &evs[n];
    rc = tracked_set(w, NULL, k, &sibs[n]);
    n++;
  }
  w->state = ACTIVE;
  w->next = reg->head;
  reg->head = w;
  Ledgerkvpb__WatchConflictsResponse resp = LEDGERKVPB__WATCH_CONFLICTS_RESPONSE__INIT;
  resp.member_id = w->api->id.member_id;
  resp.revision = (int64_t)lkv_causal_member_revision(m) + 1;
  resp.n_events = n;
  resp.events = evp;
  if (!rc)
    send(reg, w, &resp);
  else
    lkv_call_run(w->call, abort_on_loop, "ledgerkv: out of memory"); /* the cancel hook frees it */
  pthread_mutex_unlock(&reg->mu);
  free(sibs);
  free(evs);
  free(evp);
}

void lkv_api_conflicts_keys(void *arg, const lkv_causal_member_t *m, const lkv_causal_key_t *k,
                            int64_t store_rev) {
  lkv_api_t *api = arg;
  lkv_api_conflicts_t *reg = api->conflicts;
  lkv__conflicts_sibs_t s;
  int have = 0;
  pthread_mutex_lock(&reg->mu);
  for (watcher_t *w = reg->head, *next; w; w = next) {
    next = w->next; /* send may drop w */
    if (!lkv__conflicts_in_range(k->key, k->key_len, &w->start, &w->end)) continue;
    if (!have) lkv__conflicts_sibs(&s, m, k), have = 1;
    tracked_t *t = tracked_find(w, k);
    int conflicted = k->n > 1;
    if (!conflicted && !t) continue; /* never in conflict for this stream */
    if (conflicted && t && t->ctx_len == s.ctx_len && memcmp(t->ctx, s.ctx, s.ctx_len) == 0) continue;
    if (conflicted ? tracked_set(w, t, k, &s) : 0) continue; /* no memory: told at the next change */
    if (!conflicted) free(t->key), *t = w->tr[--w->n_tr];
    Ledgerkvpb__ConflictEvent ev, *evp = &ev;
    event_pb(&ev, k, &s);
    Ledgerkvpb__WatchConflictsResponse resp = LEDGERKVPB__WATCH_CONFLICTS_RESPONSE__INIT;
    resp.member_id = api->id.member_id;
    resp.revision = store_rev;
    resp.n_events = 1;
    resp.events = &evp;
    send(reg, w, &resp);
  }
  pthread_mutex_unlock(&reg->mu);
}

static int copy_bytes(ProtobufCBinaryData *to, const ProtobufCBinaryData *from) {
  to->len = from->len;
  to->data = malloc(from->len ? from->len : 1);
  if (!to->data) return LKV_ENOMEM;
  if (from->len) memcpy(to->data, from->data, from->len);
  return 0;
}

void lkv__conflicts_watch(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  if (lkv_call_get_data(call)) return; /* a server-streaming method: one request only */
  if (lkv__conflicts_refused(api, call)) return;
  Ledgerkvpb__WatchConflictsRequest *req = (Ledgerkvpb__WatchConflictsRequest *)lkv__api_unpack(
      call, &ledgerkvpb__watch_conflicts_request__descriptor, data, len);
  if (!req) return;
  int rc = req->key.len ? 0 : LKV_EEMPTYKEY;
  watcher_t *w = rc ? NULL : calloc(1, sizeof(*w));
  if (!rc && !w) rc = LKV_ENOMEM;
  if (!rc) {
    w->q.run = first_listing;
    w->api = api;
    w->call = call;
    w->state = PENDING;
    rc = copy_bytes(&w->start, &req->key);
    if (!rc) rc = copy_bytes(&w->end, &req->range_end);
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (!rc) {
    lkv_call_set_data(call, w); /* before the listing: the cancel hook finds it (loop thread) */
    rc = lkv_causal_node_query(api->replicator, &w->q);
    if (rc) lkv_call_set_data(call, NULL);
  }
  if (rc) {
    if (w) watcher_free(w);
    lkv__api_fail(call, rc);
  }
}

void lkv__conflicts_watch_end(lkv_api_t *api, lkv_call_t *call) {
  (void)api, (void)call; /* the client half-closed after its request: the stream goes on */
}

void lkv__conflicts_watch_cancel(lkv_api_t *api, lkv_call_t *call) {
  watcher_t *w = lkv_call_get_data(call);
  if (w) {
    lkv_api_conflicts_t *reg = api->conflicts;
    pthread_mutex_lock(&reg->mu);
    if (w->state == PENDING) {
      w->state = CANCELED; /* the listing frees it */
    } else {
      for (watcher_t **p = &reg->head; *p; p = &(*p)->next)
        if (*p == w) {
          *p = w->next;
          break;
        }
      watcher_free(w);
    }
    pthread_mutex_unlock(&reg->mu);
  }
  lkv_call_finish(call, LKV_GRPC_CANCELLED, "context canceled");
}

int lkv_api_conflicts_start(lkv_api_t *api) {
  if (!api->causal) return 0;
  lkv_api_conflicts_t *reg = calloc(1, sizeof(*reg));
  if (!reg) return LKV_ENOMEM;
  pthread_mutex_init(&reg->mu, NULL);
  api->conflicts = reg;
  lkv_causal_node_on_keys(api->replicator, lkv_api_conflicts_keys, api);
  return 0;
}

void lkv_api_conflicts_free(lkv_api_t *api) {
  lkv_api_conflicts_t *reg = api->conflicts;
  if (!reg) return;
  pthread_mutex_destroy(&reg->mu);
  free(reg);
  api->conflicts = NULL;
}
