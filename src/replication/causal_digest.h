/* Digests of a causal member's key states over ranges of keys: what members with the same vector compare. */
#ifndef LKV_REPLICATION_CAUSAL_DIGEST_H
#define LKV_REPLICATION_CAUSAL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "causal/member.h"
#include "mvcc/mvcc.h"

/*
 * Two members that applied the same events (equal vectors) hold the same key states: the same live keys and
 * values in the store (what Range shows) and the same sibling sets in the core. A range's digest covers
 * both: every live key of the store in the range with its value, and every core key in the range with its
 * siblings (origin, seq, tombstone, value), by origin. Revisions are left out (each member has its own), and
 * so are keys whose only sibling is a tombstone: each member purges those on its own timing
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

/* Writes the digest of each of the n ranges (1..LKV__CAUSAL_DIGEST_RANGES) to out[i]: the store's latest
 * revision and m's keys, which must reflect the same events. Returns 0, LKV_EINVAL (n out of bounds) or a
 * store error. */
int lkv__causal_digest(lkv_mvcc_t *store, const lkv_causal_member_t *m, const lkv__causal_bound_t *b,
                       size_t n, const lkv__causal_bound_t *end, uint8_t (*out)[LKV__CAUSAL_DIGEST_LEN]);

/* Splits [lo, end) (end empty: no end) at m's keys into at most LKV__CAUSAL_DIGEST_RANGES ranges of about
 * as many keys each: b[0] is lo, the others keys' first LKV__CAUSAL_DIGEST_BOUND_MAX bytes (pointing into
 * m, valid until its next input). Sole tombstones are not counted. Returns the number of ranges, and in
 * *keys the number of m's keys in [lo, end). */
size_t lkv__causal_digest_split(const lkv_causal_member_t *m, lkv__causal_bound_t lo, lkv__causal_bound_t end,
                                lkv__causal_bound_t *b, size_t *keys);

#endif
