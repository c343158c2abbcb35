/* Reading "--flag V" and "--flag=V" arguments, for the commands that take etcdctl-style flags. */
#ifndef LKV_TOOLS_FLAG_VALUE_H
#define LKV_TOOLS_FLAG_VALUE_H

#include <string.h>

/* The value of flag at argv[*i] (as "--flag V", advancing *i, or "--flag=V"), or NULL when argv[*i] is
 * another flag; a "--flag" without its value sets *bad. */
static inline const char *lkv_tools_flag_value(const char *flag, int argc, char **argv, int *i, int *bad) {
  size_t n = strlen(flag);
  if (strncmp(argv[*i], flag, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] != '\0') return NULL;
  if (*i + 1 == argc) {
    *bad = 1;
    return NULL;
  }
  return argv[++*i];
}

/* The cluster flags of etcdctl's restore, which every restore command takes. */
typedef struct lkv_tools_restore_flags_s {
  const char *data_dir, *name, *initial_cluster, *token;
} lkv_tools_restore_flags_t;

/* Reads argv[*i] into f when it is --data-dir, --name, --initial-cluster or --initial-cluster-token, and
 * accepts --initial-advertise-peer-urls (etcdctl takes it for the member's own URLs; ledgerkv's come from
 * the server's flags at the first start). Returns 1 when argv[*i] was one of them (*i advanced past a
 * separate value), else 0; a flag without its value sets *bad. */
static inline int lkv_tools_restore_flag(lkv_tools_restore_flags_t *f, int argc, char **argv, int *i,
                                         int *bad) {
  static const char *const names[] = {"--data-dir", "--name", "--initial-cluster", "--initial-cluster-token",
                                      "--initial-advertise-peer-urls"};
  const char **slots[] = {&f->data_dir, &f->name, &f->initial_cluster, &f->token, NULL};
  for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
    const char *v = lkv_tools_flag_value(names[k], argc, argv, i, bad);
    if (!v) continue;
    if (slots[k]) *slots[k] = v;
    return 1;
  }
  return 0;
}

#endif
