/* Unit tests for etcd's Range semantics through lkv_apply_range: forms, limit/count/more, sort, filters,
 * keys_only, count_only, historical reads and errors. */
#include "apply_testutil.h"

static char buf[4096];

/* Data: a=1(v1), b=22(v1), c=3(v2 after update), d=4(v1), e=5 deleted. */
static void setup_data(lkvt_store_t *ts) {
  assert_int_equal(lkvt_aput(ts, "c", "0"), 2);
  assert_int_equal(lkvt_aput(ts, "a", "1"), 3);
  assert_int_equal(lkvt_aput(ts, "e", "5"), 4);
  assert_int_equal(lkvt_aput(ts, "b", "22"), 5);
  assert_int_equal(lkvt_aput(ts, "c", "3"), 6);
  assert_int_equal(lkvt_aput(ts, "d", "4"), 7);
  assert_int_equal(lkvt_del(ts, "e", NULL), 1); /* rev 8 */
}

static void test_forms_and_header(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__RangeResponse *r;
  setup_data(ts);
  Etcdserverpb__RangeRequest q = lkvt_range_req("c", NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->header->cluster_id, 11);
  assert_int_equal(r->header->member_id, 22);
  assert_int_equal(r->header->raft_term, 3);
  assert_int_equal(r->header->revision, 8);
  assert_int_equal(r->count, 1);
  assert_false(r->more);
  assert_int_equal(r->kvs[0]->create_revision, 2);
  assert_int_equal(r->kvs[0]->mod_revision, 6);
  assert_int_equal(r->kvs[0]->version, 2);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "c=3 ");
  etcdserverpb__range_response__free_unpacked(r, NULL);

  q = lkvt_range_req("b", "d"); /* [b, d) */
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "b=22 c=3 ");
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q = lkvt_range_req("b", ""); /* from b */
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "b=22 c=3 d=4 ");
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q = lkvt_range_req("\0", ""); /* everything: key "\0", end "\0" */
  q.key.len = 1;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->count, 4);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q = lkvt_range_req("e", NULL); /* deleted */
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->count, 0);
  assert_int_equal(r->n_kvs, 0);
  assert_int_equal(r->header->revision, 8);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q = lkvt_range_req("", NULL);
  assert_int_equal(lkvt_do_range(ts, &q, &r), LKV_EEMPTYKEY);
}

static void test_limit_count_more(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__RangeResponse *r;
  setup_data(ts);
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", "z");
  q.limit = 2;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "a=1 b=22 ");
  assert_int_equal(r->count, 4); /* the full count, as kube-apiserver needs */
  assert_true(r->more);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q.limit = 4;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->n_kvs, 4);
  assert_false(r->more);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q.limit = 0;
  q.count_only = 1;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->count, 4);
  assert_int_equal(r->n_kvs, 0);
  assert_false(r->more);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q.limit = 1; /* count_only ignores the limit and the filters */
  q.min_mod_revision = 7;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->count, 4);
  assert_false(r->more);
  etcdserverpb__range_response__free_unpacked(r, NULL);
}

static void test_keys_only(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__RangeResponse *r;
  setup_data(ts);
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", "z");
  q.keys_only = 1;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "a= b= c= d= ");
  assert_int_equal(r->kvs[2]->version, 2);
  assert_int_equal(r->kvs[2]->create_revision, 2);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  /* sorting by value still uses the values */
  q.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE;
  q.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "d= c= b= a= ");
  etcdserverpb__range_response__free_unpacked(r, NULL);
}

/* Runs q and renders "k=v ... more=M count=C". */
static const char *run(lkvt_store_t *ts, const Etcdserverpb__RangeRequest *q) {
  static char out[256];
  Etcdserverpb__RangeResponse *r;
  assert_int_equal(lkvt_do_range(ts, q, &r), 0);
  lkvt_kvstr(r->kvs, r->n_kvs, out, sizeof(out));
  size_t len = strlen(out);
  snprintf(out + len, sizeof(out) - len, "more=%d count=%lld", r->more, (long long)r->count);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  return out;
}

static const char *sorted(lkvt_store_t *ts, Etcdserverpb__RangeRequest__SortTarget t,
                          Etcdserverpb__RangeRequest__SortOrder o, int64_t limit) {
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", "z");
  q.sort_target = t;
  q.sort_order = o;
  q.limit = limit;
  return run(ts, &q);
}

static void test_sort(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  setup_data(ts);
  const int KEY = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY,
            VER = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VERSION,
            CRE = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE,
            MOD = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__MOD,
            VAL = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE;
  const int NONE = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__NONE,
            ASC = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND,
            DESC = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
  /* create: c=2 a=3 b=5 d=7; mod: a=3 b=5 c=6 d=7; version: c=2, others 1; value: "1" < "22" < "3" < "4" */
  assert_string_equal(sorted(ts, KEY, NONE, 0), "a=1 b=22 c=3 d=4 more=0 count=4");
  assert_string_equal(sorted(ts, KEY, ASC, 0), "a=1 b=22 c=3 d=4 more=0 count=4");
  assert_string_equal(sorted(ts, KEY, DESC, 0), "d=4 c=3 b=22 a=1 more=0 count=4");
  assert_string_equal(sorted(ts, CRE, ASC, 0), "c=3 a=1 b=22 d=4 more=0 count=4");
  assert_string_equal(sorted(ts, CRE, DESC, 0), "d=4 b=22 a=1 c=3 more=0 count=4");
  assert_string_equal(sorted(ts, MOD, DESC, 0), "d=4 c=3 b=22 a=1 more=0 count=4");
  assert_string_equal(sorted(ts, MOD, ASC, 0), "a=1 b=22 c=3 d=4 more=0 count=4");
  /* ties keep key order in both directions (Go's insertion sort on small results) */
  assert_string_equal(sorted(ts, VER, ASC, 0), "a=1 b=22 d=4 c=3 more=0 count=4");
  assert_string_equal(sorted(ts, VER, DESC, 0), "c=3 a=1 b=22 d=4 more=0 count=4");
  assert_string_equal(sorted(ts, VAL, ASC, 0), "a=1 b=22 c=3 d=4 more=0 count=4");
  assert_string_equal(sorted(ts, VAL, DESC, 0), "d=4 c=3 b=22 a=1 more=0 count=4");
  /* a target other than KEY with order NONE sorts ascending */
  assert_string_equal(sorted(ts, CRE, NONE, 0), "c=3 a=1 b=22 d=4 more=0 count=4");
  /* with an order, the whole range is sorted before the limit applies */
  assert_string_equal(sorted(ts, CRE, DESC, 2), "d=4 b=22 more=1 count=4");
  assert_string_equal(sorted(ts, KEY, DESC, 3), "d=4 c=3 b=22 more=1 count=4");
  /* etcd quirk: order NONE keeps the limit fetch (limit+1 keys by key), then sorts those */
  assert_string_equal(sorted(ts, CRE, NONE, 2), "c=3 a=1 more=1 count=4");
  assert_string_equal(sorted(ts, MOD, NONE, 1), "a=1 more=1 count=4");
}

static const char *filtered(lkvt_store_t *ts, int64_t min_mod, int64_t max_mod, int64_t min_cre,
                            int64_t max_cre, int64_t limit) {
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", "z");
  q.min_mod_revision = min_mod;
  q.max_mod_revision = max_mod;
  q.min_create_revision = min_cre;
  q.max_create_revision = max_cre;
  q.limit = limit;
  return run(ts, &q);
}

static void test_filters(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  setup_data(ts);
  /* count is the range's, before filtering */
  assert_string_equal(filtered(ts, 5, 0, 0, 0, 0), "b=22 c=3 d=4 more=0 count=4");
  assert_string_equal(filtered(ts, 0, 5, 0, 0, 0), "a=1 b=22 more=0 count=4");
  assert_string_equal(filtered(ts, 0, 0, 3, 0, 0), "a=1 b=22 d=4 more=0 count=4");
  assert_string_equal(filtered(ts, 0, 0, 0, 3, 0), "a=1 c=3 more=0 count=4");
  assert_string_equal(filtered(ts, 4, 6, 3, 7, 0), "b=22 more=0 count=4");
  /* filters fetch the whole range: the limit applies to what passes them */
  assert_string_equal(filtered(ts, 5, 0, 0, 0, 1), "b=22 more=1 count=4");
  assert_string_equal(filtered(ts, 5, 0, 0, 0, 3), "b=22 c=3 d=4 more=0 count=4");
}

static void test_revisions(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__RangeResponse *r;
  setup_data(ts);
  Etcdserverpb__RangeRequest q = lkvt_range_req("a", "z");
  q.revision = 4;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "a=1 c=0 e=5 ");
  assert_int_equal(r->header->revision, 8); /* the header carries the current revision */
  etcdserverpb__range_response__free_unpacked(r, NULL);
  q.revision = 9;
  assert_int_equal(lkvt_do_range(ts, &q, &r), LKV_EFUTUREREV);
  assert_int_equal(lkvt_compact(ts, 5), 0);
  q.revision = 4;
  assert_int_equal(lkvt_do_range(ts, &q, &r), LKV_ECOMPACTED);
  q.revision = 5;
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_string_equal(lkvt_kvstr(r->kvs, r->n_kvs, buf, sizeof(buf)), "a=1 b=22 c=0 e=5 ");
  etcdserverpb__range_response__free_unpacked(r, NULL);
}

static void test_large_values_zero_copy(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  Etcdserverpb__RangeResponse *r;
  size_t len = 1u << 20;
  char *v = malloc(len + 1);
  for (size_t i = 0; i < len; i++) v[i] = (char)('a' + i % 26);
  v[len] = 0;
  lkvt_aput(ts, "big1", v);
  lkvt_aput(ts, "big2", v);
  Etcdserverpb__RangeRequest q = lkvt_range_req("big", "bih");
  assert_int_equal(lkvt_do_range(ts, &q, &r), 0);
  assert_int_equal(r->n_kvs, 2);
  assert_int_equal(r->kvs[1]->value.len, len);
  assert_memory_equal(r->kvs[1]->value.data, v, len);
  etcdserverpb__range_response__free_unpacked(r, NULL);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_forms_and_header),
      LKVT_TEST(test_limit_count_more),
      LKVT_TEST(test_keys_only),
      LKVT_TEST(test_sort),
      LKVT_TEST(test_filters),
      LKVT_TEST(test_revisions),
      LKVT_TEST(test_large_values_zero_copy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
