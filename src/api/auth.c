/* etcd's Auth service: every request becomes a replicated auth op (as etcd sends them through its log),
 * checked when applied (an administrator's, with auth on); passwords are hashed first, and checked for
 * Authenticate, off the loop thread (auth_hash.c). */
#include "api/auth.h"

#include <stdio.h>

#include "api/auth_token.h"
#include "common/clock.h"
#include "common/error.h"

/* Unpacks the request of an auth op and proposes it (the raw bytes hold no password: UserAdd and
 * UserChangePassword go through lkv__auth_hash_propose instead). */
static void propose(lkv_api_t *api, lkv_call_t *call, lkv_op_kind_t kind, const uint8_t *data, size_t len) {
  ProtobufCMessage *msg = lkv__api_unpack_write(api, call, kind, lkv_apply_auth_descriptor(kind), data, len);
  if (msg) lkv__api_propose(api, call, kind, msg, data, len);
}

#define AUTH_OP(fn, kind)                                                      \
  void fn(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) { \
    propose(api, call, kind, data, len);                                       \
  }

AUTH_OP(lkv__authsvc_enable, LKV_OP_AUTH_ENABLE)
AUTH_OP(lkv__authsvc_disable, LKV_OP_AUTH_DISABLE)
AUTH_OP(lkv__authsvc_user_get, LKV_OP_AUTH_USER_GET)
AUTH_OP(lkv__authsvc_user_list, LKV_OP_AUTH_USER_LIST)
AUTH_OP(lkv__authsvc_user_delete, LKV_OP_AUTH_USER_DELETE)
AUTH_OP(lkv__authsvc_user_grant_role, LKV_OP_AUTH_USER_GRANT_ROLE)
AUTH_OP(lkv__authsvc_user_revoke_role, LKV_OP_AUTH_USER_REVOKE_ROLE)
AUTH_OP(lkv__authsvc_role_add, LKV_OP_AUTH_ROLE_ADD)
AUTH_OP(lkv__authsvc_role_get, LKV_OP_AUTH_ROLE_GET)
AUTH_OP(lkv__authsvc_role_list, LKV_OP_AUTH_ROLE_LIST)
AUTH_OP(lkv__authsvc_role_delete, LKV_OP_AUTH_ROLE_DELETE)
AUTH_OP(lkv__authsvc_role_grant_permission, LKV_OP_AUTH_ROLE_GRANT_PERMISSION)
AUTH_OP(lkv__authsvc_role_revoke_permission, LKV_OP_AUTH_ROLE_REVOKE_PERMISSION)

/* etcd's CheckPassword: with auth off, "authentication is not enabled", which clients take as "go on
 * without a token"; an unknown user, a --no-password user or a wrong password fail as etcd's; the bcrypt
 * comparison runs on a worker thread. */
void lkv__authsvc_authenticate(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__AuthenticateRequest *r = (Etcdserverpb__AuthenticateRequest *)lkv__api_unpack(
      call, &etcdserverpb__authenticate_request__descriptor, data, len);
  if (!r) return;
  char *hash = NULL;
  uint64_t rev;
  int rc = lkv_apply_auth_password(api->store, r->name, &hash, &rev);
  if (rc) {
    protobuf_c_message_free_unpacked(&r->base, NULL);
    lkv__api_fail(call, rc);
    return;
  }
  lkv__auth_check_password(api, call, &r->base, &r->password, hash, rev);
}

void lkv__authsvc_user_add(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__AuthUserAddRequest *r = (Etcdserverpb__AuthUserAddRequest *)lkv__api_unpack_write(
      api, call, LKV_OP_AUTH_USER_ADD, &etcdserverpb__auth_user_add_request__descriptor, data, len);
  if (!r) return;
  if (r->options && r->options->no_password) {
    if (r->password[0]) r->password[0] = '\0'; /* nothing to hash, nor to log (an empty one is const) */
    lkv__api_propose(api, call, LKV_OP_AUTH_USER_ADD, &r->base, NULL, 0);
  } else {
    lkv__auth_hash_propose(api, call, LKV_OP_AUTH_USER_ADD, &r->base, &r->password);
  }
}

void lkv__authsvc_user_change_password(lkv_api_t *api, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__AuthUserChangePasswordRequest *r =
      (Etcdserverpb__AuthUserChangePasswordRequest *)lkv__api_unpack_write(
          api, call, LKV_OP_AUTH_USER_CHANGE_PASSWORD,
          &etcdserverpb__auth_user_change_password_request__descriptor, data, len);
  if (r) lkv__auth_hash_propose(api, call, LKV_OP_AUTH_USER_CHANGE_PASSWORD, &r->base, &r->password);
}

void lkv__auth_applied(lkv_api_t *api, const lkv_apply_req_t *req) {
  if (!api->tokens || api->jwt || req->err) return; /* JWT tokens are not kept */
  switch (req->kind) {
    case LKV_OP_AUTH_AUTHENTICATE: {
      const Etcdserverpb__AuthenticateRequest *r = (const Etcdserverpb__AuthenticateRequest *)req->msg;
      char token[LKV_API_TOKEN_PREFIX_LEN + 32];
      /* the same token the state machine answered: prefix (in the password field) and this entry's index */
      int rc = lkv_api_tokens_assign(api->tokens, r->password, req->index, r->name,
                                     lkv_clock_ms(CLOCK_MONOTONIC), token, sizeof(token));
      if (rc)
        fprintf(stderr, "ledgerkv: cannot record an auth token of user %s: %s\n", r->name, lkv_strerror(rc));
      break;
    }
    case LKV_OP_AUTH_USER_DELETE:
      lkv_api_tokens_drop_user(api->tokens, ((const Etcdserverpb__AuthUserDeleteRequest *)req->msg)->name);
      break;
    case LKV_OP_AUTH_USER_CHANGE_PASSWORD:
      lkv_api_tokens_drop_user(api->tokens,
                               ((const Etcdserverpb__AuthUserChangePasswordRequest *)req->msg)->name);
      break;
    case LKV_OP_AUTH_DISABLE:
      lkv_api_tokens_clear(api->tokens);
      break;
    default:
      break;
  }
}
