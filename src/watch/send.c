/* Sending a watcher what a round buffered for it: each event encoded once per variant (with or without the
 * previous version) and shared by every watcher that takes it, one response or etcd's fragments. */
#include "common/error.h"
#include "watch/internal.h"

void lkv__shard_wait_for_drain(lkv__shard_t *sh, lkv_watch_stream_t *st) {
  if (st->sink.wake_when_drained) st->sink.wake_when_drained(st->ctx, sh->hub->opts.high_water / 2);
}

static int copy_prev(void *arg, const lkv_mvcc_kv_t *kv) {
  *(lkv_mvcc_kv_t *)arg = *kv;
  return 0;
}

/* Encodes event evi once per variant: plain, or with the key's previous version (etcd reads it at
 * mod_revision - 1 and leaves it out when that is compacted; a create has none). */
static int encode_event(lkv__shard_t *sh, int32_t evi, int with_prev) {
  lkv__wev_t *ev = &sh->evs[evi];
  int is_create = !ev->tomb && ev->kv.create_revision == ev->kv.mod_revision;
  if (with_prev && !is_create) {
    if (ev->prev_off >= 0) return 0;
    lkv_mvcc_kv_t prev;
    size_t found = 0;
    lkv_mvcc_range_t q = {.key = ev->kv.key, .key_len = ev->kv.key_len, .rev = ev->kv.mod_revision - 1};
    int rc = q.rev >= 1 ? lkv_mvcc_range(sh->txn, &q, copy_prev, &prev, &found) : LKV_ECOMPACTED;
    if (rc != 0 && rc != LKV_ECOMPACTED) return rc;
    ev->prev_off = (int64_t)sh->enc.len;
    lkv__wenc_event(&sh->enc, &ev->kv, ev->tomb, rc == 0 && found ? &prev : NULL);
    ev->prev_len = (uint32_t)(sh->enc.len - (size_t)ev->prev_off);
  } else {
    if (ev->enc_off >= 0) return 0;
    ev->enc_off = (int64_t)sh->enc.len;
    lkv__wenc_event(&sh->enc, &ev->kv, ev->tomb, NULL);
    ev->enc_len = (uint32_t)(sh->enc.len - (size_t)ev->enc_off);
  }
  return sh->enc.oom ? LKV_ENOMEM : 0;
}

static void entry(const lkv__shard_t *sh, int32_t ref, int with_prev, const uint8_t **p, size_t *n) {
  const lkv__wev_t *ev = &sh->evs[sh->refs[ref].ev];
  int plain = !with_prev || ev->prev_off < 0;
  *p = sh->enc.data + (plain ? ev->enc_off : ev->prev_off);
  *n = plain ? ev->enc_len : ev->prev_len;
}

static size_t resp_size(lkv__shard_t *sh, const lkv__wresp_t *r) {
  lkv__wbuf_t *out = &sh->out;
  out->len = 0;
  lkv__wenc_resp(out, r);
  return out->len;
}

/* Sends refs [from, stop) (stop -1 = to the end) as one response. */
static int send_part(lkv__shard_t *sh, lkv__watcher_t *w, const lkv__wresp_t *r, int32_t from, int32_t stop) {
  lkv__wbuf_t *out = &sh->out;
  out->len = 0;
  out->oom = 0;
  lkv__wenc_resp(out, r);
  for (int32_t ref = from; ref != stop; ref = sh->refs[ref].next) {
    const uint8_t *p;
    size_t n;
    entry(sh, ref, (w->flags & LKV_WATCH_PREV_KV) != 0, &p, &n);
    lkv__wbuf_put(out, p, n);
  }
  if (out->oom) return LKV_ENOMEM;
  lkv_watch_stream_t *st = w->stream;
  int rc = st->sink.send(st->ctx, out->data, out->len);
  if (rc == LKV_ECANCELED) st->gone = 1;
  return rc;
}

/* etcd's sendFragments: a response of a fragment watcher at or above the limit with at least two events
 * goes out in parts of as many events as fit below the limit (at least one), all but the last flagged. */
static int send_fragments(lkv__shard_t *sh, lkv__watcher_t *w, lkv__wresp_t *r, size_t limit) {
  int with_prev = (w->flags & LKV_WATCH_PREV_KV) != 0;
  r->fragment = 1;
  size_t head = resp_size(sh, r);
  int32_t from = w->ev_head;
  while (from >= 0) {
    size_t size = head, count = 0;
    int32_t ref = from;
    for (; ref >= 0; ref = sh->refs[ref].next) {
      const uint8_t *p;
      size_t n;
      entry(sh, ref, with_prev, &p, &n);
      if (count > 0 && size + n >= limit) break;
      size += n;
      count++;
    }
    r->fragment = ref >= 0;
    int rc = send_part(sh, w, r, from, ref);
    if (rc) return rc;
    from = ref;
  }
  return 0;
}

int lkv__watcher_send(lkv__shard_t *sh, lkv__watcher_t *w, int64_t rev) {
  lkv_watch_stream_t *st = w->stream;
  const lkv_watch_options_t *o = &sh->hub->opts;
  if (st->gone) return LKV_ECANCELED;
  if (st->sink.pending(st->ctx) > o->high_water) {
    lkv__shard_wait_for_drain(sh, st);
    return LKV_EAGAIN;
  }
  int with_prev = (w->flags & LKV_WATCH_PREV_KV) != 0;
  size_t total = 0, count = 0;
  for (int32_t ref = w->ev_head; ref >= 0; ref = sh->refs[ref].next) {
    int rc = encode_event(sh, sh->refs[ref].ev, with_prev);
    if (rc) return rc;
    const uint8_t *p;
    size_t n;
    entry(sh, ref, with_prev, &p, &n);
    total += n;
    count++;
  }
  lkv__wresp_t r;
  lkv__stream_header(st, rev, &r);
  r.watch_id = w->id;
  int rc;
  if ((w->flags & LKV_WATCH_FRAGMENT) && o->fragment_bytes && count >= 2 &&
      resp_size(sh, &r) + total >= o->fragment_bytes)
    rc = send_fragments(sh, w, &r, o->fragment_bytes);
  else
    rc = send_part(sh, w, &r, w->ev_head, -1);
  if (rc == 0) w->flags &= ~LKV__W_PROGRESS_DUE;
  return rc;
}
