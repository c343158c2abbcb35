/* The concurrency recipes' watch steps (conc.h): a server-side watcher on the call's loop shard of the watch
 * hub, and clientv3's waitDeletes built on it. */
#include <stdlib.h>

#include "api/conc.h"
#include "common/error.h"

/* Loop thread, from the call's queue: the watch has ended; it is closed before the recipe goes on. */
static void watch_finished(lkv_call_t *call, void *arg) {
  (void)call;
  lkv__conc_t *c = arg;
  c->busy = 0;
  lkv__conc_unwatch(c);
  lkv__conc_continue(c, c->watch_err);
}

/* The hub's sink: each packed WatchResponse is read here, on the shard's (the call's loop) thread. The
 * watch cannot be closed from inside the hub's delivery, so its end is handed to the call's queue. */
static int sink_send(void *ctx, const uint8_t *msg, size_t len) {
  lkv__conc_t *c = ctx;
  if (c->watch_done) return 0;
  Etcdserverpb__WatchResponse *wr = etcdserverpb__watch_response__unpack(NULL, len, msg);
  if (!wr) return LKV_ENOMEM;
  Etcdserverpb__ResponseHeader hdr;
  lkv__conc_copy_header(&hdr, wr->header);
  if (wr->canceled) { /* the only cancel a watcher of ours gets: its start revision was compacted */
    c->watch_err = LKV_ECOMPACTED;
    c->watch_done = 1;
  }
  for (size_t i = 0; i < wr->n_events && !c->watch_done; i++)
    c->watch_done = c->on_event(c, &hdr, wr->events[i]);
  etcdserverpb__watch_response__free_unpacked(wr, NULL);
  if (!c->watch_done) return 0;
  c->busy = 1;
  if (lkv_call_run(c->call, watch_finished, c) == 0) return 0;
  c->busy = 0;
  c->watch_done = 0; /* the hub sends the events again later */
  return LKV_ENOMEM;
}

static size_t sink_pending(void *ctx) {
  return lkv_call_pending_bytes(((lkv__conc_t *)ctx)->call);
}

static void sink_wake_when_drained(void *ctx, size_t below) {
  lkv_call_wake_when_drained(((lkv__conc_t *)ctx)->call, below);
}

static const lkv_watch_sink_t conc_sink = {sink_send, sink_pending, sink_wake_when_drained};

void lkv__conc_unwatch(lkv__conc_t *c) {
  if (!c->watch) return;
  lkv_watch_stream_close(c->watch);
  c->watch = NULL;
}

void lkv__conc_watch(lkv__conc_t *c, const uint8_t *key, size_t key_len, const uint8_t *range_end,
                     size_t range_end_len, int64_t rev, lkv__conc_event_fn on_event, lkv__conc_fn next) {
  c->next = next;
  c->on_event = on_event;
  c->watch_done = 0;
  c->watch_err = 0;
  lkv_watch_hub_t *hub = c->api->watch;
  int rc = hub ? lkv_watch_stream_open(hub, lkv_call_loop_index(c->call), &conc_sink, c, &c->watch)
               : LKV_EUNSUPPORTED;
  if (rc == 0) {
    lkv_watch_create_t req = {.key = key,
                              .key_len = key_len,
                              .range_end = range_end,
                              .range_end_len = range_end ? range_end_len : 0,
                              .start_revision = rev};
    rc = lkv_watch_create(c->watch, &req);
  }
  if (rc == 0) return;
  lkv__conc_unwatch(c);
  c->watch_done = 1;
  c->watch_err = rc;
  c->busy = 1;
  if (lkv_call_run(c->call, watch_finished, c) != 0) lkv__api_fail(c->call, LKV_ENOMEM); /* c is left */
}

/* ---- waitDeletes ---- */

static void got_last(lkv__conc_t *c, int err);

static int is_delete(lkv__conc_t *c, const Etcdserverpb__ResponseHeader *hdr, const Mvccpb__Event *ev) {
  (void)c, (void)hdr;
  return ev->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
}

static void deleted(lkv__conc_t *c, int err) {
  if (err)
    c->waited(c, err);
  else
    lkv__conc_get(c, LKV__CONC_LAST, c->max_create_rev, got_last);
}

/* The last-created key before the caller's, if any: wait for its deletion from the get's revision on (a
 * deletion after the get is then never missed), then look again. */
static void got_last(lkv__conc_t *c, int err) {
  if (err || c->range->n_kvs == 0) {
    c->waited(c, err);
    return;
  }
  const Mvccpb__KeyValue *kv = c->range->kvs[0];
  int64_t rev = c->range->header ? c->range->header->revision : 0;
  lkv__conc_watch(c, kv->key.data, kv->key.len, NULL, 0, rev, is_delete, deleted);
}

void lkv__conc_wait_deletes(lkv__conc_t *c, int64_t max_create_rev, lkv__conc_fn next) {
  c->waited = next;
  lkv__conc_get(c, LKV__CONC_LAST, max_create_rev, got_last);
}
