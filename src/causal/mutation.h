/* The causal event's payload: a write set of puts and deletes of distinct keys, and lease grants and revokes
 * (a pure codec). */
#ifndef LKV_CAUSAL_MUTATION_H
#define LKV_CAUSAL_MUTATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * A write set is what the origin decided: a Put, a Delete of the keys a DeleteRange found, or a Txn's
 * writes after its compares were evaluated on the origin's state. Every replica applies the same write
 * set, whatever its own state. Encoding (little-endian):
 *   count u32 ‖ count × mutation, a mutation being one of
 *     1 (put)          ‖ key_len u32 ‖ key ‖ value_len u32 ‖ value
 *     2 (delete)       ‖ key_len u32 ‖ key
 *     3 (put, leased)  ‖ key_len u32 ‖ key ‖ value_len u32 ‖ value ‖ lease i64   (kind PUT, lease != 0)
 *     4 (lease grant)  ‖ lease i64 ‖ ttl i64
 *     5 (lease revoke) ‖ lease i64
 *     6 (member remove) ‖ member id u64 (not 0)
 *     7 (member add)    ‖ member id u64 (not 0) ‖ urls_len u32 ‖ urls (its peer URLs, non-empty, opaque here)
 * Keys are non-empty, lease ids positive (docs/causal.md §5: the id names the lease's owner). A key
 * written twice in one write set counts once, with its last mutation (etcd refuses such Txns before they
 * become events; the rule only makes every replica agree). Grants and revokes touch no key: the member's
 * key states ignore them, the caller applies them to its lease table.
 */

typedef enum {
  LKV_CAUSAL_PUT = 1,
  LKV_CAUSAL_DEL = 2,
  /* 3 is the encoding of a put with a lease; decoded as LKV_CAUSAL_PUT with lease set */
  LKV_CAUSAL_LEASE_GRANT = 4,
  LKV_CAUSAL_LEASE_REVOKE = 5,
  LKV_CAUSAL_MEMBER_REMOVE = 6, /* the removal of a member (docs/causal.md §15) */
  LKV_CAUSAL_MEMBER_ADD = 7,    /* the addition of a member (docs/causal.md §15b) */
} lkv_causal_kind_t;

typedef struct {
  uint8_t kind; /* lkv_causal_kind_t */
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value; /* NULL/0 for a delete; an add's peer URLs */
  size_t value_len;
  int64_t lease;   /* a put's lease (0: none); the lease of a grant or revoke */
  int64_t ttl;     /* a grant's TTL in seconds */
  uint64_t member; /* the member a removal or an add names */
} lkv_causal_mutation_t;

/* Bytes of the encoding of muts[0..n). */
size_t lkv_causal_mutations_size(const lkv_causal_mutation_t *muts, size_t n);

/* Encodes muts[0..n) into out (cap bytes); *len receives the size. Returns 0, LKV_EINVAL for an empty key,
 * a bad kind or a lease id that is not positive (a put's lease may be 0), LKV_EMSGSIZE when cap is too
 * small. */
int lkv_causal_mutations_encode(const lkv_causal_mutation_t *muts, size_t n, uint8_t *out, size_t cap,
                                size_t *len);

/* A decoder over an encoded write set; mutations borrow the buffer. */
typedef struct {
  const uint8_t *p, *end;
  uint32_t left;
} lkv_causal_mutation_iter_t;

/* Checks the whole encoding (form, kinds, non-empty keys, positive lease ids, nothing after the last
 * mutation) and starts *it at the first mutation. Returns 0 or LKV_EBADMSG. */
int lkv_causal_mutations_open(const uint8_t *buf, size_t len, lkv_causal_mutation_iter_t *it);

/* The next mutation of a checked write set into *m: 1, or 0 after the last. */
int lkv_causal_mutations_next(lkv_causal_mutation_iter_t *it, lkv_causal_mutation_t *m);

#endif
