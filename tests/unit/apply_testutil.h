/* Helpers for the apply unit tests: request builders and one-request batches with decoded responses. */
#ifndef LKV_TESTS_APPLY_TESTUTIL_H
#define LKV_TESTS_APPLY_TESTUTIL_H

#include "apply/apply.h"
#include "etcd/auth/authpb/auth.pb-c.h"
#include "mvcc_testutil.h"

static const lkv_apply_identity_t lkvt_id = {.cluster_id = 11, .member_id = 22, .raft_term = 3};

static inline ProtobufCBinaryData lkvt_bin(const char *s) {
  return (ProtobufCBinaryData){.len = s ? strlen(s) : 0, .data = (uint8_t *)s};
}

/* range_end helper: "" means "\0" (from key), NULL means none. */
static inline ProtobufCBinaryData lkvt_end(const char *s) {
  if (!s) return (ProtobufCBinaryData){0};
  if (!s[0]) return (ProtobufCBinaryData){.len = 1, .data = (uint8_t *)""};
  return lkvt_bin(s);
}

static inline Etcdserverpb__PutRequest lkvt_put_req(const char *k, const char *v) {
  Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
  p.key = lkvt_bin(k);
  p.value = lkvt_bin(v);
  return p;
}

static inline Etcdserverpb__DeleteRangeRequest lkvt_del_req(const char *k, const char *end) {
  Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  d.key = lkvt_bin(k);
  d.range_end = lkvt_end(end);
  return d;
}

static inline Etcdserverpb__RangeRequest lkvt_range_req(const char *k, const char *end) {
  Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
  r.key = lkvt_bin(k);
  r.range_end = lkvt_end(end);
  return r;
}

/* Applies one request in its own batch. Returns its err; *resp gets the packed response (free it). */
/* Applies one request as who (NULL: no user) at log index 1. */
static inline int lkvt_apply_as(lkvt_store_t *ts, lkv_op_kind_t kind, const void *msg,
                                const lkv_apply_auth_t *who, uint8_t **resp, size_t *len) {
  lkv_apply_req_t r = {.kind = kind, .msg = msg, .index = 1};
  if (who) r.auth = *who;
  assert_int_equal(lkv_apply_batch(ts->s, &lkvt_id, &r, 1), 0);
  if (r.err) {
    assert_null(r.resp);
  } else {
    assert_non_null(r.resp);
  }
  *resp = r.resp;
  *len = r.resp_len;
  return r.err;
}

static inline int lkvt_apply(lkvt_store_t *ts, lkv_op_kind_t kind, const void *msg, uint8_t **resp,
                             size_t *len) {
  return lkvt_apply_as(ts, kind, msg, NULL, resp, len);
}

/* Grants role a permission of type (AUTHPB__PERMISSION__TYPE__*) on key (end: as lkvt_end's) as who.
 * Returns the op's error. */
static inline int lkvt_grant_perm(lkvt_store_t *ts, const lkv_apply_auth_t *who, const char *role, int type,
                                  const char *key, const char *end) {
  Etcdserverpb__AuthRoleGrantPermissionRequest r = ETCDSERVERPB__AUTH_ROLE_GRANT_PERMISSION_REQUEST__INIT;
  Authpb__Permission p = AUTHPB__PERMISSION__INIT;
  p.permtype = type;
  p.key = lkvt_bin(key);
  p.range_end = lkvt_end(end);
  r.name = (char *)role;
  r.perm = &p;
  uint8_t *b = NULL;
  size_t n;
  int err = lkvt_apply_as(ts, LKV_OP_AUTH_ROLE_GRANT_PERMISSION, &r, who, &b, &n);
  free(b);
  return err;
}

static inline Etcdserverpb__PutResponse *lkvt_do_put(lkvt_store_t *ts, const Etcdserverpb__PutRequest *p,
                                                     int *err) {
  uint8_t *b;
  size_t n;
  *err = lkvt_apply(ts, LKV_OP_PUT, p, &b, &n);
  if (*err) return NULL;
  Etcdserverpb__PutResponse *r = etcdserverpb__put_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(r);
  return r;
}

/* Puts k=v and checks it worked; returns the response revision. */
static inline int64_t lkvt_aput(lkvt_store_t *ts, const char *k, const char *v) {
  Etcdserverpb__PutRequest p = lkvt_put_req(k, v);
  int err;
  Etcdserverpb__PutResponse *r = lkvt_do_put(ts, &p, &err);
  assert_int_equal(err, 0);
  int64_t rev = r->header->revision;
  etcdserverpb__put_response__free_unpacked(r, NULL);
  return rev;
}

static inline Etcdserverpb__DeleteRangeResponse *lkvt_do_del(lkvt_store_t *ts,
                                                             const Etcdserverpb__DeleteRangeRequest *d,
                                                             int *err) {
  uint8_t *b;
  size_t n;
  *err = lkvt_apply(ts, LKV_OP_DELETE_RANGE, d, &b, &n);
  if (*err) return NULL;
  Etcdserverpb__DeleteRangeResponse *r = etcdserverpb__delete_range_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(r);
  return r;
}

static inline Etcdserverpb__TxnResponse *lkvt_do_txn(lkvt_store_t *ts, const Etcdserverpb__TxnRequest *t,
                                                     int *err) {
  uint8_t *b;
  size_t n;
  *err = lkvt_apply(ts, LKV_OP_TXN, t, &b, &n);
  if (*err) return NULL;
  Etcdserverpb__TxnResponse *r = etcdserverpb__txn_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(r);
  return r;
}

/* Serves a Range through the read path. Returns the error; *out is the decoded response or NULL. */
static inline int lkvt_do_range(lkvt_store_t *ts, const Etcdserverpb__RangeRequest *rq,
                                Etcdserverpb__RangeResponse **out) {
  uint8_t *b = NULL;
  size_t n = 0;
  *out = NULL;
  int err = lkv_apply_range(ts->s, &lkvt_id, rq, &b, &n);
  if (err) return err;
  *out = etcdserverpb__range_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(*out);
  return 0;
}

/* "k1=v1 k2=v2 " of a kv list (keys and values printable). */
static inline const char *lkvt_kvstr(Mvccpb__KeyValue **kvs, size_t n, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = 0;
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%.*s=%.*s ", (int)kvs[i]->key.len,
                            (const char *)kvs[i]->key.data, (int)kvs[i]->value.len,
                            kvs[i]->value.len ? (const char *)kvs[i]->value.data : "");
  return buf;
}

/* A txn request over caller-owned arrays (any may be NULL with count 0). */
static inline Etcdserverpb__TxnRequest lkvt_txn_req(Etcdserverpb__Compare **cmp, size_t n_cmp,
                                                    Etcdserverpb__RequestOp **succ, size_t n_succ,
                                                    Etcdserverpb__RequestOp **fail, size_t n_fail) {
  Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
  t.n_compare = n_cmp;
  t.compare = cmp;
  t.n_success = n_succ;
  t.success = succ;
  t.n_failure = n_fail;
  t.failure = fail;
  return t;
}

/* Ops for txn requests. */
static inline Etcdserverpb__RequestOp lkvt_op_put(Etcdserverpb__PutRequest *p) {
  Etcdserverpb__RequestOp o = ETCDSERVERPB__REQUEST_OP__INIT;
  o.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
  o.request_put = p;
  return o;
}

static inline Etcdserverpb__RequestOp lkvt_op_del(Etcdserverpb__DeleteRangeRequest *d) {
  Etcdserverpb__RequestOp o = ETCDSERVERPB__REQUEST_OP__INIT;
  o.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
  o.request_delete_range = d;
  return o;
}

static inline Etcdserverpb__RequestOp lkvt_op_range(Etcdserverpb__RangeRequest *r) {
  Etcdserverpb__RequestOp o = ETCDSERVERPB__REQUEST_OP__INIT;
  o.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
  o.request_range = r;
  return o;
}

static inline Etcdserverpb__RequestOp lkvt_op_txn(Etcdserverpb__TxnRequest *t) {
  Etcdserverpb__RequestOp o = ETCDSERVERPB__REQUEST_OP__INIT;
  o.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
  o.request_txn = t;
  return o;
}

#endif
