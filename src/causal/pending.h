/* The causal-ready buffer: remote events held until their dependencies are applied; bounded. */
#ifndef LKV_CAUSAL_PENDING_H
#define LKV_CAUSAL_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "causal/event.h"
#include "causal/vv.h"

/*
 * A remote event is causally ready when the member applied its origin's events up to seq - 1 and every
 * event its deps name (lkv_causal_pending_is_ready). Events that are not ready wait here, each a copy of
 * its encoding with its decoded form, up to max_events events and max_bytes bytes of encodings. A full
 * buffer refuses more (LKV_EBUFFERFULL): anti-entropy offers the event again later, in an order that
 * lets the member apply it at once. Not thread-safe; no I/O.
 */

typedef struct {
  uint8_t *bytes; /* owned copy of the encoding */
  size_t len;
  lkv_causal_event_t ev; /* ev.payload points into bytes */
} lkv_causal_held_t;

typedef struct {
  lkv_causal_held_t *v; /* in arrival order */
  size_t n, cap;
  size_t bytes; /* sum of held encodings */
  size_t max_events, max_bytes;
} lkv_causal_pending_t;

/* 1 when e can be applied on a member whose applied vector is applied. */
int lkv_causal_pending_is_ready(const lkv_causal_event_t *e, const lkv_causal_vv_t *applied);

/* An empty buffer with the given bounds (both > 0). */
void lkv_causal_pending_init(lkv_causal_pending_t *p, size_t max_events, size_t max_bytes);

/* Holds a copy of the event encoded in (bytes, len), whose decoded form is ev. Returns 0, LKV_EEXIST
 * when an event with the same origin and seq is held already (compare with lkv_causal_pending_find),
 * LKV_EBUFFERFULL when holding it would pass a bound, or LKV_ENOMEM. */
int lkv_causal_pending_hold(lkv_causal_pending_t *p, const uint8_t *bytes, size_t len,
                            const lkv_causal_event_t *ev);

/* The held event (origin, seq), or NULL. Valid until the buffer changes. */
const lkv_causal_held_t *lkv_causal_pending_find(const lkv_causal_pending_t *p, uint64_t origin,
                                                 uint64_t seq);

/* Takes the first held event (in arrival order) that is ready given applied into *out, whose bytes the
 * caller then owns (free(out->bytes)). Events that applied already covers are dropped on the way.
 * Returns 1 when one was taken, 0 when none is ready. */
int lkv_causal_pending_take(lkv_causal_pending_t *p, const lkv_causal_vv_t *applied, lkv_causal_held_t *out);

/* Drops the held events of origin above seq (a removed member's refused ones, causal/member.h). */
void lkv_causal_pending_drop_above(lkv_causal_pending_t *p, uint64_t origin, uint64_t seq);

/* Frees every held event. */
void lkv_causal_pending_free(lkv_causal_pending_t *p);

#endif
