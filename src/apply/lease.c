/* etcd's LeaseGrant and LeaseRevoke on a write transaction. */
#include "apply/internal.h"
#include "common/error.h"

int lkv__apply_lease_grant(lkv__op_ctx_t *c, const Etcdserverpb__LeaseGrantRequest *g,
                           Etcdserverpb__LeaseGrantResponse **out) {
  if (g->id == 0) return LKV_ELEASENOTFOUND;
  if (g->ttl > LKV_APPLY_LEASE_MAX_TTL) return LKV_ELEASETTLTOOLARGE;
  int rc = lkv_mvcc_lease_get(c->t, g->id, NULL);
  if (rc == 0) return LKV_ELEASEEXIST;
  if (rc != LKV_ELEASENOTFOUND) return rc;
  rc = c->no_quota ? 0 : lkv_mvcc_quota_check(c->t, LKV__LEASE_QUOTA_COST);
  if (!rc) rc = lkv_mvcc_lease_grant(c->t, g->id, g->ttl);
  if (rc) return rc;
  Etcdserverpb__LeaseGrantResponse *resp = lkv__arena_alloc(c->arena, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__lease_grant_response__init(resp);
  resp->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!resp->header) return LKV_ENOMEM;
  resp->id = g->id;
  resp->ttl = g->ttl;
  *out = resp;
  return 0;
}

int lkv__apply_lease_revoke(lkv__op_ctx_t *c, const Etcdserverpb__LeaseRevokeRequest *r,
                            Etcdserverpb__LeaseRevokeResponse **out) {
  int rc = lkv_mvcc_lease_revoke(c->t, r->id, NULL);
  if (rc) return rc;
  Etcdserverpb__LeaseRevokeResponse *resp = lkv__arena_alloc(c->arena, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__lease_revoke_response__init(resp);
  resp->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!resp->header) return LKV_ENOMEM;
  *out = resp;
  return 0;
}
