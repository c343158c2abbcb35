/* `snapshot restore`: a ledgerkv data dir whose ledger replays an etcd 3.4 snapshot's history. */
#ifndef LKV_SERVER_RESTORE_H
#define LKV_SERVER_RESTORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The data dir gets a ledger and the store it replays into (restore_history.c plans the records):
 * - history never compacted: one LEASE_GRANT record per lease of the snapshot, then one REVISION record
 *   per revision of its "key" bucket (its puts with their create revision, version and lease, its
 *   tombstones as deletes, in sub-revision order);
 * - compacted at C (etcd's scheduledCompactRev / finishedCompactRev): a STATE record (ledger/state.h) of
 *   the leases and of the keys live at C with their own revisions, at revision C, then one REVISION
 *   record per revision above C; reads below C answer "compacted";
 * - --mark-compacted [--bump-revision N] (etcd 3.6): a STATE record of the latest state at revision
 *   latest + N, compacted there (watches from older revisions are told "compacted", the next write gets
 *   latest + N + 1).
 * The snapshot's users, roles, auth revision and enabled flag go in beside the store (auth ops are no
 * ledger records: docs/auth.md).
 * The store is marked as restored for this member (etcd's member and cluster ids from --name,
 * --initial-cluster and --initial-cluster-token): its first start, with those flags, adopts it as the state
 * before the Raft log's first entry, every member of a several-member --initial-cluster restored from the
 * same file alike, so they found one cluster with one history (raft_start.c); `ledgerkv audit` checks the
 * result like any other history. docs/snapshots.md "snapshot restore".
 */

typedef struct lkv_restore_opts_s {
  const char *snapshot;        /* the file: etcd's snapshot (SHA-256 appended) or a backend db */
  const char *data_dir;        /* NULL: "<name>.etcd", as etcdctl */
  const char *name;            /* --name (etcdctl's default "default") */
  const char *initial_cluster; /* --initial-cluster (etcdctl's default "default=http://localhost:2380") */
  const char *token;           /* --initial-cluster-token (default "etcd-cluster") */
  int skip_hash_check;         /* --skip-hash-check: a file without etcd's SHA-256 (member/snap/db) */
  int64_t bump_revision; /* --bump-revision N (etcd 3.6): the revision raised by N; needs mark_compacted */
  int mark_compacted;    /* --mark-compacted (etcd 3.6): compacted at the (bumped) latest revision */
} lkv_restore_opts_t;

typedef struct lkv_restore_info_s {
  int64_t revision; /* the last revision restored (1: the snapshot holds no key history) */
  uint64_t revisions;
  uint64_t leases;
  int compacted; /* the ledger starts with a STATE record: the snapshot was compacted or marked so */
} lkv_restore_info_t;

/* Checks the snapshot (etcd's SHA-256 unless skip_hash_check, then every bbolt page), the cluster flags
 * (etcd's messages: the name must be a member of --initial-cluster) and that the data dir is absent or
 * empty ("data-dir \"D\" exists"), then writes the data dir's ledger. Refused, with the reason in err:
 * a damaged, truncated or foreign file; revisions missing without a compaction recorded; --bump-revision
 * without --mark-compacted. What was written is
 * removed again when the ledger or store could not be written whole. info may be NULL. Returns 0, LKV_EINVAL
 * (flags, data dir, hash, refused contents), LKV_ECORRUPT (the reader's checks), LKV_ENOMEM or a negative
 * errno. */
int lkv_server_restore(const lkv_restore_opts_t *o, lkv_restore_info_t *info, char *err, size_t errlen);

#endif
