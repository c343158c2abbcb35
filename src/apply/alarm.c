/* etcd's alarms: NOSPACE raised when a write hits the quota, CORRUPT by the corruption checks, and the
 * capped and corrupt modes they put writes in. */
#include "apply/internal.h"
#include "common/error.h"

static uint32_t alarm_bit(Etcdserverpb__AlarmType type) {
  return type == ETCDSERVERPB__ALARM_TYPE__NONE ? 0 : 1u << type;
}

int lkv__alarm_check(lkv_mvcc_txn_t *t, const lkv_apply_req_t *req) {
  uint32_t mask;
  if (req->no_alarms) return 0;
  int rc = lkv_mvcc_alarms_get(t, &mask);
  if (rc) return rc;
  /* etcd's capped applier (it wraps the corrupt one, so it answers first): no Put, no LeaseGrant, and no
   * Txn that would write a value (it asks the quota cost). */
  if (mask & LKV_MVCC_ALARM_NOSPACE) {
    if (req->kind == LKV_OP_PUT || req->kind == LKV_OP_LEASE_GRANT) return LKV_ENOSPACE;
    if (req->kind == LKV_OP_TXN && lkv__cost_txn((const Etcdserverpb__TxnRequest *)req->msg) > 0)
      return LKV_ENOSPACE;
  }
  /* etcd's corrupt applier: every request of the KV and Lease services that goes through the log ("corrupt
   * cluster"); alarms and auth requests still apply, so that the alarm can be disarmed. */
  if (mask & LKV_MVCC_ALARM_CORRUPT) {
    switch (req->kind) {
      case LKV_OP_PUT:
      case LKV_OP_DELETE_RANGE:
      case LKV_OP_TXN:
      case LKV_OP_COMPACT:
      case LKV_OP_LEASE_GRANT:
      case LKV_OP_LEASE_REVOKE:
        return LKV_ECORRUPT;
      default:
        break;
    }
  }
  return 0;
}

int lkv__alarm_raise(lkv_mvcc_txn_t *t, uint32_t bit) {
  uint32_t mask;
  int rc = lkv_mvcc_alarms_get(t, &mask);
  if (rc || (mask & bit)) return rc;
  rc = lkv_mvcc_req_begin(t);
  if (rc) return rc;
  rc = lkv_mvcc_alarms_set(t, mask | bit);
  int end = lkv_mvcc_req_end(t, rc == 0);
  return rc ? rc : end;
}

/* Appends {member, type} to r's alarm list in the arena. */
static int add_member(lkv__op_ctx_t *c, Etcdserverpb__AlarmResponse *r, uint64_t member, int type) {
  Etcdserverpb__AlarmMember **list = lkv__arena_alloc(c->arena, sizeof(*list) * (r->n_alarms + 1));
  Etcdserverpb__AlarmMember *m = lkv__arena_alloc(c->arena, sizeof(*m));
  if (!list || !m) return LKV_ENOMEM;
  etcdserverpb__alarm_member__init(m);
  m->memberid = member;
  m->alarm = type;
  for (size_t i = 0; i < r->n_alarms; i++) list[i] = r->alarms[i];
  list[r->n_alarms++] = m;
  r->alarms = list;
  return 0;
}

/* Whether alarm request a is about this store's member: a replicated state machine (member id 0) keeps every
 * member's; a member's own store its own, and CORRUPT as listed, for member 0 (a causal member's check raises
 * it there, docs/causal.md §6, and etcdctl disarms what it listed). */
static int for_this_store(const lkv_apply_identity_t *id, const Etcdserverpb__AlarmRequest *a) {
  return !id->member_id || a->memberid == id->member_id ||
         (a->alarm == ETCDSERVERPB__ALARM_TYPE__CORRUPT && a->memberid == 0);
}

int lkv__apply_alarm(lkv__op_ctx_t *c, const lkv_apply_identity_t *id, const Etcdserverpb__AlarmRequest *a,
                     Etcdserverpb__AlarmResponse **out) {
  Etcdserverpb__AlarmResponse *r = lkv__arena_alloc(c->arena, sizeof(*r));
  if (!r) return LKV_ENOMEM;
  etcdserverpb__alarm_response__init(r);
  r->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!r->header) return LKV_ENOMEM;
  *out = r;
  uint32_t mask;
  int rc = lkv_mvcc_alarms_get(c->t, &mask);
  if (rc) return rc;
  uint32_t bit = alarm_bit(a->alarm);
  switch (a->action) {
    case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET:
      /* NONE lists every alarm, a type lists that one (etcd's alarmStore.Get). The store keeps no member
       * per alarm: CORRUPT is listed for member 0, whom etcd 3.4's corruption check raises it for. */
      for (int type = ETCDSERVERPB__ALARM_TYPE__NOSPACE; type <= ETCDSERVERPB__ALARM_TYPE__CORRUPT; type++) {
        if ((mask & (1u << type)) && (bit == 0 || bit == 1u << type)) {
          rc = add_member(c, r, type == ETCDSERVERPB__ALARM_TYPE__CORRUPT ? 0 : id->member_id, type);
          if (rc) return rc;
        }
      }
      return 0;
    case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE:
      /* Only this member's alarms live in a single node's store; etcd answers an unknown type with no
       * member. A replicated state machine (member id 0) keeps the cluster's alarms, whoever raised them:
       * any member's NOSPACE caps every member, as in etcd. */
      if (bit == 0 || !for_this_store(id, a)) return 0;
      if (!(mask & bit)) rc = lkv_mvcc_alarms_set(c->t, mask | bit);
      return rc ? rc : add_member(c, r, a->memberid, a->alarm);
    case ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE:
      if (bit == 0 || !for_this_store(id, a) || !(mask & bit)) return 0;
      rc = lkv_mvcc_alarms_set(c->t, mask & ~bit);
      return rc ? rc : add_member(c, r, a->memberid, a->alarm);
    default:
      return LKV_EINVAL;
  }
}
