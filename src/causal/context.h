/* The conflicts service's context: the identities of a key's siblings as one opaque byte string. */
#ifndef LKV_CAUSAL_CONTEXT_H
#define LKV_CAUSAL_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "causal/key.h"

/*
 * A context names a set of events, at most one per origin (a key's siblings are pairwise concurrent, and an
 * origin's later write always saw its earlier ones). Encoding (little-endian, canonical): empty for no event,
 * else the version byte 1 ‖ n × (origin u64 ‖ seq u64), origins strictly increasing, every seq >= 1. Clients
 * treat it as opaque: Siblings gives it, Resolve takes it back. Pure codec.
 */

#define LKV_CAUSAL_CONTEXT_MAX 32 /* LKV_CAUSAL_MAX_ORIGINS: one event per origin */

typedef struct {
  uint64_t origin, seq;
} lkv_causal_event_id_t;

/* The identities of k's siblings, sorted by origin, into ids (capacity LKV_CAUSAL_CONTEXT_MAX). k may be
 * NULL (no state: no sibling). Returns how many. */
size_t lkv_causal_context_of_key(const lkv_causal_key_t *k, lkv_causal_event_id_t *ids);

/* Bytes of the encoding of n identities. */
size_t lkv_causal_context_size(size_t n);

/* Writes the encoding of ids[0..n) (sorted by origin, as lkv_causal_context_of_key gives them) to out
 * (lkv_causal_context_size(n) bytes). */
void lkv_causal_context_encode(const lkv_causal_event_id_t *ids, size_t n, uint8_t *out);

/* Reads a context (buf, len) into ids (capacity LKV_CAUSAL_CONTEXT_MAX) and *n. Returns 0 or LKV_EBADMSG
 * (another version, a truncated entry, too many, origins not strictly increasing, a zero origin or seq). */
int lkv_causal_context_decode(const uint8_t *buf, size_t len, lkv_causal_event_id_t *ids, size_t *n);

#endif
