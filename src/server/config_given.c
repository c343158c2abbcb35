/* The parse state's bookkeeping: flags set so far, the values of etcd flags without effect, warnings. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_etcd.h"
#include "server/config_internal.h"

int lkv__config_warn(lkv__config_parse_t *p, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  lkv_config_t *cfg = p->cfg;
  char **grown = realloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(*grown));
  if (grown == NULL) return lkv__config_nomem(p);
  cfg->warnings = grown;
  if ((grown[cfg->n_warnings] = strdup(line)) == NULL) return lkv__config_nomem(p);
  cfg->n_warnings++;
  return 0;
}

int lkv__config_was_set(const lkv__config_parse_t *p, const char *name) {
  for (size_t i = 0; i < p->n_set; i++)
    if (strcmp(p->set[i], name) == 0) return 1;
  return 0;
}

const char *lkv__config_given(const lkv__config_parse_t *p, const char *name) {
  for (size_t i = 0; i < p->n_given; i++)
    if (strcmp(p->given[i].flag->name, name) == 0) return p->given[i].value;
  return NULL;
}

int lkv__config_set_given(lkv__config_parse_t *p, const lkv__etcd_flag_t *e, const char *value,
                          lkv__config_src_t src, const char *key) {
  if (lkv__config_etcd_valid(e, value) != 0) {
    if (src == LKV__SRC_ENV)
      return lkv__config_fail(p, "invalid value \"%s\" for %s: parse error", value, key);
    if (e->kind == LKV__KIND_BOOL) /* Go's flag package words booleans so */
      return lkv__config_fail(p, "invalid boolean value \"%s\" for -%s: parse error", value, e->name);
    return lkv__config_fail(p, "invalid value \"%s\" for flag -%s: parse error", value, e->name);
  }
  size_t i = 0;
  while (i < p->n_given && p->given[i].flag != e) i++;
  if (i == LKV__CONFIG_MAX_GIVEN) return lkv__config_fail(p, "too many flags");
  char *copy = strdup(value);
  if (copy == NULL) return lkv__config_nomem(p);
  if (i == p->n_given) {
    p->given[i].flag = e;
    p->n_given++;
  } else {
    free(p->given[i].value);
  }
  p->given[i].value = copy;
  return 0;
}

void lkv__config_given_free(lkv__config_parse_t *p) {
  for (size_t i = 0; i < p->n_given; i++) free(p->given[i].value);
  p->n_given = 0;
  p->n_set = 0;
}
