/* etcd's Put and DeleteRange on a write transaction. */
#include <string.h>

#include "apply/internal.h"
#include "common/error.h"
#include "metrics/catalog.h"

/* The key's current kv, copied into the arena (the put that follows invalidates storage pointers). */
typedef struct prev_s {
  lkv__op_ctx_t *c;
  Mvccpb__KeyValue *kv;
} prev_t;

static int keep_prev(void *arg, const lkv_mvcc_kv_t *kv) {
  prev_t *p = arg;
  lkv__arena_t *a = p->c->arena;
  Mvccpb__KeyValue *m = lkv__arena_alloc(a, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  mvccpb__key_value__init(m);
  m->key.data = lkv__arena_dup(a, kv->key, kv->key_len);
  m->key.len = kv->key_len;
  m->value.data = kv->value_len ? lkv__arena_dup(a, kv->value, kv->value_len) : NULL;
  m->value.len = kv->value_len;
  if (!m->key.data || (kv->value_len && !m->value.data)) return LKV_ENOMEM;
  m->create_revision = kv->create_revision;
  m->mod_revision = kv->mod_revision;
  m->version = kv->version;
  m->lease = kv->lease;
  p->kv = m;
  return 0;
}

uint64_t lkv__cost_put(const Etcdserverpb__PutRequest *p) {
  return 256 + p->key.len + p->value.len;
}

int lkv__apply_put(lkv__op_ctx_t *c, const Etcdserverpb__PutRequest *p, int top, uint64_t quota_cost,
                   Etcdserverpb__PutResponse **out) {
  lkv_metric_inc(LKV_METRIC(put_total), 0);
  if (top && p->lease != 0) {
    int rc = lkv_mvcc_lease_get(c->t, p->lease, NULL);
    if (rc) return rc;
  }
  prev_t prev = {.c = c};
  if (p->ignore_value || p->ignore_lease || p->prev_kv) {
    lkv_mvcc_range_t q = {.key = p->key.data, .key_len = p->key.len};
    int rc = lkv_mvcc_range(c->t, &q, keep_prev, &prev, NULL);
    if (rc) return rc;
  }
  if ((p->ignore_value || p->ignore_lease) && !prev.kv) return LKV_EKEYNOTFOUND;
  if (quota_cost && !c->no_quota) {
    int rc = lkv_mvcc_quota_check(c->t, quota_cost);
    if (rc) return rc;
  }
  ProtobufCBinaryData value = p->ignore_value ? prev.kv->value : p->value;
  int64_t lease = p->ignore_lease ? prev.kv->lease : p->lease;
  int rc = lkv_mvcc_put(c->t, p->key.data, p->key.len, value.data, value.len, lease);
  if (rc) return rc;

  Etcdserverpb__PutResponse *resp = lkv__arena_alloc(c->arena, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__put_response__init(resp);
  resp->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!resp->header) return LKV_ENOMEM;
  if (p->prev_kv) resp->prev_kv = prev.kv;
  *out = resp;
  return 0;
}

int lkv__apply_delete(lkv__op_ctx_t *c, const Etcdserverpb__DeleteRangeRequest *d,
                      Etcdserverpb__DeleteRangeResponse **out) {
  lkv_metric_inc(LKV_METRIC(delete_total), 0);
  Etcdserverpb__DeleteRangeResponse *resp = lkv__arena_alloc(c->arena, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__delete_range_response__init(resp);
  if (d->prev_kv) {
    Etcdserverpb__RangeRequest rr = ETCDSERVERPB__RANGE_REQUEST__INIT;
    Etcdserverpb__RangeResponse *got;
    rr.key = d->key;
    rr.range_end = d->range_end;
    int rc = lkv__apply_range(c, &rr, &got);
    if (rc) return rc;
    resp->n_prev_kvs = got->n_kvs;
    resp->prev_kvs = got->kvs;
  }
  lkv_mvcc_range_t q;
  lkv__range_bounds(&q, d->key, d->range_end);
  int rc = lkv_mvcc_delete_range(c->t, q.key, q.key_len, q.end, q.end_len, &resp->deleted);
  if (rc) return rc;
  resp->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!resp->header) return LKV_ENOMEM;
  *out = resp;
  return 0;
}
