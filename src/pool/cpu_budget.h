/* The CPU budget: how many CPUs this process may use, from its affinity mask and cgroup CPU quotas. */
#ifndef LKV_POOL_CPU_BUDGET_H
#define LKV_POOL_CPU_BUDGET_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The budget is the minimum of three sources, rounded up to whole CPUs and never below 1:
 *  - the affinity mask (sched_getaffinity);
 *  - cgroup v2: cpu.max ("<quota|max> <period>") of the process's cgroup and of every ancestor visible
 *    under the cgroup2 mount;
 *  - cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us (-1 = no limit) of the process's cpu cgroup and of
 *    every ancestor visible under the mount of the "cpu" controller (alone or co-mounted, "cpu,cpuacct").
 * Hierarchies are found through <root>/proc/self/mountinfo and <root>/proc/self/cgroup, never at fixed
 * paths; the process's cgroup path is mapped through the mount's root field, so a container that sees
 * only its own subtree (mount root "/docker/<id>") resolves correctly.
 *
 * A cgroup source that cannot be read at all (not mounted, directory absent, every file unreadable) is
 * ignored and says why in its note. A single unreadable or garbled file is skipped (noted) and the other
 * levels still count: one bad file must not lift a limit that another level sets.
 *
 * Reading is stateless and cheap (a handful of small files, no allocation beyond stdio's line buffer),
 * so callers may re-read periodically to follow quota changes. Thread-safe. It uses about 32 KiB of stack
 * (path buffers), and lkv_cpu_budget_t itself is about 13 KiB.
 */

typedef enum {
  LKV_CPU_SOURCE_AFFINITY = 0,
  LKV_CPU_SOURCE_CGROUP_V2 = 1,
  LKV_CPU_SOURCE_CGROUP_V1 = 2,
  LKV_CPU_SOURCE_COUNT = 3
} lkv_cpu_source_kind_t;

/* What one source allows and where that came from. */
typedef struct lkv_cpu_source_s {
  const char *name;    /* "affinity", "cgroup v2" or "cgroup v1"; static storage */
  int found;           /* 1: the source was read and cpus applies; 0: ignored, see note */
  int cpus;            /* CPUs this source allows (quota rounded up); 0 means no limit */
  long long quota_us;  /* cgroups: quota of the tightest level, -1 when no level sets one */
  long long period_us; /* cgroups: period of that level, 0 when no level sets one */
  int levels;          /* cgroups: directories examined, from the process's cgroup up to the mount */
  char path[PATH_MAX]; /* cgroups: the file that set the limit; with no limit, the process's cgroup
                        * directory. Prefixed with root. Empty for affinity or when ignored. */
  char note[256];      /* why the source was ignored, or the first file that was skipped; "" if none */
} lkv_cpu_source_t;

typedef struct lkv_cpu_budget_s {
  int cpus;                                       /* the budget: >= 1 */
  double exact;                                   /* the budget before rounding up: 0.5 for a half-CPU
                                                   * quota; cpus - 1 < exact <= cpus */
  lkv_cpu_source_t sources[LKV_CPU_SOURCE_COUNT]; /* indexed by lkv_cpu_source_kind_t */
} lkv_cpu_budget_t;

/* Counts the CPUs in this thread's affinity mask (sched_getaffinity, sized for any number of CPUs).
 * Returns the count (>= 1), or a negative LKV_E* code when the kernel refuses (errno negated). */
int lkv_cpu_budget_affinity(void);

/* Computes the budget.
 * root: in, the filesystem root under which proc/self/{mountinfo,cgroup} and the cgroup mounts are read;
 *       "/" in production, a fixture directory in tests. Not retained.
 * affinity_cpus: in, the affinity count (from lkv_cpu_budget_affinity, or injected by tests), >= 1.
 * out: out, fully overwritten; owns no memory.
 * Returns 0, or LKV_EINVAL when root is NULL or empty, out is NULL, or affinity_cpus < 1. Unreadable or
 * garbled cgroup files are not errors: they are recorded in out's notes. */
int lkv_cpu_budget_read(const char *root, int affinity_cpus, lkv_cpu_budget_t *out);

/* 1 when a cgroup source of b sets a CPU quota (then lkv_cpu_budget_throttled has counters to read). */
int lkv_cpu_budget_has_quota(const lkv_cpu_budget_t *b);

/* CFS periods in which a limiting cgroup ran out of quota (nr_throttled in the cpu.stat beside each
 * quota file that b's cgroup sources name, summed): a counter that grows while this process asks for
 * more CPU than its quota gives. Returns 0 and sets *out; LKV_ENOENT when no cgroup source sets a quota;
 * otherwise the error of the first cpu.stat that cannot be read or parsed. */
int lkv_cpu_budget_throttled(const lkv_cpu_budget_t *b, uint64_t *out);

/* Prints the budget alone on the first line (like nproc), then one line per source:
 *   2
 *   affinity: 4
 *   cgroup v2: 2 (quota 150000 / period 100000 us in /sys/fs/cgroup/app/cpu.max, 3 levels)
 *   cgroup v1: ignored (no cgroup v1 mount with the cpu controller in /proc/self/mountinfo)
 * Output errors are left for the caller to see with ferror(f). */
void lkv_cpu_budget_print(const lkv_cpu_budget_t *b, FILE *f);

#endif
