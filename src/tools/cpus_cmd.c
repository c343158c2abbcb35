/* The `ledgerkv cpus` command: the CPU budget and where each of its limits came from. */
#include "tools/cpus_cmd.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "pool/cpu_budget.h"

static void usage(FILE *f) {
  fputs(
      "Usage: ledgerkv cpus [--root DIR]\n"
      "Prints how many CPUs ledgerkv may use (the minimum of the affinity mask and the cgroup v1/v2 CPU\n"
      "quotas, rounded up), then one line per source.\n"
      "  --root DIR  read proc/self/{mountinfo,cgroup} and the cgroup files under DIR instead of /\n",
      f);
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
  return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
