/* etcd's Txn: compares, the chosen path through nested txns, pre-checks, then the operations. */
#include <string.h>

#include "apply/internal.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "mvcc/keyenc.h"

/* The outcome of every compare on the path, in etcd's order (this txn, then nested txns of the chosen
 * branch depth-first), computed before any operation runs, as etcd's compareToPath does. */
typedef struct path_s {
  uint8_t *v;
  size_t n, cap;
} path_t;

#define CMP_STOP LKV_ECANCELED /* private: ends a compare scan at the first failing key */

typedef struct cmp_scan_s {
  const Etcdserverpb__Compare *cmp;
  int ok;
} cmp_scan_t;

static int cmp_i64(int64_t a, int64_t b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

/* etcd's compareKV on one kv (a missing key is compared as a zero kv). */
static int compare_kv(const Etcdserverpb__Compare *c, const lkv_mvcc_kv_t *kv) {
  int r = 0;
  switch (c->target) {
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE: {
      ProtobufCBinaryData v = {0};
      if (c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE) v = c->value;
      r = lkv__bytes_cmp(kv->value, kv->value_len, v.data, v.len);
      break;
    }
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
      r = cmp_i64(kv->create_revision,
                  c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION
                      ? c->create_revision
                      : 0);
      break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
      r = cmp_i64(kv->mod_revision, c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION
                                        ? c->mod_revision
                                        : 0);
      break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
      r = cmp_i64(kv->version,
                  c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION ? c->version : 0);
      break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
      r = cmp_i64(kv->lease,
                  c->target_union_case == ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE ? c->lease : 0);
      break;
    default:
      break;
  }
  switch (c->result) {
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL:
      return r == 0;
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL:
      return r != 0;
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER:
      return r > 0;
    case ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS:
      return r < 0;
    default:
      return 1;
  }
}

static int cmp_scan_kv(void *arg, const lkv_mvcc_kv_t *kv) {
  cmp_scan_t *s = arg;
  if (compare_kv(s->cmp, kv)) return 0;
  s->ok = 0;
  return CMP_STOP;
}

/* etcd's applyCompare: every key in the range must satisfy it; no key at all compares a zero kv, except
 * that a VALUE compare on missing keys always fails. Sets *ok. */
static int apply_compare(lkv__op_ctx_t *c, const Etcdserverpb__Compare *cmp, int *ok) {
  lkv_mvcc_range_t q = {0};
  lkv__range_bounds(&q, cmp->key, cmp->range_end);
  if (cmp->target != ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE) q.flags = LKV_MVCC_RANGE_NO_VALUES;
  cmp_scan_t s = {.cmp = cmp, .ok = 1};
  size_t count = 0;
  int rc = lkv_mvcc_range(c->t, &q, cmp_scan_kv, &s, &count);
  if (rc == CMP_STOP) rc = 0;
  if (rc) return rc;
  if (!s.ok) {
    *ok = 0;
  } else if (count > 0) {
    *ok = 1;
  } else {
    lkv_mvcc_kv_t zero = {0};
    *ok = cmp->target != ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE && compare_kv(cmp, &zero);
  }
  return 0;
}

static int path_push(lkv__arena_t *a, path_t *p, int ok) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    uint8_t *v = lkv__arena_alloc(a, cap);
    if (!v) return LKV_ENOMEM;
    if (p->n) memcpy(v, p->v, p->n);
    p->v = v;
    p->cap = cap;
  }
  p->v[p->n++] = (uint8_t)ok;
  return 0;
}

static void branch(const Etcdserverpb__TxnRequest *rt, int ok, Etcdserverpb__RequestOp ***ops, size_t *n) {
  *ops = ok ? rt->success : rt->failure;
  *n = ok ? rt->n_success : rt->n_failure;
}

static int compute_path(lkv__op_ctx_t *c, const Etcdserverpb__TxnRequest *rt, path_t *p) {
  int ok = 1, rc;
  for (size_t i = 0; i < rt->n_compare && ok; i++) {
    rc = apply_compare(c, rt->compare[i], &ok);
    if (rc) return rc;
  }
  rc = path_push(c->arena, p, ok);
  if (rc) return rc;
  Etcdserverpb__RequestOp **ops;
  size_t n;
  branch(rt, ok, &ops, &n);
  for (size_t i = 0; i < n; i++) {
    if (ops[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN || !ops[i]->request_txn)
      continue;
    rc = compute_path(c, ops[i]->request_txn, p);
    if (rc) return rc;
  }
  return 0;
}

/* etcd's checkRequestPut: ignore_value/ignore_lease need the key to exist before the txn; leases must
 * exist. */
static int check_put(lkv__op_ctx_t *c, const Etcdserverpb__PutRequest *p) {
  if (p->ignore_value || p->ignore_lease) {
    lkv_mvcc_range_t q = {.key = p->key.data, .key_len = p->key.len, .flags = LKV_MVCC_RANGE_COUNT_ONLY};
    size_t count;
    int rc = lkv_mvcc_range(c->t, &q, NULL, NULL, &count);
    if (rc) return rc;
    if (count == 0) return LKV_EKEYNOTFOUND;
  }
  return p->lease != 0 ? lkv_mvcc_lease_get(c->t, p->lease, NULL) : 0;
}

/* etcd's checkRequestRange, against the view the txn started from. */
static int check_range(lkv__op_ctx_t *c, const Etcdserverpb__RangeRequest *r) {
  if (r->revision == 0) return 0;
  if (r->revision > lkv_mvcc_txn_rev(c->t)) return LKV_EFUTUREREV;
  if (r->revision < lkv_mvcc_txn_compact_rev(c->t)) return LKV_ECOMPACTED;
  return 0;
}

/* etcd's checkRequests over the path: puts == 1 checks puts, 0 checks ranges. */
static int check_path(lkv__op_ctx_t *c, const Etcdserverpb__TxnRequest *rt, const path_t *p, size_t *idx,
                      int puts) {
  Etcdserverpb__RequestOp **ops;
  size_t n;
  branch(rt, p->v[(*idx)++], &ops, &n);
  for (size_t i = 0; i < n; i++) {
    const Etcdserverpb__RequestOp *op = ops[i];
    int rc = 0;
    if (op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN && op->request_txn)
      rc = check_path(c, op->request_txn, p, idx, puts);
    else if (puts && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT && op->request_put)
      rc = check_put(c, op->request_put);
    else if (!puts && op->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE &&
             op->request_range)
      rc = check_range(c, op->request_range);
    if (rc) return rc;
  }
  return 0;
}

static int exec_txn(lkv__op_ctx_t *c, const Etcdserverpb__TxnRequest *rt, const path_t *p, size_t *idx,
                    Etcdserverpb__TxnResponse **out) {
  lkv__arena_t *a = c->arena;
  Etcdserverpb__TxnResponse *resp = lkv__arena_alloc(a, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__txn_response__init(resp);
  resp->header = lkv__header_new(a, 0); /* etcd leaves nested txn headers empty */
  if (!resp->header) return LKV_ENOMEM;
  resp->succeeded = p->v[(*idx)++];
  Etcdserverpb__RequestOp **ops;
  size_t n;
  branch(rt, resp->succeeded, &ops, &n);
  resp->n_responses = n;
  resp->responses = lkv__arena_alloc(a, (n ? n : 1) * sizeof(*resp->responses));
  if (!resp->responses) return LKV_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const Etcdserverpb__RequestOp *op = ops[i];
    Etcdserverpb__ResponseOp *ro = lkv__arena_alloc(a, sizeof(*ro));
    if (!ro) return LKV_ENOMEM;
    etcdserverpb__response_op__init(ro);
    int rc = 0;
    switch (op->request_case) {
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
        ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
        rc = lkv__apply_range(c, op->request_range, &ro->response_range);
        break;
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
        ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
        rc = lkv__apply_put(c, op->request_put, 0, 0, &ro->response_put);
        break;
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
        ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
        rc = lkv__apply_delete(c, op->request_delete_range, &ro->response_delete_range);
        break;
      case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
        ro->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
        rc = exec_txn(c, op->request_txn, p, idx, &ro->response_txn);
        break;
      default: /* an empty op (lkv_apply_validate refuses these) gets an empty response */
        break;
    }
    if (rc) return rc;
    resp->responses[i] = ro;
  }
  *out = resp;
  return 0;
}

static uint64_t cost_ops(Etcdserverpb__RequestOp **ops, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT && ops[i]->request_put)
      sum += lkv__cost_put(ops[i]->request_put);
    else if (ops[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN && ops[i]->request_txn)
      sum += lkv__cost_txn(ops[i]->request_txn);
  }
  return sum;
}

uint64_t lkv__cost_txn(const Etcdserverpb__TxnRequest *rt) {
  uint64_t s = cost_ops(rt->success, rt->n_success), f = cost_ops(rt->failure, rt->n_failure);
  return s > f ? s : f;
}

int lkv__apply_txn(lkv__op_ctx_t *c, const Etcdserverpb__TxnRequest *rt, uint64_t quota_cost,
                   Etcdserverpb__TxnResponse **out) {
  lkv_metric_inc(LKV_METRIC(txn_total), 0);
  path_t p = {0};
  size_t idx;
  int rc = compute_path(c, rt, &p);
  if (rc) return rc;
  /* etcd checks puts first (write txns only; a read-only txn has none), then ranges. */
  for (int puts = 1; puts >= 0; puts--) {
    idx = 0;
    rc = check_path(c, rt, &p, &idx, puts);
    if (rc) return rc;
  }
  if (quota_cost && !c->no_quota) {
    rc = lkv_mvcc_quota_check(c->t, quota_cost);
    if (rc) return rc;
  }
  idx = 0;
  rc = exec_txn(c, rt, &p, &idx, out);
  if (rc) return rc;
  (*out)->header->revision = lkv_mvcc_txn_rev(c->t);
  return 0;
}

int lkv_apply_txn_is_readonly(const Etcdserverpb__TxnRequest *req) {
  for (size_t i = 0; i < req->n_success; i++)
    if (req->success[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) return 0;
  for (size_t i = 0; i < req->n_failure; i++)
    if (req->failure[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) return 0;
  return 1;
}
