/* Apply-layer internals of etcd's auth state: stored user and role records, the auth revision, the ops. */
#ifndef LKV_APPLY_AUTH_INTERNAL_H
#define LKV_APPLY_AUTH_INTERNAL_H

#include "apply/internal.h"
#include "etcd/auth/authpb/auth.pb-c.h"

/* etcd's reserved names: the root user, and the role that makes a user an administrator. */
#define LKV__AUTH_ROOT "root"

/* Whether kind is one of the LKV_OP_AUTH_* ops. Pure. */
int lkv__auth_is_op(lkv_op_kind_t kind);

/* Runs an auth op on c->t inside the request's bracket: sets *resp (built in c->arena, header with the
 * store's revision) and *hdr to its header field. Returns 0 or the op's LKV_E* code (see apply.h). */
int lkv__apply_auth(lkv__op_ctx_t *c, const lkv_apply_req_t *req, ProtobufCMessage **resp,
                    Etcdserverpb__ResponseHeader ***hdr);

/* Loads a user (a role) record by name into a malloc'd message (free with
 * protobuf_c_message_free_unpacked). Returns 0, LKV_EUSERNOTFOUND (LKV_EROLENOTFOUND), LKV_ECORRUPT,
 * LKV_EIO. */
int lkv__auth_user_load(lkv_mvcc_txn_t *t, const char *name, Authpb__User **out);
int lkv__auth_role_load(lkv_mvcc_txn_t *t, const char *name, Authpb__Role **out);

/* Stores a user (a role) record under its name field, replacing any. Returns 0 or a storage code. */
int lkv__auth_user_save(lkv_mvcc_txn_t *t, const Authpb__User *u);
int lkv__auth_role_save(lkv_mvcc_txn_t *t, const Authpb__Role *r);

/* Counts one change of the auth state: the auth revision goes up by one (etcd's commitRevision).
 * Returns 0 or a storage code. */
int lkv__auth_commit(lkv_mvcc_txn_t *t);

/* The users' and roles' ops (auth_user.c, auth_role.c): req and resp are the kind's request and response
 * messages, resp already initialised with its header. Return 0 or an LKV_E* code. */
int lkv__auth_user_add(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_user_get(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_user_list(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_user_delete(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_user_password(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_user_grant(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_user_revoke(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_role_add(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_role_get(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_role_list(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_role_delete(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_role_grant(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
int lkv__auth_role_revoke(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);

/* A list of names built in an arena (a response's repeated string field). */
typedef struct lkv__auth_names_s {
  lkv__arena_t *arena;
  char **v;
  size_t n, cap;
} lkv__auth_names_t;

/* Appends a copy of name (len bytes, NUL added). Returns 0 or LKV_ENOMEM. */
int lkv__auth_names_add(lkv__auth_names_t *l, const uint8_t *name, size_t len);

/* Fills l with the names of every record of kind (in name order). Returns 0, LKV_ENOMEM, LKV_EIO. */
int lkv__auth_names_all(lkv_mvcc_txn_t *t, lkv_mvcc_auth_kind_t kind, lkv__auth_names_t *l);

/* Moves the roles of u other than role to the front, in order, and returns how many there are (u keeps
 * owning every string: set n_roles to the result only while saving). Pure. */
size_t lkv__auth_user_drop_role(Authpb__User *u, const char *role);

/* A malloc'd copy of the n pointers v with x inserted at position at (0..n); NULL when memory runs out.
 * The caller frees the array only (its elements stay the caller's). */
void **lkv__auth_insert(void *const *v, size_t n, size_t at, void *x);

/* A half-open interval of keys; an empty bound stands for +infinity, as in etcd's BytesAffineComparable
 * (so "\0" as a range end, etcd's "every key from here on", becomes an empty end). */
typedef struct lkv__auth_ivl_s {
  const uint8_t *b, *e;
  size_t bn, en;
} lkv__auth_ivl_t;

/* A user's permissions merged over its roles, as etcd's unifiedRangePermissions: read (ivl[0]) and
 * write (ivl[1]) intervals, each list sorted by begin; a READWRITE permission is in both. */
typedef struct lkv__auth_perms_s {
  int root; /* the user holds the root role: everything is permitted */
  lkv__auth_ivl_t *ivl[2];
  size_t n[2];
  uint8_t *bytes; /* every bound the intervals point at */
} lkv__auth_perms_t;

/* Fills p (owning its memory; free with lkv__auth_perms_free) with the permissions of the n roles of
 * perms lists (a role's key permissions each): a permission without range end is the single key, one
 * with range end "\0" reaches every key from its key on. Returns 0 or LKV_ENOMEM (p then holds nothing). */
int lkv__auth_perms_merge(Authpb__Role *const *roles, size_t n, lkv__auth_perms_t *p);

/* Frees what p owns (p itself is the caller's). NULL-safe on p's fields. */
void lkv__auth_perms_free(lkv__auth_perms_t *p);

/* Whether p grants write (1) or read (0) access to key, or to all of [key, end) when end_len > 0, as
 * etcd's range permission cache decides (root is not looked at). Pure. */
int lkv__auth_perms_cover(const lkv__auth_perms_t *p, int write, const uint8_t *key, size_t key_len,
                          const uint8_t *end, size_t end_len);

/* The merged permissions of user as t sees them, from this thread's cache (auth_cache.c, by store and
 * auth epoch) or loaded and merged on a miss. *out stays valid until this thread's next call. Any thread.
 * Returns 0, LKV_EUSERNOTFOUND, LKV_ENOMEM, LKV_ECORRUPT, LKV_EIO. */
int lkv__auth_perms_get(lkv_mvcc_txn_t *t, const char *user, const lkv__auth_perms_t **out);

/* lkv_apply_auth_permitted on an open transaction (the check a write is applied with). Same returns. */
int lkv__auth_permitted(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, int write, const uint8_t *key,
                        size_t key_len, const uint8_t *end, size_t end_len);

/* lkv_apply_auth_admin on an open transaction. Same returns. */
int lkv__auth_admin(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who);

/* etcd 3.4's authApplierV3 checks for req against req->auth on an open transaction (nothing when auth is
 * off or req->no_claims): Put write (and its lease's keys write, prev_kv read), DeleteRange write (prev_kv
 * read), Txn as lkv_apply_auth_txn_permitted, LeaseRevoke write on every key attached to the lease, the
 * auth ops admin (UserGet also for oneself, RoleGet also for a role one holds; Authenticate none).
 * Returns 0 or the codes of lkv__auth_permitted / lkv__auth_admin. */
int lkv__auth_check(lkv_mvcc_txn_t *t, const lkv_apply_req_t *req);

/* The Authenticate op (LKV_OP_AUTH_AUTHENTICATE, auth_user.c): the token for c->index. */
int lkv__auth_authenticate(lkv__op_ctx_t *c, const ProtobufCMessage *req, ProtobufCMessage *resp);

/* Whether the user record holds role (its roles are kept sorted, as etcd keeps them). Pure. */
int lkv__auth_user_has_role(const Authpb__User *u, const char *role);

#endif
