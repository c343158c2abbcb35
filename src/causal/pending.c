/* The causal-ready buffer: held copies of remote events, taken out once their dependencies are applied. */
#include "causal/pending.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"

int lkv_causal_pending_is_ready(const lkv_causal_event_t *e, const lkv_causal_vv_t *applied) {
  /* deps[origin] == seq - 1 (canonical), so deps <= applied also says the origin's earlier events are in. */
  return lkv_causal_vv_get(applied, e->origin) == e->seq - 1 && lkv_causal_vv_leq(&e->deps, applied);
}

void lkv_causal_pending_init(lkv_causal_pending_t *p, size_t max_events, size_t max_bytes) {
  memset(p, 0, sizeof(*p));
  p->max_events = max_events;
  p->max_bytes = max_bytes;
}

const lkv_causal_held_t *lkv_causal_pending_find(const lkv_causal_pending_t *p, uint64_t origin,
                                                 uint64_t seq) {
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i].ev.origin == origin && p->v[i].ev.seq == seq) return &p->v[i];
  return NULL;
}

int lkv_causal_pending_hold(lkv_causal_pending_t *p, const uint8_t *bytes, size_t len,
                            const lkv_causal_event_t *ev) {
  if (lkv_causal_pending_find(p, ev->origin, ev->seq)) return LKV_EEXIST;
  if (p->n >= p->max_events || len > p->max_bytes || p->bytes > p->max_bytes - len) return LKV_EBUFFERFULL;
  if (lkv_grow((void **)&p->v, &p->cap, p->n + 1, sizeof(p->v[0]))) return LKV_ENOMEM;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, bytes, len);
  lkv_causal_held_t *h = &p->v[p->n++];
  h->bytes = copy;
  h->len = len;
  h->ev = *ev;
  h->ev.payload = copy + (ev->payload - bytes);
  p->bytes += len;
  return 0;
}

/* Removes entry i, keeping arrival order; the caller took or freed its bytes. */
static void remove_at(lkv_causal_pending_t *p, size_t i) {
  p->bytes -= p->v[i].len;
  memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(p->v[0]));
  p->n--;
}

int lkv_causal_pending_take(lkv_causal_pending_t *p, const lkv_causal_vv_t *applied, lkv_causal_held_t *out) {
  for (size_t i = 0; i < p->n;) {
    const lkv_causal_event_t *e = &p->v[i].ev;
    if (lkv_causal_vv_covers(applied, e->origin, e->seq)) {
      free(p->v[i].bytes);
      remove_at(p, i);
      continue;
    }
    if (lkv_causal_pending_is_ready(e, applied)) {
      *out = p->v[i];
      remove_at(p, i);
      return 1;
    }
    i++;
  }
  return 0;
}

void lkv_causal_pending_drop_above(lkv_causal_pending_t *p, uint64_t origin, uint64_t seq) {
  for (size_t i = 0; i < p->n;) {
    if (p->v[i].ev.origin == origin && p->v[i].ev.seq > seq) {
      free(p->v[i].bytes);
      remove_at(p, i);
      continue;
    }
    i++;
  }
}

void lkv_causal_pending_free(lkv_causal_pending_t *p) {
  for (size_t i = 0; i < p->n; i++) free(p->v[i].bytes);
  free(p->v);
  memset(p, 0, sizeof(*p));
}
