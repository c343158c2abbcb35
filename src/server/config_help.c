/* --help and --version: ledgerkv's flags, then every other etcd 3.4 flag with its class. */
#include <stdio.h>
#include <string.h>

#include "server/config.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"
#include "server/version.h"

/* Prints the non-implemented etcd flags of one class on wrapped lines. */
static void print_class(FILE *f, lkv__flag_class_t cls, const char *title) {
  size_t n;
  const lkv__etcd_flag_t *all = lkv__config_etcd_all(&n);
  fprintf(f, "\n  %s\n   ", title);
  size_t col = 3;
  for (size_t i = 0; i < n; i++) {
    if (all[i].cls != cls) continue;
    size_t w = strlen(all[i].name) + 3;
    if (col + w > 110) {
      fputs("\n   ", f);
      col = 3;
    }
    fprintf(f, " --%s", all[i].name);
    col += w;
  }
  fputc('\n', f);
}

void lkv_config_usage(FILE *f) {
  fputs(
      "Usage:\n\n  ledgerkv [flags]\n  ledgerkv COMMAND [args]   (cpus, bench, ledger-key, receipt, "
      "verify-receipt, audit,\n"
      "                            causal-status; each takes --help)\n\n"
      "An etcd-compatible key-value server. Flags take etcd's names; --flag value, --flag=value and\n"
      "-flag value are alike. A flag not given is read from ETCD_<FLAG_NAME> (e.g. ETCD_DATA_DIR); a\n"
      "--config-file (YAML, etcd's keys) replaces both, as with etcd.\n\n",
      f);
  const char *name, *def, *help;
  for (size_t i = 0; lkv__config_own_flag(i, &name, &def, &help) == 0; i++)
    fprintf(f, "  --%s%s%s\n      %s\n", name, def ? " " : "", def ? def : "", help);
  fputs("  -h, --help\n      Show this help and exit.\n", f);
  fputs("\netcd 3.4's other flags (docs/compatibility.md says why for each):\n", f);
  print_class(f, LKV__FLAG_CLUSTER,
              "implemented, read together as etcd does (cluster, auto-compaction, client TLS):");
  print_class(f, LKV__FLAG_WARNED, "accepted with a warning (no effect on ledgerkv):");
  print_class(f, LKV__FLAG_CHECKED, "accepted with a warning at a harmless value, refused otherwise:");
  print_class(f, LKV__FLAG_REFUSED, "refused:");
}

void lkv_config_version(FILE *f) {
  fputs("ledgerkv Version: " LKV_VERSION
        "\n"
        "etcd API Version: " LKV_ETCD_API_VERSION
        "\n"
        "etcd Compatible Version: " LKV_ETCD_VERSION "\n",
        f);
}
