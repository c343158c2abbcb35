/* Event delivery: history rounds for synced watchers, bounded catch-up rounds for unsynced ones. */
#include <stdlib.h>

#include "common/error.h"
#include "common/grow.h"
#include "watch/internal.h"

/* Rounds per lkv__shard_deliver call before the loop gets back to its sockets (the rest is rescheduled). */
#define ROUNDS_PER_RUN 8

/* ---- round scratch ---- */

void lkv__shard_scratch_free(lkv__shard_t *sh) {
  free(sh->evs);
  free(sh->refs);
  free(sh->chosen);
  lkv__wbuf_free(&sh->enc);
  lkv__wbuf_free(&sh->out);
  sh->evs = NULL;
  sh->refs = NULL;
  sh->chosen = NULL;
  sh->cap_evs = sh->cap_refs = sh->cap_chosen = 0;
}

static void round_begin(lkv__shard_t *sh) {
  sh->n_evs = sh->n_refs = 0;
  sh->enc.len = 0;
  sh->enc.oom = 0;
  sh->touched = NULL;
  sh->round_oom = 0;
}

/* Forgets what w buffered in this round. */
static void unbuffer(lkv__watcher_t *w) {
  w->ev_head = w->ev_tail = -1;
  w->buf_bytes = 0;
  w->flags &= ~LKV__W_FULL;
}

static void untouch_all(lkv__shard_t *sh) {
  for (lkv__watcher_t *w = sh->touched, *next; w; w = next) {
    next = w->touched_next;
    unbuffer(w);
  }
  sh->touched = NULL;
}

static int64_t ref_rev(const lkv__shard_t *sh, int32_t ref) {
  return sh->evs[sh->refs[ref].ev].kv.mod_revision;
}

/* ---- matching (history callback) ---- */

typedef struct round_s {
  lkv__shard_t *sh;
  const lkv__widx_t *index;
  size_t open; /* catch-up rounds: chosen watchers not full yet; the walk stops when none is left */
} round_t;

/* Match callback: buffers the current event for w unless w must not or cannot take it. */
static void take(void *arg, lkv__watcher_t *w) {
  round_t *r = arg;
  lkv__shard_t *sh = r->sh;
  int32_t evi = (int32_t)(sh->n_evs - 1);
  const lkv__wev_t *ev = &sh->evs[evi];
  if (w->stream->gone || (w->flags & LKV__W_FULL) || ev->kv.mod_revision < w->next_rev) return;
  if (w->flags & (ev->tomb ? LKV_WATCH_NODELETE : LKV_WATCH_NOPUT)) return;
  if (w->ev_head >= 0 && w->buf_bytes >= LKV__WATCH_BATCH_BYTES &&
      ev->kv.mod_revision > ref_rev(sh, w->ev_tail)) {
    w->flags |= LKV__W_FULL; /* stop at a revision boundary: revisions are never split */
    if (r->open) r->open--;
    return;
  }
  if (lkv_grow((void **)&sh->refs, &sh->cap_refs, sh->n_refs + 1, sizeof(*sh->refs))) {
    sh->round_oom = 1;
    return;
  }
  int32_t ref = (int32_t)sh->n_refs++;
  sh->refs[ref].ev = evi;
  sh->refs[ref].next = -1;
  if (w->ev_head < 0) {
    w->ev_head = ref;
    w->touched_next = sh->touched;
    sh->touched = w;
  } else {
    sh->refs[w->ev_tail].next = ref;
  }
  w->ev_tail = ref;
  w->buf_bytes += (uint32_t)(ev->kv.key_len + ev->kv.value_len + 32);
}

static int on_change(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tomb) {
  (void)sub;
  round_t *r = arg;
  lkv__shard_t *sh = r->sh;
  if (lkv_grow((void **)&sh->evs, &sh->cap_evs, sh->n_evs + 1, sizeof(*sh->evs))) return LKV_ENOMEM;
  lkv__wev_t *ev = &sh->evs[sh->n_evs++];
  ev->kv = *kv;
  ev->tomb = tomb;
  ev->enc_off = ev->prev_off = -1;
  size_t open = r->open;
  lkv__widx_match(r->index, kv->key, kv->key_len, take, r);
  if (sh->round_oom) return LKV_ENOMEM;
  /* Every chosen watcher is full: reading on cannot serve any of them (and no revision was cut short, since
   * a watcher only becomes full at the first event of a later revision). */
  return open && !r->open ? LKV_ECANCELED : 0;
}

/* ---- synced rounds ---- */

/* Every synced watcher falls back to catching up from where the synced group stands. */
static void demote_all(lkv__shard_t *sh) {
  for (lkv_watch_stream_t *st = sh->streams; st; st = st->next) {
    for (size_t i = 0; i < st->ids_cap; i++) {
      lkv__watcher_t *w = st->ids[i];
      if (!w || w->group != LKV__WG_SYNCED) continue;
      if (w->next_rev <= sh->synced_rev) w->next_rev = sh->synced_rev + 1;
      lkv__watcher_demote(sh, w);
    }
  }
}

/* Reads (synced_rev, to] once and sends each synced watcher its events. A watcher whose stream is full, or
 * whose batch reached the cap, becomes unsynced from the first revision it did not get. */
static int synced_round(lkv__shard_t *sh, int64_t to) {
  round_t r = {sh, &sh->synced, 0};
  round_begin(sh);
  int rc = lkv_mvcc_history(sh->txn, sh->synced_rev + 1, to, on_change, &r);
  if (rc) {
    untouch_all(sh);
    return rc;
  }
  for (lkv__watcher_t *w = sh->touched; w; w = w->touched_next) {
    int full = (w->flags & LKV__W_FULL) != 0;
    int64_t first = ref_rev(sh, w->ev_head), last = ref_rev(sh, w->ev_tail);
    int src = lkv__watcher_send(sh, w, full ? last : to);
    if (src == 0 && full) {
      w->next_rev = last + 1;
      lkv__watcher_demote(sh, w);
    } else if (src != 0 && src != LKV_ECANCELED) {
      w->next_rev = first;
      lkv__watcher_demote(sh, w);
    }
  }
  untouch_all(sh);
  sh->synced_rev = to;
  return 0;
}

/* ---- catch-up rounds ---- */

/* Picks the unsynced watchers this round serves; cancels compacted ones; promotes those with nothing left
 * to read. Returns the lowest revision to read from (INT64_MAX when none was chosen); *more is set when
 * eligible watchers had to wait for a later round. */
static int64_t choose(lkv__shard_t *sh, int64_t compact, int *more) {
  int64_t min_rev = INT64_MAX;
  size_t low_water = sh->hub->opts.high_water / 2;
  sh->n_chosen = 0;
  for (lkv__watcher_t *w = sh->unsynced_list, *next; w; w = next) {
    next = w->gnext;
    lkv_watch_stream_t *st = w->stream;
    if (st->gone) continue;
    if (w->next_rev < compact) {
      lkv__stream_compacted(st, w, compact);
    } else if (w->next_rev > sh->synced_rev) {
      lkv__watcher_promote(sh, w);
    } else if (st->sink.pending(st->ctx) > low_water) {
      lkv__shard_wait_for_drain(sh, st);
    } else {
      if (sh->n_chosen == LKV__WATCH_CHOOSE_MAX ||
          lkv_grow((void **)&sh->chosen, &sh->cap_chosen, sh->n_chosen + 1, sizeof(*sh->chosen)) ||
          lkv__widx_add(&sh->catchup, w)) {
        *more = 1;
        continue;
      }
      sh->chosen[sh->n_chosen++] = w;
      if (w->next_rev < min_rev) min_rev = w->next_rev;
    }
  }
  return min_rev;
}

/* Catches the chosen watchers up over [min_rev, to]; each gets at most one response. */
static int catchup_round(lkv__shard_t *sh, int64_t compact, int *more) {
  int64_t from = choose(sh, compact, more);
  if (sh->n_chosen == 0) {
    *more = 0; /* nothing can move before a stream drains or memory frees up: the tick retries */
    return 0;
  }
  int64_t to = sh->synced_rev;
  if (to - from >= LKV__WATCH_ROUND_REVS) to = from + LKV__WATCH_ROUND_REVS - 1;
  round_t r = {sh, &sh->catchup, sh->n_chosen};
  round_begin(sh);
  int rc = lkv_mvcc_history(sh->txn, from, to, on_change, &r);
  if (rc == LKV_ECANCELED) rc = 0; /* stopped early: every chosen watcher is full */
  for (size_t i = 0; i < sh->n_chosen; i++) lkv__widx_remove(&sh->catchup, sh->chosen[i]);
  if (rc) {
    untouch_all(sh);
    return rc;
  }
  for (size_t i = 0; i < sh->n_chosen; i++) {
    lkv__watcher_t *w = sh->chosen[i];
    int64_t done = to;
    if (w->ev_head >= 0) {
      if (w->flags & LKV__W_FULL) done = ref_rev(sh, w->ev_tail);
      if (lkv__watcher_send(sh, w, done) != 0) {
        *more = 1; /* retried when its stream drains */
        continue;
      }
    }
    if (w->next_rev <= done) w->next_rev = done + 1;
    if (w->next_rev > sh->synced_rev)
      lkv__watcher_promote(sh, w);
    else
      *more = 1;
  }
  untouch_all(sh);
  return 0;
}

/* ---- driver ---- */

void lkv__shard_deliver(lkv__shard_t *sh) {
  if (!sh->streams) return;
  if (lkv_mvcc_read_begin(sh->hub->opts.store, &sh->txn) != 0) return; /* the next tick retries */
  int64_t rev = lkv_mvcc_txn_rev(sh->txn), compact = lkv_mvcc_txn_compact_rev(sh->txn);
  int rounds = 0, more = 0;
  if (sh->synced.n_keys + sh->synced.n_ranges == 0 && sh->synced_rev < rev) sh->synced_rev = rev;
  while (sh->synced_rev < rev && rounds < ROUNDS_PER_RUN) {
    int64_t to = rev - sh->synced_rev > LKV__WATCH_ROUND_REVS ? sh->synced_rev + LKV__WATCH_ROUND_REVS : rev;
    int rc = synced_round(sh, to);
    rounds++;
    if (rc == LKV_ECOMPACTED) {
      /* History this shard had not read yet was compacted: the watchers that needed it are canceled by
       * the catch-up (with the compact revision), the others go on from where they were. */
      demote_all(sh);
      sh->synced_rev = rev;
    } else if (rc) {
      break;
    }
  }
  if (sh->synced_rev < rev) more = 1;
  while (sh->unsynced_list && rounds < ROUNDS_PER_RUN) {
    int again = 0;
    if (catchup_round(sh, compact, &again) != 0 || !again) break;
    rounds++;
  }
  if (sh->unsynced_list && rounds >= ROUNDS_PER_RUN) more = 1;
  lkv_mvcc_txn_end(sh->txn);
  sh->txn = NULL;
  if (more) lkv__shard_wake(sh);
}
