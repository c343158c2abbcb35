/* The Watch service: a bidirectional stream of WatchRequests, answered by the watch hub (src/watch). */
#include "watch/watch.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/auth.h"
#include "api/leader.h"
#include "api/rate_limit.h"
#include "api/service.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"

static int sink_send(void *ctx, const uint8_t *msg, size_t len) {
  return lkv_call_send(ctx, msg, len);
}

static size_t sink_pending(void *ctx) {
  return lkv_call_pending_bytes(ctx);
}

static void sink_wake_when_drained(void *ctx, size_t below) {
  lkv_call_wake_when_drained(ctx, below);
}

static const lkv_watch_sink_t call_sink = {sink_send, sink_pending, sink_wake_when_drained};

/* A Watch call's state: its hub stream, and its registration with the leader monitor when the client
 * required a leader (etcd's hasleader metadata). */
typedef struct watch_call_s {
  lkv_watch_stream_t *st;
  lkv__leader_stream_t lead;
} watch_call_t;

/* The call data of a call that is finished (or being finished): later callbacks for it do nothing, even
 * if the transport still has some to give before it applies the finish. */
static watch_call_t finished_call;

/* Ends the call with err after closing its watch stream (w may be NULL); with err 0 the caller finishes
 * it. */
static void end_stream(lkv_api_t *api, lkv_call_t *call, watch_call_t *w, int err) {
  if (w) {
    lkv__leader_unwatch(api, &w->lead);
    lkv_watch_stream_close(w->st);
    free(w);
  }
  lkv_call_set_data(call, &finished_call);
  if (err) lkv__api_fail(call, err);
}

/* The member has had no leader for a while (leader.h): the stream ends with "etcdserver: no leader". */
static void cancel_no_leader(lkv_api_t *api, lkv__leader_stream_t *s) {
  watch_call_t *w = (watch_call_t *)((char *)s - offsetof(watch_call_t, lead));
  end_stream(api, s->call, w, LKV_ENOLEADER);
}

/* Watch headers carry the cluster's term as the hub last heard it: set at every tick and when a stream
 * opens (a stream opened before the first tick after the start would say term 0). */
static void follow_term(lkv_api_t *api) {
  lkv_replication_status_t st;
  lkv_replicator_status(api->replicator, &st);
  lkv_watch_hub_set_term(api->watch, st.term);
}

/* The call's state, created with its first message; NULL when the call has been answered. */
static watch_call_t *open_stream(lkv_api_t *api, lkv_call_t *call) {
  int rc = lkv__api_stream_refusal(api, call);
  if (rc) {
    end_stream(api, call, NULL, rc);
    return NULL;
  }
  watch_call_t *w = calloc(1, sizeof(*w));
  rc =
      w ? lkv_watch_stream_open(api->watch, lkv_call_loop_index(call), &call_sink, call, &w->st) : LKV_ENOMEM;
  if (rc) {
    free(w);
    end_stream(api, call, NULL, rc);
    return NULL;
  }
  follow_term(api);
  w->lead.call = call;
  w->lead.cancel = cancel_no_leader;
  if (lkv__leader_required(call)) lkv__leader_watch(api, &w->lead);
  lkv_call_set_data(call, w);
  return w;
}

/* etcd's isWatchPermitted: read access to the watched key or range, else a created and canceled answer
 * with the check's error as its status text. (etcd 3.4 checks a from-key watch as its first key only;
 * ledgerkv checks the whole range.) */
static const char *refusal(lkv_api_t *api, lkv_call_t *call, const Etcdserverpb__WatchCreateRequest *c,
                           int *rc) {
  static const uint8_t zero = 0; /* an empty key is "\0", the smallest key */
  ProtobufCBinaryData key = c->key.len ? c->key : (ProtobufCBinaryData){1, (uint8_t *)&zero};
  *rc = lkv__auth_read_check(api, call, 0, &key, &c->range_end);
  switch (*rc) {
    case 0:
      return NULL;
    case LKV_EINVALIDTOKEN:
      return "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token";
    case LKV_EAUTHOLDREV:
      return "rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old";
    case LKV_EUSEREMPTY:
      return "rpc error: code = InvalidArgument desc = etcdserver: user name is empty";
    case LKV_EPERMDENIED:
    case LKV_EUSERNOTFOUND:
      return "rpc error: code = PermissionDenied desc = etcdserver: permission denied";
    default:
      return NULL; /* the store failed: the stream ends with rc */
  }
}

/* A create over its client's rate limit (len: the request message's bytes) is refused alone, as etcd refuses
 * one it does not permit; the stream and its other watchers go on. */
static int create(lkv_api_t *api, lkv_call_t *call, lkv_watch_stream_t *st,
                  const Etcdserverpb__WatchCreateRequest *c, size_t len) {
  int rc = 0;
  char msg[400], limited[460];
  const char *refused = NULL;
  if (lkv__api_rate_refusal(api, call, LKV_API_WATCH_PATH, len, msg, sizeof(msg))) {
    snprintf(limited, sizeof(limited), "rpc error: code = ResourceExhausted desc = %s", msg);
    refused = limited;
  } else {
    refused = refusal(api, call, c, &rc);
  }
  if (rc && !refused) return rc;
  lkv_watch_create_t req = {
      .refusal = refused,
      .key = c->key.data,
      .key_len = c->key.len,
      .range_end = c->range_end.data,
      .range_end_len = c->range_end.len,
      .start_revision = c->start_revision,
      .watch_id = c->watch_id,
  };
  for (size_t i = 0; i < c->n_filters; i++) { /* unknown filter values are ignored, as etcd does */
    if (c->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT) req.flags |= LKV_WATCH_NOPUT;
    if (c->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE)
      req.flags |= LKV_WATCH_NODELETE;
  }
  if (c->prev_kv) req.flags |= LKV_WATCH_PREV_KV;
  if (c->progress_notify) req.flags |= LKV_WATCH_PROGRESS_NOTIFY;
  if (c->fragment) req.flags |= LKV_WATCH_FRAGMENT;
  return lkv_watch_create(st, &req);
}

void lkv__watch_message(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  watch_call_t *w = lkv_call_get_data(call);
  if (w == &finished_call || (!w && !(w = open_stream(api, call)))) return;
  lkv_watch_stream_t *st = w->st;
  Etcdserverpb__WatchRequest *req = (Etcdserverpb__WatchRequest *)lkv__api_unpack(
      call, &etcdserverpb__watch_request__descriptor, data, len);
  if (!req) { /* answered INTERNAL, as grpc-go ends a stream whose message does not parse */
    end_stream(api, call, w, 0);
    return;
  }
  int rc = 0;
  /* A request without its body, or of a kind this version does not know, is skipped (etcd: "do nothing"). */
  switch (req->request_union_case) {
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
      if (req->create_request) rc = create(api, call, st, req->create_request, len);
      break;
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST:
      if (req->cancel_request) rc = lkv_watch_cancel(st, req->cancel_request->watch_id);
      break;
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
      if (req->progress_request) rc = lkv_watch_request_progress(st);
      break;
    default:
      break;
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
  /* LKV_ECANCELED: the stream is already gone and on_cancel ends it. */
  if (rc && rc != LKV_ECANCELED) end_stream(api, call, w, rc);
}

void lkv__watch_end(lkv_api_t *api, lkv_call_t *call) {
  watch_call_t *w = lkv_call_get_data(call);
  if (w == &finished_call) return;
  end_stream(api, call, w, 0);
  lkv_call_finish(call, LKV_GRPC_CANCELLED, "context canceled");
}

void lkv__watch_wake(lkv_api_t *api, int loop_index) {
  if (api->watch) lkv_watch_shard_run(api->watch, loop_index);
}

void lkv__watch_tick(lkv_api_t *api, int loop_index) {
  if (!api->watch) return;
  follow_term(api);
  lkv_watch_shard_tick(api->watch, loop_index);
}
