/* Synced and unsynced watcher groups: their indexes, the unsynced list, and the stream counters. */
#include "common/error.h"
#include "metrics/catalog.h"
#include "watch/internal.h"

static void count_in(lkv__shard_t *sh, lkv__watcher_t *w, uint8_t group) {
  w->group = group;
  w->stream->n_live++;
  if (group == LKV__WG_UNSYNCED) w->stream->n_unsynced++;
  sh->n_watchers++;
  lkv_metric_add(LKV_METRIC(watchers), 0, 1);
  if (group == LKV__WG_UNSYNCED) lkv_metric_add(LKV_METRIC(slow_watchers), 0, 1);
}

static void count_out(lkv__shard_t *sh, lkv__watcher_t *w) {
  w->stream->n_live--;
  if (w->group == LKV__WG_UNSYNCED) w->stream->n_unsynced--;
  sh->n_watchers--;
  lkv_metric_add(LKV_METRIC(watchers), 0, -1);
  if (w->group == LKV__WG_UNSYNCED) lkv_metric_add(LKV_METRIC(slow_watchers), 0, -1);
  w->group = LKV__WG_NONE;
}

static void list_unlink(lkv__shard_t *sh, lkv__watcher_t *w) {
  if (w->gprev)
    w->gprev->gnext = w->gnext;
  else
    sh->unsynced_list = w->gnext;
  if (w->gnext) w->gnext->gprev = w->gprev;
  w->gprev = w->gnext = NULL;
}

/* The index only fails to add when it cannot allocate its very first table; the watcher then waits in the
 * unsynced list, from which catch-up rounds retry the move (lkv__watcher_promote). */
void lkv__watcher_add_synced(lkv__shard_t *sh, lkv__watcher_t *w) {
  if (lkv__widx_add(&sh->synced, w) != 0) {
    lkv__watcher_add_unsynced(sh, w);
    return;
  }
  count_in(sh, w, LKV__WG_SYNCED);
}

void lkv__watcher_add_unsynced(lkv__shard_t *sh, lkv__watcher_t *w) {
  w->gprev = NULL;
  w->gnext = sh->unsynced_list;
  if (sh->unsynced_list) sh->unsynced_list->gprev = w;
  sh->unsynced_list = w;
  count_in(sh, w, LKV__WG_UNSYNCED);
}

void lkv__watcher_ungroup(lkv__shard_t *sh, lkv__watcher_t *w) {
  if (w->group == LKV__WG_SYNCED)
    lkv__widx_remove(&sh->synced, w);
  else if (w->group == LKV__WG_UNSYNCED)
    list_unlink(sh, w);
  else
    return;
  count_out(sh, w);
}

void lkv__watcher_demote(lkv__shard_t *sh, lkv__watcher_t *w) {
  lkv__watcher_ungroup(sh, w);
  lkv__watcher_add_unsynced(sh, w);
}

int lkv__watcher_promote(lkv__shard_t *sh, lkv__watcher_t *w) {
  lkv__watcher_ungroup(sh, w);
  lkv__watcher_add_synced(sh, w);
  lkv_watch_stream_t *st = w->stream;
  if (st->n_unsynced == 0 && st->progress_deferred) {
    st->progress_deferred = 0;
    return lkv__stream_send_progress_all(st);
  }
  return 0;
}
