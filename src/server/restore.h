/* `snapshot restore`: a ledgerkv data dir whose ledger replays an etcd 3.4 snapshot's history. */
#ifndef LKV_SERVER_RESTORE_H
#define LKV_SERVER_RESTORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The data dir gets a ledger: one LEASE_GRANT record per lease of the snapshot, then one REVISION record
 * per revision of its "key" bucket (its puts with their create revision, version and lease, its tombstones
 * as deletes, in sub-revision order); and the store that ledger replays into, with the snapshot's users and
 * roles beside it (auth ops are no ledger records: docs/auth.md). The store has no member identity: the
 * first start takes it from the flags and adopts the store as a one-member cluster (server.c
 * open_ledger), so every key keeps its revisions and `ledgerkv audit` checks the result like any other
 * history. docs/snapshots.md "snapshot restore".
 */

typedef struct lkv_restore_opts_s {
  const char *snapshot;        /* the file: etcd's snapshot (SHA-256 appended) or a backend db */
  const char *data_dir;        /* NULL: "<name>.etcd", as etcdctl */
  const char *name;            /* --name (etcdctl's default "default") */
  const char *initial_cluster; /* --initial-cluster (etcdctl's default "default=http://localhost:2380") */
  const char *token;           /* --initial-cluster-token (default "etcd-cluster") */
  int skip_hash_check;         /* --skip-hash-check: a file without etcd's SHA-256 (member/snap/db) */
} lkv_restore_opts_t;

typedef struct lkv_restore_info_s {
  int64_t revision; /* the last revision restored (1: the snapshot holds no key history) */
  uint64_t revisions;
  uint64_t leases;
} lkv_restore_info_t;

/* Checks the snapshot (etcd's SHA-256 unless skip_hash_check, then every bbolt page), the cluster flags
 * (etcd's messages: the name must be a member of --initial-cluster; one member only: a cluster of several
 * is refused with the way to build it) and that the data dir is absent or
 * empty ("data-dir \"D\" exists"), then writes the data dir's ledger. Refused, with the reason in err:
 * a damaged, truncated or foreign file; history an etcd compaction shortened (compact revision set or
 * revisions missing); authentication enabled (permissions are not checked yet). What was written is
 * removed again when the ledger or store could not be written whole. info may be NULL. Returns 0, LKV_EINVAL
 * (flags, data dir, hash, refused contents), LKV_ECORRUPT (the reader's checks), LKV_ENOMEM or a negative
 * errno. */
int lkv_server_restore(const lkv_restore_opts_t *o, lkv_restore_info_t *info, char *err, size_t errlen);

#endif
