/* etcd's Range semantics (limit, sort, revision filters, keys_only, count_only) and the read path. */
#include <stdlib.h>
#include <string.h>

#include "apply/internal.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "mvcc/keyenc.h"

typedef struct collect_s {
  lkv__op_ctx_t *c;
  Mvccpb__KeyValue **kvs;
  size_t n, cap;
} collect_t;

static int collect_kv(void *arg, const lkv_mvcc_kv_t *kv) {
  collect_t *col = arg;
  lkv__arena_t *a = col->c->arena;
  if (col->n == col->cap) {
    size_t cap = col->cap ? 2 * col->cap : 16;
    Mvccpb__KeyValue **kvs = lkv__arena_alloc(a, cap * sizeof(*kvs));
    if (!kvs) return LKV_ENOMEM;
    if (col->n) memcpy(kvs, col->kvs, col->n * sizeof(*kvs));
    col->kvs = kvs;
    col->cap = cap;
  }
  Mvccpb__KeyValue *m = lkv__arena_alloc(a, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  mvccpb__key_value__init(m);
  m->create_revision = kv->create_revision;
  m->mod_revision = kv->mod_revision;
  m->version = kv->version;
  m->lease = kv->lease;
  m->key.len = kv->key_len;
  m->value.len = kv->value ? kv->value_len : 0;
  if (col->c->copy) {
    m->key.data = lkv__arena_dup(a, kv->key, kv->key_len);
    m->value.data = m->value.len ? lkv__arena_dup(a, kv->value, m->value.len) : NULL;
    if (!m->key.data || (m->value.len && !m->value.data)) return LKV_ENOMEM;
  } else {
    /* Read path: point straight into the snapshot; packed before the snapshot ends. */
    m->key.data = (uint8_t *)kv->key;
    m->value.data = m->value.len ? (uint8_t *)kv->value : NULL;
  }
  col->kvs[col->n++] = m;
  return 0;
}

void lkv__range_bounds(lkv_mvcc_range_t *q, ProtobufCBinaryData key, ProtobufCBinaryData end) {
  q->key = key.data;
  q->key_len = key.len;
  q->end = end.data;
  q->end_len = end.len;
}

static size_t prune(Mvccpb__KeyValue **kvs, size_t n, int (*drop)(const Mvccpb__KeyValue *, int64_t),
                    int64_t bound) {
  size_t j = 0;
  for (size_t i = 0; i < n; i++)
    if (!drop(kvs[i], bound)) kvs[j++] = kvs[i];
  return j;
}

static int mod_above(const Mvccpb__KeyValue *kv, int64_t b) {
  return kv->mod_revision > b;
}
static int mod_below(const Mvccpb__KeyValue *kv, int64_t b) {
  return kv->mod_revision < b;
}
static int create_above(const Mvccpb__KeyValue *kv, int64_t b) {
  return kv->create_revision > b;
}
static int create_below(const Mvccpb__KeyValue *kv, int64_t b) {
  return kv->create_revision < b;
}

static int cmp_i64(int64_t a, int64_t b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

static int kv_cmp(const Mvccpb__KeyValue *x, const Mvccpb__KeyValue *y,
                  Etcdserverpb__RangeRequest__SortTarget t) {
  switch (t) {
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION:
      return cmp_i64(x->version, y->version);
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE:
      return cmp_i64(x->create_revision, y->create_revision);
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD:
      return cmp_i64(x->mod_revision, y->mod_revision);
    case ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE:
      return lkv__bytes_cmp(x->value.data, x->value.len, y->value.data, y->value.len);
    default:
      return lkv__bytes_cmp(x->key.data, x->key.len, y->key.data, y->key.len);
  }
}

/* Stable merge sort: equal elements keep key order, which is what etcd's sort gives on small results
 * (Go's sort.Sort insertion-sorts up to 12 elements; beyond that its tie order is unspecified). */
static void merge_sort(Mvccpb__KeyValue **v, Mvccpb__KeyValue **tmp, size_t n,
                       Etcdserverpb__RangeRequest__SortTarget t, int desc) {
  if (n < 2) return;
  size_t h = n / 2;
  merge_sort(v, tmp, h, t, desc);
  merge_sort(v + h, tmp, n - h, t, desc);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    int c = kv_cmp(v[j], v[i], t);
    if (desc) c = -c;
    tmp[k++] = c < 0 ? v[j++] : v[i++];
  }
  while (i < h) tmp[k++] = v[i++];
  while (j < n) tmp[k++] = v[j++];
  memcpy(v, tmp, n * sizeof(*v));
}

int lkv__apply_range(lkv__op_ctx_t *c, const Etcdserverpb__RangeRequest *r,
                     Etcdserverpb__RangeResponse **out) {
  lkv_metric_inc(LKV_METRIC(range_total), 0);
  Etcdserverpb__RangeRequest__SortOrder order = r->sort_order;
  if (r->sort_target != ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
      order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE)
    order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND; /* etcd sorts ascending by default then */

  /* Like etcd: sorting or filtering needs the whole range; otherwise fetch one extra for `more`. */
  int64_t limit = r->limit;
  if (r->sort_order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE || r->min_mod_revision ||
      r->max_mod_revision || r->min_create_revision || r->max_create_revision)
    limit = 0;
  if (limit > 0) limit++;

  lkv_mvcc_range_t q = {.rev = r->revision, .limit = limit > 0 ? (size_t)limit : 0};
  lkv__range_bounds(&q, r->key, r->range_end);
  int value_sort = order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE &&
                   r->sort_target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE;
  if (r->count_only) q.flags |= LKV_MVCC_RANGE_COUNT_ONLY;
  if (r->keys_only && !value_sort) q.flags |= LKV_MVCC_RANGE_NO_VALUES;

  collect_t col = {.c = c};
  size_t count = 0;
  int rc = lkv_mvcc_range(c->t, &q, collect_kv, &col, &count);
  if (rc) return rc;

  size_t n = col.n;
  if (r->max_mod_revision) n = prune(col.kvs, n, mod_above, r->max_mod_revision);
  if (r->min_mod_revision) n = prune(col.kvs, n, mod_below, r->min_mod_revision);
  if (r->max_create_revision) n = prune(col.kvs, n, create_above, r->max_create_revision);
  if (r->min_create_revision) n = prune(col.kvs, n, create_below, r->min_create_revision);

  int sorted_by_key_asc = r->sort_target == ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY &&
                          order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
  if (order != ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE && !sorted_by_key_asc && n > 1) {
    Mvccpb__KeyValue **tmp = lkv__arena_alloc(c->arena, n * sizeof(*tmp));
    if (!tmp) return LKV_ENOMEM;
    merge_sort(col.kvs, tmp, n, r->sort_target, order == ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND);
  }

  Etcdserverpb__RangeResponse *resp = lkv__arena_alloc(c->arena, sizeof(*resp));
  if (!resp) return LKV_ENOMEM;
  etcdserverpb__range_response__init(resp);
  if (r->limit > 0 && n > (size_t)r->limit) {
    n = (size_t)r->limit;
    resp->more = 1;
  }
  if (r->keys_only) {
    for (size_t i = 0; i < n; i++) col.kvs[i]->value = (ProtobufCBinaryData){0};
  }
  resp->header = lkv__header_new(c->arena, lkv_mvcc_txn_rev(c->t));
  if (!resp->header) return LKV_ENOMEM;
  resp->count = (int64_t)count;
  resp->n_kvs = n;
  resp->kvs = col.kvs;
  *out = resp;
  return 0;
}
