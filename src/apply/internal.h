/* Apply-layer internals: one operation context, the etcd operations, and response helpers. */
#ifndef LKV_APPLY_INTERNAL_H
#define LKV_APPLY_INTERNAL_H

#include "apply/apply.h"
#include "apply/arena.h"
#include "causal/vv.h"

/* What an operation runs against. Responses are built in the arena; with copy set, kvs are copied into
 * it too (write transactions: storage pointers die at the next write). */
typedef struct lkv__op_ctx_s {
  lkv_mvcc_txn_t *t;
  lkv__arena_t *arena;
  int copy;
  int no_quota;     /* the proposer checked the space quota (lkv_apply_hooks_t.no_quota) */
  int storage_full; /* out: with no_quota, the store ran out of space (fails the batch) */
  uint64_t index;   /* the log index of the request being applied (lkv_apply_req_t.index) */
} lkv__op_ctx_t;

/* etcd's Range (applierV3backend.Range) on c->t: limit/sort/filter/keys_only/count_only rules. Sets *out
 * (header with revision only). Returns 0, LKV_ECOMPACTED, LKV_EFUTUREREV, LKV_ENOMEM, LKV_EIO... */
int lkv__apply_range(lkv__op_ctx_t *c, const Etcdserverpb__RangeRequest *r,
                     Etcdserverpb__RangeResponse **out);

/* etcd's Put. top: a request of its own (checks the lease here; inside a txn the txn checked it).
 * quota_cost: when non-zero the space quota is checked after the request's own checks.
 * Returns 0, LKV_ELEASENOTFOUND, LKV_EKEYNOTFOUND, LKV_ENOSPACE, ... */
int lkv__apply_put(lkv__op_ctx_t *c, const Etcdserverpb__PutRequest *p, int top, uint64_t quota_cost,
                   Etcdserverpb__PutResponse **out);

/* etcd's DeleteRange. Returns 0 or an LKV_E* code. */
int lkv__apply_delete(lkv__op_ctx_t *c, const Etcdserverpb__DeleteRangeRequest *d,
                      Etcdserverpb__DeleteRangeResponse **out);

/* etcd's Txn: compares, pre-checks on the chosen path, then the ops. quota_cost as for put.
 * Returns 0 or an LKV_E* code (then the caller rolls the request back). */
int lkv__apply_txn(lkv__op_ctx_t *c, const Etcdserverpb__TxnRequest *rt, uint64_t quota_cost,
                   Etcdserverpb__TxnResponse **out);

/* Returns LKV_ENOSPACE when the NOSPACE alarm is raised and req would add data (etcd's capped applier),
 * LKV_ECORRUPT when CORRUPT is raised and req is a KV or lease write (etcd's corrupt applier), 0 when req
 * may run, or an LKV_E* storage code. */
int lkv__alarm_check(lkv_mvcc_txn_t *t, const lkv_apply_req_t *req);

/* Raises an alarm bit (LKV_MVCC_ALARM_*) in a request bracket of its own; no-op when already raised.
 * Call between requests of a batch. Returns 0 or an LKV_E* code. */
int lkv__alarm_raise(lkv_mvcc_txn_t *t, uint32_t bit);

/* etcd's Alarm: GET lists raised alarms, ACTIVATE/DEACTIVATE change this member's (in a request bracket).
 * Sets *out (header with revision only). Returns 0 or an LKV_E* code. */
int lkv__apply_alarm(lkv__op_ctx_t *c, const lkv_apply_identity_t *id, const Etcdserverpb__AlarmRequest *a,
                     Etcdserverpb__AlarmResponse **out);

/* etcd's LeaseGrant: id 0 is "not found", a TTL above the maximum too large, then the quota (etcd's
 * leaseOverhead, 64 bytes). Sets *out (header with revision only). Returns 0, LKV_ELEASENOTFOUND,
 * LKV_ELEASETTLTOOLARGE, LKV_ELEASEEXIST, LKV_ENOSPACE or a storage code. */
int lkv__apply_lease_grant(lkv__op_ctx_t *c, const Etcdserverpb__LeaseGrantRequest *g,
                           Etcdserverpb__LeaseGrantResponse **out);

/* etcd's LeaseRevoke: the lease's keys deleted in one revision, the lease removed. Returns 0,
 * LKV_ELEASENOTFOUND or a storage code. */
int lkv__apply_lease_revoke(lkv__op_ctx_t *c, const Etcdserverpb__LeaseRevokeRequest *r,
                            Etcdserverpb__LeaseRevokeResponse **out);

/* etcd's leaseOverhead: what a lease costs against the space quota. */
#define LKV__LEASE_QUOTA_COST 64

/* etcd's quota cost of a put (kvOverhead 256 + key + value) and of a txn (the costlier branch). */
uint64_t lkv__cost_put(const Etcdserverpb__PutRequest *p);
uint64_t lkv__cost_txn(const Etcdserverpb__TxnRequest *rt);

/* A response header in the arena carrying only a revision (what etcd puts inside txn responses). */
Etcdserverpb__ResponseHeader *lkv__header_new(lkv__arena_t *a, int64_t revision);

/* Stamps the identity into an outer response header (etcd's v3rpc header.fill). */
void lkv__header_fill(Etcdserverpb__ResponseHeader *h, const lkv_apply_identity_t *id);

/* etcd's mkGteRange for our storage convention: both keep "\0" meaning "to the end". Builds the
 * lkv_mvcc_range_t for a key/range_end pair. */
void lkv__range_bounds(lkv_mvcc_range_t *q, ProtobufCBinaryData key, ProtobufCBinaryData end);

/* Packs msg into a malloc'd buffer. Returns 0 or LKV_ENOMEM. */
int lkv__pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len);

/* The ledger entries of one batch (ledger.c). Entries share one write-set buffer; lkv__rec_entries
 * turns them into lkv_ledger_entry_t with pointers into it. Zero-initialise or lkv__rec_init. */
typedef struct lkv__rec_entry_s lkv__rec_entry_t;
typedef struct lkv__rec_s {
  lkv_ledger_ws_t ws;
  lkv__rec_entry_t *ents;
  size_t n, cap;
  lkv_ledger_entry_t *out;
} lkv__rec_t;

void lkv__rec_init(lkv__rec_t *r);
void lkv__rec_free(lkv__rec_t *r);

/* Records the entry of req, just kept in t (its response packed): nothing for a request that changed
 * no state (same revision as rev_before, for Put/DeleteRange/Txn) or an alarm; the write set is read
 * back from the history of the request's revision. Returns 0, LKV_ENOMEM or a storage code (then
 * nothing was recorded). */
int lkv__rec_request(lkv__rec_t *r, lkv_mvcc_txn_t *t, const lkv_apply_req_t *req, int64_t rev_before);

/* The recorded entries (r->n of them), valid until r changes; NULL when there are none or out of
 * memory (r->n tells which). */
const lkv_ledger_entry_t *lkv__rec_entries(lkv__rec_t *r);

/* Causal mode's leases in a replay (replay_causal.c, docs/causal.md §5, §15a): the members whose removal the
 * replay applied, whose leases ended. */
typedef struct lkv__replay_ended_s {
  uint64_t ids[LKV_CAUSAL_MAX_ORIGINS];
  size_t n;
} lkv__replay_ended_t;

/* A CAUSAL_EVENT record's lease grants, applied before its ops (which may attach keys to them): each one the
 * store lacks, none when the event's origin's leases ended. Returns 0, LKV_ECORRUPT or the store's codes. */
int lkv__replay_event_grants(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e, const lkv__replay_ended_t *x);

/* Its lease revokes and member removals, after its ops (which deleted their keys): a revoke of a lease the
 * store has; the first removal of a member revokes every lease it owns and ends its leases in x. A revoke
 * that finds a key still attached is LKV_ECORRUPT (not this store's history). */
int lkv__replay_event_ends(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e, lkv__replay_ended_t *x);

#endif
