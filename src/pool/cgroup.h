/* Internal to the CPU budget: finding this process's cgroups and reading their CPU quotas. */
#ifndef LKV_POOL_CGROUP_H
#define LKV_POOL_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "pool/cpu_budget.h"

typedef enum { LKV__CGROUP_V1 = 1, LKV__CGROUP_V2 = 2 } lkv__cgroup_version_t;

/* Finds the directory of this process's cgroup in hierarchy v (v1: the one holding the "cpu" controller)
 * from <root>/proc/self/cgroup and <root>/proc/self/mountinfo. When the hierarchy is mounted more than
 * once, the mount with the shortest root wins: it shows the most ancestors.
 * leaf: out (PATH_MAX bytes), root-prefixed path of the process's cgroup directory.
 * top: out (PATH_MAX bytes), root-prefixed mount point: the highest ancestor visible; leaf is top or
 *      below it.
 * note, note_len: out, on failure why, for the user.
 * Returns 0; LKV_ENOENT when the hierarchy is not mounted, the process has no entry for it, or its path
 * is not visible under any mount; the negated errno when a proc file cannot be opened; LKV_EINVAL when
 * the process's path is malformed or a joined path exceeds PATH_MAX. Neither directory is checked for
 * existence. On failure leaf and top are unspecified. */
int lkv__cgroup_locate(const char *root, lkv__cgroup_version_t v, char *leaf, char *top, char *note,
                       size_t note_len);

/* Reads the CPU quota of every level from leaf up to top inclusive, both as lkv__cgroup_locate produced
 * them (shorter than PATH_MAX, leaf equal to top or below it), and fills
 * src's found, cpus, quota_us, period_us, levels, path and note (name is left alone). A missing quota file
 * means that level sets no limit; an unreadable or garbled one is skipped and noted. src->found is 0 when
 * leaf is not a readable directory or no level could be read. */
void lkv__cgroup_read_quota(lkv__cgroup_version_t v, const char *leaf, const char *top,
                            lkv_cpu_source_t *src);

/* Reads nr_throttled (CFS periods in which the group ran out of quota; v1 and v2 name it alike) from the
 * cpu.stat beside limit_file, a quota file as lkv__cgroup_read_quota recorded it in src->path.
 * Returns 0 and sets *out; a negated errno when cpu.stat cannot be read; LKV_ECORRUPT when it has no
 * parsable nr_throttled line; LKV_EINVAL when limit_file has no directory or the path is too long. */
int lkv__cgroup_read_throttled(const char *limit_file, uint64_t *out);

#endif
