/* `ledgerkv backup`: a stopped member's store and ledger in one checked file, and a new data dir from it. */
#ifndef LKV_SERVER_BACKUP_H
#define LKV_SERVER_BACKUP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The file (docs/backup.md is normative; all integers big-endian):
 *
 *   file    = "lkvbckup" ‖ version (u32 = 1) ‖ flags (u32; bit 0: holds the node's private key) ‖
 *             section* ‖ end ‖ SHA-256 of every byte before it (32)
 *   section = kind (u8) ‖ name_len (u16) ‖ name ‖ length (u64) ‖ bytes
 *   kinds:    1 FILE  a file of the data dir, name its path in it: member/db/data.mdb (the store),
 *                     ledger/ledger.log, ledger/ledger.heads, ledger/ledger.base (if any), ledger/node.key
 *                     (only with the private key flag)
 *             3 SPARSE  the same for a file with holes (a pruned ledger.log): size (u64) ‖ n (u32) ‖
 *                     (offset (u64) ‖ length (u64)) × n ‖ the extents' bytes
 *             2 KEYS  name "keys": n (u32) ‖ (member id (u64) ‖ name_len (u16) ‖ name ‖ public key (32))
 *                     × n: the node's own key first (its member id, or 0 on a store that never ran as a
 *                     cluster member), then every other member whose key the store records
 *   end     = kind 0 ‖ name_len 0 ‖ length 0
 */

typedef struct lkv_backup_info_s {
  int64_t revision;        /* the store's revision */
  uint64_t ledger_entries; /* records in the ledger (its tree size; restore only) */
  size_t keys;             /* public keys carried (the KEYS section) */
  int private_key;         /* the file holds ledger/node.key */
} lkv_backup_info_t;

/* Writes the backup of data_dir (its Raft log in wal_dir; NULL: <data_dir>/member/wal) to file (written
 * to file.tmp, flushed, renamed). The server must be stopped: the Raft log's lock is held for the copy
 * ("in use by a running ledgerkv" otherwise), and a store a machine crash left unflushed is refused (start
 * the server once to rebuild it). ledger/node.key goes in only with private_key. info may be NULL.
 * Returns 0, LKV_EAGAIN (a server runs on the data dir), LKV_ETORN, LKV_ENOENT (no store or ledger) or an
 * I/O / storage code, with err set. */
int lkv_server_backup_save(const char *data_dir, const char *wal_dir, const char *file, int private_key,
                           lkv_backup_info_t *info, char *err, size_t errlen);

typedef struct lkv_backup_restore_opts_s {
  const char *file;
  const char *data_dir;        /* must not exist or be empty; NULL: "<name>.etcd" */
  const char *name;            /* --name (default "default") */
  const char *initial_cluster; /* --initial-cluster (default "default=http://localhost:2380") */
  const char *token;           /* --initial-cluster-token (default "etcd-cluster") */
} lkv_backup_restore_opts_t;

/* Checks the file (magic, version, sections, SHA-256; "backup file damaged" otherwise) and the flags as
 * `snapshot restore` does, then writes a data dir: the ledger's records as they were (so receipts issued
 * before the backup still chain to the heads signed after it), the store with the records of the member
 * that wrote it replaced by the restored mark for the member the flags name (its first start adopts it,
 * every member restored from the same file alike: raft_node.h lkv_raft_node_mark_restored). Without the
 * private key in the file the member gets a new node.key, the old member's signed heads are kept as
 * ledger/ledger.heads.before-restore and one head is signed with the new key. Prints nothing; info may be
 * NULL; keys_out (may be NULL) receives a malloc'd text listing the public keys the file carried, one
 * "<member id hex> <name> <key hex>" line each (the caller frees it). What was written is removed on
 * failure. Returns 0, LKV_EINVAL (flags, data dir), LKV_ECORRUPT (damaged file), LKV_ENOMEM or an I/O /
 * storage code, with err set. */
int lkv_server_backup_restore(const lkv_backup_restore_opts_t *o, lkv_backup_info_t *info, char **keys_out,
                              char *err, size_t errlen);

#endif
