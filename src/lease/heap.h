/* An intrusive binary min-heap, header-only: the element embeds its node, the heap holds pointers. */
#ifndef LKV_LEASE_HEAP_H
#define LKV_LEASE_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"

/*
 * The element embeds an lkv_heap_node_t; the node remembers its slot, so removing or re-keying any
 * element is O(log n) without a search. The caller owns the elements (the heap never frees them) and
 * its lock; nothing here is thread-safe. Recover the element with a container-of on the node.
 */

#define LKV_HEAP_NONE SIZE_MAX /* index of a node that is in no heap */

typedef struct lkv_heap_node_s {
  size_t index; /* slot in the heap, or LKV_HEAP_NONE */
} lkv_heap_node_t;

/* Strict order: nonzero when a must come out before b. */
typedef int (*lkv_heap_less_fn)(const lkv_heap_node_t *a, const lkv_heap_node_t *b);

typedef struct lkv_heap_s {
  lkv_heap_node_t **v;
  size_t n, cap;
  lkv_heap_less_fn less;
} lkv_heap_t;

/* An empty heap ordered by less. Allocates nothing. */
static inline void lkv_heap_init(lkv_heap_t *h, lkv_heap_less_fn less) {
  h->v = NULL;
  h->n = h->cap = 0;
  h->less = less;
}

/* Frees the slot array (not the elements). The heap is empty afterwards. */
static inline void lkv_heap_free(lkv_heap_t *h) {
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

static inline void lkv_heap_node_init(lkv_heap_node_t *n) {
  n->index = LKV_HEAP_NONE;
}

static inline int lkv_heap_contains(const lkv_heap_node_t *n) {
  return n->index != LKV_HEAP_NONE;
}

static inline size_t lkv_heap_size(const lkv_heap_t *h) {
  return h->n;
}

/* The least element's node, or NULL when empty. */
static inline lkv_heap_node_t *lkv_heap_min(const lkv_heap_t *h) {
  return h->n ? h->v[0] : NULL;
}

static inline void lkv__heap_set(lkv_heap_t *h, size_t i, lkv_heap_node_t *n) {
  h->v[i] = n;
  n->index = i;
}

static inline void lkv__heap_up(lkv_heap_t *h, size_t i) {
  lkv_heap_node_t *n = h->v[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!h->less(n, h->v[parent])) break;
    lkv__heap_set(h, i, h->v[parent]);
    i = parent;
  }
  lkv__heap_set(h, i, n);
}

static inline void lkv__heap_down(lkv_heap_t *h, size_t i) {
  lkv_heap_node_t *n = h->v[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && h->less(h->v[child + 1], h->v[child])) child++;
    if (!h->less(h->v[child], n)) break;
    lkv__heap_set(h, i, h->v[child]);
    i = child;
  }
  lkv__heap_set(h, i, n);
}

/* Adds n (which must be in no heap). Returns 0, or LKV_ENOMEM (the heap is unchanged). */
static inline int lkv_heap_insert(lkv_heap_t *h, lkv_heap_node_t *n) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : 16;
    lkv_heap_node_t **v = realloc(h->v, cap * sizeof(*v));
    if (!v) return LKV_ENOMEM;
    h->v = v;
    h->cap = cap;
  }
  lkv__heap_set(h, h->n++, n);
  lkv__heap_up(h, h->n - 1);
  return 0;
}

/* Removes n from the heap; a node in no heap is left alone. */
static inline void lkv_heap_remove(lkv_heap_t *h, lkv_heap_node_t *n) {
  size_t i = n->index;
  if (i == LKV_HEAP_NONE) return;
  n->index = LKV_HEAP_NONE;
  lkv_heap_node_t *last = h->v[--h->n];
  if (i == h->n) return;
  lkv__heap_set(h, i, last);
  /* The moved element may belong above or below its new slot. */
  lkv__heap_up(h, i);
  lkv__heap_down(h, last->index);
}

/* Restores order after n's key changed (n must be in the heap). */
static inline void lkv_heap_update(lkv_heap_t *h, lkv_heap_node_t *n) {
  lkv__heap_up(h, n->index);
  lkv__heap_down(h, n->index);
}

/* Removes and returns the least element's node, or NULL when empty. */
static inline lkv_heap_node_t *lkv_heap_pop(lkv_heap_t *h) {
  lkv_heap_node_t *n = lkv_heap_min(h);
  if (n) lkv_heap_remove(h, n);
  return n;
}

#endif
