/* The watch hub: etcd watchers over the MVCC history, sharded per loop thread, with bounded buffering. */
#ifndef LKV_WATCH_WATCH_H
#define LKV_WATCH_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "mvcc/mvcc.h"

/*
 * Model (etcd's watchable store): a *stream* (one gRPC Watch call) holds many *watchers*, each a key or
 * key range with a start revision and options. Events come from the stored history (lkv_mvcc_history),
 * never from the write path, so every watcher sees exactly the committed changes, in revision order, and
 * one revision's events in one response (unless the watcher asked for fragments).
 *
 * Sharding: the hub has one shard per loop thread. A stream lives on one shard and every function taking
 * a stream (or a shard index) runs on that shard's thread; shards share nothing but the store, so no lock
 * is taken on the delivery path. After each commit the replicator calls lkv_watch_hub_committed, which
 * asks every shard with streams to run (the waker); the shard then reads the new history once for all of
 * its *synced* watchers, matching each change through an index (exact keys hashed, ranges in an interval
 * treap), so the cost of a write does not grow with the number of watchers it does not concern.
 *
 * Bounded memory: before a response is queued on a stream, the stream's unsent bytes are checked against
 * a high-water mark. A watcher whose stream is above it, or whose backlog is large, becomes *unsynced*:
 * it is caught up later from the store, a bounded batch at a time, when its stream has drained (etcd's
 * unsynced watchers). A watcher whose next revision has been compacted away is canceled with the compact
 * revision, as etcd does.
 */

typedef struct lkv_watch_hub_s lkv_watch_hub_t;
typedef struct lkv_watch_stream_s lkv_watch_stream_t;

/* etcd's default --experimental-watch-progress-notify-interval and its minimum. */
#define LKV_WATCH_DEFAULT_PROGRESS_MS (10u * 60u * 1000u)
#define LKV_WATCH_MIN_PROGRESS_MS 100u
/* How often lkv_watch_shard_tick should run: retries of stalled streams, progress notifications. */
#define LKV_WATCH_TICK_MS 100u
/* Default per-stream high-water mark of unsent response bytes. */
#define LKV_WATCH_DEFAULT_HIGH_WATER ((size_t)1 << 20)

typedef struct lkv_watch_options_s {
  lkv_mvcc_t *store;                         /* required; must outlive the hub */
  int n_shards;                              /* >= 1: one per loop thread */
  uint64_t cluster_id, member_id, raft_term; /* response header fields */
  uint64_t progress_ms;  /* progress notification interval; 0 = default, below the minimum = minimum */
  size_t fragment_bytes; /* fragment watchers get responses split above this size (etcd: max request
                          * bytes + 512 KiB); 0 = never split */
  size_t high_water; /* per-stream unsent bytes that make watchers fall back to catching up; 0 = default */
} lkv_watch_options_t;

/* Creates a hub. opts is copied. Returns 0 and sets *out, or LKV_EINVAL (no store, n_shards < 1),
 * LKV_ENOMEM. */
int lkv_watch_hub_new(lkv_watch_hub_t **out, const lkv_watch_options_t *opts);

/* The Raft term to put in response headers from now on (a cluster's term changes). Any thread. */
void lkv_watch_hub_set_term(lkv_watch_hub_t *hub, uint64_t term);

/* Frees the hub. Every stream must have been closed and no shard function may be running. NULL is ignored. */
void lkv_watch_hub_free(lkv_watch_hub_t *hub);

/* Sets the waker: wake(ctx, shard) must make lkv_watch_shard_run(hub, shard) run soon on the shard's thread
 * (e.g. lkv_transport_wake). Called from the committing thread and from shard threads. wake NULL disables
 * waking; when this returns, no call to the previous waker is in progress and none will follow, so clear it
 * before whatever it calls goes away. Any thread. Without a waker, shards still make progress on ticks. */
void lkv_watch_hub_set_waker(lkv_watch_hub_t *hub, void (*wake)(void *ctx, int shard), void *ctx);

/* New revisions are committed and visible (an lkv_commit_cb; arg is the hub). Wakes every shard that has
 * streams. Any thread. */
void lkv_watch_hub_committed(void *hub);

/* Delivers what the shard's watchers have not seen yet: the new history to synced watchers, then a bounded
 * catch-up of unsynced ones (rescheduling itself through the waker while work remains). Shard thread. */
void lkv_watch_shard_run(lkv_watch_hub_t *hub, int shard);

/* Periodic work, every LKV_WATCH_TICK_MS: what lkv_watch_shard_run does (streams that drained resume), and
 * progress notifications that are due. Shard thread. */
void lkv_watch_shard_tick(lkv_watch_hub_t *hub, int shard);

/* ---- streams ---- */

/* Where a stream's responses go (the gRPC call). Both run on the shard's thread. */
typedef struct lkv_watch_sink_s {
  /* Queues one packed WatchResponse (copied). Returns 0, LKV_ECANCELED when the stream is gone (nothing
   * more will be sent to it), or LKV_ENOMEM (the hub retries events later). */
  int (*send)(void *ctx, const uint8_t *msg, size_t len);
  /* Bytes queued and not yet written to the network. */
  size_t (*pending)(void *ctx);
  /* Asks for one lkv_watch_shard_run once pending has fallen to `below` (lkv_call_wake_when_drained), so
   * that a stalled stream resumes as soon as it drains. May be NULL: the next tick retries instead. */
  void (*wake_when_drained)(void *ctx, size_t below);
} lkv_watch_sink_t;

/* Opens a stream on shard. sink is copied; ctx is passed back to it. Returns 0 and sets *out, or
 * LKV_EINVAL (shard out of range), LKV_ENOMEM. Shard thread. */
int lkv_watch_stream_open(lkv_watch_hub_t *hub, int shard, const lkv_watch_sink_t *sink, void *ctx,
                          lkv_watch_stream_t **out);

/* Removes every watcher of the stream and frees it; the sink is not used any more. Shard thread. */
void lkv_watch_stream_close(lkv_watch_stream_t *st);

/* Filter and option bits of lkv_watch_create_t.flags. */
#define LKV_WATCH_NOPUT 1u           /* do not send PUT events */
#define LKV_WATCH_NODELETE 2u        /* do not send DELETE events */
#define LKV_WATCH_PREV_KV 4u         /* attach the key's previous version to events (if not compacted) */
#define LKV_WATCH_PROGRESS_NOTIFY 8u /* periodic empty responses while no events flow */
#define LKV_WATCH_FRAGMENT 16u       /* split responses above lkv_watch_options_t.fragment_bytes */

/* A WatchCreateRequest. range_end follows etcd: empty = the single key, "\0" = every key >= key, else
 * [key, range_end); an empty key means "\0". start_revision 0 = after the current revision. watch_id 0 =
 * let the stream pick the lowest free id. Pointers are only read during lkv_watch_create. */
typedef struct lkv_watch_create_s {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *range_end;
  size_t range_end_len;
  int64_t start_revision;
  int64_t watch_id;
  unsigned flags;
  const char *refusal; /* non-NULL: refused with this cancel reason (the caller's permission check) */
} lkv_watch_create_t;

/* Creates a watcher and queues etcd's answer on the stream: a "created" response (header revision = the
 * current revision), followed by a canceled response with compact_revision when start_revision is
 * compacted; or a created+canceled response with watch_id -1 and etcd's cancel_reason for an empty range
 * ("mvcc: watcher range is empty"), an id in use ("mvcc: duplicate watch ID provided on the
 * WatchStream") or req->refusal. Returns 0 when the client has been answered, or LKV_ENOMEM / LKV_EIO /
 * LKV_ECANCELED: then the stream cannot go on (close it and end the call). Shard thread. */
int lkv_watch_create(lkv_watch_stream_t *st, const lkv_watch_create_t *req);

/* Cancels watcher watch_id and queues a canceled response, after the events of every revision committed
 * before the call (as far as its stream takes them); an unknown id is ignored, as etcd does. Returns
 * 0, or LKV_ENOMEM / LKV_ECANCELED as lkv_watch_create. Shard thread. */
int lkv_watch_cancel(lkv_watch_stream_t *st, int64_t watch_id);

/* WatchProgressRequest: queues a response with watch_id -1 and the revision every watcher of the stream
 * has been brought up to, once all of them are synced (at once, or as soon as the last one catches up);
 * nothing when the stream has no live watcher. Returns 0, or LKV_ENOMEM / LKV_ECANCELED. Shard thread. */
int lkv_watch_request_progress(lkv_watch_stream_t *st);

/* Memory accounting for tests and benchmarks: live watchers on shard. Shard thread. */
size_t lkv_watch_shard_watchers(lkv_watch_hub_t *hub, int shard);

#endif
