/* Which permissions each request needs, as etcd 3.4's authApplierV3 and checkTxnAuth decide: checked when
 * a write is applied (against the user and auth revision its log entry carries) and for reads served
 * without the log. */
#include <string.h>

#include "apply/auth_internal.h"
#include "common/error.h"

static int perm(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, int write, const ProtobufCBinaryData *key,
                const ProtobufCBinaryData *end) {
  return lkv__auth_permitted(t, who, write, key->data, key->len, end ? end->data : NULL, end ? end->len : 0);
}

static int txn_permitted(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, const Etcdserverpb__TxnRequest *r);

/* etcd's checkTxnReqsPermission over one branch, and nested txns (which etcd 3.4 leaves unchecked: a
 * nested put would otherwise write where its user may not). */
static int ops_permitted(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, Etcdserverpb__RequestOp *const *ops,
                         size_t n) {
  int rc = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    const Etcdserverpb__RequestOp *op = ops[i];
    switch (op->request_case) {
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
        rc = perm(t, who, 0, &op->request_range->key, &op->request_range->range_end);
        break;
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
        rc = perm(t, who, 1, &op->request_put->key, NULL);
        break;
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE: {
        const Etcdserverpb__DeleteRangeRequest *d = op->request_delete_range;
        if (d->prev_kv) rc = perm(t, who, 0, &d->key, &d->range_end);
        if (!rc) rc = perm(t, who, 1, &d->key, &d->range_end);
        break;
      }
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
        rc = txn_permitted(t, who, op->request_txn);
        break;
      default:
        break;
    }
  }
  return rc;
}

static int txn_permitted(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, const Etcdserverpb__TxnRequest *r) {
  int rc = 0;
  for (size_t i = 0; !rc && i < r->n_compare; i++)
    rc = perm(t, who, 0, &r->compare[i]->key, &r->compare[i]->range_end);
  if (!rc) rc = ops_permitted(t, who, r->success, r->n_success);
  return rc ? rc : ops_permitted(t, who, r->failure, r->n_failure);
}

int lkv_apply_auth_txn_permitted(lkv_mvcc_t *store, const lkv_apply_auth_t *who,
                                 const Etcdserverpb__TxnRequest *req) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = txn_permitted(t, who, req);
  lkv_mvcc_txn_end(t);
  return rc;
}

typedef struct lease_ctx_s {
  lkv_mvcc_txn_t *t;
  const lkv_apply_auth_t *who;
} lease_ctx_t;

static int lease_key(void *arg, const uint8_t *key, size_t key_len) {
  lease_ctx_t *lc = arg;
  return lkv__auth_permitted(lc->t, lc->who, 1, key, key_len, NULL, 0);
}

/* etcd's checkLeasePuts: write access to every key attached to the lease (none for an unknown lease). */
static int lease_puts(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, int64_t lease) {
  if (lease == 0) return 0;
  lease_ctx_t lc = {.t = t, .who = who};
  return lkv_mvcc_lease_keys(t, lease, lease_key, &lc);
}

/* etcd's UserGet and RoleGet: an administrator, or a user asking about itself or a role it holds. */
static int self_or_admin(lkv_mvcc_txn_t *t, const lkv_apply_auth_t *who, const char *user, const char *role) {
  int rc = lkv__auth_admin(t, who);
  if (rc != LKV_EUSEREMPTY && rc != LKV_EUSERNOTFOUND && rc != LKV_EPERMDENIED) return rc;
  const char *me = who && who->user ? who->user : "";
  if (user) return strcmp(user, me) == 0 ? 0 : rc;
  Authpb__User *u;
  if (!me[0] || lkv__auth_user_load(t, me, &u) != 0) return rc;
  int held = lkv__auth_user_has_role(u, role);
  protobuf_c_message_free_unpacked(&u->base, NULL);
  return held ? 0 : rc;
}

int lkv__auth_check(lkv_mvcc_txn_t *t, const lkv_apply_req_t *req) {
  if (req->no_claims) return 0;
  int enabled;
  uint64_t rev;
  int rc = lkv_mvcc_auth_state_get(t, &enabled, &rev);
  if (rc || !enabled) return rc;
  const lkv_apply_auth_t *who = &req->auth;
  switch (req->kind) {
    case LKV_OP_PUT: {
      const Etcdserverpb__PutRequest *p = (const Etcdserverpb__PutRequest *)req->msg;
      rc = perm(t, who, 1, &p->key, NULL);
      if (!rc) rc = lease_puts(t, who, p->lease);
      return rc || !p->prev_kv ? rc : perm(t, who, 0, &p->key, NULL);
    }
    case LKV_OP_DELETE_RANGE: {
      const Etcdserverpb__DeleteRangeRequest *d = (const Etcdserverpb__DeleteRangeRequest *)req->msg;
      rc = perm(t, who, 1, &d->key, &d->range_end);
      return rc || !d->prev_kv ? rc : perm(t, who, 0, &d->key, &d->range_end);
    }
    case LKV_OP_TXN:
      return txn_permitted(t, who, (const Etcdserverpb__TxnRequest *)req->msg);
    case LKV_OP_LEASE_REVOKE:
      return lease_puts(t, who, ((const Etcdserverpb__LeaseRevokeRequest *)req->msg)->id);
    case LKV_OP_AUTH_USER_GET:
      return self_or_admin(t, who, ((const Etcdserverpb__AuthUserGetRequest *)req->msg)->name, NULL);
    case LKV_OP_AUTH_ROLE_GET:
      return self_or_admin(t, who, NULL, ((const Etcdserverpb__AuthRoleGetRequest *)req->msg)->role);
    case LKV_OP_AUTH_AUTHENTICATE: /* its password was checked at who->revision */
      return who->user && who->revision < rev ? LKV_EAUTHOLDREV : 0;
    default:
      return lkv__auth_is_op(req->kind) ? lkv__auth_admin(t, who) : 0;
  }
}
