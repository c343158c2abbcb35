/* The watcher index: a hash table of single-key watchers and an interval treap of range watchers. */
#include "watch/index.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "watch/internal.h"

#define L(w) (&(w)->link)

void lkv__widx_init(lkv__widx_t *x) {
  memset(x, 0, sizeof(*x));
  x->rng = 0x9e3779b97f4a7c15ull;
}

void lkv__widx_free(lkv__widx_t *x) {
  free(x->buckets);
  x->buckets = NULL;
  x->n_buckets = 0;
}

static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

/* ---- exact keys ---- */

static uint64_t hash_key(const uint8_t *k, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

static void rehash(lkv__widx_t *x, size_t n_buckets) {
  lkv__watcher_t **b = calloc(n_buckets, sizeof(*b));
  if (!b) return; /* keep the old table: chains get longer, nothing breaks */
  for (size_t i = 0; i < x->n_buckets; i++) {
    lkv__watcher_t *w = x->buckets[i];
    while (w) {
      lkv__watcher_t *next = L(w)->left;
      size_t j = hash_key(L(w)->key, L(w)->key_len) & (n_buckets - 1);
      L(w)->left = b[j];
      b[j] = w;
      w = next;
    }
  }
  free(x->buckets);
  x->buckets = b;
  x->n_buckets = n_buckets;
}

static int key_add(lkv__widx_t *x, lkv__watcher_t *w) {
  if (!x->buckets) {
    rehash(x, 16);
    if (!x->buckets) return LKV_ENOMEM;
  } else if (x->n_keys >= x->n_buckets) {
    rehash(x, x->n_buckets * 2);
  }
  size_t j = hash_key(L(w)->key, L(w)->key_len) & (x->n_buckets - 1);
  L(w)->left = x->buckets[j];
  x->buckets[j] = w;
  x->n_keys++;
  return 0;
}

static void key_remove(lkv__widx_t *x, lkv__watcher_t *w) {
  size_t j = hash_key(L(w)->key, L(w)->key_len) & (x->n_buckets - 1);
  lkv__watcher_t **p = &x->buckets[j];
  while (*p != w) p = &L(*p)->left;
  *p = L(w)->left;
  L(w)->left = NULL;
  x->n_keys--;
}

/* ---- ranges ---- */

/* Order of range ends; a FROM range ends after every key. */
static int end_cmp(const lkv__watcher_t *a, const lkv__watcher_t *b) {
  int ia = L(a)->kind == LKV__WK_FROM, ib = L(b)->kind == LKV__WK_FROM;
  if (ia || ib) return ia - ib;
  return bytes_cmp(L(a)->end, L(a)->end_len, L(b)->end, L(b)->end_len);
}

/* Treap order: start key, then address, so that every node has a distinct place. */
static int node_cmp(const lkv__watcher_t *a, const lkv__watcher_t *b) {
  int c = bytes_cmp(L(a)->key, L(a)->key_len, L(b)->key, L(b)->key_len);
  if (c) return c;
  return a < b ? -1 : a > b;
}

static void update(lkv__watcher_t *t) {
  lkv__watcher_t *m = t;
  if (L(t)->left && end_cmp(L(L(t)->left)->maxw, m) > 0) m = L(L(t)->left)->maxw;
  if (L(t)->right && end_cmp(L(L(t)->right)->maxw, m) > 0) m = L(L(t)->right)->maxw;
  L(t)->maxw = m;
}

/* Every node of a is ordered before every node of b. */
static lkv__watcher_t *merge(lkv__watcher_t *a, lkv__watcher_t *b) {
  if (!a) return b;
  if (!b) return a;
  if (L(a)->prio > L(b)->prio) {
    L(a)->right = merge(L(a)->right, b);
    update(a);
    return a;
  }
  L(b)->left = merge(a, L(b)->left);
  update(b);
  return b;
}

/* Splits t into the nodes ordered before w (*lo) and the others (*hi). */
static void split(lkv__watcher_t *t, const lkv__watcher_t *w, lkv__watcher_t **lo, lkv__watcher_t **hi) {
  if (!t) {
    *lo = *hi = NULL;
    return;
  }
  if (node_cmp(t, w) < 0) {
    split(L(t)->right, w, &L(t)->right, hi);
    update(t);
    *lo = t;
  } else {
    split(L(t)->left, w, lo, &L(t)->left);
    update(t);
    *hi = t;
  }
}

static lkv__watcher_t *remove_node(lkv__watcher_t *t, lkv__watcher_t *w) {
  if (t == w) return merge(L(t)->left, L(t)->right);
  if (node_cmp(w, t) < 0)
    L(t)->left = remove_node(L(t)->left, w);
  else
    L(t)->right = remove_node(L(t)->right, w);
  update(t);
  return t;
}

static void range_add(lkv__widx_t *x, lkv__watcher_t *w) {
  x->rng ^= x->rng << 13; /* xorshift64 */
  x->rng ^= x->rng >> 7;
  x->rng ^= x->rng << 17;
  L(w)->prio = (uint32_t)(x->rng >> 32);
  L(w)->left = L(w)->right = NULL;
  L(w)->maxw = w;
  lkv__watcher_t *lo, *hi;
  split(x->root, w, &lo, &hi);
  x->root = merge(merge(lo, w), hi);
  x->n_ranges++;
}

static void range_remove(lkv__widx_t *x, lkv__watcher_t *w) {
  x->root = remove_node(x->root, w);
  L(w)->left = L(w)->right = L(w)->maxw = NULL;
  x->n_ranges--;
}

/* Does w's range, which starts at or before key, still contain it? */
static int range_reaches(const lkv__watcher_t *w, const uint8_t *key, size_t key_len) {
  return L(w)->kind == LKV__WK_FROM || bytes_cmp(key, key_len, L(w)->end, L(w)->end_len) < 0;
}

static void stab(const lkv__watcher_t *t, const uint8_t *key, size_t key_len,
                 void (*fn)(void *arg, lkv__watcher_t *w), void *arg) {
  while (t && range_reaches(L(t)->maxw, key, key_len)) {
    stab(L(t)->left, key, key_len, fn, arg);
    /* Nodes to the right start at or after t: none contains key once t starts after it. */
    if (bytes_cmp(L(t)->key, L(t)->key_len, key, key_len) > 0) return;
    if (range_reaches(t, key, key_len)) fn(arg, (lkv__watcher_t *)t);
    t = L(t)->right;
  }
}

/* ---- interface ---- */

int lkv__widx_add(lkv__widx_t *x, lkv__watcher_t *w) {
  if (L(w)->kind == LKV__WK_KEY) return key_add(x, w);
  range_add(x, w);
  return 0;
}

void lkv__widx_remove(lkv__widx_t *x, lkv__watcher_t *w) {
  if (L(w)->kind == LKV__WK_KEY)
    key_remove(x, w);
  else
    range_remove(x, w);
}

void lkv__widx_match(const lkv__widx_t *x, const uint8_t *key, size_t key_len,
                     void (*fn)(void *arg, lkv__watcher_t *w), void *arg) {
  if (x->n_keys) {
    lkv__watcher_t *w = x->buckets[hash_key(key, key_len) & (x->n_buckets - 1)];
    for (; w; w = L(w)->left) {
      if (bytes_cmp(L(w)->key, L(w)->key_len, key, key_len) == 0) fn(arg, w);
    }
  }
  stab(x->root, key, key_len, fn, arg);
}
