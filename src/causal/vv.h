/* Version vectors of the causal mode: per-origin applied sequence numbers, compare, merge, what is lacking.
 */
#ifndef LKV_CAUSAL_VV_H
#define LKV_CAUSAL_VV_H

#include <stddef.h>
#include <stdint.h>

/*
 * A version vector maps each origin (a member id, never 0) to the highest sequence number applied from
 * it; an origin that is absent has 0. Entries are kept sorted by origin without zero sequences, so two
 * vectors with the same content are byte-for-byte equal (the event codec relies on it). A vector is a
 * plain value: copy it with assignment; it owns no memory.
 */

#define LKV_CAUSAL_MAX_ORIGINS 32 /* the most members a causal cluster may have */

typedef struct {
  uint64_t origin;
  uint64_t seq;
} lkv_causal_vv_entry_t;

typedef struct {
  uint32_t n;
  lkv_causal_vv_entry_t e[LKV_CAUSAL_MAX_ORIGINS]; /* sorted by origin, seq > 0 */
} lkv_causal_vv_t;

typedef enum {
  LKV_CAUSAL_EQUAL = 0,
  LKV_CAUSAL_BEFORE = 1,     /* a < b: b has everything a has, and more */
  LKV_CAUSAL_AFTER = 2,      /* a > b */
  LKV_CAUSAL_CONCURRENT = 3, /* each has something the other lacks */
} lkv_causal_order_t;

/* One origin's range (from, to] that one side lacks. */
typedef struct {
  uint64_t origin;
  uint64_t from; /* exclusive: the other side's sequence */
  uint64_t to;   /* inclusive: this side's sequence */
} lkv_causal_range_t;

/* Empties v. */
void lkv_causal_vv_init(lkv_causal_vv_t *v);

/* The sequence v holds for origin (0 when absent). */
uint64_t lkv_causal_vv_get(const lkv_causal_vv_t *v, uint64_t origin);

/* Sets origin's sequence (0 removes the entry). Returns 0, LKV_EINVAL for origin 0, or LKV_ENOSPC when v
 * already holds LKV_CAUSAL_MAX_ORIGINS other origins (v unchanged). */
int lkv_causal_vv_set(lkv_causal_vv_t *v, uint64_t origin, uint64_t seq);

/* 1 when v has applied (origin, seq): seq <= v[origin]. */
int lkv_causal_vv_covers(const lkv_causal_vv_t *v, uint64_t origin, uint64_t seq);

/* Compares a with b (lkv_causal_order_t). */
lkv_causal_order_t lkv_causal_vv_compare(const lkv_causal_vv_t *a, const lkv_causal_vv_t *b);

/* 1 when a[o] <= b[o] for every origin (a is before or equal to b). */
int lkv_causal_vv_leq(const lkv_causal_vv_t *a, const lkv_causal_vv_t *b);

/* into = max(into, from) per origin. Returns 0, or LKV_ENOSPC when the union of origins exceeds the
 * capacity (into unchanged). */
int lkv_causal_vv_merge(lkv_causal_vv_t *into, const lkv_causal_vv_t *from);

/* What `other` lacks of `mine`: for each origin with mine[o] > other[o], the range (other[o], mine[o]], in
 * origin order, written to out (capacity cap; LKV_CAUSAL_MAX_ORIGINS always suffices). Returns how many
 * ranges there are (which may exceed cap: only cap are written). */
size_t lkv_causal_vv_missing(const lkv_causal_vv_t *mine, const lkv_causal_vv_t *other,
                             lkv_causal_range_t *out, size_t cap);

/* Bytes of v's encoding: n u32 ‖ n × (origin u64 ‖ seq u64), little-endian, in origin order. */
size_t lkv_causal_vv_encoded_size(const lkv_causal_vv_t *v);

/* Writes v's encoding (lkv_causal_vv_encoded_size bytes) to out. */
void lkv_causal_vv_encode(const lkv_causal_vv_t *v, uint8_t *out);

/* Reads a vector's encoding from the start of buf (len bytes available) into *v; *used receives its size.
 * Returns 0 or LKV_EBADMSG (truncated, too many origins, origins not strictly increasing, a zero origin
 * or sequence: one vector has one encoding). */
int lkv_causal_vv_decode(const uint8_t *buf, size_t len, lkv_causal_vv_t *v, size_t *used);

#endif
