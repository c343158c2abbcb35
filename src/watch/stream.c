/* Watch streams: watch ids, create/cancel/progress requests and their control responses (etcd's rules). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "watch/internal.h"

/* ---- the id table: open addressing, linear probing, backward-shift deletion ---- */

static size_t id_slot(const lkv_watch_stream_t *st, int64_t id) {
  uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */
  return (size_t)(h >> 17) & (st->ids_cap - 1);
}

static lkv__watcher_t *id_find(const lkv_watch_stream_t *st, int64_t id) {
  if (!st->ids_cap) return NULL;
  for (size_t i = id_slot(st, id);; i = (i + 1) & (st->ids_cap - 1)) {
    if (!st->ids[i]) return NULL;
    if (st->ids[i]->id == id) return st->ids[i];
  }
}

static void id_place(lkv_watch_stream_t *st, lkv__watcher_t *w) {
  size_t i = id_slot(st, w->id);
  while (st->ids[i]) i = (i + 1) & (st->ids_cap - 1);
  st->ids[i] = w;
}

static int id_insert(lkv_watch_stream_t *st, lkv__watcher_t *w) {
  if ((st->n_ids + 1) * 2 > st->ids_cap) { /* load factor <= 1/2 */
    size_t cap = st->ids_cap ? st->ids_cap * 2 : 8;
    lkv__watcher_t **old = st->ids;
    size_t old_cap = st->ids_cap;
    st->ids = calloc(cap, sizeof(*st->ids));
    if (!st->ids) {
      st->ids = old;
      return LKV_ENOMEM;
    }
    st->ids_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
      if (old[i]) id_place(st, old[i]);
    }
    free(old);
  }
  id_place(st, w);
  st->n_ids++;
  return 0;
}

static void id_remove(lkv_watch_stream_t *st, lkv__watcher_t *w) {
  size_t mask = st->ids_cap - 1, i = id_slot(st, w->id);
  while (st->ids[i] != w) i = (i + 1) & mask;
  st->ids[i] = NULL;
  /* Shift back entries whose probe sequence crossed the hole, so lookups never stop early. */
  for (size_t j = (i + 1) & mask; st->ids[j]; j = (j + 1) & mask) {
    size_t home = id_slot(st, st->ids[j]->id);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      st->ids[i] = st->ids[j];
      st->ids[j] = NULL;
      i = j;
    }
  }
  st->n_ids--;
}

/* ---- responses ---- */

void lkv__stream_header(const lkv_watch_stream_t *st, int64_t rev, lkv__wresp_t *r) {
  const lkv_watch_options_t *o = &st->shard->hub->opts;
  memset(r, 0, sizeof(*r));
  r->cluster_id = o->cluster_id;
  r->member_id = o->member_id;
  r->raft_term = atomic_load_explicit(&st->shard->hub->raft_term, memory_order_relaxed);
  r->revision = rev;
}

int lkv__stream_send_ctl(lkv_watch_stream_t *st, const lkv__wresp_t *r) {
  if (st->gone) return LKV_ECANCELED;
  lkv__wbuf_t *out = &st->shard->out;
  out->len = 0;
  out->oom = 0;
  lkv__wenc_resp(out, r);
  if (out->oom) return LKV_ENOMEM;
  int rc = st->sink.send(st->ctx, out->data, out->len);
  if (rc == LKV_ECANCELED) st->gone = 1;
  return rc;
}

int lkv__stream_send_progress_all(lkv_watch_stream_t *st) {
  lkv__wresp_t r;
  lkv__stream_header(st, st->shard->synced_rev, &r);
  r.watch_id = -1; /* clientv3.InvalidWatchID: the client hands it to every watcher of the stream */
  return lkv__stream_send_ctl(st, &r);
}

int lkv__stream_compacted(lkv_watch_stream_t *st, lkv__watcher_t *w, int64_t compact_rev) {
  lkv__watcher_ungroup(st->shard, w);
  lkv__wresp_t r;
  lkv__stream_header(st, 0, &r); /* etcd leaves the revision of this response at 0 */
  r.watch_id = w->id;
  r.canceled = 1;
  r.compact_revision = compact_rev;
  return lkv__stream_send_ctl(st, &r);
}

/* The revision and compact revision of the latest snapshot. */
static int snapshot_revs(lkv__shard_t *sh, int64_t *rev, int64_t *compact) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(sh->hub->opts.store, &t);
  if (rc) return rc;
  *rev = lkv_mvcc_txn_rev(t);
  if (compact) *compact = lkv_mvcc_txn_compact_rev(t);
  lkv_mvcc_txn_end(t);
  return 0;
}

/* ---- streams ---- */

int lkv_watch_stream_open(lkv_watch_hub_t *hub, int shard, const lkv_watch_sink_t *sink, void *ctx,
                          lkv_watch_stream_t **out) {
  if (shard < 0 || shard >= hub->opts.n_shards) return LKV_EINVAL;
  lkv_watch_stream_t *st = calloc(1, sizeof(*st));
  if (!st) return LKV_ENOMEM;
  lkv__shard_t *sh = &hub->shards[shard];
  st->shard = sh;
  st->sink = *sink;
  st->ctx = ctx;
  st->progress_at_ms = lkv__watch_now_ms() + lkv__shard_progress_interval(sh);
  st->next = sh->streams;
  if (sh->streams) sh->streams->prev = st;
  sh->streams = st;
  atomic_fetch_add(&sh->n_streams, 1); /* before any snapshot this stream takes: see committed() */
  *out = st;
  return 0;
}

void lkv_watch_stream_close(lkv_watch_stream_t *st) {
  lkv__shard_t *sh = st->shard;
  for (size_t i = 0; i < st->ids_cap; i++) {
    if (!st->ids[i]) continue;
    lkv__watcher_ungroup(sh, st->ids[i]);
    free(st->ids[i]);
  }
  free(st->ids);
  if (st->prev)
    st->prev->next = st->next;
  else
    sh->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  atomic_fetch_sub(&sh->n_streams, 1);
  free(st);
}

/* Refusals are answered in-band, as etcd does: created and canceled, watch id -1, a reason. */
static int refuse(lkv_watch_stream_t *st, int64_t rev, const char *reason) {
  lkv__wresp_t r;
  lkv__stream_header(st, rev, &r);
  r.watch_id = -1;
  r.created = 1;
  r.canceled = 1;
  r.cancel_reason = reason;
  return lkv__stream_send_ctl(st, &r);
}

static lkv__watcher_t *new_watcher(const lkv_watch_create_t *req) {
  static const uint8_t zero = 0;
  const uint8_t *key = req->key_len ? req->key : &zero; /* an empty key is "\0", the smallest key */
  size_t key_len = req->key_len ? req->key_len : 1;
  uint8_t kind = LKV__WK_RANGE;
  if (req->range_end_len == 0)
    kind = LKV__WK_KEY;
  else if (req->range_end_len == 1 && req->range_end[0] == 0)
    kind = LKV__WK_FROM;
  size_t end_len = kind == LKV__WK_RANGE ? req->range_end_len : 0;
  lkv__watcher_t *w = calloc(1, sizeof(*w) + key_len + end_len);
  if (!w) return NULL;
  uint8_t *bytes = (uint8_t *)(w + 1);
  memcpy(bytes, key, key_len);
  if (end_len) memcpy(bytes + key_len, req->range_end, end_len);
  w->link.key = bytes;
  w->link.key_len = (uint32_t)key_len;
  w->link.end = bytes + key_len;
  w->link.end_len = (uint32_t)end_len;
  w->link.kind = kind;
  w->flags = req->flags & (LKV_WATCH_NOPUT | LKV_WATCH_NODELETE | LKV_WATCH_PREV_KV |
                           LKV_WATCH_PROGRESS_NOTIFY | LKV_WATCH_FRAGMENT);
  /* etcd marks a new progress watcher as due: the first tick reports unless events came first. */
  if (w->flags & LKV_WATCH_PROGRESS_NOTIFY) w->flags |= LKV__W_PROGRESS_DUE;
  w->ev_head = w->ev_tail = -1;
  return w;
}

static int empty_range(const lkv__watcher_t *w) {
  if (w->link.kind != LKV__WK_RANGE) return 0;
  size_t n = w->link.key_len < w->link.end_len ? w->link.key_len : w->link.end_len;
  int c = memcmp(w->link.key, w->link.end, n);
  return c > 0 || (c == 0 && w->link.key_len >= w->link.end_len);
}

/* Puts a registered watcher in its group: from the start revision (etcd's synced/unsynced choice). */
static int place(lkv_watch_stream_t *st, lkv__watcher_t *w, int64_t start, int64_t rev, int64_t compact) {
  lkv__shard_t *sh = st->shard;
  if (sh->synced.n_keys + sh->synced.n_ranges == 0 && sh->synced_rev < rev) sh->synced_rev = rev;
  if (start == 0) start = rev + 1;
  if (start < compact) return lkv__stream_compacted(st, w, compact);
  w->next_rev = start;
  if (start > sh->synced_rev) {
    lkv__watcher_add_synced(sh, w);
  } else {
    lkv__watcher_add_unsynced(sh, w);
    lkv__shard_wake(sh); /* catch up outside this request */
  }
  return 0;
}

int lkv_watch_create(lkv_watch_stream_t *st, const lkv_watch_create_t *req) {
  int64_t rev, compact;
  int rc = snapshot_revs(st->shard, &rev, &compact);
  if (rc) return rc;
  if (req->refusal) return refuse(st, rev, req->refusal);
  lkv__watcher_t *w = new_watcher(req);
  if (!w) return LKV_ENOMEM;
  if (empty_range(w)) {
    free(w);
    return refuse(st, rev, "mvcc: watcher range is empty");
  }
  if (req->watch_id == 0) { /* clientv3.AutoWatchID */
    while (id_find(st, st->next_id)) st->next_id++;
    w->id = st->next_id++;
  } else if (id_find(st, req->watch_id)) {
    free(w);
    return refuse(st, rev, "mvcc: duplicate watch ID provided on the WatchStream");
  } else {
    w->id = req->watch_id;
  }
  w->stream = st;
  if ((rc = id_insert(st, w)) != 0) {
    free(w);
    return rc;
  }
  lkv__wresp_t r;
  lkv__stream_header(st, rev, &r);
  r.watch_id = w->id;
  r.created = 1;
  /* Registered before the answer is queued: a failed send leaves a watcher the stream's close frees. */
  rc = lkv__stream_send_ctl(st, &r);
  if (rc) return rc;
  return place(st, w, req->start_revision, rev, compact);
}

int lkv_watch_cancel(lkv_watch_stream_t *st, int64_t watch_id) {
  lkv__watcher_t *w = id_find(st, watch_id);
  if (!w) return 0;
  /* Events committed before the request go out first, as with etcd, whose synced watchers have them. */
  lkv__shard_deliver(st->shard);
  int64_t rev;
  int rc = snapshot_revs(st->shard, &rev, NULL);
  if (rc) return rc;
  lkv__watcher_ungroup(st->shard, w);
  id_remove(st, w);
  free(w);
  lkv__wresp_t r;
  lkv__stream_header(st, rev, &r);
  r.watch_id = watch_id;
  r.canceled = 1;
  return lkv__stream_send_ctl(st, &r);
}

int lkv_watch_request_progress(lkv_watch_stream_t *st) {
  if (st->n_live == 0) return 0;
  /* Bring the synced revision up to date first, so the answer covers every write acknowledged before the
   * request. */
  lkv__shard_deliver(st->shard);
  if (st->n_unsynced > 0) {
    st->progress_deferred = 1;
    return 0;
  }
  return lkv__stream_send_progress_all(st);
}
