/* etcd's request checks before a write enters the log (v3rpc checkPutRequest, checkTxnRequest,
 * checkIntervals), as a pure function of the request. */
#include <stdlib.h>
#include <string.h>

#include "apply/auth_internal.h"
#include "apply/internal.h"
#include "common/error.h"
#include "mvcc/keyenc.h"

/* etcd's --max-txn-ops default. */
#define DEFAULT_MAX_TXN_OPS 128

static int check_put(const Etcdserverpb__PutRequest *r) {
  if (!r || r->key.len == 0) return LKV_EEMPTYKEY;
  if (r->ignore_value && r->value.len != 0) return LKV_EVALUEPROVIDED;
  if (r->ignore_lease && r->lease != 0) return LKV_ELEASEPROVIDED;
  return 0;
}

static int check_txn(const Etcdserverpb__TxnRequest *r, long long max_ops);

static int check_op(const Etcdserverpb__RequestOp *u, long long max_ops) {
  switch (u->request_case) {
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
      return (!u->request_range || u->request_range->key.len == 0) ? LKV_EEMPTYKEY : 0;
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
      return check_put(u->request_put);
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
      return (!u->request_delete_range || u->request_delete_range->key.len == 0) ? LKV_EEMPTYKEY : 0;
    case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN:
      return u->request_txn ? check_txn(u->request_txn, max_ops) : LKV_EKEYNOTFOUND;
    default:
      return LKV_EKEYNOTFOUND; /* etcd answers an empty op with "key not found" */
  }
}

/* etcd's checkTxnRequest: nested txns get the budget left after their parent's widest list. */
static int check_txn(const Etcdserverpb__TxnRequest *r, long long max_ops) {
  long long opc = (long long)r->n_compare;
  if (opc < (long long)r->n_success) opc = (long long)r->n_success;
  if (opc < (long long)r->n_failure) opc = (long long)r->n_failure;
  if (opc > max_ops) return LKV_ETOOMANYOPS;
  for (size_t i = 0; i < r->n_compare; i++)
    if (r->compare[i]->key.len == 0) return LKV_EEMPTYKEY;
  for (size_t i = 0; i < r->n_success; i++) {
    int rc = check_op(r->success[i], max_ops - opc);
    if (rc) return rc;
  }
  for (size_t i = 0; i < r->n_failure; i++) {
    int rc = check_op(r->failure[i], max_ops - opc);
    if (rc) return rc;
  }
  return 0;
}

/* ---- duplicate keys (etcd's checkIntervals) ---- */

typedef struct keyset_s { /* put keys, kept sorted */
  const ProtobufCBinaryData **v;
  size_t n, cap;
} keyset_t;

typedef struct dels_s { /* delete intervals: [key, end), or the point key when end is empty */
  const Etcdserverpb__DeleteRangeRequest **v;
  size_t n, cap;
} dels_t;

/* Returns arr with room for one more element than n (realloc'd when full), or NULL. */
static void *grow(void *arr, size_t n, size_t *cap, size_t elem) {
  if (n < *cap) return arr;
  size_t ncap = *cap ? 2 * *cap : 8;
  void *p = realloc(arr, ncap * elem);
  if (p) *cap = ncap;
  return p;
}

static int bin_cmp(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
  return lkv__bytes_cmp(a->data, a->len, b->data, b->len);
}

/* Index of k in s, or where it would go (with *found). */
static size_t keyset_find(const keyset_t *s, const ProtobufCBinaryData *k, int *found) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = bin_cmp(s->v[mid], k);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

static int keyset_has(const keyset_t *s, const ProtobufCBinaryData *k) {
  int found;
  keyset_find(s, k, &found);
  return found;
}

static int keyset_add(keyset_t *s, const ProtobufCBinaryData *k) {
  int found;
  size_t at = keyset_find(s, k, &found);
  if (found) return 0;
  const ProtobufCBinaryData **v = grow(s->v, s->n, &s->cap, sizeof(*s->v));
  if (!v) return LKV_ENOMEM;
  s->v = v;
  memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
  s->v[at] = k;
  s->n++;
  return 0;
}

static int dels_add(dels_t *d, const Etcdserverpb__DeleteRangeRequest *r) {
  const Etcdserverpb__DeleteRangeRequest **v = grow(d->v, d->n, &d->cap, sizeof(*d->v));
  if (!v) return LKV_ENOMEM;
  d->v = v;
  d->v[d->n++] = r;
  return 0;
}

/* Whether a put of k overlaps a delete. Intervals are taken literally, as etcd's interval tree does:
 * a range_end of "\0" (to the end of the keyspace) is then below the key and matches nothing. */
static int dels_hit(const dels_t *d, const ProtobufCBinaryData *k) {
  for (size_t i = 0; i < d->n; i++) {
    const Etcdserverpb__DeleteRangeRequest *r = d->v[i];
    if (r->range_end.len == 0) {
      if (bin_cmp(&r->key, k) == 0) return 1;
    } else if (bin_cmp(&r->key, k) <= 0 && bin_cmp(k, &r->range_end) < 0) {
      return 1;
    }
  }
  return 0;
}

/* Checks one list of ops and returns its puts and deletes (nested txns included) for the parent. */
static int check_intervals(Etcdserverpb__RequestOp **reqs, size_t n, keyset_t *puts, dels_t *dels) {
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++)
    if (reqs[i]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE &&
        reqs[i]->request_delete_range)
      rc = dels_add(dels, reqs[i]->request_delete_range);

  for (size_t i = 0; i < n && !rc; i++) {
    const Etcdserverpb__TxnRequest *t = reqs[i]->request_txn;
    if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN || !t) continue;
    keyset_t then_puts = {0}, else_puts = {0};
    dels_t then_dels = {0}, else_dels = {0};
    rc = check_intervals(t->success, t->n_success, &then_puts, &then_dels);
    if (!rc) rc = check_intervals(t->failure, t->n_failure, &else_puts, &else_dels);
    for (size_t j = 0; j < then_puts.n && !rc; j++) {
      if (keyset_has(puts, then_puts.v[j]) || dels_hit(dels, then_puts.v[j]))
        rc = LKV_EDUPKEY;
      else
        rc = keyset_add(puts, then_puts.v[j]);
    }
    for (size_t j = 0; j < else_puts.n && !rc; j++) {
      /* then and else exclude each other: the same key in both is fine */
      if ((keyset_has(puts, else_puts.v[j]) && !keyset_has(&then_puts, else_puts.v[j])) ||
          dels_hit(dels, else_puts.v[j]))
        rc = LKV_EDUPKEY;
      else
        rc = keyset_add(puts, else_puts.v[j]);
    }
    for (size_t j = 0; j < then_dels.n && !rc; j++) rc = dels_add(dels, then_dels.v[j]);
    for (size_t j = 0; j < else_dels.n && !rc; j++) rc = dels_add(dels, else_dels.v[j]);
    free(then_puts.v);
    free(else_puts.v);
    free(then_dels.v);
    free(else_dels.v);
  }

  for (size_t i = 0; i < n && !rc; i++) {
    const Etcdserverpb__PutRequest *p = reqs[i]->request_put;
    if (reqs[i]->request_case != ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT || !p) continue;
    if (keyset_has(puts, &p->key) || dels_hit(dels, &p->key))
      rc = LKV_EDUPKEY;
    else
      rc = keyset_add(puts, &p->key);
  }
  return rc;
}

static int check_dups(Etcdserverpb__RequestOp **reqs, size_t n) {
  keyset_t puts = {0};
  dels_t dels = {0};
  int rc = check_intervals(reqs, n, &puts, &dels);
  free(puts.v);
  free(dels.v);
  return rc;
}

int lkv_apply_validate(lkv_op_kind_t kind, const ProtobufCMessage *msg, const lkv_apply_limits_t *limits) {
  switch (kind) {
    case LKV_OP_PUT:
      return check_put((const Etcdserverpb__PutRequest *)msg);
    case LKV_OP_DELETE_RANGE:
      return ((const Etcdserverpb__DeleteRangeRequest *)msg)->key.len == 0 ? LKV_EEMPTYKEY : 0;
    case LKV_OP_TXN: {
      const Etcdserverpb__TxnRequest *r = (const Etcdserverpb__TxnRequest *)msg;
      long long max_ops =
          limits && limits->max_txn_ops ? (long long)limits->max_txn_ops : DEFAULT_MAX_TXN_OPS;
      int rc = check_txn(r, max_ops);
      if (!rc) rc = check_dups(r->success, r->n_success);
      if (!rc) rc = check_dups(r->failure, r->n_failure);
      return rc;
    }
    case LKV_OP_COMPACT:
    case LKV_OP_LEASE_GRANT:
    case LKV_OP_LEASE_REVOKE:
      return 0;
    case LKV_OP_ALARM: {
      int action = ((const Etcdserverpb__AlarmRequest *)msg)->action;
      return action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE ||
                     action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE
                 ? 0
                 : LKV_EINVAL;
    }
    default:
      return lkv__auth_is_op(kind) ? 0 : LKV_EINVAL;
  }
}
