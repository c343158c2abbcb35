/* The watcher index: which watchers' key ranges contain a key (exact keys hashed, ranges in a treap). */
#ifndef LKV_WATCH_INDEX_H
#define LKV_WATCH_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct lkv__watcher_s lkv__watcher_t;

/* Range kinds, in etcd's terms: a single key, [key, end), or every key >= key. */
enum { LKV__WK_KEY = 0, LKV__WK_RANGE, LKV__WK_FROM };

/* What the index keeps in each watcher: its range and the links of the structure holding it. A single-key
 * watcher sits in a hash chain (left is the chain's next); a range watcher is a treap node ordered by start
 * key, whose maxw is the watcher with the largest end in its subtree (interval-tree augmentation), so a
 * lookup skips subtrees that end before the key. */
typedef struct lkv__widx_link_s {
  const uint8_t *key, *end; /* owned by the watcher; end unused for LKV__WK_KEY/FROM */
  uint32_t key_len, end_len;
  uint8_t kind;
  uint32_t prio;
  lkv__watcher_t *left, *right, *maxw;
} lkv__widx_link_t;

typedef struct lkv__widx_s {
  lkv__watcher_t **buckets; /* power-of-two hash table of single-key chains */
  size_t n_buckets, n_keys;
  lkv__watcher_t *root; /* treap of range watchers */
  size_t n_ranges;
  uint64_t rng; /* treap priorities */
} lkv__widx_t;

/* Empty index; allocates nothing. */
void lkv__widx_init(lkv__widx_t *x);

/* Frees the index's own memory (not the watchers). */
void lkv__widx_free(lkv__widx_t *x);

/* Adds w (its link range must be set). Returns 0 or LKV_ENOMEM (only when the hash table cannot be created
 * at all; a failed growth keeps the old table and succeeds). */
int lkv__widx_add(lkv__widx_t *x, lkv__watcher_t *w);

/* Removes w, which must be in x. */
void lkv__widx_remove(lkv__widx_t *x, lkv__watcher_t *w);

/* Calls fn(arg, w) for every watcher whose range contains key, in no particular order. fn must not change
 * the index. Cost: the matches plus O(log n) for the ranges and O(1) for the exact keys. */
void lkv__widx_match(const lkv__widx_t *x, const uint8_t *key, size_t key_len,
                     void (*fn)(void *arg, lkv__watcher_t *w), void *arg);

#endif
