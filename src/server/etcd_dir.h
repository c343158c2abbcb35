/* Refusing a data dir that etcd wrote: ledgerkv must never serve it as an empty store. */
#ifndef LKV_SERVER_ETCD_DIR_H
#define LKV_SERVER_ETCD_DIR_H

#include <stddef.h>

/* Looks for an etcd member in data_dir before the store is opened (opening would create an empty store
 * beside it). etcd 3.4 keeps <data-dir>/member/snap/db (bbolt) and <data-dir>/member/wal/<16 hex>-<16
 * hex>.wal; ledgerkv keeps <data-dir>/member/db/ (LMDB) and <data-dir>/ledger/, which etcd never creates, and
 * its Raft log segments are named <16 hex>.wal, never with etcd's dash. A dir holding either ledgerkv path is
 * ledgerkv's whatever else it holds; otherwise an etcd snapshot db or an etcd-named WAL segment makes it
 * etcd's. A missing or empty data_dir is fine (a new store).
 * data_dir: in, NUL-terminated; not retained.
 * err, errlen: out, on LKV_EUNSUPPORTED one line naming what was found and the way over (an etcd
 *   snapshot restored with `ledgerkv snapshot restore`); errlen may be 0.
 * Returns 0 when the store may be opened, LKV_EUNSUPPORTED for an etcd data dir, or a negated errno when
 * the dir cannot be examined (other than ENOENT), with a message in err. */
int lkv__server_etcd_dir_check(const char *data_dir, char *err, size_t errlen);

#endif
