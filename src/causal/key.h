/* A key's state in the causal mode: its siblings (concurrent writes), the winner, the etcd view. */
#ifndef LKV_CAUSAL_KEY_H
#define LKV_CAUSAL_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "causal/hlc.h"
#include "causal/vv.h"

/*
 * The siblings of a key are the writes of it (puts and tombstones) that no applied write of it has
 * superseded; they are pairwise concurrent. Applying a write e drops every sibling e's deps cover and adds
 * e: with causal delivery the same set of writes gives the same siblings in any order of application.
 * The winner is the greatest sibling in the order of lkv_causal_sibling_cmp. The etcd view (create and
 * mod revisions, version) follows the winner on this member's local revisions, so it is local. Pure: no
 * I/O; the key owns its memory.
 */

typedef struct {
  uint64_t origin, seq;
  lkv_causal_hlc_t hlc;
  int tombstone;
  uint8_t *value; /* owned; NULL for a tombstone or an empty value */
  size_t value_len;
  int64_t lease; /* the lease the put attached the key to (0: none) */
  uint64_t rev;  /* the local revision at which this member applied it */
} lkv_causal_sibling_t;

typedef struct {
  uint8_t *key; /* owned */
  size_t key_len;
  lkv_causal_sibling_t *sib; /* in order of application */
  size_t n, cap;
  /* The etcd view of the winner on this member (0s while the key does not exist). */
  uint64_t create_rev, mod_rev, version;
} lkv_causal_key_t;

/* One write of a key, as the member applies it. */
typedef struct {
  uint64_t origin, seq;
  lkv_causal_hlc_t hlc;
  const lkv_causal_vv_t *deps; /* the event's deps */
  int tombstone;
  const uint8_t *value; /* copied */
  size_t value_len;
  int64_t lease; /* a put's lease (0: none) */
  uint64_t rev;  /* the member's revision for the event */
} lkv_causal_write_t;

/* The winner rule, a total order over distinct writes: <0, 0, >0 as a sorts before, equal to (the same
 * write) or after b. Greater clock stamp wins; then greater origin id; then greater sequence. */
int lkv_causal_sibling_cmp(const lkv_causal_sibling_t *a, const lkv_causal_sibling_t *b);

/* Makes k a key with no siblings, copying its name. Returns 0 or LKV_ENOMEM. */
int lkv_causal_key_init(lkv_causal_key_t *k, const uint8_t *key, size_t key_len);

/* Applies w to k: drops the siblings w->deps covers, adds w (a write of the same origin and seq replaces
 * that sibling: a key written twice in one event), and moves the etcd view when the winner changed.
 * Returns 0, or LKV_ENOMEM with k unchanged. */
int lkv_causal_key_apply(lkv_causal_key_t *k, const lkv_causal_write_t *w);

/* Replaces k's siblings by from's (a snapshot's, causal/member.h), which are moved (from is left with none):
 * a sibling k had already (same origin and seq) keeps its local revision, the others take rev; the etcd
 * view moves at rev as for an applied write when the winner changed (not live: zeros). Returns 1 when the
 * sibling set changed (by origin and seq), 0 when not, or LKV_ENOMEM with both unchanged. */
int lkv_causal_key_replace(lkv_causal_key_t *k, lkv_causal_key_t *from, uint64_t rev);

/* The winner, or NULL when k has no siblings. Valid until k changes. */
const lkv_causal_sibling_t *lkv_causal_key_winner(const lkv_causal_key_t *k);

/* 1 when k's only sibling is a tombstone (a purge candidate, see lkv_causal_key_purge). */
int lkv_causal_key_sole_tombstone(const lkv_causal_key_t *k);

/* Drops k's sole tombstone, once the caller knows it is stable (docs/causal.md §7). Returns 0, or
 * LKV_EINVAL when k is not a sole tombstone. */
int lkv_causal_key_purge(lkv_causal_key_t *k);

/* Frees what k owns. */
void lkv_causal_key_free(lkv_causal_key_t *k);

#endif
