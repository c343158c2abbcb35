/* etcd 3.4's simple tokens: "<16 random letters>.<log index>" names a user on every member that applied
 * the Authenticate entry, until it goes unused for the token TTL (auth_token.c). */
#ifndef LKV_API_AUTH_TOKEN_H
#define LKV_API_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* The random part of a token: 16 letters a-z, A-Z as etcd's genTokenPrefix, NUL-terminated. */
#define LKV_API_TOKEN_PREFIX_LEN 16

/* The tokens a member knows, each with its user and expiry. Thread-safe (a mutex): Authenticate's apply
 * adds tokens on the replicator's thread, every call looks its token up on a loop thread. */
typedef struct lkv_api_tokens_s lkv_api_tokens_t;

/* Creates an empty keeper whose tokens live ttl_ms after their last use (etcd's --auth-token-ttl, in
 * seconds there; 0 gives etcd's default, 300 s). Returns 0 or LKV_ENOMEM; free with lkv_api_tokens_free. */
int lkv_api_tokens_new(lkv_api_tokens_t **out, uint64_t ttl_ms);

/* Frees the keeper and every token. NULL is ignored. */
void lkv_api_tokens_free(lkv_api_tokens_t *t);

/* Writes a fresh random prefix (LKV_API_TOKEN_PREFIX_LEN letters and a NUL) into out, from the kernel's
 * random source. Returns 0 or LKV_EIO. */
int lkv_api_tokens_prefix(char out[LKV_API_TOKEN_PREFIX_LEN + 1]);

/* Records "<prefix>.<index>" as user's token, alive until now_ms + ttl; tokens expired at now_ms are
 * dropped first. token_out (cap bytes, at least 38) receives the token. Returns 0, LKV_EEXIST (that
 * token is known already: etcd panics there), LKV_EINVAL (prefix not LKV_API_TOKEN_PREFIX_LEN letters,
 * empty user, cap too small), LKV_ENOMEM. Copies prefix and user. */
int lkv_api_tokens_assign(lkv_api_tokens_t *t, const char *prefix, uint64_t index, const char *user,
                          uint64_t now_ms, char *token_out, size_t cap);

/* Looks token up at now_ms: when it is known and not expired, renews its TTL (etcd's resetSimpleToken)
 * and sets *user to a malloc'd copy of its user name (the caller frees it). Returns 0,
 * LKV_EINVALIDTOKEN (unknown, expired or malformed: expired tokens are forgotten), LKV_ENOMEM. */
int lkv_api_tokens_user(lkv_api_tokens_t *t, const char *token, uint64_t now_ms, char **user);

/* Forgets every token of user (etcd: when the user is deleted or its password changes). */
void lkv_api_tokens_drop_user(lkv_api_tokens_t *t, const char *user);

/* Forgets every token (etcd: when auth is disabled). */
void lkv_api_tokens_clear(lkv_api_tokens_t *t);

#endif
