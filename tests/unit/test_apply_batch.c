/* Unit tests for the write path: Put and DeleteRange semantics, batches with per-request rollback,
 * Compaction requests, the space quota and the corrupt mode. */
#include "apply_testutil.h"

static char buf[4096];

static void test_put(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  Etcdserverpb__PutRequest p = lkvt_put_req("k", "v1");
  p.prev_kv = 1;
  Etcdserverpb__PutResponse *r = lkvt_do_put(ts, &p, &err);
  assert_int_equal(r->header->revision, 2);
  assert_int_equal(r->header->cluster_id, 11);
  assert_int_equal(r->header->member_id, 22);
  assert_int_equal(r->header->raft_term, 3);
  assert_null(r->prev_kv); /* no previous kv */
  etcdserverpb__put_response__free_unpacked(r, NULL);
  p.value = lkvt_bin("v2");
  r = lkvt_do_put(ts, &p, &err);
  assert_int_equal(r->header->revision, 3);
  assert_non_null(r->prev_kv);
  assert_string_equal(lkvt_kvstr(&r->prev_kv, 1, buf, sizeof(buf)), "k=v1 ");
  assert_int_equal(r->prev_kv->mod_revision, 2);
  etcdserverpb__put_response__free_unpacked(r, NULL);
  /* ignore_value keeps the value, bumps the version */
  Etcdserverpb__PutRequest iv = lkvt_put_req("k", NULL);
  iv.ignore_value = 1;
  r = lkvt_do_put(ts, &iv, &err);
  assert_int_equal(err, 0);
  assert_null(r->prev_kv);
  etcdserverpb__put_response__free_unpacked(r, NULL);
  Etcdserverpb__RangeResponse *rr;
  Etcdserverpb__RangeRequest q = lkvt_range_req("k", NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_string_equal(lkvt_kvstr(rr->kvs, rr->n_kvs, buf, sizeof(buf)), "k=v2 ");
  assert_int_equal(rr->kvs[0]->version, 3);
  assert_int_equal(rr->kvs[0]->create_revision, 2);
  assert_int_equal(rr->kvs[0]->mod_revision, 4);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  /* ignore_lease on an existing key is fine; on a missing key both ignores fail */
  Etcdserverpb__PutRequest il = lkvt_put_req("k", "v3");
  il.ignore_lease = 1;
  r = lkvt_do_put(ts, &il, &err);
  assert_int_equal(err, 0);
  etcdserverpb__put_response__free_unpacked(r, NULL);
  il.key = lkvt_bin("missing");
  assert_null(lkvt_do_put(ts, &il, &err));
  assert_int_equal(err, LKV_EKEYNOTFOUND);
  iv.key = lkvt_bin("missing");
  assert_null(lkvt_do_put(ts, &iv, &err));
  assert_int_equal(err, LKV_EKEYNOTFOUND);
  /* no leases exist yet */
  Etcdserverpb__PutRequest le = lkvt_put_req("k", "v");
  le.lease = 42;
  assert_null(lkvt_do_put(ts, &le, &err));
  assert_int_equal(err, LKV_ELEASENOTFOUND);
  assert_int_equal(lkvt_rev(ts), 5);
  /* an empty value is a value */
  assert_int_equal(lkvt_aput(ts, "empty", ""), 6);
  q = lkvt_range_req("empty", NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_int_equal(rr->count, 1);
  assert_int_equal(rr->kvs[0]->value.len, 0);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
}

static void test_delete(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "a", "1");
  lkvt_aput(ts, "b", "2");
  lkvt_aput(ts, "c", "3"); /* rev 4 */
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("x", NULL);
  Etcdserverpb__DeleteRangeResponse *r = lkvt_do_del(ts, &d, &err);
  assert_int_equal(r->deleted, 0);
  assert_int_equal(r->header->revision, 4); /* nothing deleted: same revision */
  assert_int_equal(r->header->cluster_id, 11);
  etcdserverpb__delete_range_response__free_unpacked(r, NULL);
  d = lkvt_del_req("a", "c");
  d.prev_kv = 1;
  r = lkvt_do_del(ts, &d, &err);
  assert_int_equal(r->deleted, 2);
  assert_int_equal(r->header->revision, 5);
  assert_string_equal(lkvt_kvstr(r->prev_kvs, r->n_prev_kvs, buf, sizeof(buf)), "a=1 b=2 ");
  etcdserverpb__delete_range_response__free_unpacked(r, NULL);
  d = lkvt_del_req("a", "");
  r = lkvt_do_del(ts, &d, &err);
  assert_int_equal(r->deleted, 1);
  assert_int_equal(r->n_prev_kvs, 0);
  etcdserverpb__delete_range_response__free_unpacked(r, NULL);
  assert_int_equal(lkvt_rev(ts), 6);
}

static void test_batch_rollback(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__PutRequest p1 = lkvt_put_req("a", "1"), bad = lkvt_put_req("b", "x"),
                           p3 = lkvt_put_req("a", "3");
  bad.lease = 9; /* fails */
  p3.prev_kv = 1;
  Etcdserverpb__DeleteRangeRequest none = lkvt_del_req("zzz", NULL);
  Etcdserverpb__CompactionRequest cmp = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  cmp.revision = 2;
  Etcdserverpb__CompactionRequest cmp_bad = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  cmp_bad.revision = 100;
  lkv_apply_req_t reqs[6] = {{.kind = LKV_OP_PUT, .msg = &p1.base},
                             {.kind = LKV_OP_PUT, .msg = &bad.base},
                             {.kind = LKV_OP_DELETE_RANGE, .msg = &none.base},
                             {.kind = LKV_OP_PUT, .msg = &p3.base},
                             {.kind = LKV_OP_COMPACT, .msg = &cmp.base},
                             {.kind = LKV_OP_COMPACT, .msg = &cmp_bad.base}};
  assert_int_equal(lkv_apply_batch(ts->s, &lkvt_id, reqs, 6), 0);
  assert_int_equal(reqs[0].err, 0);
  assert_int_equal(reqs[1].err, LKV_ELEASENOTFOUND);
  assert_null(reqs[1].resp);
  assert_int_equal(reqs[2].err, 0);
  assert_int_equal(reqs[3].err, 0);
  assert_int_equal(reqs[4].err, 0);
  assert_int_equal(reqs[5].err, LKV_EFUTUREREV);
  assert_null(reqs[5].resp);
  Etcdserverpb__PutResponse *pr = etcdserverpb__put_response__unpack(NULL, reqs[0].resp_len, reqs[0].resp);
  assert_int_equal(pr->header->revision, 2);
  etcdserverpb__put_response__free_unpacked(pr, NULL);
  Etcdserverpb__DeleteRangeResponse *dr =
      etcdserverpb__delete_range_response__unpack(NULL, reqs[2].resp_len, reqs[2].resp);
  assert_int_equal(dr->header->revision, 2);
  etcdserverpb__delete_range_response__free_unpacked(dr, NULL);
  pr = etcdserverpb__put_response__unpack(NULL, reqs[3].resp_len, reqs[3].resp);
  assert_int_equal(pr->header->revision, 3); /* the failed request took no revision */
  assert_string_equal(lkvt_kvstr(&pr->prev_kv, 1, buf, sizeof(buf)), "a=1 "); /* sees request 1 */
  etcdserverpb__put_response__free_unpacked(pr, NULL);
  Etcdserverpb__CompactionResponse *cr =
      etcdserverpb__compaction_response__unpack(NULL, reqs[4].resp_len, reqs[4].resp);
  assert_int_equal(cr->header->revision, 3);
  assert_int_equal(cr->header->member_id, 22);
  etcdserverpb__compaction_response__free_unpacked(cr, NULL);
  for (int i = 0; i < 6; i++) free(reqs[i].resp);
  assert_int_equal(lkvt_rev(ts), 3);
  Etcdserverpb__RangeResponse *rr;
  Etcdserverpb__RangeRequest q = lkvt_range_req("b", NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_int_equal(rr->count, 0);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  q.revision = 1;
  assert_int_equal(lkvt_do_range(ts, &q, &rr), LKV_ECOMPACTED);
}

static void test_compaction_request(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  uint8_t *b;
  size_t n;
  lkvt_aput(ts, "a", "1");
  lkvt_aput(ts, "a", "2");
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  c.revision = 4;
  assert_int_equal(lkvt_apply(ts, LKV_OP_COMPACT, &c, &b, &n), LKV_EFUTUREREV);
  c.revision = 2;
  c.physical = 1; /* done within the commit either way */
  assert_int_equal(lkvt_apply(ts, LKV_OP_COMPACT, &c, &b, &n), 0);
  Etcdserverpb__CompactionResponse *cr = etcdserverpb__compaction_response__unpack(NULL, n, b);
  assert_int_equal(cr->header->revision, 3);
  etcdserverpb__compaction_response__free_unpacked(cr, NULL);
  free(b);
  assert_int_equal(lkvt_apply(ts, LKV_OP_COMPACT, &c, &b, &n), LKV_ECOMPACTED);
  assert_int_equal(lkvt_rev(ts), 3);
}

static void test_nospace(void **state) {
  (void)state;
  lkvt_store_t ts;
  int err;
  static char val[8193];
  memset(val, 'v', sizeof(val) - 1);
  lkvt_open_quota(&ts, 200 * 1024);
  Etcdserverpb__PutRequest p = lkvt_put_req("k000", val);
  int i;
  char key[8];
  for (i = 0; i < 100; i++) {
    snprintf(key, sizeof(key), "k%03d", i);
    p.key = lkvt_bin(key);
    Etcdserverpb__PutResponse *r = lkvt_do_put(&ts, &p, &err);
    if (err) break;
    etcdserverpb__put_response__free_unpacked(r, NULL);
  }
  assert_int_equal(err, LKV_ENOSPACE);
  int64_t rev = lkvt_rev(&ts);
  assert_int_equal(rev, 1 + i);
  /* a txn that could put is refused whichever branch it takes (etcd costs the larger branch) */
  Etcdserverpb__PutRequest tp = lkvt_put_req("t", val);
  Etcdserverpb__RequestOp fo = lkvt_op_put(&tp);
  Etcdserverpb__RequestOp *fos[1] = {&fo};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(NULL, 0, NULL, 0, fos, 1);
  assert_null(lkvt_do_txn(&ts, &t, &err));
  assert_int_equal(err, LKV_ENOSPACE);
  /* reads, read-only txns, deletes and compaction still work */
  Etcdserverpb__RangeRequest rq = lkvt_range_req("k000", NULL);
  Etcdserverpb__RequestOp ro = lkvt_op_range(&rq);
  Etcdserverpb__RequestOp *ros[1] = {&ro};
  Etcdserverpb__TxnRequest rt = lkvt_txn_req(NULL, 0, ros, 1, NULL, 0);
  Etcdserverpb__TxnResponse *tr = lkvt_do_txn(&ts, &rt, &err);
  assert_int_equal(err, 0);
  assert_int_equal(tr->responses[0]->response_range->count, 1);
  etcdserverpb__txn_response__free_unpacked(tr, NULL);
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("k", "l");
  Etcdserverpb__DeleteRangeResponse *dr = lkvt_do_del(&ts, &d, &err);
  assert_int_equal(err, 0);
  assert_int_equal(dr->deleted, i);
  etcdserverpb__delete_range_response__free_unpacked(dr, NULL);
  assert_int_equal(lkvt_compact(&ts, lkvt_rev(&ts)), 0);
  /* the NOSPACE alarm latches, as etcd's: space alone does not let writes in again */
  assert_null(lkvt_do_put(&ts, &p, &err));
  assert_int_equal(err, LKV_ENOSPACE);
  uint8_t *b;
  size_t n;
  Etcdserverpb__AlarmRequest get = ETCDSERVERPB__ALARM_REQUEST__INIT;
  assert_int_equal(lkv_apply_alarm_get(ts.s, &lkvt_id, &get, &b, &n), 0);
  Etcdserverpb__AlarmResponse *ar = etcdserverpb__alarm_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(ar);
  assert_int_equal(ar->n_alarms, 1);
  assert_int_equal(ar->alarms[0]->alarm, ETCDSERVERPB__ALARM_TYPE__NOSPACE);
  assert_true(ar->alarms[0]->memberid == lkvt_id.member_id);
  etcdserverpb__alarm_response__free_unpacked(ar, NULL);
  /* disarming another member's alarm changes nothing; disarming ours answers with it */
  Etcdserverpb__AlarmRequest off = ETCDSERVERPB__ALARM_REQUEST__INIT;
  off.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
  off.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
  off.memberid = lkvt_id.member_id + 1;
  assert_int_equal(lkvt_apply(&ts, LKV_OP_ALARM, &off, &b, &n), 0);
  ar = etcdserverpb__alarm_response__unpack(NULL, n, b);
  free(b);
  assert_int_equal(ar->n_alarms, 0);
  etcdserverpb__alarm_response__free_unpacked(ar, NULL);
  assert_null(lkvt_do_put(&ts, &p, &err));
  off.memberid = lkvt_id.member_id;
  assert_int_equal(lkvt_apply(&ts, LKV_OP_ALARM, &off, &b, &n), 0);
  ar = etcdserverpb__alarm_response__unpack(NULL, n, b);
  free(b);
  assert_int_equal(ar->n_alarms, 1);
  etcdserverpb__alarm_response__free_unpacked(ar, NULL);
  Etcdserverpb__PutResponse *pr = lkvt_do_put(&ts, &p, &err);
  assert_int_equal(err, 0);
  etcdserverpb__put_response__free_unpacked(pr, NULL);
  tr = lkvt_do_txn(&ts, &t, &err);
  assert_int_equal(err, 0);
  etcdserverpb__txn_response__free_unpacked(tr, NULL);
  lkvt_close(&ts);
}

/* Applies (or, for GET, answers) action on CORRUPT for this member; returns how many alarms the response
 * lists and sets *member to the first one's member. */
static size_t alarm_do(lkvt_store_t *ts, Etcdserverpb__AlarmRequest__AlarmAction action, uint64_t *member) {
  Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
  a.action = action;
  a.alarm = ETCDSERVERPB__ALARM_TYPE__CORRUPT;
  a.memberid = lkvt_id.member_id;
  uint8_t *b;
  size_t n;
  if (action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET)
    assert_int_equal(lkv_apply_alarm_get(ts->s, &lkvt_id, &a, &b, &n), 0);
  else
    assert_int_equal(lkvt_apply(ts, LKV_OP_ALARM, &a, &b, &n), 0);
  Etcdserverpb__AlarmResponse *ar = etcdserverpb__alarm_response__unpack(NULL, n, b);
  free(b);
  assert_non_null(ar);
  size_t count = ar->n_alarms;
  if (count) *member = ar->alarms[0]->memberid;
  etcdserverpb__alarm_response__free_unpacked(ar, NULL);
  return count;
}

/* CORRUPT (the corruption checks raise it) refuses KV writes and compactions as etcd's corrupt applier,
 * with "corrupt cluster"; reads still answer, and disarming lets writes in again. */
static void test_corrupt_mode(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  lkvt_aput(ts, "k", "v");
  uint64_t member = 99;
  assert_int_equal(alarm_do(ts, ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE, &member), 1);
  assert_int_equal(alarm_do(ts, ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET, &member), 1);
  assert_true(member == 0); /* etcd 3.4's check raises it for member 0 */
  Etcdserverpb__PutRequest p = lkvt_put_req("k", "v2");
  assert_null(lkvt_do_put(ts, &p, &err));
  assert_int_equal(err, LKV_ECORRUPT);
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("k", NULL);
  assert_null(lkvt_do_del(ts, &d, &err));
  assert_int_equal(err, LKV_ECORRUPT);
  Etcdserverpb__RequestOp o = lkvt_op_del(&d);
  Etcdserverpb__RequestOp *os[1] = {&o};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(NULL, 0, os, 1, NULL, 0);
  assert_null(lkvt_do_txn(ts, &t, &err));
  assert_int_equal(err, LKV_ECORRUPT);
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  c.revision = lkvt_rev(ts);
  uint8_t *b;
  size_t n;
  assert_int_equal(lkvt_apply(ts, LKV_OP_COMPACT, &c, &b, &n), LKV_ECORRUPT);
  Etcdserverpb__RangeRequest q = lkvt_range_req("k", NULL);
  Etcdserverpb__RangeResponse *rr;
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_int_equal(rr->count, 1);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  assert_int_equal(alarm_do(ts, ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE, &member), 1);
  assert_int_equal(alarm_do(ts, ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__GET, &member), 0);
  Etcdserverpb__PutResponse *pr = lkvt_do_put(ts, &p, &err);
  assert_int_equal(err, 0);
  etcdserverpb__put_response__free_unpacked(pr, NULL);
}

static void test_long_keys_through_apply(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  int err;
  size_t len = 100000;
  char *k1 = malloc(len + 1), *k2 = malloc(len + 1);
  memset(k1, 'p', len);
  memcpy(k2, k1, len);
  k1[len] = k2[len] = 0;
  k1[len - 1] = 'b';
  k2[len - 1] = 'a'; /* same 480-byte prefix: k2 < k1 */
  lkvt_aput(ts, k1, "one");
  lkvt_aput(ts, k2, "two");
  Etcdserverpb__RangeRequest q = lkvt_range_req("p", "q");
  Etcdserverpb__RangeResponse *rr;
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_int_equal(rr->count, 2);
  assert_int_equal(rr->kvs[0]->key.len, len);
  assert_memory_equal(rr->kvs[0]->key.data, k2, len);
  assert_memory_equal(rr->kvs[1]->key.data, k1, len);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  /* a compare and a delete on a long key */
  Etcdserverpb__Compare c = ETCDSERVERPB__COMPARE__INIT;
  c.key = lkvt_bin(k1);
  c.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
  c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
  c.value = lkvt_bin("one");
  Etcdserverpb__Compare *cs[1] = {&c};
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req(k1, NULL);
  Etcdserverpb__RequestOp o = lkvt_op_del(&d);
  Etcdserverpb__RequestOp *os[1] = {&o};
  Etcdserverpb__TxnRequest t = lkvt_txn_req(cs, 1, os, 1, NULL, 0);
  Etcdserverpb__TxnResponse *tr = lkvt_do_txn(ts, &t, &err);
  assert_true(tr->succeeded);
  assert_int_equal(tr->responses[0]->response_delete_range->deleted, 1);
  etcdserverpb__txn_response__free_unpacked(tr, NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &rr), 0);
  assert_int_equal(rr->count, 1);
  assert_memory_equal(rr->kvs[0]->key.data, k2, len);
  etcdserverpb__range_response__free_unpacked(rr, NULL);
  free(k1);
  free(k2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_put),
      LKVT_TEST(test_delete),
      LKVT_TEST(test_batch_rollback),
      LKVT_TEST(test_compaction_request),
      cmocka_unit_test(test_nospace),
      LKVT_TEST(test_corrupt_mode),
      LKVT_TEST(test_long_keys_through_apply),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
