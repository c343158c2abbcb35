/* The hub: shards, the waker, commit notifications, and the periodic tick (progress notifications). */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "watch/internal.h"

uint64_t lkv__watch_now_ms(void) {
  return lkv_clock_ms(CLOCK_MONOTONIC);
}

int lkv_watch_hub_new(lkv_watch_hub_t **out, const lkv_watch_options_t *opts) {
  if (!opts || !opts->store || opts->n_shards < 1) return LKV_EINVAL;
  lkv_watch_hub_t *hub = calloc(1, sizeof(*hub));
  if (!hub) return LKV_ENOMEM;
  hub->opts = *opts;
  atomic_init(&hub->raft_term, opts->raft_term);
  if (!hub->opts.progress_ms) hub->opts.progress_ms = LKV_WATCH_DEFAULT_PROGRESS_MS;
  if (hub->opts.progress_ms < LKV_WATCH_MIN_PROGRESS_MS) hub->opts.progress_ms = LKV_WATCH_MIN_PROGRESS_MS;
  if (!hub->opts.high_water) hub->opts.high_water = LKV_WATCH_DEFAULT_HIGH_WATER;
  hub->shards = calloc((size_t)opts->n_shards, sizeof(*hub->shards));
  if (!hub->shards) goto err_after_alloc;
  if (pthread_mutex_init(&hub->wake_lock, NULL) != 0) goto err_after_shards;
  for (int i = 0; i < opts->n_shards; i++) {
    lkv__shard_t *sh = &hub->shards[i];
    sh->hub = hub;
    sh->index = i;
    atomic_init(&sh->n_streams, 0);
    lkv__widx_init(&sh->synced);
    lkv__widx_init(&sh->catchup);
    sh->jitter = 0x2545f4914f6cdd1dull + (uint64_t)i;
  }
  *out = hub;
  return 0;
err_after_shards:
  free(hub->shards);
err_after_alloc:
  free(hub);
  return LKV_ENOMEM;
}

void lkv_watch_hub_free(lkv_watch_hub_t *hub) {
  if (!hub) return;
  for (int i = 0; i < hub->opts.n_shards; i++) {
    lkv__widx_free(&hub->shards[i].synced);
    lkv__widx_free(&hub->shards[i].catchup);
    lkv__shard_scratch_free(&hub->shards[i]);
  }
  pthread_mutex_destroy(&hub->wake_lock);
  free(hub->shards);
  free(hub);
}

void lkv_watch_hub_set_waker(lkv_watch_hub_t *hub, void (*wake)(void *ctx, int shard), void *ctx) {
  pthread_mutex_lock(&hub->wake_lock);
  hub->wake = wake;
  hub->wake_ctx = ctx;
  pthread_mutex_unlock(&hub->wake_lock);
}

void lkv__shard_wake(lkv__shard_t *sh) {
  lkv_watch_hub_t *hub = sh->hub;
  pthread_mutex_lock(&hub->wake_lock);
  if (hub->wake) hub->wake(hub->wake_ctx, sh->index);
  pthread_mutex_unlock(&hub->wake_lock);
}

void lkv_watch_hub_committed(void *arg) {
  lkv_watch_hub_t *hub = arg;
  /* A stream counts before it takes its first snapshot (stream.c), so a shard skipped here has no
   * watcher that could need this commit. */
  for (int i = 0; i < hub->opts.n_shards; i++) {
    if (atomic_load(&hub->shards[i].n_streams) > 0) lkv__shard_wake(&hub->shards[i]);
  }
}

void lkv_watch_shard_run(lkv_watch_hub_t *hub, int shard) {
  lkv__shard_deliver(&hub->shards[shard]);
}

/* etcd's progress ticker: a watcher that received no events since the previous tick is told the revision
 * it has been brought up to, if it is synced; every tick re-arms the "no events" mark. */
static void progress_tick(lkv_watch_stream_t *st) {
  lkv__shard_t *sh = st->shard;
  for (size_t i = 0; i < st->ids_cap; i++) {
    lkv__watcher_t *w = st->ids[i];
    if (!w || !(w->flags & LKV_WATCH_PROGRESS_NOTIFY)) continue;
    if ((w->flags & LKV__W_PROGRESS_DUE) && w->group == LKV__WG_SYNCED) {
      lkv__wresp_t r;
      lkv__stream_header(st, sh->synced_rev, &r);
      r.watch_id = w->id;
      /* A failed send only loses this notification (etcd drops it too when the stream is busy). */
      if (lkv__stream_send_ctl(st, &r) != 0) return;
    }
    w->flags |= LKV__W_PROGRESS_DUE;
  }
}

/* The interval plus up to 10% jitter, so that streams opened together do not report together. */
uint64_t lkv__shard_progress_interval(lkv__shard_t *sh) {
  uint64_t ms = sh->hub->opts.progress_ms;
  sh->jitter ^= sh->jitter << 13;
  sh->jitter ^= sh->jitter >> 7;
  sh->jitter ^= sh->jitter << 17;
  return ms + (ms >= 10 ? sh->jitter % (ms / 10) : 0);
}

void lkv_watch_shard_tick(lkv_watch_hub_t *hub, int shard) {
  lkv__shard_t *sh = &hub->shards[shard];
  if (!sh->streams) return;
  lkv__shard_deliver(sh);
  uint64_t now = lkv__watch_now_ms();
  for (lkv_watch_stream_t *st = sh->streams; st; st = st->next) {
    if (st->gone || now < st->progress_at_ms) continue;
    st->progress_at_ms = now + lkv__shard_progress_interval(sh);
    progress_tick(st);
  }
}

size_t lkv_watch_shard_watchers(lkv_watch_hub_t *hub, int shard) {
  return hub->shards[shard].n_watchers;
}

void lkv_watch_hub_set_term(lkv_watch_hub_t *hub, uint64_t term) {
  atomic_store_explicit(&hub->raft_term, term, memory_order_relaxed);
}
