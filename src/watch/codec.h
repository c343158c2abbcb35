/* WatchResponse encoding: pure buffer-in, bytes-out protobuf writing, events encoded once per round. */
#ifndef LKV_WATCH_CODEC_H
#define LKV_WATCH_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "mvcc/mvcc.h"

/*
 * A WatchResponse is written as its scalar fields (header .. fragment, field numbers 1-7) followed by its
 * events (field 11). An event is encoded once, as a complete field-11 entry (tag, length, mvccpb.Event),
 * and then copied into the response of every watcher that receives it, so the cost of a change seen by N
 * watchers is one encoding plus N copies. Proto3 rules: zero scalars and empty bytes are omitted.
 */

/* Growable byte buffer; after an allocation failure oom is set and further appends are dropped. */
typedef struct lkv__wbuf_s {
  uint8_t *data;
  size_t len, cap;
  int oom;
} lkv__wbuf_t;

/* Frees the buffer's memory and zeroes it. */
void lkv__wbuf_free(lkv__wbuf_t *b);

/* Appends n bytes. */
void lkv__wbuf_put(lkv__wbuf_t *b, const void *p, size_t n);

/* The scalar part of a WatchResponse. */
typedef struct lkv__wresp_s {
  uint64_t cluster_id, member_id, raft_term;
  int64_t revision; /* header revision */
  int64_t watch_id;
  int created, canceled, fragment;
  int64_t compact_revision;
  const char *cancel_reason; /* NULL or "" for none */
} lkv__wresp_t;

/* Appends r's scalar fields (an entire response when it has no events). */
void lkv__wenc_resp(lkv__wbuf_t *b, const lkv__wresp_t *r);

/* Appends one field-11 entry for an event: tomb = DELETE (kv holds key and mod_revision), else PUT;
 * prev (may be NULL) becomes prev_kv. */
void lkv__wenc_event(lkv__wbuf_t *b, const lkv_mvcc_kv_t *kv, int tomb, const lkv_mvcc_kv_t *prev);

#endif
