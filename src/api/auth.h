/* Internal to src/api: etcd's Auth service handlers (auth.c) and the password hashing worker (auth_hash.c).
 */
#ifndef LKV_API_AUTH_H
#define LKV_API_AUTH_H

#include "api/service.h"

/* The Auth service's unary handlers (etcdserverpb.Auth/<Method>). Each answers the call exactly once:
 * AuthEnable refuses (LKV_EROOTUSERNOTEXIST, LKV_EROOTROLENOTEXIST as etcd, else LKV_EUNSUPPORTED: the
 * permission checks are not implemented yet), Authenticate answers LKV_EAUTHNOTENABLED while auth is off
 * (else see lkv__auth_check_password), the others are
 * proposed as LKV_OP_AUTH_* ops and answered once applied. */
void lkv__authsvc_enable(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_disable(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_authenticate(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_add(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_get(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_list(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_delete(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_change_password(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_grant_role(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_user_revoke_role(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_role_add(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_role_get(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_role_list(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_role_delete(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_role_grant_permission(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);
void lkv__authsvc_role_revoke_permission(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len);

/* Replaces *password (a string of msg, which the caller unpacked with protobuf-c's default allocator) by
 * its bcrypt hash at api->bcrypt_cost ("$2a$10$..." at etcd's default cost 10, as Go's bcrypt makes
 * them) on a worker thread, then proposes msg as kind
 * (lkv__api_propose, without raw bytes: the log gets the hash, never the password). bcrypt takes tens
 * of milliseconds, which a loop thread must not spend. Takes ownership of msg; the call is answered
 * exactly once (LKV_ENOMEM or a thread creation failure at once; LKV_EINVAL if libcrypt cannot hash). */
void lkv__auth_hash_propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                            char **password);

/* Authenticate's password check (the second half of etcd's CheckPassword) on a worker thread: *password
 * (a string of msg) hashed with hash's salt and cost must give hash. A wrong password is answered
 * LKV_EAUTHFAILED; a right one LKV_EUNSUPPORTED, as tokens are not issued yet. Takes ownership of msg and
 * hash (malloc'd); the call is answered exactly once. */
/* etcd's bcrypt comparison: password hashed with hash's salt and cost gives hash again (compared in
 * constant time). Blocks for bcrypt's time: worker threads only. Returns 0, LKV_EAUTHFAILED (also for a
 * hash bcrypt cannot read), LKV_ENOMEM. */
int lkv__auth_bcrypt_check(const char *password, const char *hash);

void lkv__auth_check_password(lkv_api_t *api, lkv_call_t *call, ProtobufCMessage *msg, char **password,
                              char *hash);

#endif
