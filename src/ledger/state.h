/* The STATE record's body: a whole key-value state taken as given (a compacted snapshot's restore). */
#ifndef LKV_LEDGER_STATE_H
#define LKV_LEDGER_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/entry.h"

/*
 * A STATE entry (kind 6, docs/ledger.md §3) says "the store is this state at `revision`, compacted at
 * `revision`": the history below it is not in the ledger (an etcd compaction removed it before the
 * snapshot was taken). It may only be the ledger's first record. Its body (integers big-endian):
 *
 *   body  = n_leases (u32) ‖ n_keys (u32) ‖ lease × n_leases ‖ key × n_keys
 *   lease = id (i64, ≠ 0) ‖ ttl_seconds (i64)                 ids strictly increasing
 *   key   = key_len (u32, ≥ 1) ‖ key ‖ create_revision (i64) ‖ mod_revision (i64) ‖ mod_sub (i64) ‖
 *           version (i64) ‖ lease (i64) ‖ value_len (u32) ‖ value
 *                                     (mod_revision, mod_sub) strictly increasing; 1 ≤ create ≤ mod ≤
 *                                     revision; mod_sub ≥ 0; version ≥ 1
 *
 * In lkv_ledger_entry_t the bytes after the two counts are `ops`/`ops_len`, n_keys is `n_ops` and
 * n_leases is `n_leases`. The write-set digest covers the whole body, as for every kind.
 */

/* One live key of a state (pointers into the body, or the caller's when building). */
typedef struct lkv_ledger_state_key_s {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
  int64_t create_revision, mod_revision, mod_sub, version, lease;
} lkv_ledger_state_key_t;

/* A state body being built: leases first (all of them), then keys, each in their order. Zero-initialise
 * it before use; lkv_ledger_state_free releases it. */
typedef struct lkv_ledger_state_s {
  uint8_t *buf;
  size_t len, cap;
  uint32_t n_leases, n_keys;
  int64_t last_mod, last_sub; /* the last key's (mod_revision, mod_sub) */
} lkv_ledger_state_t;

/* Adds a lease. Returns 0, LKV_EINVAL (id 0, not above the previous id, or a key was added already) or
 * LKV_ENOMEM; s is unchanged on error. */
int lkv_ledger_state_lease(lkv_ledger_state_t *s, int64_t id, int64_t ttl);

/* Adds a key (copied). Returns 0, LKV_EINVAL (a rule above broken against the previous key, a length
 * beyond 32 bits, or more than LKV_LEDGER_ENTRY_MAX bytes in all) or LKV_ENOMEM; s is unchanged on
 * error. */
int lkv_ledger_state_key(lkv_ledger_state_t *s, const lkv_ledger_state_key_t *k);

/* Fills a STATE entry at revision from s (e's ops point into s: keep s unchanged while e is used). */
void lkv_ledger_state_entry(const lkv_ledger_state_t *s, int64_t revision, lkv_ledger_entry_t *e);

void lkv_ledger_state_free(lkv_ledger_state_t *s);

/* Reads a STATE entry's leases, then its keys. */
typedef struct lkv_ledger_state_iter_s {
  const uint8_t *p;
  size_t left;
  uint32_t leases, keys;
} lkv_ledger_state_iter_t;

void lkv_ledger_state_begin(const lkv_ledger_entry_t *e, lkv_ledger_state_iter_t *it);

/* The next lease: 1 (set), 0 (no more leases) or LKV_ECORRUPT. */
int lkv_ledger_state_next_lease(lkv_ledger_state_iter_t *it, int64_t *id, int64_t *ttl);

/* The next key, once every lease was read: 1 (set), 0 (no more) or LKV_ECORRUPT. */
int lkv_ledger_state_next_key(lkv_ledger_state_iter_t *it, lkv_ledger_state_key_t *k);

/* Checks every rule of a STATE entry's body (entry.c's encode and decode call it). Returns 0 or
 * LKV_ECORRUPT. */
int lkv_ledger_state_check(const lkv_ledger_entry_t *e);

#endif
