/* Pure codecs for the Raft core's wire and storage forms: messages, membership changes, hard state. */
#ifndef LKV_RAFT_CODEC_H
#define LKV_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/*
 * Buffer in, result out: no allocation except where a function says so, no I/O. Every decoder checks
 * lengths and values (unknown types, counts that overrun the buffer, trailing bytes) and returns
 * LKV_EBADMSG on malformed input without reading outside the buffer: messages come from the network and
 * are fuzzed (tests/fuzz). Integers are little-endian fixed width or varints as docs/raft.md lays out;
 * each form starts with a version byte so it can grow.
 */

/* Bytes needed to encode cc. */
size_t lkv_raft_conf_change_size(const lkv_raft_conf_change_t *cc);

/* Encodes cc into buf (cap bytes). Returns the length written, or 0 when cap is too small. */
size_t lkv_raft_conf_change_encode(const lkv_raft_conf_change_t *cc, uint8_t *buf, size_t cap);

/* Decodes a membership change; cc->context points into buf. Returns 0 or LKV_EBADMSG (also for an
 * unknown type or node 0). */
int lkv_raft_conf_change_decode(const uint8_t *buf, size_t len, lkv_raft_conf_change_t *cc);

/* Bytes needed to encode m, with its entries, snapshot metadata and data, and context. */
size_t lkv_raft_msg_size(const lkv_raft_msg_t *m);

/* Encodes m into buf (cap bytes). Returns the length written, or 0 when cap is too small. */
size_t lkv_raft_msg_encode(const lkv_raft_msg_t *m, uint8_t *buf, size_t cap);

/* Decodes a message. Entry data, snapshot data and context point into buf; the entry array is malloc'd
 * into *entries (NULL when there are none; the caller frees it) and m->entries points at it. Returns 0,
 * LKV_EBADMSG or LKV_ENOMEM; on failure *entries is NULL and *m zeroed. Only the form is checked (the
 * core checks which types carry entries, and their contiguity). */
int lkv_raft_msg_decode(const uint8_t *buf, size_t len, lkv_raft_msg_t *m, lkv_raft_entry_t **entries);

#define LKV_RAFT_HARD_STATE_SIZE 25 /* version ‖ term ‖ vote ‖ commit */
/* Encodes hs into the LKV_RAFT_HARD_STATE_SIZE bytes at out (fixed width: rewritable in place). */
void lkv_raft_hard_state_encode(const lkv_raft_hard_state_t *hs, uint8_t out[LKV_RAFT_HARD_STATE_SIZE]);
/* Decodes a hard state. Returns 0, or LKV_EBADMSG (len is not LKV_RAFT_HARD_STATE_SIZE, unknown version). */
int lkv_raft_hard_state_decode(const uint8_t *buf, size_t len, lkv_raft_hard_state_t *hs);

/* Snapshot metadata (index, term, membership) for the durable log: bytes needed, and encoding into buf
 * (cap bytes; returns the length written, or 0 when cap is too small). The membership's counts must be
 * at most LKV_RAFT_MAX_MEMBERS each (the decoder also refuses more than that together). */
size_t lkv_raft_snapshot_meta_size(const lkv_raft_snapshot_meta_t *meta);
size_t lkv_raft_snapshot_meta_encode(const lkv_raft_snapshot_meta_t *meta, uint8_t *buf, size_t cap);
/* Decodes snapshot metadata. Returns 0, or LKV_EBADMSG (also for more than LKV_RAFT_MAX_MEMBERS voters and
 * learners together, id 0, or an id listed twice); *meta is zeroed on failure. */
int lkv_raft_snapshot_meta_decode(const uint8_t *buf, size_t len, lkv_raft_snapshot_meta_t *meta);

#endif
