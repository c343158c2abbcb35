/* File-system helpers shared by the modules that keep files (the ledger, the durable Raft log). */
#ifndef LKV_COMMON_FS_H
#define LKV_COMMON_FS_H

#include <stdint.h>
#include <sys/types.h>

/* Creates directory path and its missing parents with mode. Returns 0 (also when it exists) or a negated
 * errno (LKV_EINVAL when the path is empty or too long). */
int lkv_fs_mkdirs(const char *path, mode_t mode);

/* Writes all of buf[0..len) at fd's position, going on after short writes and EINTR. Returns 0 or a negated
 * errno (LKV_EIO when write returns 0). */
int lkv_fs_write_all(int fd, const void *buf, size_t len);

/* Flushes directory dir (a created, renamed or deleted name in it becomes durable). Returns 0 or a negated
 * errno. */
int lkv_fs_sync_dir(const char *dir);

/* The bytes an unprivileged writer may still use on the file system holding path (statvfs's f_bavail).
 * Returns 0 and *out, or a negated errno. */
int lkv_fs_free_bytes(const char *path, uint64_t *out);

/* The disk space the files under dir take (allocated blocks, so preallocated and sparse files count as
 * what they hold on disk), its subdirectories included; symbolic links are not followed. Files that vanish
 * meanwhile are skipped. Returns 0 and *out, or a negated errno (dir unreadable). */
int lkv_fs_tree_bytes(const char *dir, uint64_t *out);

#endif
