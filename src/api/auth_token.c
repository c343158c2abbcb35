/* etcd 3.4's simple tokens: the table of a member's tokens (user, expiry), their TTL renewed on use. */
#include "api/auth_token.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/error.h"

/* etcd's default --auth-token-ttl. */
#define DEFAULT_TTL_MS 300000u

typedef struct token_s {
  char *token, *user;
  uint64_t expires_ms;
} token_t;

/* A plain array: a member holds a token per logged-in client (kube-apiserver: a handful), so a linear
 * look-up costs less than the hashing a table would need. */
struct lkv_api_tokens_s {
  pthread_mutex_t mu;
  token_t *v;
  size_t n, cap;
  uint64_t ttl_ms;
};

int lkv_api_tokens_new(lkv_api_tokens_t **out, uint64_t ttl_ms) {
  lkv_api_tokens_t *t = calloc(1, sizeof(*t));
  if (!t) return LKV_ENOMEM;
  if (pthread_mutex_init(&t->mu, NULL) != 0) {
    free(t);
    return LKV_ENOMEM;
  }
  t->ttl_ms = ttl_ms ? ttl_ms : DEFAULT_TTL_MS;
  *out = t;
  return 0;
}

static void drop_at(lkv_api_tokens_t *t, size_t i) {
  free(t->v[i].token);
  free(t->v[i].user);
  t->v[i] = t->v[--t->n]; /* order does not matter */
}

void lkv_api_tokens_clear(lkv_api_tokens_t *t) {
  pthread_mutex_lock(&t->mu);
  while (t->n) drop_at(t, t->n - 1);
  pthread_mutex_unlock(&t->mu);
}

void lkv_api_tokens_free(lkv_api_tokens_t *t) {
  if (!t) return;
  lkv_api_tokens_clear(t);
  free(t->v);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

int lkv_api_tokens_prefix(char out[LKV_API_TOKEN_PREFIX_LEN + 1]) {
  static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  size_t got = 0;
  while (got < LKV_API_TOKEN_PREFIX_LEN) {
    uint8_t b[32];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) return LKV_EIO;
    /* 52 * 4 = 208: bytes from 208 up are dropped so that every letter is equally likely */
    for (size_t i = 0; i < sizeof(b) && got < LKV_API_TOKEN_PREFIX_LEN; i++)
      if (b[i] < 208) out[got++] = letters[b[i] % 52];
  }
  out[got] = '\0';
  return 0;
}

static int valid_prefix(const char *p) {
  size_t i = 0;
  for (; p[i] && i <= LKV_API_TOKEN_PREFIX_LEN; i++)
    if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z'))) return 0;
  return i == LKV_API_TOKEN_PREFIX_LEN;
}

static long find(const lkv_api_tokens_t *t, const char *token) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->v[i].token, token) == 0) return (long)i;
  return -1;
}

static void drop_expired(lkv_api_tokens_t *t, uint64_t now_ms) {
  for (size_t i = t->n; i-- > 0;)
    if (t->v[i].expires_ms <= now_ms) drop_at(t, i);
}

static int add(lkv_api_tokens_t *t, const char *token, const char *user, uint64_t now_ms) {
  if (find(t, token) >= 0) return LKV_EEXIST;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    token_t *v = realloc(t->v, cap * sizeof(*v));
    if (!v) return LKV_ENOMEM;
    t->v = v, t->cap = cap;
  }
  token_t e = {.token = strdup(token), .user = strdup(user), .expires_ms = now_ms + t->ttl_ms};
  if (!e.token || !e.user) {
    free(e.token);
    free(e.user);
    return LKV_ENOMEM;
  }
  t->v[t->n++] = e;
  return 0;
}

int lkv_api_tokens_assign(lkv_api_tokens_t *t, const char *prefix, uint64_t index, const char *user,
                          uint64_t now_ms, char *token_out, size_t cap) {
  if (!valid_prefix(prefix) || !user[0]) return LKV_EINVAL;
  int n = snprintf(token_out, cap, "%s.%" PRIu64, prefix, index);
  if (n < 0 || (size_t)n >= cap) return LKV_EINVAL;
  pthread_mutex_lock(&t->mu);
  drop_expired(t, now_ms);
  int rc = add(t, token_out, user, now_ms);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

int lkv_api_tokens_user(lkv_api_tokens_t *t, const char *token, uint64_t now_ms, char **user) {
  int rc = LKV_EINVALIDTOKEN;
  pthread_mutex_lock(&t->mu);
  long i = find(t, token);
  if (i >= 0 && t->v[i].expires_ms <= now_ms) {
    drop_at(t, (size_t)i);
    i = -1;
  }
  if (i >= 0) {
    t->v[i].expires_ms = now_ms + t->ttl_ms;
    *user = strdup(t->v[i].user);
    rc = *user ? 0 : LKV_ENOMEM;
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

void lkv_api_tokens_drop_user(lkv_api_tokens_t *t, const char *user) {
  pthread_mutex_lock(&t->mu);
  for (size_t i = t->n; i-- > 0;)
    if (strcmp(t->v[i].user, user) == 0) drop_at(t, i);
  pthread_mutex_unlock(&t->mu);
}
