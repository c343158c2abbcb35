/* The `ledgerkv cpus` command: the CPU budget and where each of its limits came from. */
#include "tools/cpus_cmd.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "pool/cpu_budget.h"

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv cpus [--root DIR]\n"
      "Prints how many CPUs ledgerkv may use (the minimum of the affinity mask and the cgroup v1/v2 CPU\n"
      "quotas, rounded up), then one line per source, the unrounded budget and how many CFS periods the\n"
      "limiting cgroups were throttled in.\n"
      "  --root DIR  read proc/self/{mountinfo,cgroup} and the cgroup files under DIR instead of /\n",
      f);
}

/* What the worker pool's quota fit reads besides the budget (pool/fit.h): the unrounded share and how
 * often the limiting cgroups ran out of quota. */
static void print_quota_use(const lkv_cpu_budget_t *b) {
  printf("exact: %.2f\n", b->exact);
  if (!lkv_cpu_budget_has_quota(b)) {
    printf("throttled periods: no quota\n");
    return;
  }
  uint64_t throttled;
  int rc = lkv_cpu_budget_throttled(b, &throttled);
  if (rc == 0)
    printf("throttled periods: %llu\n", (unsigned long long)throttled);
  else
    printf("throttled periods: unknown (%s)\n", lkv_strerror(rc));
}

int lkv_cmd_cpus(int argc, char **argv) {
  const char *root = "/";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(argv[i], "--root") == 0) {
      if (i + 1 == argc) {
        fputs("ledgerkv cpus: --root needs a directory\n", stderr);
        return 2;
      }
      root = argv[++i];
    } else if (strncmp(argv[i], "--root=", 7) == 0) {
      root = argv[i] + 7;
    } else {
      fprintf(stderr, "ledgerkv cpus: unexpected argument \"%s\"\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  int affinity = lkv_cpu_budget_affinity();
  if (affinity < 0) {
    fprintf(stderr, "ledgerkv cpus: sched_getaffinity: %s\n", lkv_strerror(affinity));
    return 1;
  }
  lkv_cpu_budget_t budget;
  int rc = lkv_cpu_budget_read(root, affinity, &budget);
  if (rc != 0) {
    fprintf(stderr, "ledgerkv cpus: %s: %s\n", root, lkv_strerror(rc));
    return 1;
  }
  lkv_cpu_budget_print(&budget, stdout);
  print_quota_use(&budget);
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
