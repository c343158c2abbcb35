/* The server's rate limiter: the flags and --rate-limit-file made into its policy, at start and on SIGHUP. */
#include "server/rate_limit.h"

#include <stdio.h>
#include <stdlib.h>

#include "api/rate_limit.h"
#include "common/error.h"
#include "metrics/metrics.h"
#include "server/config_rate_limit.h"

struct lkv__rate_limit_s {
  const lkv_config_t *cfg;
  lkv_api_t *api;
  lkv_ratelimit_t *rl;
};

/* The limits c sets, as one line for the log: "off", or each limit set, with its burst. */
static void describe(const lkv_config_rate_limit_t *c, char *buf, size_t cap) {
  static const char *const by[] = {"address", "cn", "user"};
  if (!c->requests && !c->bytes) {
    snprintf(buf, cap, "off");
    return;
  }
  char req[64] = "", bytes[80] = "";
  if (c->requests)
    snprintf(req, sizeof(req), "%llu requests/s (burst %llu)%s", (unsigned long long)c->requests,
             (unsigned long long)(c->burst ? c->burst : c->requests), c->bytes ? ", " : "");
  if (c->bytes)
    snprintf(bytes, sizeof(bytes), "%llu request bytes/s (burst %llu)", (unsigned long long)c->bytes,
             (unsigned long long)(c->bytes_burst ? c->bytes_burst : c->bytes));
  snprintf(buf, cap, "%s%s per %s, exempt \"%s\", at most %llu identities", req, bytes, by[c->by], c->exempt,
           (unsigned long long)c->max_identities);
}

int lkv__rate_limit_start(lkv__rate_limit_t **out, const lkv_config_t *cfg, lkv_api_t *api, char *err,
                          size_t errlen) {
  lkv_config_rate_limit_t c = {0};
  int rc = lkv_config_rate_limit_load(cfg, &c, err, errlen);
  if (rc) return rc;
  lkv__rate_limit_t *r = calloc(1, sizeof(*r));
  lkv_ratelimit_policy_t p;
  lkv_config_rate_limit_policy(&c, &p);
  rc = r ? lkv_ratelimit_new(&r->rl, &p, err, errlen) : LKV_ENOMEM;
  if (rc == 0) {
    lkv_api_rate_limit_metrics();
    lkv_metrics_t *reg = lkv_metrics_global();
    if (reg) rc = lkv_metrics_on_collect(reg, lkv_api_rate_limit_collect, r->rl);
    if (rc) lkv_ratelimit_free(r->rl);
  }
  if (rc) {
    if (rc == LKV_ENOMEM) snprintf(err, errlen, "out of memory");
    free(r);
    lkv_config_rate_limit_free(&c);
    return rc;
  }
  char line[400];
  describe(&c, line, sizeof(line));
  if (c.requests || c.bytes) fprintf(stderr, "ledgerkv: rate limits: %s\n", line);
  lkv_config_rate_limit_free(&c);
  r->cfg = cfg;
  r->api = api;
  api->ratelimit = r->rl;
  *out = r;
  return 0;
}

int lkv__rate_limit_reload(lkv__rate_limit_t *r) {
  if (!r->cfg->rate_limit.file) {
    fprintf(stderr, "ledgerkv: SIGHUP: no --rate-limit-file to reload\n");
    return LKV_ENOENT;
  }
  lkv_config_rate_limit_t c = {0};
  char err[512] = "";
  int rc = lkv_config_rate_limit_load(r->cfg, &c, err, sizeof(err));
  if (rc == 0) {
    lkv_ratelimit_policy_t p;
    lkv_config_rate_limit_policy(&c, &p);
    rc = lkv_ratelimit_set_policy(r->rl, &p, err, sizeof(err));
  }
  if (rc) {
    fprintf(stderr, "ledgerkv: SIGHUP: rate limits not reloaded, the previous ones stay: %s\n",
            err[0] ? err : lkv_strerror(rc));
  } else {
    char line[400];
    describe(&c, line, sizeof(line));
    fprintf(stderr, "ledgerkv: SIGHUP: rate limits reloaded from %s: %s\n", r->cfg->rate_limit.file, line);
  }
  lkv_config_rate_limit_free(&c);
  return rc;
}

void lkv__rate_limit_stop(lkv__rate_limit_t *r) {
  if (!r) return;
  lkv_metrics_t *reg = lkv_metrics_global();
  if (reg) lkv_metrics_remove_collector(reg, lkv_api_rate_limit_collect, r->rl);
  r->api->ratelimit = NULL;
  lkv_ratelimit_free(r->rl);
  free(r);
}
