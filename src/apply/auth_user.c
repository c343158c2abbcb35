/* etcd's user ops on the stored auth state (auth/store.go's semantics; passwords arrive already hashed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

/* Whether auth is on now (some ops refuse to touch root then). */
static int auth_enabled(lkv_mvcc_txn_t *t, int *enabled) {
  uint64_t rev;
  return lkv_mvcc_auth_state_get(t, enabled, &rev);
}

static void user_free(Authpb__User *u) {
  if (u) protobuf_c_message_free_unpacked(&u->base, NULL);
}

/* Stores u and counts the change. */
static int user_commit(lkv_mvcc_txn_t *t, const Authpb__User *u) {
  int rc = lkv__auth_user_save(t, u);
  return rc ? rc : lkv__auth_commit(t);
}

/* The password field carries the bcrypt hash the API made before proposing (empty for --no-password
 * users), so every member stores the same bytes. */
int lkv__auth_user_add(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthUserAddRequest *r = (const Etcdserverpb__AuthUserAddRequest *)req;
  if (r->name[0] == '\0') return LKV_EUSEREMPTY;
  Authpb__User *old;
  int rc = lkv__auth_user_load(c->t, r->name, &old);
  if (rc == 0) {
    user_free(old);
    return LKV_EUSEREXIST;
  }
  if (rc != LKV_EUSERNOTFOUND) return rc;
  Authpb__UserAddOptions opts = AUTHPB__USER_ADD_OPTIONS__INIT;
  opts.no_password = r->options && r->options->no_password;
  Authpb__User u = AUTHPB__USER__INIT;
  u.name.data = (uint8_t *)r->name;
  u.name.len = strlen(r->name);
  u.password.data = (uint8_t *)r->password;
  u.password.len = opts.no_password ? 0 : strlen(r->password);
  u.options = &opts;
  return user_commit(c->t, &u);
}

int lkv__auth_user_get(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  const Etcdserverpb__AuthUserGetRequest *r = (const Etcdserverpb__AuthUserGetRequest *)req;
  Etcdserverpb__AuthUserGetResponse *out = (Etcdserverpb__AuthUserGetResponse *)resp;
  Authpb__User *u;
  int rc = lkv__auth_user_load(c->t, r->name, &u);
  if (rc) return rc;
  lkv__auth_names_t l = {.arena = c->arena};
  for (size_t i = 0; i < u->n_roles && !rc; i++)
    rc = lkv__auth_names_add(&l, (const uint8_t *)u->roles[i], strlen(u->roles[i]));
  user_free(u);
  out->roles = l.v;
  out->n_roles = l.n;
  return rc;
}

int lkv__auth_user_list(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)req;
  Etcdserverpb__AuthUserListResponse *out = (Etcdserverpb__AuthUserListResponse *)resp;
  lkv__auth_names_t l = {.arena = c->arena};
  int rc = lkv__auth_names_all(c->t, LKV_MVCC_AUTH_USER, &l);
  out->users = l.v;
  out->n_users = l.n;
  return rc;
}

int lkv__auth_user_delete(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthUserDeleteRequest *r = (const Etcdserverpb__AuthUserDeleteRequest *)req;
  int enabled;
  int rc = auth_enabled(c->t, &enabled);
  if (rc) return rc;
  if (enabled && strcmp(r->name, LKV__AUTH_ROOT) == 0) return LKV_EINVALIDAUTHMGMT;
  rc = lkv_mvcc_auth_del(c->t, LKV_MVCC_AUTH_USER, (const uint8_t *)r->name, strlen(r->name));
  if (rc == LKV_ENOENT) return LKV_EUSERNOTFOUND;
  return rc ? rc : lkv__auth_commit(c->t);
}

int lkv__auth_user_password(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthUserChangePasswordRequest *r =
      (const Etcdserverpb__AuthUserChangePasswordRequest *)req;
  Authpb__User *u;
  int rc = lkv__auth_user_load(c->t, r->name, &u);
  if (rc) return rc;
  /* The unpacked record owns its password bytes: point at the request's hash for the save only. */
  ProtobufCBinaryData old = u->password;
  u->password.data = (uint8_t *)r->password;
  u->password.len = strlen(r->password);
  rc = user_commit(c->t, u);
  u->password = old;
  user_free(u);
  return rc;
}

int lkv__auth_user_grant(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthUserGrantRoleRequest *r = (const Etcdserverpb__AuthUserGrantRoleRequest *)req;
  Authpb__User *u;
  int rc = lkv__auth_user_load(c->t, r->user, &u);
  if (rc) return rc;
  /* root may be granted before the root role exists (etcd allows it). */
  if (strcmp(r->role, LKV__AUTH_ROOT) != 0) {
    Authpb__Role *role;
    rc = lkv__auth_role_load(c->t, r->role, &role);
    if (rc) goto out;
    protobuf_c_message_free_unpacked(&role->base, NULL);
  }
  if (lkv__auth_user_has_role(u, r->role)) goto out; /* granted already: no change */
  /* Roles stay sorted (etcd's sort.Strings): insert at the first greater name. */
  size_t at = 0;
  while (at < u->n_roles && strcmp(u->roles[at], r->role) < 0) at++;
  char **roles = (char **)lkv__auth_insert((void *const *)u->roles, u->n_roles, at, r->role);
  rc = LKV_ENOMEM;
  if (!roles) goto out;
  char **own = u->roles;
  size_t n_own = u->n_roles;
  u->roles = roles;
  u->n_roles = n_own + 1;
  rc = user_commit(c->t, u);
  u->roles = own; /* give the record back its own array to free */
  u->n_roles = n_own;
  free(roles);
out:
  user_free(u);
  return rc;
}

int lkv__auth_user_revoke(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthUserRevokeRoleRequest *r = (const Etcdserverpb__AuthUserRevokeRoleRequest *)req;
  int enabled;
  int rc = auth_enabled(c->t, &enabled);
  if (rc) return rc;
  if (enabled && strcmp(r->name, LKV__AUTH_ROOT) == 0 && strcmp(r->role, LKV__AUTH_ROOT) == 0)
    return LKV_EINVALIDAUTHMGMT;
  Authpb__User *u;
  rc = lkv__auth_user_load(c->t, r->name, &u);
  if (rc) return rc;
  size_t kept = lkv__auth_user_drop_role(u, r->role);
  if (kept == u->n_roles) {
    rc = LKV_EROLENOTGRANTED;
  } else {
    size_t n = u->n_roles;
    u->n_roles = kept;
    rc = user_commit(c->t, u);
    u->n_roles = n;
  }
  user_free(u);
  return rc;
}

static int password_of(lkv_mvcc_txn_t *t, const char *user, char **hash, uint64_t *revision) {
  int enabled;
  int rc = lkv_mvcc_auth_state_get(t, &enabled, revision);
  if (rc) return rc;
  if (!enabled) return LKV_EAUTHNOTENABLED;
  if (*revision == 0) *revision = 1;
  Authpb__User *u;
  rc = lkv__auth_user_load(t, user, &u);
  if (rc) return rc == LKV_EUSERNOTFOUND ? LKV_EAUTHFAILED : rc;
  if (u->options && u->options->no_password) {
    rc = LKV_ENOPASSWORDUSER;
  } else {
    *hash = strndup((const char *)u->password.data, u->password.len);
    rc = *hash ? 0 : LKV_ENOMEM;
  }
  user_free(u);
  return rc;
}

int lkv_apply_auth_password(lkv_mvcc_t *store, const char *user, char **hash, uint64_t *revision) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = password_of(t, user, hash, revision);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* etcd's Authenticate as applied (its InternalAuthenticateRequest): the password was checked by the API,
 * which drew the token's random prefix (here in the password field); every member answers the same
 * token, "<prefix>.<index of this entry>", and the API records it for the user. */
int lkv__auth_authenticate(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  const Etcdserverpb__AuthenticateRequest *r = (const Etcdserverpb__AuthenticateRequest *)req;
  Etcdserverpb__AuthenticateResponse *out = (Etcdserverpb__AuthenticateResponse *)resp;
  int enabled;
  int rc = auth_enabled(c->t, &enabled);
  if (rc) return rc;
  if (!enabled) return LKV_EAUTHNOTENABLED;
  Authpb__User *u;
  rc = lkv__auth_user_load(c->t, r->name, &u);
  if (rc) return rc == LKV_EUSERNOTFOUND ? LKV_EAUTHFAILED : rc;
  int no_password = u->options && u->options->no_password;
  user_free(u);
  if (no_password) return LKV_EAUTHFAILED;
  size_t cap = strlen(r->password) + 24; /* '.', 20 digits, NUL */
  out->token = lkv__arena_alloc(c->arena, cap);
  if (!out->token) return LKV_ENOMEM;
  snprintf(out->token, cap, "%s.%llu", r->password, (unsigned long long)c->index);
  return 0;
}
