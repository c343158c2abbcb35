/* File-system helpers shared by the modules that keep files (the ledger, the durable Raft log). */
#ifndef LKV_COMMON_FS_H
#define LKV_COMMON_FS_H

#include <sys/types.h>

/* Creates directory path and its missing parents with mode. Returns 0 (also when it exists) or a negated
 * errno (LKV_EINVAL when the path is empty or too long). */
int lkv_fs_mkdirs(const char *path, mode_t mode);

/* Flushes directory dir (a created, renamed or deleted name in it becomes durable). Returns 0 or a negated
 * errno. */
int lkv_fs_sync_dir(const char *dir);

#endif
