/* Helpers for the watch hub tests: a store, a hub with one shard, and sinks that decode what they get. */
#ifndef LKV_TESTS_WATCH_TESTUTIL_H
#define LKV_TESTS_WATCH_TESTUTIL_H

#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "mvcc_testutil.h"
#include "watch/watch.h"

#define WT_MAX_MSGS 20000

/* A fake gRPC call: decodes every response; `pending` is what the hub sees as unsent bytes. */
typedef struct wt_sink_s {
  Etcdserverpb__WatchResponse *msgs[WT_MAX_MSGS];
  size_t n;
  size_t pending;
  int gone;
  size_t drain_asks, drain_below; /* wake_when_drained calls and the last threshold */
  lkv_watch_stream_t *st;
} wt_sink_t;

static int wt__send(void *ctx, const uint8_t *msg, size_t len) {
  wt_sink_t *s = ctx;
  if (s->gone) return LKV_ECANCELED;
  assert_true(s->n < WT_MAX_MSGS);
  s->msgs[s->n] = etcdserverpb__watch_response__unpack(NULL, len, msg);
  assert_non_null(s->msgs[s->n]);
  s->n++;
  return 0;
}

static size_t wt__pending(void *ctx) {
  return ((wt_sink_t *)ctx)->pending;
}

static void wt__wake_when_drained(void *ctx, size_t below) {
  wt_sink_t *s = ctx;
  s->drain_asks++;
  s->drain_below = below;
}

static const lkv_watch_sink_t wt_sink_ops = {wt__send, wt__pending, wt__wake_when_drained};

static inline void wt_sink_clear(wt_sink_t *s) {
  for (size_t i = 0; i < s->n; i++) etcdserverpb__watch_response__free_unpacked(s->msgs[i], NULL);
  s->n = 0;
}

typedef struct wt_fix_s {
  lkvt_store_t ts;
  lkv_watch_hub_t *hub;
  wt_sink_t *sinks[4];
} wt_fix_t;

static inline wt_fix_t *wt_open(const lkv_watch_options_t *extra) {
  wt_fix_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  lkvt_open(&f->ts);
  lkv_watch_options_t o = {0};
  if (extra) o = *extra;
  o.store = f->ts.s;
  o.n_shards = 1;
  o.cluster_id = 11;
  o.member_id = 22;
  o.raft_term = 1;
  assert_int_equal(lkv_watch_hub_new(&f->hub, &o), 0);
  for (int i = 0; i < 4; i++) {
    f->sinks[i] = calloc(1, sizeof(wt_sink_t));
    assert_non_null(f->sinks[i]);
    assert_int_equal(lkv_watch_stream_open(f->hub, 0, &wt_sink_ops, f->sinks[i], &f->sinks[i]->st), 0);
  }
  return f;
}

static inline void wt_close(wt_fix_t *f) {
  for (int i = 0; i < 4; i++) {
    lkv_watch_stream_close(f->sinks[i]->st);
    wt_sink_clear(f->sinks[i]);
    free(f->sinks[i]);
  }
  lkv_watch_hub_free(f->hub);
  lkvt_close(&f->ts);
  free(f);
}

/* Creates a watcher on sink s; end NULL = single key, "" = from key, else [key, end). */
static inline void wt_watch(wt_sink_t *s, const char *key, const char *end, int64_t start, int64_t id,
                            unsigned flags) {
  static const uint8_t zero = 0;
  lkv_watch_create_t c = {.key = (const uint8_t *)key,
                          .key_len = strlen(key),
                          .start_revision = start,
                          .watch_id = id,
                          .flags = flags};
  if (end) {
    c.range_end = end[0] ? (const uint8_t *)end : &zero;
    c.range_end_len = end[0] ? strlen(end) : 1;
  }
  assert_int_equal(lkv_watch_create(s->st, &c), 0);
}

/* One batch, one request (one revision) putting every key of keys[] to value. */
static inline void wt_put_many(lkvt_store_t *ts, const char *const *keys, size_t n, const char *value) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(
        lkv_mvcc_put(t, (const uint8_t *)keys[i], strlen(keys[i]), (const uint8_t *)value, strlen(value), 0),
        0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
}

/* Events received by watcher id on s, flattened in arrival order. */
static inline size_t wt_events(const wt_sink_t *s, int64_t id, Mvccpb__Event **out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (s->msgs[i]->watch_id != id) continue;
    for (size_t j = 0; j < s->msgs[i]->n_events; j++) {
      assert_true(n < cap);
      out[n++] = s->msgs[i]->events[j];
    }
  }
  return n;
}

#endif
