/* Internal to src/api: etcd's Auth service handlers (auth.c) and the password hashing worker (auth_hash.c).
 */
#ifndef LKV_API_AUTH_H
#define LKV_API_AUTH_H

#include "api/service.h"

/* The Auth service's unary handlers (etcdserverpb.Auth/<Method>). Each answers the call exactly once:
 * Authenticate answers LKV_EAUTHNOTENABLED while auth is off (else see lkv__auth_check_password), the
 * others are proposed as LKV_OP_AUTH_* ops and answered once applied. */
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

/* etcd's bcrypt comparison: password hashed with hash's salt and cost gives hash again (compared in
 * constant time). Blocks for bcrypt's time: worker threads only. Returns 0, LKV_EAUTHFAILED (also for a
 * hash bcrypt cannot read), LKV_ENOMEM. */
int lkv__auth_bcrypt_check(const char *password, const char *hash);

/* Authenticate's password check (the second half of etcd's CheckPassword) on a worker thread: *password
 * (a string of msg, an AuthenticateRequest) hashed with hash's salt and cost must give hash. A wrong
 * password is answered LKV_EAUTHFAILED; after a right one, *password is replaced by a fresh token prefix
 * and msg proposed as LKV_OP_AUTH_AUTHENTICATE (etcd's InternalAuthenticateRequest) as the user it names,
 * checked at auth revision checked_rev (the store's when hash was read): the state machine refuses it with
 * LKV_EAUTHOLDREV when users or roles changed since (a password changed meanwhile gives no token), else
 * answers with the token. Takes ownership of msg and hash (malloc'd); the call is answered exactly once. */
void lkv__auth_check_password(lkv_api_t *api, lkv_call_t *call, ProtobufCMessage *msg, char **password,
                              char *hash, uint64_t checked_rev);

/* The metadata keys a token arrives in: clientv3's, and the JSON gateway's Authorization header (etcd's
 * rpctypes.TokenFieldNameGRPC and TokenFieldNameSwagger), read in that order. */
#define LKV_API_TOKEN_KEY "token"
#define LKV_API_TOKEN_GATEWAY_KEY "authorization"

/* Who a call runs as (auth_who.c): the user its token names (malloc'd; NULL when the call carries no
 * token) and the store's auth revision when the token was resolved (what etcd checks against). */
typedef struct lkv__who_s {
  char *user;
  uint64_t revision;
} lkv__who_t;

/* etcd's AuthInfoFromCtx: resolves the call's token (renewing its TTL); without one, with
 * --client-cert-auth (api->client_cert_auth), the verified client certificate's CN is the user (etcd's
 * AuthInfoFromTLS). Sets *who (zero when neither names a user). Returns 0, LKV_EINVALIDTOKEN (unknown or
 * expired), LKV_ENOMEM, or a storage code; *who holds nothing then. The call's loop thread, while it
 * runs a callback of the call (the certificate belongs to its connection). */
int lkv__auth_who(lkv_api_t *api, lkv_call_t *call, lkv__who_t *who);

/* The bytes lkv__who_attach copies (0 without a user). Pure. */
size_t lkv__who_size(const lkv__who_t *who);

/* lkv__api_propose for a request whose user was resolved before (on the call's loop thread, where the
 * client certificate can be read): takes ownership of msg and of who's user. Any thread. */
void lkv__api_propose_as(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, ProtobufCMessage *msg,
                         const uint8_t *data, size_t len, lkv__who_t *who);

/* Copies who's user to dst (lkv__who_size bytes, living as long as req) and points req->auth at it,
 * so that the proposal's log entry carries it; frees who's own copy. */
void lkv__who_attach(lkv__who_t *who, lkv_apply_req_t *req, char *dst);

/* Frees who's user (idempotent). */
void lkv__who_free(lkv__who_t *who);

/* etcd's checks made outside the log, for the call's user: read (write = 0) or write access to key, or to
 * [key, end) when end has bytes (end may be NULL); the admin check (IsAdminPermitted). Return 0 or the
 * codes of lkv__auth_who and lkv_apply_auth_permitted / lkv_apply_auth_admin. */
int lkv__auth_read_check(lkv_api_t *api, lkv_call_t *call, int write, const ProtobufCBinaryData *key,
                         const ProtobufCBinaryData *end);
int lkv__auth_admin_check(lkv_api_t *api, lkv_call_t *call);

/* With JWT tokens (api->jwt), Authenticate's answer: the replicated op answered a simple token, which is
 * replaced by a JWT for the user at the current auth revision (etcd signs it when applying). On failure
 * req->err is set and req->resp freed. Any thread. */
void lkv__auth_jwt_answer(lkv_api_t *api, lkv_apply_req_t *req);

/* Fails the call as etcd's maintenance server does when its admin check fails: the auth store's error
 * unmapped, gRPC UNKNOWN "auth: permission denied" (user name is empty, user name not found, invalid auth
 * token); other codes as lkv__api_fail. */
void lkv__auth_fail_raw(lkv_call_t *call, int err);

/* How a deferred call resumes: route is what lkv__auth_defer was given. */
typedef void (*lkv__auth_resume_fn)(lkv_api_t *api, const void *route, lkv_call_t *call, const uint8_t *data,
                                    size_t len);

/* etcd's wait for a token's index: when the call's token names a log index this member has not applied
 * yet, asks for a read barrier and runs fn(api, route, call, data, len) on the call's loop thread once it
 * passed (data copied), and returns 1; the call fails with the barrier's error instead. Returns 0 (run
 * the call now) otherwise. Loop thread. */
int lkv__auth_defer(lkv_api_t *api, lkv_call_t *call, lkv__auth_resume_fn fn, const void *route,
                    const uint8_t *data, size_t len);

/* etcd's isValidSimpleToken's wait: whether the call carries a simple token whose log index (its
 * Authenticate's) is past what this member applied. Loop thread. */
int lkv__auth_token_ahead(lkv_api_t *api, lkv_call_t *call);

/* How a held stream resumes (auth_stream.c): its route's message, half-close and cancel callbacks, route
 * being what lkv__auth_stream_hold was given. */
typedef struct lkv__auth_stream_ops_s {
  lkv__auth_resume_fn message;
  void (*half_close)(lkv_api_t *api, const void *route, lkv_call_t *call);
  void (*cancel)(lkv_api_t *api, const void *route, lkv_call_t *call);
} lkv__auth_stream_ops_t;

/* lkv__auth_defer for a stream's message (Watch, LeaseKeepAlive): when the stream already waits, or its
 * token names a log index this member has not applied yet (a read barrier is then asked for), keeps a copy
 * of data and returns 1; once the barrier passed, on the call's loop thread, ops->message runs for every
 * message kept, in arrival order, then ops->half_close if the client half-closed meanwhile
 * (lkv__auth_stream_end); a client that left meanwhile gets ops->cancel alone; a failed barrier (or more
 * than 4 MiB kept) fails the call. Returns 0 (run the message now) otherwise. ops must outlive the wait.
 * Loop thread. */
int lkv__auth_stream_hold(lkv_api_t *api, lkv_call_t *call, const lkv__auth_stream_ops_t *ops,
                          const void *route, const uint8_t *data, size_t len);

/* The client half-closed (cancel 0) or left (cancel 1): returns 1 when the call waits in
 * lkv__auth_stream_hold (it is replayed when the stream resumes; the route is not told now), else 0.
 * Loop thread. */
int lkv__auth_stream_end(lkv_call_t *call, int cancel);

/* The replicator's applied listener's auth part (every member): records the token of an applied
 * Authenticate, drops a user's tokens when it is deleted or its password changes, every token when auth
 * is disabled (etcd's simple token store). Replicator thread. */
void lkv__auth_applied(lkv_api_t *api, const lkv_apply_req_t *req);

#endif
