/* --auth-token: etcd's token providers, "simple" or "jwt,<option>=<value>,..." (its decomposeOpts and JWT
 * options: pub-key, priv-key, sign-method, ttl). The key files are read when the server starts. */
#include <stdlib.h>
#include <string.h>

#include "server/config_duration.h"
#include "server/config_internal.h"

/* etcd's answer to any malformed --auth-token: ErrInvalidAuthOpts. */
#define INVALID "auth: invalid auth options"

void lkv__config_auth_token_free(lkv_config_auth_token_t *t) {
  free(t->pub_key);
  free(t->priv_key);
  free(t->sign_method);
  *t = (lkv_config_auth_token_t){.ttl_s = LKV_CONFIG_JWT_TTL_S};
}

/* One "key=value" option (len bytes at s) into t. Returns 0, 1 (malformed or duplicated), -1 (memory). */
static int option(lkv__config_parse_t *p, lkv_config_auth_token_t *t, const char *s, size_t len, int *seen) {
  const char *eq = memchr(s, '=', len);
  if (!eq || memchr(eq + 1, '=', len - (size_t)(eq + 1 - s))) return 1;
  static const char *const names[] = {"pub-key", "priv-key", "sign-method", "ttl"};
  size_t klen = (size_t)(eq - s), i = 0;
  while (i < 4 && (strlen(names[i]) != klen || memcmp(names[i], s, klen) != 0)) i++;
  if (i == 4) { /* etcd warns about unknown options and goes on */
    int rc = lkv__config_warn(p, "--auth-token: unknown JWT option \"%.*s\" ignored", (int)klen, s);
    return rc ? -1 : 0;
  }
  if (seen[i]++) return 1;
  char *v = strndup(eq + 1, len - klen - 1);
  if (!v) return -1;
  if (i == 3) {
    int64_t ns;
    int bad = lkv__config_duration_parse(v, &ns) != 0 || ns < 0;
    free(v);
    t->ttl_s = bad ? 0 : ns / 1000000000;
    return bad;
  }
  char **field = i == 0 ? &t->pub_key : i == 1 ? &t->priv_key : &t->sign_method;
  *field = v;
  return 0;
}

int lkv__config_auth_token_set(lkv__config_parse_t *p, const char *value) {
  lkv_config_auth_token_t *t = &p->cfg->auth_token;
  lkv__config_auth_token_free(t);
  const char *comma = strchr(value, ',');
  size_t type_len = comma ? (size_t)(comma - value) : strlen(value);
  if (type_len == 6 && memcmp(value, "simple", 6) == 0) return 0; /* options after it are not read */
  if (type_len != 3 || memcmp(value, "jwt", 3) != 0)
    return lkv__config_fail(p, "--auth-token: unknown token type \"%.*s\": " INVALID, (int)type_len, value);
  t->jwt = 1;
  int seen[4] = {0};
  for (const char *s = comma; s; s = strchr(s + 1, ',')) {
    const char *next = strchr(s + 1, ',');
    size_t len = next ? (size_t)(next - s - 1) : strlen(s + 1);
    int rc = option(p, t, s + 1, len, seen);
    if (rc < 0) return lkv__config_nomem(p);
    if (rc > 0) return lkv__config_fail(p, "--auth-token: \"%.*s\": " INVALID, (int)len, s + 1);
  }
  return 0; /* the method and the keys are checked when the server reads the keys */
}
