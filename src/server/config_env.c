/* ETCD_<FLAG> environment variables for the flags not given on the command line, as etcd 3.4 reads them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"

#define MAX_KEYS 192

/* "data-dir" -> "ETCD_DATA_DIR" (etcd's flags.FlagToEnv). */
static void env_key(const char *name, char *key, size_t keylen) {
  size_t n = (size_t)snprintf(key, keylen, "ETCD_%s", name);
  for (size_t i = 5; i < n && i < keylen; i++)
    key[i] = key[i] == '-' ? '_' : (char)toupper((unsigned char)key[i]);
}

/* The value of key in envp, or NULL. */
static const char *env_get(char **envp, const char *key) {
  size_t len = strlen(key);
  for (char **e = envp; e != NULL && *e != NULL; e++)
    if (strncmp(*e, key, len) == 0 && (*e)[len] == '=') return *e + len + 1;
  return NULL;
}

typedef struct keys_s {
  char used[MAX_KEYS][80]; /* variables that set a flag */
  size_t n_used;
  char shadowed[MAX_KEYS][80]; /* variables of flags given on the command line */
  size_t n_shadowed;
} keys_t;

static int in(const char (*list)[80], size_t n, const char *key, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(list[i]) == len && memcmp(list[i], key, len) == 0) return 1;
  return 0;
}

/* One flag: remember its variable as shadowed when the flag was given, else set the flag from it. */
static int visit(lkv__config_parse_t *p, keys_t *k, char **envp, const char *name) {
  char key[80];
  env_key(name, key, sizeof(key));
  if (lkv__config_was_set(p, name)) {
    if (k->n_shadowed < MAX_KEYS) snprintf(k->shadowed[k->n_shadowed++], 80, "%s", key);
    return 0;
  }
  const char *value = env_get(envp, key);
  if (value == NULL || value[0] == '\0') return 0; /* etcd skips empty values */
  if (k->n_used < MAX_KEYS) snprintf(k->used[k->n_used++], 80, "%s", key);
  /* --version was handled before the environment (a variable cannot print it, as in etcd), and
   * ETCD_CONFIG_FILE was looked at before: both are known, neither sets anything here. */
  if (strcmp(name, "version") == 0 || strcmp(name, "config-file") == 0) return 0;
  return lkv__config_set(p, name, strlen(name), value, LKV__SRC_ENV, key);
}

/* The variables nobody asked for: a shadowed one is an error, an unknown ETCD_ one a warning (etcd's). */
static int check_rest(lkv__config_parse_t *p, const keys_t *k, char **envp) {
  for (char **e = envp; e != NULL && *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
    if (in(k->used, k->n_used, *e, len)) continue;
    if (in(k->shadowed, k->n_shadowed, *e, len))
      return lkv__config_fail(p,
                              "conflicting environment variable \"%.*s\" is shadowed by corresponding "
                              "command-line flag (either unset environment variable or disable flag)",
                              (int)len, *e);
    if (strncmp(*e, "ETCD_", 5) == 0) {
      int rc = lkv__config_warn(p, "unrecognized environment variable %s", *e);
      if (rc != 0) return rc;
    }
  }
  return 0;
}

int lkv__config_env_apply(lkv__config_parse_t *p, char **envp) {
  keys_t *k = calloc(1, sizeof(*k)); /* about 30 KiB: not on the stack */
  if (k == NULL) return LKV_ENOMEM;
  int rc = 0;
  const char *name, *def, *help;
  for (size_t i = 0; rc == 0 && lkv__config_own_flag(i, &name, &def, &help) == 0; i++)
    rc = visit(p, k, envp, name);
  size_t n;
  const lkv__etcd_flag_t *all = lkv__config_etcd_all(&n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (all[i].cls == LKV__FLAG_IMPLEMENTED) continue; /* in config.c's own table, visited above */
    rc = visit(p, k, envp, all[i].name);
  }
  if (rc == 0) rc = check_rest(p, k, envp);
  free(k);
  return rc;
}
