/* Internal to src/snapshot: pieces of the backend image shared between its files. */
#ifndef LKV_SNAPSHOT_INTERNAL_H
#define LKV_SNAPSHOT_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "snapshot/bbolt.h"
#include "snapshot/snapshot.h"

/* Writes etcd's "members" bucket: each member under its id in hexadecimal (etcd's types.ID text, no
 * leading zeros), as the JSON etcd 3.4 stores. Returns 0, LKV_ENOMEM or the writer's error. */
int lkv__snapshot_members(lkv_bbolt_writer_t *w, const lkv_snapshot_member_t *ms, size_t n);

/* etcd's revision bytes: main(8 BE) ‖ '_' ‖ sub(8 BE), followed by 't' for a tombstone. */
#define LKV__REV_KEY_LEN 17

/* Writes the revision bytes of (main, sub), without the tombstone mark. */
void lkv__rev_key(uint8_t out[LKV__REV_KEY_LEN], int64_t main, int64_t sub);

/* One entry of etcd's "key" or "lease" bucket (entry.c), reused from entry to entry: val grows as needed
 * and is the caller's to free. Zero-initialise before the first use. */
typedef struct lkv__entry_s {
  uint8_t key[LKV__REV_KEY_LEN + 1];
  size_t key_len;
  uint8_t *val; /* the packed mvccpb.KeyValue or leasepb.Lease */
  size_t val_len, cap;
} lkv__entry_t;

/* Packs msg into e->val (grown as needed), e->val_len its size; the key is left alone. Returns 0 or
 * LKV_ENOMEM. */
int lkv__entry_pack(lkv__entry_t *e, const ProtobufCMessage *msg);

/* Encodes the history entry (kv at kv->mod_revision, sub revision sub; a tombstone carries kv->key only) as
 * etcd 3.4 stores it. Pure. Returns 0 or LKV_ENOMEM (e keeps its previous buffer). */
int lkv__key_entry_encode(lkv__entry_t *e, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone);

/* Encodes lease id with its granted ttl as etcd 3.4's "lease" bucket holds it (8-byte big-endian id ->
 * leasepb.Lease). Pure. Returns 0 or LKV_ENOMEM. */
int lkv__lease_entry_encode(lkv__entry_t *e, int64_t id, int64_t ttl);

#endif
