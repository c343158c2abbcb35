/* Unit tests for lkv_apply_validate: etcd's request checks, txn op limits and duplicate-key rules. */
#include "apply_testutil.h"

static int vtxn(Etcdserverpb__TxnRequest *t, size_t max) {
  lkv_apply_limits_t l = {.max_txn_ops = max};
  return lkv_apply_validate(LKV_OP_TXN, &t->base, &l);
}

static void test_put_and_delete(void **state) {
  (void)state;
  Etcdserverpb__PutRequest p = lkvt_put_req("k", "v");
  assert_int_equal(lkv_apply_validate(LKV_OP_PUT, &p.base, NULL), 0);
  p.key = lkvt_bin("");
  assert_int_equal(lkv_apply_validate(LKV_OP_PUT, &p.base, NULL), LKV_EEMPTYKEY);
  p = lkvt_put_req("k", "v");
  p.ignore_value = 1;
  assert_int_equal(lkv_apply_validate(LKV_OP_PUT, &p.base, NULL), LKV_EVALUEPROVIDED);
  p.value = lkvt_bin("");
  assert_int_equal(lkv_apply_validate(LKV_OP_PUT, &p.base, NULL), 0);
  p.ignore_lease = 1;
  p.lease = 5;
  assert_int_equal(lkv_apply_validate(LKV_OP_PUT, &p.base, NULL), LKV_ELEASEPROVIDED);
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("", "z");
  assert_int_equal(lkv_apply_validate(LKV_OP_DELETE_RANGE, &d.base, NULL), LKV_EEMPTYKEY);
  d = lkvt_del_req("a", NULL);
  assert_int_equal(lkv_apply_validate(LKV_OP_DELETE_RANGE, &d.base, NULL), 0);
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  assert_int_equal(lkv_apply_validate(LKV_OP_COMPACT, &c.base, NULL), 0);
}

static void test_txn_limits_and_keys(void **state) {
  (void)state;
  Etcdserverpb__PutRequest p[4] = {lkvt_put_req("a", "1"), lkvt_put_req("b", "2"), lkvt_put_req("c", "3"),
                                   lkvt_put_req("d", "4")};
  Etcdserverpb__RequestOp o[4] = {lkvt_op_put(&p[0]), lkvt_op_put(&p[1]), lkvt_op_put(&p[2]),
                                  lkvt_op_put(&p[3])};
  Etcdserverpb__RequestOp *ops[4] = {&o[0], &o[1], &o[2], &o[3]};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(NULL, 0, ops, 3, NULL, 0);
  assert_int_equal(vtxn(&t, 3), 0);
  assert_int_equal(vtxn(&t, 2), LKV_ETOOMANYOPS);
  assert_int_equal(vtxn(&t, 0), 0); /* 0 = etcd's default of 128 */
  t.n_success = 0;
  t.n_failure = 3;
  t.failure = ops;
  assert_int_equal(vtxn(&t, 2), LKV_ETOOMANYOPS);
  Etcdserverpb__Compare cmp[3] = {ETCDSERVERPB__COMPARE__INIT, ETCDSERVERPB__COMPARE__INIT,
                                  ETCDSERVERPB__COMPARE__INIT};
  Etcdserverpb__Compare *cmps[3] = {&cmp[0], &cmp[1], &cmp[2]};
  cmp[0].key = cmp[1].key = cmp[2].key = lkvt_bin("a");
  t.n_failure = 0;
  t.n_compare = 3;
  t.compare = cmps;
  assert_int_equal(vtxn(&t, 2), LKV_ETOOMANYOPS);
  assert_int_equal(vtxn(&t, 3), 0);
  cmp[1].key = lkvt_bin("");
  assert_int_equal(vtxn(&t, 3), LKV_EEMPTYKEY);
  t.n_compare = 0;
  /* empty keys inside ops */
  Etcdserverpb__RangeRequest rr = lkvt_range_req("", NULL);
  Etcdserverpb__RequestOp ro = lkvt_op_range(&rr);
  Etcdserverpb__RequestOp *rops[1] = {&ro};
  t.n_success = 1;
  t.success = rops;
  assert_int_equal(vtxn(&t, 8), LKV_EEMPTYKEY);
  Etcdserverpb__DeleteRangeRequest dr = lkvt_del_req("", NULL);
  ro = lkvt_op_del(&dr);
  assert_int_equal(vtxn(&t, 8), LKV_EEMPTYKEY);
  p[0].ignore_value = 1;
  ro = lkvt_op_put(&p[0]);
  assert_int_equal(vtxn(&t, 8), LKV_EVALUEPROVIDED);
  /* an empty op is "key not found", as etcd answers it */
  Etcdserverpb__RequestOp empty = ETCDSERVERPB__REQUEST_OP__INIT;
  rops[0] = &empty;
  assert_int_equal(vtxn(&t, 8), LKV_EKEYNOTFOUND);
}

static void test_nested_budget(void **state) {
  (void)state;
  /* outer: 2 ops (a nested txn and a put); nested: 2 puts. Nested budget = max - 2. */
  Etcdserverpb__PutRequest p[3] = {lkvt_put_req("a", "1"), lkvt_put_req("b", "2"), lkvt_put_req("c", "3")};
  Etcdserverpb__RequestOp io[2] = {lkvt_op_put(&p[0]), lkvt_op_put(&p[1])};
  Etcdserverpb__RequestOp *iops[2] = {&io[0], &io[1]};
  Etcdserverpb__TxnRequest inner = lkvt_txn_req(NULL, 0, iops, 2, NULL, 0);
  Etcdserverpb__RequestOp oo[2] = {lkvt_op_txn(&inner), lkvt_op_put(&p[2])};
  Etcdserverpb__RequestOp *oops[2] = {&oo[0], &oo[1]};
  Etcdserverpb__TxnRequest outer = lkvt_txn_req(NULL, 0, oops, 2, NULL, 0);
  assert_int_equal(vtxn(&outer, 4), 0);
  assert_int_equal(vtxn(&outer, 3), LKV_ETOOMANYOPS);
  /* an empty nested txn passes even with no budget left */
  inner.n_success = 0;
  assert_int_equal(vtxn(&outer, 2), 0);
}

static void test_duplicates_flat(void **state) {
  (void)state;
  Etcdserverpb__PutRequest pa = lkvt_put_req("a", "1"), pa2 = lkvt_put_req("a", "2"),
                           pb = lkvt_put_req("b", "1");
  Etcdserverpb__DeleteRangeRequest da = lkvt_del_req("a", NULL), dab = lkvt_del_req("a", "c"),
                                   dfrom = lkvt_del_req("a", ""), dpre = lkvt_del_req("b", "c"),
                                   dinv = lkvt_del_req("c", "a");
  Etcdserverpb__RequestOp o1, o2, o3;
  Etcdserverpb__RequestOp *ops[3] = {&o1, &o2, &o3};
  Etcdserverpb__TxnRequest t;

  o1 = lkvt_op_put(&pa), o2 = lkvt_op_put(&pa2);
  t = lkvt_txn_req(NULL, 0, ops, 2, NULL, 0);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  o2 = lkvt_op_put(&pb);
  assert_int_equal(vtxn(&t, 0), 0);
  o2 = lkvt_op_del(&da); /* put + delete of the same key, either order */
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  o1 = lkvt_op_del(&da), o2 = lkvt_op_put(&pa);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  o1 = lkvt_op_del(&dab), o2 = lkvt_op_put(&pb); /* inside [a, c) */
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  o1 = lkvt_op_del(&dpre), o2 = lkvt_op_put(&pa); /* outside [b, c) */
  assert_int_equal(vtxn(&t, 0), 0);
  o1 = lkvt_op_del(&dfrom), o2 = lkvt_op_put(&pb); /* etcd compares "\0" literally: no overlap */
  assert_int_equal(vtxn(&t, 0), 0);
  o1 = lkvt_op_del(&dinv), o2 = lkvt_op_put(&pb); /* inverted range: no overlap */
  assert_int_equal(vtxn(&t, 0), 0);
  o1 = lkvt_op_del(&dab), o2 = lkvt_op_del(&da), o3 = lkvt_op_del(&dpre); /* deletes may overlap */
  t = lkvt_txn_req(NULL, 0, ops, 3, NULL, 0);
  assert_int_equal(vtxn(&t, 0), 0);
  /* success and failure are checked separately */
  o1 = lkvt_op_put(&pa);
  Etcdserverpb__RequestOp f1 = lkvt_op_put(&pa2);
  Etcdserverpb__RequestOp *fops[1] = {&f1};
  t = lkvt_txn_req(NULL, 0, ops, 1, NULL, 0);
  t.n_failure = 1;
  t.failure = fops;
  assert_int_equal(vtxn(&t, 0), 0);
}

static void test_duplicates_nested(void **state) {
  (void)state;
  Etcdserverpb__PutRequest pa = lkvt_put_req("a", "1"), pa2 = lkvt_put_req("a", "2"),
                           pb = lkvt_put_req("b", "1");
  Etcdserverpb__DeleteRangeRequest da = lkvt_del_req("a", NULL);
  Etcdserverpb__RequestOp then1 = lkvt_op_put(&pa), else1 = lkvt_op_put(&pa2);
  Etcdserverpb__RequestOp *thens[1] = {&then1}, *elses[1] = {&else1};
  Etcdserverpb__TxnRequest inner = lkvt_txn_req(NULL, 0, thens, 1, NULL, 0);
  inner.n_failure = 1;
  inner.failure = elses;
  Etcdserverpb__RequestOp o1 = lkvt_op_txn(&inner), o2, o3;
  Etcdserverpb__RequestOp *ops[3] = {&o1, &o2, &o3};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(NULL, 0, ops, 1, NULL, 0);
  assert_int_equal(vtxn(&t, 0), 0); /* then/else of one txn exclude each other */
  o2 = lkvt_op_put(&pa);
  t = lkvt_txn_req(NULL, 0, ops, 2, NULL, 0);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY); /* nested put vs outer put */
  o2 = lkvt_op_del(&da);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY); /* nested put vs outer delete */
  o2 = lkvt_op_put(&pb);
  assert_int_equal(vtxn(&t, 0), 0);
  /* else-only put colliding with an outer put */
  inner.n_success = 0;
  o2 = lkvt_op_put(&pa);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  /* nested delete vs outer put */
  Etcdserverpb__RequestOp idel = lkvt_op_del(&da);
  Etcdserverpb__RequestOp *idels[1] = {&idel};
  Etcdserverpb__TxnRequest dtxn = lkvt_txn_req(NULL, 0, idels, 1, NULL, 0);
  o1 = lkvt_op_txn(&dtxn);
  o2 = lkvt_op_put(&pa);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  /* sibling txns: a put then a delete of the same key passes (etcd checks a sibling's puts against the
   * deletes seen so far), a delete then a put does not */
  Etcdserverpb__RequestOp iput = lkvt_op_put(&pa);
  Etcdserverpb__RequestOp *iputs[1] = {&iput};
  Etcdserverpb__TxnRequest ptxn = lkvt_txn_req(NULL, 0, iputs, 1, NULL, 0);
  o1 = lkvt_op_txn(&ptxn);
  o2 = lkvt_op_txn(&dtxn);
  assert_int_equal(vtxn(&t, 0), 0);
  o1 = lkvt_op_txn(&dtxn);
  o2 = lkvt_op_txn(&ptxn);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
  /* two levels deep */
  Etcdserverpb__RequestOp deep = lkvt_op_txn(&ptxn);
  Etcdserverpb__RequestOp *deeps[1] = {&deep};
  Etcdserverpb__TxnRequest mid = lkvt_txn_req(NULL, 0, deeps, 1, NULL, 0);
  o1 = lkvt_op_txn(&mid);
  o2 = lkvt_op_put(&pa);
  assert_int_equal(vtxn(&t, 0), LKV_EDUPKEY);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_and_delete),    cmocka_unit_test(test_txn_limits_and_keys),
      cmocka_unit_test(test_nested_budget),     cmocka_unit_test(test_duplicates_flat),
      cmocka_unit_test(test_duplicates_nested),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
