/* Tests for the CPU budget (src/pool/cpu_budget.c) on fixture trees of proc and cgroup files. */
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "pool/cpu_budget.h"

/* Mount lines as a hybrid (v1 + v2) host shows them; the optional fields differ on purpose. */
#define MI_ROOTFS "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
#define MI_V1_CPU "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
#define MI_V2 "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
#define V1 "sys/fs/cgroup/cpu"
#define V2 "sys/fs/cgroup/unified"

typedef struct fixture_s {
  char root[64];
  lkv_cpu_budget_t b;
} fixture_t;

static void mkdirs(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s", path);
  for (char *p = tmp + 1; *p != '\0'; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(tmp, 0755);
    *p = '/';
  }
  mkdir(tmp, 0755);
}

/* Creates <root>/<rel> (and its parent directories) holding text. */
static void put(fixture_t *fx, const char *rel, const char *text) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
  *strrchr(path, '/') = '\0';
  mkdirs(path);
  snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static void put_dir(fixture_t *fx, const char *rel) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", fx->root, rel);
  mkdirs(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  fixture_t *fx = calloc(1, sizeof(*fx));
  if (fx == NULL) return -1;
  snprintf(fx->root, sizeof(fx->root), "/tmp/lkv-cpu-budget-XXXXXX");
  if (mkdtemp(fx->root) == NULL) return -1;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture_t *fx = *state;
  nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static const lkv_cpu_source_t *v1(fixture_t *fx) {
  return &fx->b.sources[LKV_CPU_SOURCE_CGROUP_V1];
}

static const lkv_cpu_source_t *v2(fixture_t *fx) {
  return &fx->b.sources[LKV_CPU_SOURCE_CGROUP_V2];
}

static int read_budget(fixture_t *fx, int affinity) {
  assert_int_equal(lkv_cpu_budget_read(fx->root, affinity, &fx->b), 0);
  return fx->b.cpus;
}

/* Whether the source's path is <root>/<rel>. */
static void assert_path(fixture_t *fx, const lkv_cpu_source_t *s, const char *rel) {
  char want[PATH_MAX];
  snprintf(want, sizeof(want), "%s/%s", fx->root, rel);
  assert_string_equal(s->path, want);
}

static void assert_contains(const char *haystack, const char *needle) {
  if (strstr(haystack, needle) == NULL) fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void v1_quota(fixture_t *fx, const char *dir, const char *quota, const char *period) {
  char rel[PATH_MAX];
  snprintf(rel, sizeof(rel), "%s/cpu.cfs_quota_us", dir);
  put(fx, rel, quota);
  snprintf(rel, sizeof(rel), "%s/cpu.cfs_period_us", dir);
  put(fx, rel, period);
}

static void test_v1_only(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU);
  put(fx, "proc/self/cgroup", "4:cpu:/app\n");
  v1_quota(fx, V1, "-1\n", "100000\n");
  v1_quota(fx, V1 "/app", "200000\n", "100000\n");

  assert_int_equal(read_budget(fx, 8), 2);
  assert_int_equal(v1(fx)->found, 1);
  assert_int_equal(v1(fx)->cpus, 2);
  assert_int_equal(v1(fx)->quota_us, 200000);
  assert_int_equal(v1(fx)->period_us, 100000);
  assert_int_equal(v1(fx)->levels, 2);
  assert_path(fx, v1(fx), V1 "/app/cpu.cfs_quota_us");
  assert_string_equal(v1(fx)->note, "");
  assert_int_equal(v2(fx)->found, 0);
  assert_contains(v2(fx)->note, "no cgroup v2 entry");
  assert_int_equal(fx->b.sources[LKV_CPU_SOURCE_AFFINITY].cpus, 8);
}

static void test_v2_only(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo",
      MI_ROOTFS "30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
  put(fx, "proc/self/cgroup", "0::/app\n");
  put(fx, "sys/fs/cgroup/app/cpu.max", "300000 100000\n");

  assert_int_equal(read_budget(fx, 8), 3);
  assert_int_equal(v2(fx)->found, 1);
  assert_int_equal(v2(fx)->quota_us, 300000);
  assert_int_equal(v2(fx)->levels, 2); /* app and the root cgroup, which has no cpu.max */
  assert_path(fx, v2(fx), "sys/fs/cgroup/app/cpu.max");
  assert_int_equal(v1(fx)->found, 0);
  assert_contains(v1(fx)->note, "no cgroup v1 cpu entry");
}

static void test_v1_and_v2_take_the_minimum(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a\n0::/b\n");
  v1_quota(fx, V1 "/a", "200000\n", "100000\n");
  put(fx, V2 "/b/cpu.max", "300000 100000\n");
  assert_int_equal(read_budget(fx, 8), 2);
  assert_int_equal(v1(fx)->cpus, 2);
  assert_int_equal(v2(fx)->cpus, 3);

  put(fx, V2 "/b/cpu.max", "100000 100000\n");
  assert_int_equal(read_budget(fx, 8), 1);
}

static void test_v2_ancestor_tighter(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V2);
  put(fx, "proc/self/cgroup", "0::/a/b/c\n");
  put(fx, V2 "/a/cpu.max", "400000 100000\n");
  put(fx, V2 "/a/b/cpu.max", "100000 100000\n");
  put(fx, V2 "/a/b/c/cpu.max", "max 100000\n");

  assert_int_equal(read_budget(fx, 8), 1);
  assert_int_equal(v2(fx)->levels, 4);
  assert_int_equal(v2(fx)->quota_us, 100000);
  assert_path(fx, v2(fx), V2 "/a/b/cpu.max");
}

/* The exact share is the tightest level's quota/period, not the tightest rounded count: 0.8 and 0.5 CPUs
 * both round to 1, and 0.5 is the limit the process runs into. */
static void test_exact_share(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a/b\n0::/\n");
  v1_quota(fx, V1 "/a", "50000\n", "100000\n");
  v1_quota(fx, V1 "/a/b", "80000\n", "100000\n");
  put(fx, V2 "/cpu.max", "max 100000\n");
  assert_int_equal(read_budget(fx, 8), 1);
  assert_true(fx->b.exact == 0.5);
  assert_path(fx, v1(fx), V1 "/a/cpu.cfs_quota_us");

  put(fx, V2 "/cpu.max", "30000 100000\n"); /* v2 tighter still */
  assert_int_equal(read_budget(fx, 8), 1);
  assert_true(fx->b.exact == 0.3);
  put(fx, V2 "/cpu.max", "max 100000\n");
  v1_quota(fx, V1 "/a", "-1\n", "100000\n");
  v1_quota(fx, V1 "/a/b", "150000\n", "100000\n");
  assert_int_equal(read_budget(fx, 8), 2);
  assert_true(fx->b.exact == 1.5);
  assert_int_equal(read_budget(fx, 1), 1); /* the affinity mask is a limit too */
  assert_true(fx->b.exact == 1.0);
}

/* Throttling counts come from the cpu.stat beside each limiting quota file, v1 and v2 alike. */
static void test_throttled(void **state) {
  fixture_t *fx = *state;
  uint64_t n = 99;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a\n0::/b/c\n");
  v1_quota(fx, V1 "/a", "-1\n", "100000\n");
  put(fx, V2 "/b/c/cpu.max", "max 100000\n");
  read_budget(fx, 8);
  assert_int_equal(lkv_cpu_budget_has_quota(&fx->b), 0);
  assert_int_equal(lkv_cpu_budget_throttled(&fx->b, &n), LKV_ENOENT); /* no quota: nothing to count */

  v1_quota(fx, V1 "/a", "100000\n", "100000\n");
  put(fx, V2 "/b/cpu.max", "200000 100000\n");
  read_budget(fx, 8);
  assert_int_equal(lkv_cpu_budget_has_quota(&fx->b), 1);
  assert_int_equal(lkv_cpu_budget_throttled(&fx->b, &n), LKV_ENOENT); /* no cpu.stat */
  put(fx, V1 "/a/cpu.stat", "nr_periods 40\nnr_throttled 7\nthrottled_time 123456\n");
  put(fx, V2 "/b/cpu.stat",
      "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 9\nnr_throttled 5\nthrottled_usec 4\n");
  assert_int_equal(lkv_cpu_budget_throttled(&fx->b, &n), 0);
  assert_int_equal(n, 12);

  put(fx, V2 "/b/cpu.stat", "nr_periods 9\nnr_throttled x\n");
  assert_int_equal(lkv_cpu_budget_throttled(&fx->b, &n), LKV_ECORRUPT);
  put(fx, V2 "/b/cpu.stat", "nr_periods 9\nnr_throttled_total 1\n"); /* a prefix is not the key */
  assert_int_equal(lkv_cpu_budget_throttled(&fx->b, &n), LKV_ECORRUPT);
  put(fx, V2 "/b/cpu.stat", "nr_throttled 2");
  assert_int_equal(lkv_cpu_budget_throttled(&fx->b, &n), 0);
  assert_int_equal(n, 9);
}

static void test_max_means_no_limit(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a\n0::/a\n");
  put(fx, V2 "/a/cpu.max", "max 100000\n");
  v1_quota(fx, V1 "/a", "-1\n", "100000\n");

  assert_int_equal(read_budget(fx, 6), 6);
  assert_int_equal(v2(fx)->found, 1);
  assert_int_equal(v2(fx)->cpus, 0);
  assert_int_equal(v2(fx)->quota_us, -1);
  assert_path(fx, v2(fx), V2 "/a");
  assert_int_equal(v1(fx)->found, 1);
  assert_int_equal(v1(fx)->cpus, 0);
  assert_path(fx, v1(fx), V1 "/a");
}

static void test_fractional_quota_rounds_up(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/\n0::/\n");
  static const struct {
    const char *max;
    int cpus;
  } cases[] = {{"150000 100000\n", 2},         {"50000 100000\n", 1}, {"100000 100000\n", 1},
               {"100001 100000\n", 2},         {"1000 1000000\n", 1}, {"250000 50000\n", 5},
               {"9223372036854775807 1\n", 64}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    put(fx, V2 "/cpu.max", cases[i].max);
    assert_int_equal(read_budget(fx, 64), cases[i].cpus);
  }
  /* The largest quota saturates rather than overflowing. */
  assert_int_equal(v2(fx)->cpus, INT_MAX);

  put(fx, V2 "/cpu.max", "max 100000\n");
  v1_quota(fx, V1, "150000\n", "100000\n");
  assert_int_equal(read_budget(fx, 64), 2);
  v1_quota(fx, V1, "50000\n", "100000\n");
  assert_int_equal(read_budget(fx, 64), 1);
}

static void test_missing_quota_files_mean_no_limit(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a\n0::/a\n");
  put_dir(fx, V1 "/a");
  put_dir(fx, V2 "/a");

  assert_int_equal(read_budget(fx, 3), 3);
  assert_int_equal(v1(fx)->found, 1);
  assert_int_equal(v1(fx)->cpus, 0);
  assert_int_equal(v1(fx)->levels, 2);
  assert_string_equal(v1(fx)->note, "");
  assert_int_equal(v2(fx)->found, 1);
  assert_int_equal(v2(fx)->cpus, 0);

  /* A v1 quota without its period cannot be turned into CPUs: skipped, with a note. */
  put(fx, V1 "/a/cpu.cfs_quota_us", "100000\n");
  assert_int_equal(read_budget(fx, 3), 3);
  assert_int_equal(v1(fx)->found, 1);
  assert_contains(v1(fx)->note, "no cpu.cfs_period_us");
}

static void test_missing_proc_files(void **state) {
  fixture_t *fx = *state;
  assert_int_equal(read_budget(fx, 4), 4);
  assert_int_equal(v1(fx)->found, 0);
  assert_int_equal(v2(fx)->found, 0);
  assert_contains(v1(fx)->note, "proc/self/cgroup");

  put(fx, "proc/self/cgroup", "4:cpu:/\n0::/\n");
  assert_int_equal(read_budget(fx, 4), 4);
  assert_int_equal(v2(fx)->found, 0);
  assert_contains(v2(fx)->note, "proc/self/mountinfo");
}

static void test_absent_sys_fs_cgroup(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a\n0::/a\n");

  assert_int_equal(read_budget(fx, 2), 2);
  assert_int_equal(v1(fx)->found, 0);
  assert_int_equal(v2(fx)->found, 0);
  assert_contains(v1(fx)->note, "cannot open cgroup directory");
  assert_contains(v2(fx)->note, "No such file or directory");

  /* No cgroup mounts listed at all. */
  put(fx, "proc/self/mountinfo", MI_ROOTFS);
  assert_int_equal(read_budget(fx, 2), 2);
  assert_contains(v1(fx)->note, "no cgroup v1 cpu controller mount");
  assert_contains(v2(fx)->note, "no cgroup2 mount");
}

static void test_garbage_quota_is_skipped(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V1_CPU MI_V2);
  put(fx, "proc/self/cgroup", "4:cpu:/a\n0::/a\n");
  put(fx, V2 "/cpu.max", "200000 100000\n");
  static const char *const garbage[] = {"banana\n",
                                        "100000\n",
                                        "0 100000\n",
                                        "-5 100000\n",
                                        "100000 0\n",
                                        "max max\n",
                                        "",
                                        "1 2 3\n",
                                        "99999999999999999999 100000\n",
                                        "100000 -1\n",
                                        " 100000 100000\n"};
  for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
    put(fx, V2 "/a/cpu.max", garbage[i]);
    /* The parent's valid limit still applies; the bad file is named in the note. */
    assert_int_equal(read_budget(fx, 8), 2);
    assert_int_equal(v2(fx)->found, 1);
    assert_contains(v2(fx)->note, "/a/cpu.max: unparsable");
  }
  put(fx, V2 "/cpu.max", "gibberish\n");
  assert_int_equal(read_budget(fx, 8), 8);
  assert_int_equal(v2(fx)->found, 0);

  /* v1: quota and period files. */
  v1_quota(fx, V1, "100000\n", "100000\n");
  static const char *const bad_quota[] = {"abc\n", "0\n", "-2\n", "1.5\n", "\n"};
  for (size_t i = 0; i < sizeof(bad_quota) / sizeof(bad_quota[0]); i++) {
    v1_quota(fx, V1 "/a", bad_quota[i], "100000\n");
    assert_int_equal(read_budget(fx, 8), 1);
    assert_contains(v1(fx)->note, "/a/cpu.cfs_quota_us: unparsable");
  }
  v1_quota(fx, V1 "/a", "50000\n", "zero\n");
  assert_int_equal(read_budget(fx, 8), 1);
  assert_contains(v1(fx)->note, "/a/cpu.cfs_period_us: unparsable");

  /* A file too long to be a quota. */
  char big[200];
  memset(big, '1', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  put(fx, V1 "/a/cpu.cfs_quota_us", big);
  assert_int_equal(read_budget(fx, 8), 1);
  assert_contains(v1(fx)->note, "not a quota file");
}

static void test_garbage_proc_files(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo",
      "garbage\n"
      "1 2 3\n"
      "33 31 0:30 / /sys/fs/cgroup/cpu rw,relatime no-separator cgroup cgroup rw,cpu\n"
      "34 31 0:30 / /sys/fs/cgroup/cpu rw - cgroup\n"
      "\n" MI_V1_CPU);
  put(fx, "proc/self/cgroup", "nonsense\n\n7\n4:cpu:/a\n0::not-absolute\n");
  v1_quota(fx, V1 "/a", "300000\n", "100000\n");

  assert_int_equal(read_budget(fx, 8), 3);
  assert_int_equal(v1(fx)->found, 1);
  assert_int_equal(v2(fx)->found, 0);
  assert_contains(v2(fx)->note, "unexpected cgroup path");
}

static void test_affinity_smaller_than_quota(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V2);
  put(fx, "proc/self/cgroup", "0::/\n");
  put(fx, V2 "/cpu.max", "400000 100000\n");
  assert_int_equal(read_budget(fx, 2), 2);
  assert_int_equal(v2(fx)->cpus, 4);
  assert_int_equal(read_budget(fx, 1), 1);
}

static void test_comounted_cpu_cpuacct(void **state) {
  fixture_t *fx = *state;
  /* Decoys first: cpuacct and cpuset contain "cpu" as a prefix, not as a controller name. */
  put(fx, "proc/self/mountinfo",
      MI_ROOTFS
      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
      "35 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:7 - cgroup cgroup rw,cpu,cpuacct\n");
  put(fx, "proc/self/cgroup", "5:cpuset:/wrong\n3:cpuacct:/wrong\n2:cpu,cpuacct:/svc\n");
  v1_quota(fx, "sys/fs/cgroup/cpuacct/wrong", "100000\n", "100000\n");
  v1_quota(fx, "sys/fs/cgroup/cpuset/wrong", "100000\n", "100000\n");
  v1_quota(fx, "sys/fs/cgroup/cpu,cpuacct/svc", "300000\n", "100000\n");

  assert_int_equal(read_budget(fx, 8), 3);
  assert_path(fx, v1(fx), "sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_quota_us");
}

static void test_container_mount_root(void **state) {
  fixture_t *fx = *state;
  /* Docker without a cgroup namespace: the mount shows /docker/abc at the mount point. */
  put(fx, "proc/self/mountinfo",
      MI_ROOTFS
      "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
      "41 31 0:38 /kubepods/pod1 /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
  put(fx, "proc/self/cgroup", "4:cpu,cpuacct:/docker/abc/sub\n0::/kubepods/pod1\n");
  v1_quota(fx, V1, "100000\n", "100000\n");
  v1_quota(fx, V1 "/sub", "-1\n", "100000\n");
  put(fx, V2 "/cpu.max", "200000 100000\n");

  assert_int_equal(read_budget(fx, 8), 1);
  assert_int_equal(v1(fx)->levels, 2);
  assert_path(fx, v1(fx), V1 "/cpu.cfs_quota_us");
  assert_int_equal(v2(fx)->levels, 1);
  assert_int_equal(v2(fx)->cpus, 2);
  assert_path(fx, v2(fx), V2 "/cpu.max");

  /* A process outside the mount's root is not visible through it. */
  put(fx, "proc/self/cgroup", "4:cpu:/elsewhere\n0::/kubepods/pod10\n");
  assert_int_equal(read_budget(fx, 8), 8);
  assert_int_equal(v1(fx)->found, 0);
  assert_contains(v1(fx)->note, "/elsewhere is not under the root");
  assert_int_equal(v2(fx)->found, 0);

  /* A cgroup namespace whose root is below the process's cgroup. */
  put(fx, "proc/self/cgroup", "0::/../sibling\n");
  assert_int_equal(read_budget(fx, 8), 8);
  assert_contains(v2(fx)->note, "outside this cgroup namespace");
}

static void test_same_hierarchy_mounted_twice(void **state) {
  fixture_t *fx = *state;
  /* The mount with the shorter root shows more ancestors; a limit on one of them must count. */
  put(fx, "proc/self/mountinfo",
      MI_ROOTFS
      "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "50 22 0:29 / /host/cpu rw - cgroup cgroup rw,cpu\n");
  put(fx, "proc/self/cgroup", "4:cpu:/docker/abc/sub\n");
  v1_quota(fx, V1, "-1\n", "100000\n");
  v1_quota(fx, "host/cpu/docker", "100000\n", "100000\n");
  put_dir(fx, "host/cpu/docker/abc/sub");

  assert_int_equal(read_budget(fx, 8), 1);
  assert_int_equal(v1(fx)->levels, 4);
  assert_path(fx, v1(fx), "host/cpu/docker/cpu.cfs_quota_us");
}

static void test_escaped_mount_point_and_root_slash(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS "41 31 0:38 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n");
  put(fx, "proc/self/cgroup", "0::/\n");
  put(fx, "sys/fs/my cgroup/cpu.max", "500000 100000\n");

  char root[PATH_MAX];
  snprintf(root, sizeof(root), "%s//", fx->root);
  assert_int_equal(lkv_cpu_budget_read(root, 8, &fx->b), 0);
  assert_int_equal(fx->b.cpus, 5);
}

static void test_unreadable_quota_file(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V2);
  put(fx, "proc/self/cgroup", "0::/a\n");
  put_dir(fx, V2 "/a/cpu.max"); /* reading a directory fails with EISDIR even as root */

  assert_int_equal(read_budget(fx, 4), 4);
  assert_int_equal(v2(fx)->found, 1); /* the top level read cleanly (no file: no limit) */
  assert_contains(v2(fx)->note, "Is a directory");

  put(fx, V2 "/cpu.max", "100000 100000\n");
  assert_int_equal(read_budget(fx, 4), 1);

  /* The process's cgroup "directory" is a file. */
  put(fx, "proc/self/cgroup", "0::/f\n");
  put(fx, V2 "/f", "");
  assert_int_equal(read_budget(fx, 4), 4);
  assert_int_equal(v2(fx)->found, 0);
  assert_contains(v2(fx)->note, "is not a directory");
}

static void test_print(void **state) {
  fixture_t *fx = *state;
  put(fx, "proc/self/mountinfo", MI_ROOTFS MI_V2);
  put(fx, "proc/self/cgroup", "0::/app\n");
  put(fx, V2 "/app/cpu.max", "150000 100000\n");
  put_dir(fx, V2 "/cpu.max");
  read_budget(fx, 4);

  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  lkv_cpu_budget_print(&fx->b, f);
  assert_int_equal(fclose(f), 0);

  char want[1024];
  snprintf(want, sizeof(want),
           "2\n"
           "affinity: 4\n"
           "cgroup v2: 2 (quota 150000 / period 100000 us in %s/" V2 "/app/cpu.max, 2 levels); skipped %s/" V2
           "/cpu.max: Is a directory\n"
           "cgroup v1: ignored (no cgroup v1 cpu entry in %s/proc/self/cgroup)\n",
           fx->root, fx->root, fx->root);
  assert_string_equal(text, want);
  free(text);

  put(fx, V2 "/app/cpu.max", "max 100000\n");
  read_budget(fx, 4);
  f = open_memstream(&text, &len);
  assert_non_null(f);
  lkv_cpu_budget_print(&fx->b, f);
  assert_int_equal(fclose(f), 0);
  assert_contains(text, "\ncgroup v2: no limit (");
  assert_contains(text, "/app, 2 levels)");
  assert_int_equal(strncmp(text, "4\n", 2), 0);
  free(text);
}

static void test_invalid_arguments(void **state) {
  fixture_t *fx = *state;
  assert_int_equal(lkv_cpu_budget_read(NULL, 1, &fx->b), LKV_EINVAL);
  assert_int_equal(lkv_cpu_budget_read("", 1, &fx->b), LKV_EINVAL);
  assert_int_equal(lkv_cpu_budget_read(fx->root, 0, &fx->b), LKV_EINVAL);
  assert_int_equal(lkv_cpu_budget_read(fx->root, 1, NULL), LKV_EINVAL);
}

static void test_real_machine(void **state) {
  fixture_t *fx = *state;
  int affinity = lkv_cpu_budget_affinity();
  assert_true(affinity >= 1);
  assert_true(affinity <= sysconf(_SC_NPROCESSORS_CONF));
  assert_int_equal(lkv_cpu_budget_read("/", affinity, &fx->b), 0);
  assert_true(fx->b.cpus >= 1);
  assert_true(fx->b.cpus <= affinity);
  assert_int_equal(fx->b.sources[LKV_CPU_SOURCE_AFFINITY].cpus, affinity);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_v1_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v2_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1_and_v2_take_the_minimum, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v2_ancestor_tighter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exact_share, setup, teardown),
      cmocka_unit_test_setup_teardown(test_throttled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_means_no_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fractional_quota_rounds_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_quota_files_mean_no_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_proc_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_absent_sys_fs_cgroup, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_quota_is_skipped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_proc_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_affinity_smaller_than_quota, setup, teardown),
      cmocka_unit_test_setup_teardown(test_comounted_cpu_cpuacct, setup, teardown),
      cmocka_unit_test_setup_teardown(test_container_mount_root, setup, teardown),
      cmocka_unit_test_setup_teardown(test_same_hierarchy_mounted_twice, setup, teardown),
      cmocka_unit_test_setup_teardown(test_escaped_mount_point_and_root_slash, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_quota_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_print, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_real_machine, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
