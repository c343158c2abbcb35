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

#endif
