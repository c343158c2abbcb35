/* etcd 3.4 snapshots of the store: its backend database (a bbolt file) and the stream etcd sends of it. */
#ifndef LKV_SNAPSHOT_SNAPSHOT_H
#define LKV_SNAPSHOT_SNAPSHOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mvcc/mvcc.h"

/*
 * What etcd 3.4 keeps in its backend, written from a read snapshot of the store (docs/snapshots.md maps
 * each bucket): "key" (every revision record an etcd backend would hold: 8-byte big-endian main revision,
 * '_', 8-byte sub revision, 't' after a tombstone -> mvccpb.KeyValue), "meta" (consistent_index, and the
 * scheduled and finished compact revisions once compacted), "lease" (leasepb.Lease by 8-byte id),
 * "members" (etcd's JSON of each member), "cluster" (clusterVersion), "alarm" (raised alarms), "auth"
 * (authRevision 1: authentication was never enabled), and the empty "authRoles", "authUsers" and
 * "members_removed". `etcdctl snapshot restore` turns such a file into a data dir etcd starts from.
 */

/* A member as etcd's "members" bucket records it. */
typedef struct lkv_snapshot_member_s {
  uint64_t id;
  int is_learner;
  const char *name; /* NULL: not published yet ("") */
  char *const *peer_urls;
  size_t n_peer_urls;
  char *const *client_urls; /* none: JSON null, as etcd writes for a member that has not published */
  size_t n_client_urls;
} lkv_snapshot_member_t;

typedef struct lkv_snapshot_meta_s {
  uint64_t consistent_index; /* the applied Raft index; 0 (a single node): the snapshot's revision */
  uint64_t member_id;        /* whose alarms the store holds */
  const lkv_snapshot_member_t *members;
  size_t n_members;
  const atomic_int *stop; /* may be NULL; non-zero ends the copy with LKV_ECANCELED */
} lkv_snapshot_meta_t;

/* Writes the backend database of the state t sees (a read transaction, which stays the caller's) to fd
 * (empty, writable) as a bbolt file. Streams: memory holds a few pages and the largest value. *size (may
 * be NULL) gets the file's length. Returns 0, LKV_ECANCELED (*stop), LKV_ENOMEM, LKV_ECORRUPT, LKV_EIO
 * or a negative errno from writing. */
int lkv_snapshot_write(lkv_mvcc_txn_t *t, const lkv_snapshot_meta_t *m, int fd, uint64_t *size);

/* What `etcdctl snapshot status` reports of a backend file, computed as etcdctl 3.4 does. */
typedef struct lkv_snapshot_status_s {
  uint32_t hash;    /* CRC-32C over each top-level bucket's name, then its direct keys and values in order */
  int64_t revision; /* main revision of the "key" bucket's last key (0 without one) */
  uint64_t total_key;  /* direct entries of the top-level buckets (nested buckets count as one) */
  uint64_t total_size; /* bytes of the pages in use (not the file's length: etcd's SHA-256 may follow) */
} lkv_snapshot_status_t;

/* Reads the bbolt file on fd (lkv_bbolt_read: every check it makes) and fills *out. err (errlen bytes) says
 * why a file is refused. Returns 0, LKV_ECORRUPT (damaged, truncated or not a bbolt file), LKV_ENOMEM or a
 * negative errno. */
int lkv_snapshot_status(int fd, lkv_snapshot_status_t *out, char *err, size_t errlen);

/* ---- hashes of the backend (Maintenance.HashKV and Hash) ---- */

typedef struct lkv_snapshot_hash_s {
  uint32_t hash;            /* CRC-32C (Castagnoli) */
  int64_t revision;         /* the store's current revision as t sees it */
  int64_t compact_revision; /* its compact revision (-1 if never compacted), as etcd's HashKV reports it */
} lkv_snapshot_hash_t;

/* etcd 3.4's HashKV (mvcc's HashByRev) of the state t sees at revision rev (0: the current one): CRC-32C
 * over "key", then each "key" bucket entry's key and value as etcd stores them, in key order, for the
 * records lkv_mvcc_records_at(rev) walks, so that a ledgerkv member and an etcd member that applied the
 * same requests agree. A negative rev hashes "key" alone, as etcd does. Takes as long as walking the
 * history up to rev. Returns 0, LKV_ECOMPACTED (0 < rev <= compact revision: out->compact_revision is set),
 * LKV_EFUTUREREV (rev > current revision), LKV_ENOMEM, LKV_ECORRUPT or LKV_EIO. */
int lkv_snapshot_hashkv(lkv_mvcc_txn_t *t, int64_t rev, lkv_snapshot_hash_t *out);

/* ledgerkv's Hash (etcd hashes its whole backend file, whose other buckets hold member-local state): the
 * CRC-32C of the "key" and "lease" buckets an etcd snapshot of t's state holds, in the form etcd's backend
 * hash takes (each bucket's name, then its entries' keys and values in order). Equal on members that
 * applied the same requests, compacted or not. out->compact_revision is set too. Returns 0, LKV_ENOMEM,
 * LKV_ECORRUPT or LKV_EIO. */
int lkv_snapshot_hash(lkv_mvcc_txn_t *t, lkv_snapshot_hash_t *out);

/* ---- the Maintenance.Snapshot stream ---- */

typedef struct lkv_snapshot_file_s lkv_snapshot_file_t;

/* Writes the snapshot of the store's latest committed state into an unnamed temporary file in dir (it
 * vanishes when freed, or if the process dies), from one read transaction that ends before this returns:
 * a slow reader of the stream pins none of the store's pages. Any thread. Returns 0 with *out, or what
 * lkv_mvcc_read_begin or lkv_snapshot_write return, or a negative errno (the file). */
int lkv_snapshot_file_new(lkv_snapshot_file_t **out, lkv_mvcc_t *store, const char *dir,
                          const lkv_snapshot_meta_t *m);

/* The file's size (the stream carries this many bytes, then the 32-byte digest). */
uint64_t lkv_snapshot_file_size(const lkv_snapshot_file_t *f);

/* The next piece of etcd's Snapshot stream into buf (cap >= 32 bytes): up to cap bytes of the file with
 * *remaining the file's bytes after them, then, once the file is done, its SHA-256 (32 bytes, *remaining
 * 0), which etcd appends and `etcdctl snapshot restore` checks. *n is 0 once both were returned. One
 * thread at a time. Returns 0 or a negative errno (reading the file). */
int lkv_snapshot_file_next(lkv_snapshot_file_t *f, uint8_t *buf, size_t cap, size_t *n, uint64_t *remaining);

/* Closes (and so deletes) the file. NULL is ignored. */
void lkv_snapshot_file_free(lkv_snapshot_file_t *f);

#endif
