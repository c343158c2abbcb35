/* Internal to src/snapshot: pieces of the backend image shared between its files. */
#ifndef LKV_SNAPSHOT_INTERNAL_H
#define LKV_SNAPSHOT_INTERNAL_H

#include "snapshot/bbolt.h"
#include "snapshot/snapshot.h"

/* Writes etcd's "members" bucket: each member under its id in hexadecimal (etcd's types.ID text, no
 * leading zeros), as the JSON etcd 3.4 stores. Returns 0, LKV_ENOMEM or the writer's error. */
int lkv__snapshot_members(lkv_bbolt_writer_t *w, const lkv_snapshot_member_t *ms, size_t n);

#endif
