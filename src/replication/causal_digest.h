/* Digests of a causal member's key states over ranges of keys: what members with the same vector compare. */
#ifndef LKV_REPLICATION_CAUSAL_DIGEST_H
#define LKV_REPLICATION_CAUSAL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "causal/member.h"
#include "mvcc/mvcc.h"

/*
 * Two members hold the same state of a key when the events that wrote it are the same on both. A comparison
 * is made at a common vector C (the sender's vector lowered to what it last heard the receiver had): every
 * key stable at C on both members (causal_stable.c) holds its state at C on both, whatever else each applied
 * since. A range's digest covers every key of the range except a given set left out (the keys not stable at
 * C on either member): each live key of the store with its value (what Range shows), and each core key with
 * its siblings (origin, seq, tombstone, value), by origin. Revisions are left out (each member has its own),
 * and so are keys whose only sibling is a tombstone: each member purges those on its own timing
 * (docs/causal.md §7). Ranges are given by bounds b[0] <= b[1] <= ... (byte order; b[0] may be empty: from
 * the first key): range i is [b[i], b[i+1]), the last one [b[n-1], end), end empty meaning no end.
 */

#define LKV__CAUSAL_DIGEST_LEN 16    /* bytes of a range's digest (BLAKE2b) */
#define LKV__CAUSAL_DIGEST_RANGES 64 /* ranges per comparison message, at most */
#define LKV__CAUSAL_DIGEST_BOUND_MAX                                    \
  64 /* a bound is at most a key's first bytes: a prefix bounds as well \
      */

typedef struct {
  const uint8_t *key;
  size_t len;
} lkv__causal_bound_t;

/* A set of keys in byte order without repeats (keys point into their owner: the member, a message). */
typedef struct {
  lkv__causal_bound_t *k;
  size_t n, cap;
} lkv__causal_keyset_t;

/* Keys left out a member takes before it gives up on a comparison at C (the check waits for a later one):
 * they travel in the check messages. */
#define LKV__CAUSAL_UNSTABLE_KEYS 4096
#define LKV__CAUSAL_UNSTABLE_BYTES (1u << 20)

/* Writes the digest of each of the n ranges (1..LKV__CAUSAL_DIGEST_RANGES) to out[i], keys in skip (NULL:
 * none) left out: the store's latest revision and m's keys, which must reflect the same events. Returns 0,
 * LKV_EINVAL (n out of bounds) or a store error. */
int lkv__causal_digest(lkv_mvcc_t *store, const lkv_causal_member_t *m, const lkv__causal_bound_t *b,
                       size_t n, const lkv__causal_bound_t *end, const lkv__causal_keyset_t *skip,
                       uint8_t (*out)[LKV__CAUSAL_DIGEST_LEN]);

/* The index of the range key falls in, or n when it is in none. */
size_t lkv__causal_digest_find(const lkv__causal_bound_t *b, size_t n, const lkv__causal_bound_t *end,
                               const uint8_t *key, size_t len);

/* Splits [lo, end) (end empty: no end) at m's keys into at most LKV__CAUSAL_DIGEST_RANGES ranges of about
 * as many keys each: b[0] is lo, the others keys' first LKV__CAUSAL_DIGEST_BOUND_MAX bytes (pointing into
 * m, valid until its next input). Sole tombstones are not counted. Returns the number of ranges, and in
 * *keys the number of m's keys in [lo, end). */
size_t lkv__causal_digest_split(const lkv_causal_member_t *m, lkv__causal_bound_t lo, lkv__causal_bound_t end,
                                lkv__causal_bound_t *b, size_t *keys);

/* ---- Keys stable at a common vector (causal_stable.c).
 *
 * A member applied every event of C (C <= its vector). A key is stable at C on it when no event above C
 * changed it there: every sibling is in C (a write above C is a sibling or was superseded by one, which is
 * above C too). A key stable at C on both members has on both its state at C. (A sole tombstone above C
 * purged on one member leaves no sibling there; the other applied it too, since its report covered it, and
 * leaves the key out: docs/causal.md §6.) Left out as well: keys with a sibling attached to a lease (the
 * store shows such a key while its lease lives: a revoke or its owner's removal changes the view without a
 * sibling). */

/* 1 when member m (self) and peer compare their key states: both members here, neither removed nor added
 * (lkv_causal_member_add): a member purges a sole tombstone once every member it counts reported it, and one
 * not counted then (added since, removed) may lack it while the other shows the key without it. */
int lkv__causal_comparable(const lkv_causal_member_t *m, uint64_t self, uint64_t peer);

/* *c = the common vector of a check: own lowered, per origin, to report (a peer's last report: it only grows,
 * so the peer has applied c too). */
void lkv__causal_common(const lkv_causal_vv_t *own, const lkv_causal_vv_t *report, lkv_causal_vv_t *c);

/* Adds to *out, which it empties first, m's keys that are not stable at c, in byte order (pointing into m).
 * Returns 0; LKV_ENOENT when m's vector does not cover c (it lost events: a data dir restored): m cannot
 * compare at c; LKV_ETOOLARGE when there are more than LKV__CAUSAL_UNSTABLE_KEYS keys (or _BYTES of them) to
 * leave out; LKV_ENOMEM. */
int lkv__causal_unstable(const lkv_causal_member_t *m, const lkv_causal_vv_t *c, lkv__causal_keyset_t *out);

/* 1 when key is in s, else 0. */
int lkv__causal_keyset_has(const lkv__causal_keyset_t *s, const uint8_t *key, size_t len);

/* *out = a ∪ b (out emptied first; it may not be a or b). Returns 0 or LKV_ENOMEM. */
int lkv__causal_keyset_union(lkv__causal_keyset_t *out, const lkv__causal_keyset_t *a,
                             const lkv__causal_keyset_t *b);

/* Byte order of two keys (memcmp, then length): <0, 0, >0. */
int lkv__causal_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

void lkv__causal_keyset_free(lkv__causal_keyset_t *s);

#endif
