/* Unit tests for etcd's Txn semantics: compares, branches, nested txns, responses and their headers,
 * read-your-writes, pre-checks, and revision rules. */
#include "apply_testutil.h"

static char buf[4096];

/* One compare on key (range_end optional) with target/result and the union set to `val`. */
static Etcdserverpb__Compare mkcmp(const char *key, const char *end,
                                   Etcdserverpb__Compare__CompareTarget target,
                                   Etcdserverpb__Compare__CompareResult result, int64_t num,
                                   const char *sval) {
  Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
  c.key = lkvt_bin(key);
  c.range_end = lkvt_end(end);
  c.target = target;
  c.result = result;
  switch (target) {
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
      c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
      c.version = num;
      break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
      c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
      c.create_revision = num;
      break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
      c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
      c.mod_revision = num;
      break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE:
      c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
      c.lease = num;
      break;
    default:
      c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
      c.value = lkvt_bin(sval);
      break;
  }
  return c;
}

/* Runs a txn with one compare and no ops; returns succeeded. */
static int eval1(lkvt_store_t *ts, Etcdserverpb__Compare c) {
  Etcdserverpb__Compare *cs[1] = {&c};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(cs, 1, NULL, 0, NULL, 0);
  int err;
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(err, 0);
  int ok = r->succeeded;
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  return ok;
}

#define VER ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION
#define CRE ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE
#define MOD ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD
#define VAL ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE
#define LEA ETCDSERVERPB__COMPARE__COMPARE_TARGET__LEASE
#define EQ ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL
#define NE ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL
#define GT ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER
#define LT ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS

static void test_compare_targets_and_results(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_aput(ts, "k", "m"); /* create 2 */
  lkvt_aput(ts, "x", "1"); /* 3 */
  lkvt_aput(ts, "k", "m"); /* mod 4, version 2 */
  struct {
    int target;
    int64_t lo, eq, hi;
    const char *slo, *seq, *shi;
  } cases[] = {
      {VER, 1, 2, 3, 0, 0, 0},  {CRE, 1, 2, 3, 0, 0, 0},        {MOD, 3, 4, 5, 0, 0, 0},
      {LEA, -1, 0, 1, 0, 0, 0}, {VAL, 0, 0, 0, "l", "m", "ma"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int tg = cases[i].target;
    /* the stored value compared with below / equal / above targets, for each result */
    assert_true(eval1(ts, mkcmp("k", NULL, tg, EQ, cases[i].eq, cases[i].seq)));
    assert_false(eval1(ts, mkcmp("k", NULL, tg, EQ, cases[i].lo, cases[i].slo)));
    assert_false(eval1(ts, mkcmp("k", NULL, tg, NE, cases[i].eq, cases[i].seq)));
    assert_true(eval1(ts, mkcmp("k", NULL, tg, NE, cases[i].hi, cases[i].shi)));
    assert_true(eval1(ts, mkcmp("k", NULL, tg, GT, cases[i].lo, cases[i].slo)));
    assert_false(eval1(ts, mkcmp("k", NULL, tg, GT, cases[i].eq, cases[i].seq)));
    assert_true(eval1(ts, mkcmp("k", NULL, tg, LT, cases[i].hi, cases[i].shi)));
    assert_false(eval1(ts, mkcmp("k", NULL, tg, LT, cases[i].eq, cases[i].seq)));
  }
  /* a target whose union holds another field compares with zero / empty */
  Etcdserverpb__Compare c = mkcmp("k", NULL, VER, EQ, 2, NULL);
  c.target = CRE; /* union says version=2, target says create: compared with 0 */
  assert_true(eval1(ts, (c.result = GT, c)));
  c = mkcmp("k", NULL, VAL, GT, 0, "zzz");
  c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION__NOT_SET;
  assert_true(eval1(ts, c)); /* "m" > "" */
}

static void test_compare_missing_and_ranges(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_aput(ts, "a1", "x"); /* 2 */
  lkvt_aput(ts, "a2", "x"); /* 3 */
  lkvt_aput(ts, "a2", "y"); /* 4 */
  /* a missing key compares as zeros (kube-apiserver's create: mod == 0) */
  assert_true(eval1(ts, mkcmp("nope", NULL, MOD, EQ, 0, NULL)));
  assert_true(eval1(ts, mkcmp("nope", NULL, VER, EQ, 0, NULL)));
  assert_true(eval1(ts, mkcmp("nope", NULL, CRE, LT, 1, NULL)));
  assert_false(eval1(ts, mkcmp("nope", NULL, VER, GT, 0, NULL)));
  /* ... except VALUE, which always fails on missing keys */
  assert_false(eval1(ts, mkcmp("nope", NULL, VAL, EQ, 0, "")));
  assert_false(eval1(ts, mkcmp("nope", NULL, VAL, NE, 0, "x")));
  /* over a range every key must satisfy it */
  assert_true(eval1(ts, mkcmp("a", "b", VER, GT, 0, NULL)));
  assert_false(eval1(ts, mkcmp("a", "b", VER, EQ, 1, NULL)));
  assert_true(eval1(ts, mkcmp("a", "b", MOD, LT, 5, NULL)));
  assert_false(eval1(ts, mkcmp("a", "b", VAL, EQ, 0, "x")));
  assert_true(eval1(ts, mkcmp("a", "", CRE, GT, 1, NULL)));  /* from key */
  assert_true(eval1(ts, mkcmp("b", "c", VER, EQ, 0, NULL))); /* empty range: zero kv */
  /* several compares: all must hold */
  Etcdserverpb__Compare c1 = mkcmp("a1", NULL, VER, EQ, 1, NULL), c2 = mkcmp("a2", NULL, VER, EQ, 1, NULL);
  Etcdserverpb__Compare *cs[2] = {&c1, &c2};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(cs, 2, NULL, 0, NULL, 0);
  int err;
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &t, &err);
  assert_false(r->succeeded);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
}

static void test_branches_and_responses(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "k", "v0");  /* 2 */
  lkvt_aput(ts, "del", "x"); /* 3 */
  /* success: range k, put k, range k (sees the put), delete del, delete none, range del */
  Etcdserverpb__RangeRequest r1 = lkvt_range_req("k", NULL), r2 = lkvt_range_req("k", NULL),
                             r3 = lkvt_range_req("del", NULL);
  Etcdserverpb__PutRequest p = lkvt_put_req("k", "v1");
  p.prev_kv = 1;
  Etcdserverpb__DeleteRangeRequest d1 = lkvt_del_req("del", NULL), d2 = lkvt_del_req("none", NULL);
  d1.prev_kv = 1;
  Etcdserverpb__RequestOp o[6] = {lkvt_op_range(&r1), lkvt_op_put(&p),  lkvt_op_range(&r2),
                                  lkvt_op_del(&d1),   lkvt_op_del(&d2), lkvt_op_range(&r3)};
  Etcdserverpb__RequestOp *ops[6] = {&o[0], &o[1], &o[2], &o[3], &o[4], &o[5]};
  Etcdserverpb__Compare c = mkcmp("k", NULL, VAL, EQ, 0, "v0");
  Etcdserverpb__Compare *cs[1] = {&c};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(cs, 1, ops, 6, NULL, 0);
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(err, 0);
  assert_true(r->succeeded);
  assert_int_equal(r->header->revision, 4);
  assert_int_equal(r->header->cluster_id, 11);
  assert_int_equal(r->header->member_id, 22);
  assert_int_equal(r->header->raft_term, 3);
  assert_int_equal(r->n_responses, 6);
  Etcdserverpb__RangeResponse *rr = r->responses[0]->response_range;
  assert_int_equal(r->responses[0]->response_case, ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE);
  assert_int_equal(rr->header->revision, 3);   /* before any write of this txn */
  assert_int_equal(rr->header->cluster_id, 0); /* inner headers carry only the revision */
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "k=v0 ");
  Etcdserverpb__PutResponse *pr = r->responses[1]->response_put;
  assert_int_equal(pr->header->revision, 4);
  assert_string_equal(lkvt_kvstr(&pr->prev_kv, 1, buf, sizeof(buf)), "k=v0 ");
  rr = r->responses[2]->response_range;
  assert_int_equal(rr->header->revision, 4); /* after a write: rev+1 */
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "k=v1 ");
  assert_int_equal(rr->kvs[0]->mod_revision, 4);
  assert_int_equal(rr->kvs[0]->version, 2);
  Etcdserverpb__DeleteRangeResponse *dr = r->responses[3]->response_delete_range;
  assert_int_equal(dr->deleted, 1);
  assert_int_equal(dr->header->revision, 4);
  assert_string_equal(lkvt_kvstr(dr->prev_kvs, dr->n_prev_kvs, buf, sizeof(buf)), "del=x ");
  dr = r->responses[4]->response_delete_range;
  assert_int_equal(dr->deleted, 0);
  assert_int_equal(dr->header->revision, 4); /* nothing deleted, but the txn already changed things */
  rr = r->responses[5]->response_range;
  assert_int_equal(rr->count, 0);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  assert_int_equal(lkvt_rev(ts), 4);

  /* the same txn now takes the (empty) failure branch: no revision */
  r = lkvt_do_txn(ts, &t, &err);
  assert_false(r->succeeded);
  assert_int_equal(r->n_responses, 0);
  assert_int_equal(r->header->revision, 4);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  assert_int_equal(lkvt_rev(ts), 4);
}

static void test_delete_first_then_nothing(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "a", "1"); /* 2 */
  /* a delete of nothing before any write reports the current revision */
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("zz", NULL);
  Etcdserverpb__PutRequest p = lkvt_put_req("b", "1");
  Etcdserverpb__RequestOp o[2] = {lkvt_op_del(&d), lkvt_op_put(&p)};
  Etcdserverpb__RequestOp *ops[2] = {&o[0], &o[1]};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(NULL, 0, ops, 2, NULL, 0);
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(r->responses[0]->response_delete_range->header->revision, 2);
  assert_int_equal(r->responses[1]->response_put->header->revision, 3);
  assert_int_equal(r->header->revision, 3);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  /* a read-only txn does not advance the revision */
  t.n_success = 1;
  r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(r->header->revision, 3);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  assert_int_equal(lkvt_rev(ts), 3);
}

static void test_nested(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "flag", "on"); /* 2 */
  /* outer: compare flag == on -> [put a, txn{ compare a exists? (evaluated before the outer ops run) :
   *   success [put b] failure [put c, range a] }, range c] */
  Etcdserverpb__PutRequest pa = lkvt_put_req("a", "1"), pb = lkvt_put_req("b", "1"),
                           pc = lkvt_put_req("c", "1");
  Etcdserverpb__RangeRequest ra = lkvt_range_req("a", NULL), rc = lkvt_range_req("c", NULL);
  Etcdserverpb__Compare ic = mkcmp("a", NULL, VER, GT, 0, NULL);
  Etcdserverpb__Compare *ics[1] = {&ic};
  Etcdserverpb__RequestOp is[1] = {lkvt_op_put(&pb)}, ifl[2] = {lkvt_op_put(&pc), lkvt_op_range(&ra)};
  Etcdserverpb__RequestOp *iss[1] = {&is[0]}, *ifs[2] = {&ifl[0], &ifl[1]};
  Etcdserverpb__TxnRequest inner = lkvt_txn_req(ics, 1, iss, 1, ifs, 2);
  Etcdserverpb__RequestOp o[3] = {lkvt_op_put(&pa), lkvt_op_txn(&inner), lkvt_op_range(&rc)};
  Etcdserverpb__RequestOp *ops[3] = {&o[0], &o[1], &o[2]};
  Etcdserverpb__Compare oc = mkcmp("flag", NULL, VAL, EQ, 0, "on");
  Etcdserverpb__Compare *ocs[1] = {&oc};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(ocs, 1, ops, 3, NULL, 0);
  assert_int_equal(lkv_apply_validate(LKV_OP_TXN, &t.base, NULL), 0);
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(err, 0);
  assert_true(r->succeeded);
  assert_int_equal(r->header->revision, 3);
  Etcdserverpb__TxnResponse *ir = r->responses[1]->response_txn;
  assert_int_equal(r->responses[1]->response_case, ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN);
  assert_false(ir->succeeded); /* "a" did not exist when the compares were evaluated */
  assert_non_null(ir->header);
  assert_int_equal(ir->header->revision, 0); /* etcd leaves nested txn headers empty */
  assert_int_equal(ir->n_responses, 2);
  assert_int_equal(ir->responses[0]->response_put->header->revision, 3);
  Etcdserverpb__RangeResponse *rr = ir->responses[1]->response_range;
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "a=1 "); /* sees the outer put */
  assert_int_equal(rr->header->revision, 3);
  rr = r->responses[2]->response_range;
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "c=1 ");
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  /* both puts of the txn share revision 3 */
  Etcdserverpb__RangeResponse *all;
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", "d");
  assert_int_equal(lkvt_do_range(ts, &q, &all), 0);
  assert_string_equal(lkvt_kvstr(all->kvs, all->n_kvs, buf, sizeof(buf)), "a=1 c=1 ");
  assert_int_equal(all->kvs[1]->mod_revision, 3);
  etcdserverpb__range_response__free_unpacked(all, NULL);
}

static void test_prechecks(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "a", "1"); /* 2 */
  lkvt_aput(ts, "a", "2"); /* 3 */
  Etcdserverpb__PutRequest iv = lkvt_put_req("missing", NULL), ok = lkvt_put_req("b", "1");
  iv.ignore_value = 1;
  Etcdserverpb__RequestOp s[2] = {lkvt_op_put(&ok), lkvt_op_put(&iv)};
  Etcdserverpb__RequestOp *ss[2] = {&s[0], &s[1]};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(NULL, 0, ss, 2, NULL, 0);
  /* ignore_value on a missing key in the taken branch fails the whole txn before anything runs */
  assert_null(lkvt_do_txn(ts, &t, &err));
  assert_int_equal(err, LKV_EKEYNOTFOUND);
  assert_int_equal(lkvt_rev(ts), 3);
  /* ... but not in the branch not taken */
  Etcdserverpb__Compare c = mkcmp("a", NULL, VER, EQ, 99, NULL);
  Etcdserverpb__Compare *cs[1] = {&c};
  t.n_compare = 1;
  t.compare = cs;
  Etcdserverpb__TxnResponse *r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(err, 0);
  assert_false(r->succeeded);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  t.n_compare = 0;
  /* ignore_value on an existing key uses its value */
  iv.key = lkvt_bin("a");
  r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(err, 0);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  Etcdserverpb__RangeResponse *rr;
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "a=2 ");
  assert_int_equal(rr->kvs[0]->version, 3);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  /* a lease in a txn put: lease not found */
  ok.lease = 7;
  assert_null(lkvt_do_txn(ts, &t, &err));
  assert_int_equal(err, LKV_ELEASENOTFOUND);
  ok.lease = 0;
  /* ranges in the taken branch are checked against the revision the txn starts from */
  Etcdserverpb__RangeRequest fut = lkvt_range_req("a", NULL);
  fut.revision = 5; /* current is 4 */
  s[1] = lkvt_op_range(&fut);
  assert_null(lkvt_do_txn(ts, &t, &err));
  assert_int_equal(err, LKV_EFUTUREREV);
  assert_int_equal(lkvt_compact(ts, 3), 0);
  fut.revision = 2;
  assert_null(lkvt_do_txn(ts, &t, &err));
  assert_int_equal(err, LKV_ECOMPACTED);
  fut.revision = 4;
  r = lkvt_do_txn(ts, &t, &err);
  assert_int_equal(err, 0);
  assert_int_equal(r->header->revision, 5);
  assert_int_equal(r->responses[1]->response_range->header->revision, 5);
  assert_int_equal(r->responses[1]->response_range->count, 1);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
}

static void test_readonly_path(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "a", "1"); /* 2 */
  lkvt_aput(ts, "b", "2"); /* 3 */
  Etcdserverpb__RangeRequest ra = lkvt_range_req("a", NULL), rb = lkvt_range_req("a", "z");
  rb.revision = 2;
  Etcdserverpb__RequestOp s[1] = {lkvt_op_range(&ra)}, f[1] = {lkvt_op_range(&rb)};
  Etcdserverpb__RequestOp *ss[1] = {&s[0]}, *fs[1] = {&f[0]};
  Etcdserverpb__Compare c = mkcmp("b", NULL, VAL, EQ, 0, "nope");
  Etcdserverpb__Compare *cs[1] = {&c};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(cs, 1, ss, 1, fs, 1);
  assert_true(lkv_apply_txn_is_readonly(&t));
  uint8_t *b;
  size_t n;
  assert_int_equal(lkv_apply_txn_read(ts->s, &lkvt_id, &t, &b, &n), 0);
  Etcdserverpb__TxnResponse *r = etcdserverpb__txn_response__unpack(NULL, n, b);
  free(b);
  assert_false(r->succeeded);
  assert_int_equal(r->header->revision, 3);
  assert_int_equal(r->header->member_id, 22);
  Etcdserverpb__RangeResponse *rr = r->responses[0]->response_range;
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "a=1 ");
  assert_int_equal(rr->header->revision, 3);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  /* the same answer as through the write path, which takes no revision either */
  r = lkvt_do_txn(ts, &t, &err);
  assert_false(r->succeeded);
  assert_int_equal(r->header->revision, 3);
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  rb.revision = 9;
  assert_int_equal(lkv_apply_txn_read(ts->s, &lkvt_id, &t, &b, &n), LKV_EFUTUREREV);
  /* anything but ranges at the top level is not read-only */
  Etcdserverpb__PutRequest p = lkvt_put_req("x", "y");
  f[0] = lkvt_op_put(&p);
  assert_false(lkv_apply_txn_is_readonly(&t));
  assert_int_equal(lkv_apply_txn_read(ts->s, &lkvt_id, &t, &b, &n), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_compare_targets_and_results),
      LKVT_TEST(test_compare_missing_and_ranges),
      LKVT_TEST(test_branches_and_responses),
      LKVT_TEST(test_delete_first_then_nothing),
      LKVT_TEST(test_nested),
      LKVT_TEST(test_prechecks),
      LKVT_TEST(test_readonly_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
