/* The KV workloads' requests (put, range, txn-put, txn-mixed, watch's puts) and their completions. */
#include <stdlib.h>
#include <string.h>

#include "bench/internal.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"

#define PATH_PUT "/etcdserverpb.KV/Put"
#define PATH_RANGE "/etcdserverpb.KV/Range"
#define PATH_TXN "/etcdserverpb.KV/Txn"

static void on_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  lkv__bench_client_t *c = ud;
  lkv__bench_thread_t *t = c->t;
  (void)resp, (void)len; /* OK means the server did it; decoding would only cost the client CPU */
  if (t->phase == LKV__PH_DONE) return;
  if (t->cfg->workload == LKV_BENCH_WATCH && status == LKV_GRPC_OK) {
    /* A put's success is not the measured operation: its events are. */
    t->stats.puts_ok++;
    atomic_fetch_add(&t->sh->puts_ok, 1);
  } else {
    if (status == LKV_GRPC_OK && t->cfg->workload == LKV_BENCH_TXN_MIXED) {
      if (c->is_read)
        t->stats.reads++;
      else
        t->stats.writes++;
    }
    lkv__bench_record(t, status, message, c->start_ns);
  }
  lkv__bench_client_done(c);
}

static int send_packed(lkv__bench_client_t *c, const char *path, const ProtobufCMessage *msg) {
  return lkv__bench_unary(c->t, c->conn, path, msg, on_done, c);
}

static uint64_t key_number(lkv__bench_thread_t *t, uint64_t ticket) {
  return t->cfg->sequential_keys ? ticket % t->cfg->key_space : lkv__bench_random(t, t->cfg->key_space);
}

static void init_put(lkv__bench_thread_t *t, Etcdserverpb__PutRequest *put, uint8_t *key) {
  etcdserverpb__put_request__init(put);
  put->key.data = key;
  put->key.len = t->cfg->key_size;
  put->value.data = t->value;
  put->value.len = t->cfg->val_size;
}

/* txn-put: --txn-ops puts on consecutive keys (a txn may not put one key twice), built in one block. */
static int issue_txn_put(lkv__bench_client_t *c, uint64_t first) {
  lkv__bench_thread_t *t = c->t;
  size_t ks = t->cfg->key_size, nops = (size_t)t->cfg->txn_ops;
  struct op_s {
    Etcdserverpb__PutRequest put;
    Etcdserverpb__RequestOp op;
  } *ops = malloc(nops * (sizeof(struct op_s) + sizeof(Etcdserverpb__RequestOp *) + ks));
  if (!ops) return LKV_ENOMEM;
  Etcdserverpb__RequestOp **op_ptrs = (Etcdserverpb__RequestOp **)(ops + nops);
  uint8_t *keys = (uint8_t *)(op_ptrs + nops);
  for (size_t i = 0; i < nops; i++) {
    lkv__bench_make_key(t, (first + i) % t->cfg->key_space);
    memcpy(keys + i * ks, t->key, ks);
    init_put(t, &ops[i].put, keys + i * ks);
    etcdserverpb__request_op__init(&ops[i].op);
    ops[i].op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    ops[i].op.request_put = &ops[i].put;
    op_ptrs[i] = &ops[i].op;
  }
  Etcdserverpb__TxnRequest txn;
  etcdserverpb__txn_request__init(&txn);
  txn.n_success = nops;
  txn.success = op_ptrs;
  int rv = send_packed(c, PATH_TXN, &txn.base);
  free(ops);
  return rv;
}

/* txn-mixed: a Txn holding one range (read) or one put (write); reads with probability r/(r+1). */
static int issue_txn_mixed(lkv__bench_client_t *c, uint64_t keyno) {
  lkv__bench_thread_t *t = c->t;
  double r = t->cfg->rw_ratio;
  c->is_read = (double)lkv__bench_random(t, 1u << 30) < r / (r + 1) * (double)(1u << 30);
  lkv__bench_make_key(t, keyno);
  Etcdserverpb__RangeRequest range;
  Etcdserverpb__PutRequest put;
  Etcdserverpb__RequestOp op, *op_ptr = &op;
  etcdserverpb__request_op__init(&op);
  if (c->is_read) {
    etcdserverpb__range_request__init(&range);
    range.key.data = (uint8_t *)t->key;
    range.key.len = t->cfg->key_size;
    op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op.request_range = &range;
  } else {
    init_put(t, &put, (uint8_t *)t->key);
    op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op.request_put = &put;
  }
  Etcdserverpb__TxnRequest txn;
  etcdserverpb__txn_request__init(&txn);
  txn.n_success = 1;
  txn.success = &op_ptr;
  return send_packed(c, PATH_TXN, &txn.base);
}

int lkv__bench_issue_kv(lkv__bench_client_t *c, uint64_t ticket) {
  lkv__bench_thread_t *t = c->t;
  uint64_t keyno = key_number(t, ticket);
  switch (t->cfg->workload) {
    case LKV_BENCH_RANGE: {
      Etcdserverpb__RangeRequest range;
      etcdserverpb__range_request__init(&range);
      uint64_t span = t->cfg->range_keys;
      if (span > 1) { /* the start is drawn so that the end stays a key of the key space */
        size_t ks = t->cfg->key_size;
        keyno %= t->cfg->key_space - span;
        lkv__bench_make_key(t, keyno + span);
        memcpy(t->key + ks, t->key, ks);
        range.range_end.data = (uint8_t *)t->key + ks;
        range.range_end.len = ks;
      }
      lkv__bench_make_key(t, keyno);
      range.key.data = (uint8_t *)t->key;
      range.key.len = t->cfg->key_size;
      range.serializable = t->cfg->serializable != 0;
      return send_packed(c, PATH_RANGE, &range.base);
    }
    case LKV_BENCH_TXN_PUT:
      return issue_txn_put(c, keyno);
    case LKV_BENCH_TXN_MIXED:
      return issue_txn_mixed(c, keyno);
    default: { /* put, and watch's puts */
      Etcdserverpb__PutRequest put;
      lkv__bench_make_key(t, keyno);
      init_put(t, &put, (uint8_t *)t->key);
      if (t->cfg->workload == LKV_BENCH_WATCH) {
        /* The value carries the moment the put was due, so a watcher can time the event it receives. */
        memcpy(t->value, &c->start_ns, sizeof(c->start_ns));
      }
      return send_packed(c, PATH_PUT, &put.base);
    }
  }
}
