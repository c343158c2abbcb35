/* --cors and --host-whitelist: etcd's access control of the HTTP requests on the client port. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server/config_internal.h"
#include "server/config_url.h"

/* Splits a comma-separated value into a malloc'd list (empty entries dropped). */
static int split(const char *value, char ***out, size_t *n) {
  size_t cap = 1;
  for (const char *s = value; *s; s++) cap += *s == ',';
  char **l = calloc(cap, sizeof(*l));
  if (!l) return LKV_ENOMEM;
  size_t k = 0;
  for (const char *s = value;;) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    if (len && !(l[k++] = strndup(s, len))) {
      lkv__config_list_free(l, k);
      return LKV_ENOMEM;
    }
    if (!comma) break;
    s = comma + 1;
  }
  *out = l;
  *n = k;
  return 0;
}

void lkv__config_list_free(char **l, size_t n) {
  for (size_t i = 0; l && i < n; i++) free(l[i]);
  free(l);
}

/* --cors takes "*" or URLs as etcd does (scheme://host:port); they are compared with the Origin header. */
static int check_origins(lkv__config_parse_t *p, char **l, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (strcmp(l[i], "*") == 0) continue;
    lkv_config_url_t *u;
    size_t k;
    int rc = lkv__config_urls_parse("--cors", l[i], 0, &u, &k, p->err, p->errlen);
    if (rc != 0) return rc;
    lkv__config_urls_free(u, k);
  }
  return 0;
}

int lkv__config_gateway_check(lkv__config_parse_t *p) {
  lkv_config_t *cfg = p->cfg;
  const char *cors = lkv__config_given(p, "cors"), *hosts = lkv__config_given(p, "host-whitelist");
  /* etcd's default for both is "*": any origin, any host (an empty value too, as its help says) */
  int rc = split(cors ? cors : "*", &cfg->cors, &cfg->n_cors);
  if (rc == 0) rc = check_origins(p, cfg->cors, cfg->n_cors);
  if (rc == 0) rc = split(hosts ? hosts : "*", &cfg->host_whitelist, &cfg->n_host_whitelist);
  return rc;
}
