/* etcd's role ops on the stored auth state: roles and their key permissions (auth/store.go's semantics). */
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

static void role_free(Authpb__Role *r) {
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int role_commit(lkv_mvcc_txn_t *t, const Authpb__Role *r) {
  int rc = lkv__auth_role_save(t, r);
  return rc ? rc : lkv__auth_commit(t);
}

static int bytes_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int c = n ? memcmp(a->data, b->data, n) : 0;
  return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int bytes_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  return bytes_cmp(a, b) == 0;
}

int lkv__auth_role_add(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthRoleAddRequest *r = (const Etcdserverpb__AuthRoleAddRequest *)req;
  if (r->name[0] == '\0') return LKV_EROLEEMPTY;
  Authpb__Role *old;
  int rc = lkv__auth_role_load(c->t, r->name, &old);
  if (rc == 0) {
    role_free(old);
    return LKV_EROLEEXIST;
  }
  if (rc != LKV_EROLENOTFOUND) return rc;
  Authpb__Role role = AUTHPB__ROLE__INIT;
  role.name.data = (uint8_t *)r->name;
  role.name.len = strlen(r->name);
  return role_commit(c->t, &role);
}

/* Copies a permission into the arena (the response outlives the unpacked record). */
static Authpb__Permission *perm_copy(lkv__arena_t *a, const Authpb__Permission *p) {
  Authpb__Permission *q = lkv__arena_alloc(a, sizeof(*q));
  if (!q) return NULL;
  authpb__permission__init(q);
  q->permtype = p->permtype;
  q->key.len = p->key.len;
  q->key.data = lkv__arena_dup(a, p->key.data, p->key.len);
  q->range_end.len = p->range_end.len;
  q->range_end.data = lkv__arena_dup(a, p->range_end.data, p->range_end.len);
  return (p->key.len && !q->key.data) || (p->range_end.len && !q->range_end.data) ? NULL : q;
}

int lkv__auth_role_get(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  const Etcdserverpb__AuthRoleGetRequest *r = (const Etcdserverpb__AuthRoleGetRequest *)req;
  Etcdserverpb__AuthRoleGetResponse *out = (Etcdserverpb__AuthRoleGetResponse *)resp;
  Authpb__Role *role;
  int rc = lkv__auth_role_load(c->t, r->role, &role);
  if (rc) return rc;
  if (role->n_keypermission) {
    out->perm = lkv__arena_alloc(c->arena, sizeof(*out->perm) * role->n_keypermission);
    rc = out->perm ? 0 : LKV_ENOMEM;
    for (size_t i = 0; i < role->n_keypermission && !rc; i++) {
      out->perm[i] = perm_copy(c->arena, role->keypermission[i]);
      if (!out->perm[i]) rc = LKV_ENOMEM;
      out->n_perm = i + 1;
    }
  }
  role_free(role);
  return rc;
}

int lkv__auth_role_list(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)req;
  Etcdserverpb__AuthRoleListResponse *out = (Etcdserverpb__AuthRoleListResponse *)resp;
  lkv__auth_names_t l = {.arena = c->arena};
  int rc = lkv__auth_names_all(c->t, LKV_MVCC_AUTH_ROLE, &l);
  out->roles = l.v;
  out->n_roles = l.n;
  return rc;
}

/* Removes role from one user's record (when it holds it). */
static int user_drop_role(lkv_mvcc_txn_t *t, const lkv__auth_names_t *users, size_t i, const char *role) {
  Authpb__User *u;
  int rc = lkv__auth_user_load(t, users->v[i], &u);
  if (rc) return rc;
  size_t kept = lkv__auth_user_drop_role(u, role);
  if (kept != u->n_roles) {
    size_t n = u->n_roles;
    u->n_roles = kept;
    rc = lkv__auth_user_save(t, u);
    u->n_roles = n;
  }
  protobuf_c_message_free_unpacked(&u->base, NULL);
  return rc;
}

/* etcd's RoleDelete: the role goes, and with it every user's grant of it; one auth revision. */
int lkv__auth_role_delete(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthRoleDeleteRequest *r = (const Etcdserverpb__AuthRoleDeleteRequest *)req;
  int enabled;
  uint64_t rev;
  int rc = lkv_mvcc_auth_state_get(c->t, &enabled, &rev);
  if (rc) return rc;
  if (enabled && strcmp(r->role, LKV__AUTH_ROOT) == 0) return LKV_EINVALIDAUTHMGMT;
  rc = lkv_mvcc_auth_del(c->t, LKV_MVCC_AUTH_ROLE, (const uint8_t *)r->role, strlen(r->role));
  if (rc) return rc == LKV_ENOENT ? LKV_EROLENOTFOUND : rc;
  /* The names are copied first: records are rewritten while walking them. */
  lkv__auth_names_t users = {.arena = c->arena};
  rc = lkv__auth_names_all(c->t, LKV_MVCC_AUTH_USER, &users);
  for (size_t i = 0; i < users.n && !rc; i++) rc = user_drop_role(c->t, &users, i, r->role);
  return rc ? rc : lkv__auth_commit(c->t);
}

/* etcd's RoleGrantPermission: a permission with the same key and range end gets the new type; otherwise
 * the permission is added, the list kept sorted by key. */
int lkv__auth_role_grant(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthRoleGrantPermissionRequest *r =
      (const Etcdserverpb__AuthRoleGrantPermissionRequest *)req;
  Authpb__Permission none = AUTHPB__PERMISSION__INIT;
  const Authpb__Permission *p = r->perm ? r->perm : &none;
  Authpb__Role *role;
  int rc = lkv__auth_role_load(c->t, r->name, &role);
  if (rc) return rc;
  size_t at = 0;
  while (at < role->n_keypermission && bytes_cmp(&role->keypermission[at]->key, &p->key) < 0) at++;
  for (size_t i = at; i < role->n_keypermission && bytes_eq(&role->keypermission[i]->key, &p->key); i++) {
    if (bytes_eq(&role->keypermission[i]->range_end, &p->range_end)) {
      role->keypermission[i]->permtype = p->permtype;
      rc = role_commit(c->t, role);
      role_free(role);
      return rc;
    }
    at = i + 1; /* after the permissions with an equal key */
  }
  Authpb__Permission **perms = (Authpb__Permission **)lkv__auth_insert((void *const *)role->keypermission,
                                                                       role->n_keypermission, at, (void *)p);
  if (!perms) {
    role_free(role);
    return LKV_ENOMEM;
  }
  Authpb__Permission **own = role->keypermission;
  size_t n_own = role->n_keypermission;
  role->keypermission = perms;
  role->n_keypermission = n_own + 1;
  rc = role_commit(c->t, role);
  role->keypermission = own; /* the record frees its own array */
  role->n_keypermission = n_own;
  free(perms);
  role_free(role);
  return rc;
}

int lkv__auth_role_revoke(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)resp;
  const Etcdserverpb__AuthRoleRevokePermissionRequest *r =
      (const Etcdserverpb__AuthRoleRevokePermissionRequest *)req;
  Authpb__Role *role;
  int rc = lkv__auth_role_load(c->t, r->role, &role);
  if (rc) return rc;
  size_t kept = 0;
  for (size_t i = 0; i < role->n_keypermission; i++) {
    Authpb__Permission *p = role->keypermission[i];
    if (bytes_eq(&p->key, &r->key) && bytes_eq(&p->range_end, &r->range_end)) continue;
    role->keypermission[i] = role->keypermission[kept];
    role->keypermission[kept++] = p;
  }
  if (kept == role->n_keypermission) {
    rc = LKV_EPERMNOTGRANTED;
  } else {
    size_t n = role->n_keypermission;
    role->n_keypermission = kept;
    rc = role_commit(c->t, role);
    role->n_keypermission = n;
  }
  role_free(role);
  return rc;
}
