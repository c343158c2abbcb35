/* The CPU budget: the affinity count, the minimum over cgroup quotas, and its printout. */
#include "pool/cpu_budget.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <string.h>

#include "common/error.h"
#include "pool/cgroup.h"

/* Masks beyond this many CPUs are not a real machine; stop doubling there. */
#define LKV__AFFINITY_MAX_CPUS (1 << 20)

int lkv_cpu_budget_affinity(void) {
  /* Start at the glibc default size and double while the kernel says the mask is too small (EINVAL),
   * which happens on machines with more than 1024 possible CPUs. */
  for (int ncpus = CPU_SETSIZE; ncpus <= LKV__AFFINITY_MAX_CPUS; ncpus *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpus);
    if (set == NULL) return LKV_ENOMEM;
    size_t size = CPU_ALLOC_SIZE(ncpus);
    CPU_ZERO_S(size, set);
    int rc = sched_getaffinity(0, size, set);
    int err = errno;
    int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0) return count > 0 ? count : 1;
    if (err != EINVAL) return -err;
  }
  return LKV_EINVAL;
}

static const char *const source_names[LKV_CPU_SOURCE_COUNT] = {"affinity", "cgroup v2", "cgroup v1"};

/* A source that sets a limit (affinity always does). */
static int limits(const lkv_cpu_source_t *s) {
  return s->found && s->cpus > 0;
}

static void read_cgroup(const char *root, lkv__cgroup_version_t v, lkv_cpu_source_t *src) {
  char leaf[PATH_MAX], top[PATH_MAX];
  if (lkv__cgroup_locate(root, v, leaf, top, src->note, sizeof(src->note)) == 0) {
    lkv__cgroup_read_quota(v, leaf, top, src);
  }
}

int lkv_cpu_budget_read(const char *root, int affinity_cpus, lkv_cpu_budget_t *out) {
  if (root == NULL || root[0] == '\0' || out == NULL || affinity_cpus < 1) return LKV_EINVAL;
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < LKV_CPU_SOURCE_COUNT; i++) {
    out->sources[i].name = source_names[i];
    out->sources[i].quota_us = -1;
  }

  lkv_cpu_source_t *aff = &out->sources[LKV_CPU_SOURCE_AFFINITY];
  aff->found = 1;
  aff->cpus = affinity_cpus;
  read_cgroup(root, LKV__CGROUP_V2, &out->sources[LKV_CPU_SOURCE_CGROUP_V2]);
  read_cgroup(root, LKV__CGROUP_V1, &out->sources[LKV_CPU_SOURCE_CGROUP_V1]);

  out->exact = affinity_cpus;
  for (int i = 0; i < LKV_CPU_SOURCE_COUNT; i++) {
    const lkv_cpu_source_t *s = &out->sources[i];
    if (!limits(s)) continue;
    double share = i == LKV_CPU_SOURCE_AFFINITY ? s->cpus : (double)s->quota_us / (double)s->period_us;
    if (share < out->exact) out->exact = share;
  }
  out->cpus = (int)ceil(out->exact);
  if (out->cpus < 1) out->cpus = 1;
  return 0;
}

int lkv_cpu_budget_has_quota(const lkv_cpu_budget_t *b) {
  return limits(&b->sources[LKV_CPU_SOURCE_CGROUP_V2]) || limits(&b->sources[LKV_CPU_SOURCE_CGROUP_V1]);
}

int lkv_cpu_budget_throttled(const lkv_cpu_budget_t *b, uint64_t *out) {
  if (!lkv_cpu_budget_has_quota(b)) return LKV_ENOENT;
  uint64_t sum = 0;
  for (int i = LKV_CPU_SOURCE_CGROUP_V2; i <= LKV_CPU_SOURCE_CGROUP_V1; i++) {
    if (!limits(&b->sources[i])) continue;
    uint64_t n;
    int rc = lkv__cgroup_read_throttled(b->sources[i].path, &n);
    if (rc != 0) return rc;
    sum += n;
  }
  *out = sum;
  return 0;
}

static void print_source(const lkv_cpu_source_t *s, int is_cgroup, FILE *f) {
  fprintf(f, "%s: ", s->name);
  if (!s->found) {
    fprintf(f, "ignored (%s)\n", s->note);
    return;
  }
  if (!is_cgroup) {
    fprintf(f, "%d\n", s->cpus);
    return;
  }
  if (s->cpus == 0) {
    fprintf(f, "no limit (%s, %d level%s)", s->path, s->levels, s->levels == 1 ? "" : "s");
  } else {
    fprintf(f, "%d (quota %lld / period %lld us in %s, %d level%s)", s->cpus, s->quota_us, s->period_us,
            s->path, s->levels, s->levels == 1 ? "" : "s");
  }
  if (s->note[0] != '\0') fprintf(f, "; %s", s->note);
  fputc('\n', f);
}

void lkv_cpu_budget_print(const lkv_cpu_budget_t *b, FILE *f) {
  fprintf(f, "%d\n", b->cpus);
  for (int i = 0; i < LKV_CPU_SOURCE_COUNT; i++)
    print_source(&b->sources[i], i != LKV_CPU_SOURCE_AFFINITY, f);
}
