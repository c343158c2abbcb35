/* etcd 3.4's JWT auth tokens (--auth-token jwt,...): signing and verification with OpenSSL (auth_jwt.c). */
#ifndef LKV_API_AUTH_JWT_H
#define LKV_API_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

/* A JWT token provider: its signing method and key, and the tokens' lifetime. Read-only once made: any
 * thread. */
typedef struct lkv_api_jwt_s lkv_api_jwt_t;

/* Builds a provider as etcd's --auth-token jwt options ask: method one of RS256/384/512, PS256/384/512,
 * ES256/384/512, HS256/384/512 (jwt-go's names), pub_key and priv_key PEM files (either may be NULL, not
 * both; with only pub_key the provider verifies but cannot sign, as etcd's); for HS* the bytes of the
 * priv_key file, whatever they hold, are the shared secret (etcd's hmacKey; pub_key is read but not
 * used); tokens living ttl_s seconds. Returns 0, or LKV_EINVAL with the reason in err (errlen bytes): an
 * unknown method, a missing, empty or unreadable key, keys of another kind than the method's, a public
 * key that is not the private one's; LKV_ENOMEM. Free with lkv_api_jwt_free. */
int lkv_api_jwt_new(lkv_api_jwt_t **out, const char *method, const char *pub_key, const char *priv_key,
                    int64_t ttl_s, char *err, size_t errlen);

/* Frees j. NULL is ignored. */
void lkv_api_jwt_free(lkv_api_jwt_t *j);

/* Signs etcd's claims {"exp","revision","username"} for user at the auth revision, expiring ttl after
 * now_s (Unix seconds), into a malloc'd token (the caller frees it). Returns 0, LKV_EPERM (a provider
 * that only verifies), LKV_ENOMEM, LKV_EINVAL (OpenSSL failed). */
int lkv_api_jwt_sign(const lkv_api_jwt_t *j, const char *user, uint64_t revision, int64_t now_s, char **token);

/* Verifies token as jwt-go does for etcd (the method in its header must be the provider's, the signature
 * the key's, and now_s not past its "exp") and sets *user (malloc'd; the caller frees it) and *revision
 * from its claims. Returns 0, LKV_EINVALIDTOKEN (anything wrong with it), LKV_ENOMEM. */
int lkv_api_jwt_verify(const lkv_api_jwt_t *j, const char *token, int64_t now_s, char **user,
                       uint64_t *revision);

#endif
