/* etcd's auth ops in the state machine: dispatch, the enabled flag, the auth revision and record storage. */
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

typedef int (*auth_fn)(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);

static int auth_enable(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
static int auth_disable(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);

/* One row per LKV_OP_AUTH_* kind, in kind order from LKV_OP_AUTH_ENABLE. */
static const struct {
  lkv_op_kind_t kind;
  const ProtobufCMessageDescriptor *req, *resp;
  auth_fn fn;
} ops[] = {
    {LKV_OP_AUTH_ENABLE, &etcdserverpb__auth_enable_request__descriptor,
     &etcdserverpb__auth_enable_response__descriptor, auth_enable},
    {LKV_OP_AUTH_DISABLE, &etcdserverpb__auth_disable_request__descriptor,
     &etcdserverpb__auth_disable_response__descriptor, auth_disable},
    {LKV_OP_AUTH_USER_ADD, &etcdserverpb__auth_user_add_request__descriptor,
     &etcdserverpb__auth_user_add_response__descriptor, lkv__auth_user_add},
    {LKV_OP_AUTH_USER_GET, &etcdserverpb__auth_user_get_request__descriptor,
     &etcdserverpb__auth_user_get_response__descriptor, lkv__auth_user_get},
    {LKV_OP_AUTH_USER_LIST, &etcdserverpb__auth_user_list_request__descriptor,
     &etcdserverpb__auth_user_list_response__descriptor, lkv__auth_user_list},
    {LKV_OP_AUTH_USER_DELETE, &etcdserverpb__auth_user_delete_request__descriptor,
     &etcdserverpb__auth_user_delete_response__descriptor, lkv__auth_user_delete},
    {LKV_OP_AUTH_USER_CHANGE_PASSWORD, &etcdserverpb__auth_user_change_password_request__descriptor,
     &etcdserverpb__auth_user_change_password_response__descriptor, lkv__auth_user_password},
    {LKV_OP_AUTH_USER_GRANT_ROLE, &etcdserverpb__auth_user_grant_role_request__descriptor,
     &etcdserverpb__auth_user_grant_role_response__descriptor, lkv__auth_user_grant},
    {LKV_OP_AUTH_USER_REVOKE_ROLE, &etcdserverpb__auth_user_revoke_role_request__descriptor,
     &etcdserverpb__auth_user_revoke_role_response__descriptor, lkv__auth_user_revoke},
    {LKV_OP_AUTH_ROLE_ADD, &etcdserverpb__auth_role_add_request__descriptor,
     &etcdserverpb__auth_role_add_response__descriptor, lkv__auth_role_add},
    {LKV_OP_AUTH_ROLE_GET, &etcdserverpb__auth_role_get_request__descriptor,
     &etcdserverpb__auth_role_get_response__descriptor, lkv__auth_role_get},
    {LKV_OP_AUTH_ROLE_LIST, &etcdserverpb__auth_role_list_request__descriptor,
     &etcdserverpb__auth_role_list_response__descriptor, lkv__auth_role_list},
    {LKV_OP_AUTH_ROLE_DELETE, &etcdserverpb__auth_role_delete_request__descriptor,
     &etcdserverpb__auth_role_delete_response__descriptor, lkv__auth_role_delete},
    {LKV_OP_AUTH_ROLE_GRANT_PERMISSION, &etcdserverpb__auth_role_grant_permission_request__descriptor,
     &etcdserverpb__auth_role_grant_permission_response__descriptor, lkv__auth_role_grant},
    {LKV_OP_AUTH_ROLE_REVOKE_PERMISSION, &etcdserverpb__auth_role_revoke_permission_request__descriptor,
     &etcdserverpb__auth_role_revoke_permission_response__descriptor, lkv__auth_role_revoke},
    {LKV_OP_AUTH_AUTHENTICATE, &etcdserverpb__authenticate_request__descriptor,
     &etcdserverpb__authenticate_response__descriptor, lkv__auth_authenticate},
};

#define N_OPS (sizeof(ops) / sizeof(ops[0]))

int lkv__auth_is_op(lkv_op_kind_t kind) {
  return kind >= LKV_OP_AUTH_ENABLE && kind < LKV_OP_AUTH_ENABLE + (int)N_OPS;
}

const ProtobufCMessageDescriptor *lkv_apply_auth_descriptor(lkv_op_kind_t kind) {
  return lkv__auth_is_op(kind) ? ops[kind - LKV_OP_AUTH_ENABLE].req : NULL;
}

int lkv__apply_auth(lkv__op_ctx_t *c, const lkv_apply_req_t *req, ProtobufCMessage **resp,
                    Etcdserverpb__ResponseHeader ***hdr) {
  if (!lkv__auth_is_op(req->kind)) return LKV_EINVAL;
  size_t i = (size_t)(req->kind - LKV_OP_AUTH_ENABLE);
  const ProtobufCMessageDescriptor *d = ops[i].resp;
  ProtobufCMessage *r = lkv__arena_alloc(c->arena, d->sizeof_message);
  if (!r) return LKV_ENOMEM;
  protobuf_c_message_init(d, r);
  /* Every auth response holds its header as field 1, as etcd's do. */
  Etcdserverpb__ResponseHeader **h = (Etcdserverpb__ResponseHeader **)((char *)r + d->fields[0].offset);
  *h = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!*h) return LKV_ENOMEM;
  int rc = ops[i].fn(c, req->msg, r);
  if (rc) return rc;
  *resp = r;
  *hdr = h;
  return 0;
}

/* The auth revision of a store that never changed its auth state is 1, as etcd's starts. */
static int state_get(lkv_mvcc_txn_t *t, int *enabled, uint64_t *rev) {
  int rc = lkv_mvcc_auth_state_get(t, enabled, rev);
  if (!rc && *rev == 0) *rev = 1;
  return rc;
}

int lkv__auth_commit(lkv_mvcc_txn_t *t) {
  int enabled;
  uint64_t rev;
  int rc = state_get(t, &enabled, &rev);
  return rc ? rc : lkv_mvcc_auth_state_set(t, enabled, rev + 1);
}

/* etcd's AuthEnable: a no-op when enabled; otherwise the root user must exist and hold the root role.
 * Enabling does not count as an auth revision (etcd's does not either). */
/* The root user exists and holds the root role. */
static int root_check(lkv_mvcc_txn_t *t) {
  Authpb__User *root;
  int rc = lkv__auth_user_load(t, LKV__AUTH_ROOT, &root);
  if (rc == LKV_EUSERNOTFOUND) return LKV_EROOTUSERNOTEXIST;
  if (rc) return rc;
  int ok = lkv__auth_user_has_role(root, LKV__AUTH_ROOT);
  protobuf_c_message_free_unpacked(&root->base, NULL);
  return ok ? 0 : LKV_EROOTROLENOTEXIST;
}

static int auth_enable(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)req, (void)resp;
  int enabled;
  uint64_t rev;
  int rc = state_get(c->t, &enabled, &rev);
  if (rc || enabled) return rc;
  rc = root_check(c->t);
  return rc ? rc : lkv_mvcc_auth_state_set(c->t, 1, rev);
}

int lkv_apply_auth_status(lkv_mvcc_t *store, int *enabled, uint64_t *revision) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = state_get(t, enabled, revision);
  lkv_mvcc_txn_end(t);
  return rc;
}

int lkv_apply_auth_enable_check(lkv_mvcc_t *store) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = root_check(t);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* etcd's AuthDisable: a no-op when disabled, else one auth revision. */
static int auth_disable(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp) {
  (void)req, (void)resp;
  int enabled;
  uint64_t rev;
  int rc = state_get(c->t, &enabled, &rev);
  if (rc || !enabled) return rc;
  return lkv_mvcc_auth_state_set(c->t, 0, rev + 1);
}

static int record_load(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const char *name,
                       const ProtobufCMessageDescriptor *d, ProtobufCMessage **out) {
  const uint8_t *v;
  size_t len;
  int rc = lkv_mvcc_auth_get(t, kind, (const uint8_t *)name, strlen(name), &v, &len);
  if (rc) return rc;
  *out = protobuf_c_message_unpack(d, NULL, len, v);
  return *out ? 0 : LKV_ECORRUPT;
}

int lkv__auth_user_load(lkv_mvcc_txn_t *t, const char *name, Authpb__User **out) {
  int rc = record_load(t, LKV_MVCC_AUTH_USER, name, &authpb__user__descriptor, (ProtobufCMessage **)out);
  return rc == LKV_ENOENT ? LKV_EUSERNOTFOUND : rc;
}

int lkv__auth_role_load(lkv_mvcc_txn_t *t, const char *name, Authpb__Role **out) {
  int rc = record_load(t, LKV_MVCC_AUTH_ROLE, name, &authpb__role__descriptor, (ProtobufCMessage **)out);
  return rc == LKV_ENOENT ? LKV_EROLENOTFOUND : rc;
}

static int record_save(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, const ProtobufCBinaryData *name,
                       const ProtobufCMessage *m) {
  uint8_t *buf;
  size_t len;
  int rc = lkv__pack(m, &buf, &len);
  if (rc) return rc;
  rc = lkv_mvcc_auth_put(t, kind, name->data, name->len, buf, len);
  free(buf);
  return rc;
}

int lkv__auth_user_save(lkv_mvcc_txn_t *t, const Authpb__User *u) {
  return record_save(t, LKV_MVCC_AUTH_USER, &u->name, &u->base);
}

int lkv__auth_role_save(lkv_mvcc_txn_t *t, const Authpb__Role *r) {
  return record_save(t, LKV_MVCC_AUTH_ROLE, &r->name, &r->base);
}

int lkv__auth_names_add(lkv__auth_names_t *l, const uint8_t *name, size_t len) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 8;
    char **v = lkv__arena_alloc(l->arena, sizeof(*v) * cap);
    if (!v) return LKV_ENOMEM;
    if (l->n) memcpy(v, l->v, sizeof(*v) * l->n);
    l->v = v;
    l->cap = cap;
  }
  char *s = lkv__arena_alloc(l->arena, len + 1);
  if (!s) return LKV_ENOMEM;
  if (len) memcpy(s, name, len);
  s[len] = '\0';
  l->v[l->n++] = s;
  return 0;
}

static int names_add_cb(void *arg, const uint8_t *name, size_t name_len, const uint8_t *val, size_t val_len) {
  (void)val, (void)val_len;
  return lkv__auth_names_add(arg, name, name_len);
}

int lkv__auth_names_all(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, lkv__auth_names_t *l) {
  return lkv_mvcc_auth_each(t, kind, names_add_cb, l);
}

int lkv__auth_user_has_role(const Authpb__User *u, const char *role) {
  for (size_t i = 0; i < u->n_roles; i++)
    if (strcmp(u->roles[i], role) == 0) return 1;
  return 0;
}

size_t lkv__auth_user_drop_role(Authpb__User *u, const char *role) {
  size_t kept = 0;
  for (size_t i = 0; i < u->n_roles; i++) {
    if (strcmp(u->roles[i], role) == 0) continue;
    char *keep = u->roles[i];
    u->roles[i] = u->roles[kept];
    u->roles[kept++] = keep;
  }
  return kept;
}

void **lkv__auth_insert(void *const *v, size_t n, size_t at, void *x) {
  void **out = malloc(sizeof(*out) * (n + 1));
  if (!out) return NULL;
  /* memcpy may not be given v == NULL, even for no bytes: an empty list unpacks as NULL */
  for (size_t i = 0; i < at; i++) out[i] = v[i];
  out[at] = x;
  for (size_t i = at; i < n; i++) out[i + 1] = v[i];
  return out;
}
