/* ledgerkv's rate limit flags: --rate-limit-by, -exempt and -file, and the file read over the flags. */
#include "server/config_rate_limit.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_internal.h"

#define DEFAULT_EXEMPT "LeaseKeepAlive" /* all of kube-apiserver is one client: its keep-alives must pass */

static const char *const by_names[] = {
    [LKV_RATELIMIT_BY_ADDRESS] = "address", [LKV_RATELIMIT_BY_CN] = "cn", [LKV_RATELIMIT_BY_USER] = "user"};

static int replace(lkv__config_parse_t *p, char **field, const char *value) {
  char *copy = strdup(value);
  if (!copy) return lkv__config_nomem(p);
  free(*field);
  *field = copy;
  return 0;
}

int lkv__config_rate_limit_set(lkv__config_parse_t *p, const char *name, const char *value) {
  lkv_config_rate_limit_t *rl = &p->cfg->rate_limit;
  if (strcmp(name, "rate-limit-by") == 0) {
    for (size_t i = 0; i < sizeof(by_names) / sizeof(by_names[0]); i++) {
      if (strcmp(value, by_names[i]) == 0) {
        rl->by = (int)i;
        return 0;
      }
    }
    return lkv__config_fail(p, "--%s: invalid value \"%s\": expected user, cn or address", name, value);
  }
  if (strcmp(name, "rate-limit-exempt") == 0) {
    char why[256];
    lkv_ratelimit_policy_t check = {.exempt = value, .max_identities = 1};
    if (lkv_ratelimit_policy_check(&check, why, sizeof(why)) != 0)
      return lkv__config_fail(p, "--%s: %s", name, why);
    return replace(p, &rl->exempt, value);
  }
  if (value[0] == '\0') { /* --rate-limit-file: empty is none */
    free(rl->file);
    rl->file = NULL;
    return 0;
  }
  return replace(p, &rl->file, value);
}

int lkv__config_rate_limit_defaults(lkv__config_parse_t *p) {
  lkv_config_rate_limit_t *rl = &p->cfg->rate_limit;
  rl->max_identities = 10000;
  rl->by = LKV_RATELIMIT_BY_USER;
  return replace(p, &rl->exempt, DEFAULT_EXEMPT);
}

void lkv_config_rate_limit_free(lkv_config_rate_limit_t *rl) {
  free(rl->exempt);
  free(rl->file);
  memset(rl, 0, sizeof(*rl));
}

/* Reads the file's keys over tmp (a config holding only the flags' rate limits): every key must be one of
 * the rate-limit-* flags but the file itself, and an unknown key is an error here (etcd's config file only
 * warns: a reload that quietly ignores a misspelt limit would leave the old one in force unnoticed). */
static int read_file(lkv__config_parse_t *p, const char *path) {
  int rc = lkv__config_file_apply(p, path);
  if (rc == 0 && p->cfg->n_warnings > 0) rc = lkv__config_fail(p, "%s", p->cfg->warnings[0]);
  for (size_t i = 0; rc == 0 && i < p->n_set; i++) {
    if (strncmp(p->set[i], "rate-limit-", 11) != 0 || strcmp(p->set[i], "rate-limit-file") == 0)
      rc = lkv__config_fail(p, "rate limit file %s: %s is not a rate limit setting", path, p->set[i]);
  }
  return rc;
}

int lkv_config_rate_limit_load(const lkv_config_t *cfg, lkv_config_rate_limit_t *out, char *err,
                               size_t errlen) {
  lkv_config_t tmp = {0};
  lkv__config_parse_t p = {.cfg = &tmp, .err = err, .errlen = errlen};
  tmp.rate_limit = cfg->rate_limit;
  tmp.rate_limit.exempt = strdup(cfg->rate_limit.exempt ? cfg->rate_limit.exempt : DEFAULT_EXEMPT);
  tmp.rate_limit.file = NULL;
  int rc = tmp.rate_limit.exempt ? 0 : lkv__config_nomem(&p);
  if (rc == 0 && cfg->rate_limit.file) rc = read_file(&p, cfg->rate_limit.file);
  if (rc == 0) {
    *out = tmp.rate_limit;
    tmp.rate_limit.exempt = NULL; /* moved to out */
  }
  lkv__config_given_free(&p);
  lkv_config_free(&tmp);
  return rc;
}

void lkv_config_rate_limit_policy(const lkv_config_rate_limit_t *rl, lkv_ratelimit_policy_t *out) {
  *out = (lkv_ratelimit_policy_t){.requests = rl->requests,
                                  .burst = rl->burst,
                                  .bytes = rl->bytes,
                                  .bytes_burst = rl->bytes_burst,
                                  .by = (lkv_ratelimit_by_t)rl->by,
                                  .exempt = rl->exempt,
                                  .max_identities = rl->max_identities};
}
