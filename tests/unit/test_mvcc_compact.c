/* Unit tests for compaction: errors, which revisions remain, tombstone removal, reads afterwards. */
#include "mvcc_testutil.h"

/* The stored history from the compact revision on (see lkvt_history). */
static const char *history(lkvt_store_t *ts, char buf[1024]) {
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  assert_int_equal(lkvt_history(ts, st.compact_revision < 0 ? 0 : st.compact_revision, 0, buf, 1024), 0);
  return buf;
}

static uint64_t records(lkvt_store_t *ts) {
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  return st.records;
}

static void test_errors(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  assert_int_equal(lkvt_compact(ts, 2), LKV_EFUTUREREV);
  assert_int_equal(lkvt_compact(ts, 0), 0); /* like etcd: a fresh store has compact revision -1 */
  assert_int_equal(lkvt_compact(ts, 0), LKV_ECOMPACTED);
  lkvt_put(ts, "a", "1");
  lkvt_put(ts, "a", "2");
  assert_int_equal(lkvt_compact(ts, 3), 0);
  assert_int_equal(lkvt_compact(ts, 3), LKV_ECOMPACTED);
  assert_int_equal(lkvt_compact(ts, 2), LKV_ECOMPACTED);
  assert_int_equal(lkvt_compact(ts, 4), LKV_EFUTUREREV);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  assert_int_equal(st.compact_revision, 3);
  assert_int_equal(st.revision, 3); /* compaction takes no revision */
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  assert_int_equal(lkvt_range(ts, "a", NULL, 2, r), LKV_ECOMPACTED);
  assert_int_equal(lkvt_range(ts, "a", NULL, 3, r), 0); /* reading at the compact revision is fine */
  assert_int_equal(r->count, 1);
  char h[1024];
  assert_int_equal(lkvt_history(ts, 2, 0, h, sizeof(h)), LKV_ECOMPACTED);
}

static void test_generations(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char h[1024];
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  lkvt_put(ts, "foo", "1");  /* 2 */
  lkvt_put(ts, "foo", "2");  /* 3 */
  lkvt_del(ts, "foo", NULL); /* 4 */
  lkvt_put(ts, "foo", "3");  /* 5 */
  lkvt_del(ts, "foo", NULL); /* 6 */
  lkvt_put(ts, "bar", "1");  /* 7 */
  lkvt_put(ts, "bar", "2");  /* 8 */
  assert_string_equal(history(ts, h), "2.0:foo=1 3.0:foo=2 -4.0:foo 5.0:foo=3 -6.0:foo 7.0:bar=1 8.0:bar=2 ");
  assert_int_equal(lkvt_compact(ts, 3), 0);
  assert_string_equal(history(ts, h), "3.0:foo=2 -4.0:foo 5.0:foo=3 -6.0:foo 7.0:bar=1 8.0:bar=2 ");
  assert_int_equal(lkvt_range(ts, "foo", NULL, 3, r), 0);
  assert_int_equal(r->n, 1);
  assert_string_equal(r->v[0].value, "2");
  assert_int_equal(r->v[0].version, 2);
  assert_int_equal(lkvt_compact(ts, 4), 0); /* the latest <= 4 is a tombstone: it goes too */
  assert_string_equal(history(ts, h), "5.0:foo=3 -6.0:foo 7.0:bar=1 8.0:bar=2 ");
  assert_int_equal(lkvt_range(ts, "a", "z", 4, r), 0);
  assert_int_equal(r->count, 0);
  assert_int_equal(lkvt_range(ts, "a", "z", 5, r), 0);
  assert_int_equal(r->count, 1);
  assert_int_equal(lkvt_compact(ts, 5), 0);
  assert_string_equal(history(ts, h), "5.0:foo=3 -6.0:foo 7.0:bar=1 8.0:bar=2 ");
  assert_int_equal(lkvt_compact(ts, 7), 0);
  assert_string_equal(history(ts, h), "7.0:bar=1 8.0:bar=2 ");
  assert_int_equal(lkvt_compact(ts, 8), 0);
  assert_string_equal(history(ts, h), "8.0:bar=2 ");
  assert_int_equal(records(ts), 1);
  /* foo is gone from the key index: a new put starts a fresh generation */
  lkvt_put(ts, "foo", "4"); /* 9 */
  assert_int_equal(lkvt_range(ts, "foo", NULL, 0, r), 0);
  assert_int_equal(r->v[0].create, 9);
  assert_int_equal(r->v[0].version, 1);
}

static void test_survivor_superseded_later(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char h[1024];
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  lkvt_put(ts, "a", "1"); /* 2 */
  lkvt_put(ts, "b", "1"); /* 3 */
  assert_int_equal(lkvt_compact(ts, 3), 0);
  assert_string_equal(history(ts, h), "3.0:b=1 ");
  lkvt_put(ts, "a", "2");  /* 4: supersedes a@2, which was kept by the first compaction */
  lkvt_del(ts, "b", NULL); /* 5 */
  lkvt_put(ts, "c", "1");  /* 6 */
  assert_int_equal(lkvt_compact(ts, 6), 0);
  assert_int_equal(records(ts), 2); /* a@4 and c@6: a@2, b@3 and b's tombstone are gone */
  assert_int_equal(lkvt_range(ts, "\1", "", 6, r), 0);
  assert_int_equal(r->count, 2);
  assert_string_equal(r->v[0].key, "a");
  assert_string_equal(r->v[0].value, "2");
  assert_int_equal(r->v[0].version, 2);
  assert_int_equal(r->v[0].create, 2);
  /* untouched since an earlier compaction: still there after a later one */
  lkvt_put(ts, "d", "1"); /* 7 */
  assert_int_equal(lkvt_compact(ts, 7), 0);
  assert_int_equal(lkvt_range(ts, "\1", "", 0, r), 0);
  assert_int_equal(r->count, 3);
  assert_int_equal(lkvt_history(ts, 0, 0, h, sizeof(h)), LKV_ECOMPACTED);
}

static void test_rollback_restores_compact_rev(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkv_mvcc_txn_t *t;
  lkvt_put(ts, "a", "1");
  lkvt_put(ts, "a", "2");
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_compact(t, 3), 0);
  assert_int_equal(lkv_mvcc_txn_compact_rev(t), 3);
  assert_int_equal(lkv_mvcc_req_end(t, 0), 0);
  assert_int_equal(lkv_mvcc_txn_compact_rev(t), -1);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  assert_int_equal(lkvt_range(ts, "a", NULL, 2, r), 0);
  assert_string_equal(r->v[0].value, "1");
}

/* ---- model check against etcd's rule over random histories ---- */

#define MK 12
#define MAXREV 700
typedef struct ev_s {
  int64_t rev;
  int key;
  int tomb;
  int val;
} ev_t;

static ev_t evs[MAXREV * 2];
static size_t nev;
static int64_t compacted = -1;
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  return lkvt_rand(&rng);
}

/* Model value of key k at rev (or -1 when absent). */
static int model_get(int k, int64_t rev) {
  int v = -1;
  for (size_t i = 0; i < nev; i++)
    if (evs[i].key == k && evs[i].rev <= rev) v = evs[i].tomb ? -1 : evs[i].val;
  return v;
}

/* Applies etcd's compaction rule to the model's event list. */
static void model_compact(int64_t c) {
  size_t j = 0;
  for (size_t i = 0; i < nev; i++) {
    int keep = evs[i].rev > c;
    if (!keep) {
      int latest = 1; /* is this the key's latest event <= c? */
      for (size_t x = i + 1; x < nev; x++)
        if (evs[x].key == evs[i].key && evs[x].rev <= c) latest = 0;
      keep = latest && !evs[i].tomb;
    }
    if (keep) evs[j++] = evs[i];
  }
  nev = j;
  compacted = c;
}

typedef struct cmp_hist_s {
  size_t i;
  int bad;
} cmp_hist_t;

static int cmp_hist_cb(void *arg, const lkv_mvcc_kv_t *kv, int64_t sub, int tomb) {
  cmp_hist_t *c = arg;
  (void)sub;
  if (c->i >= nev) {
    c->bad = 1;
    return 0;
  }
  const ev_t *e = &evs[c->i++];
  char key[8];
  snprintf(key, sizeof(key), "k%02d", e->key);
  if (e->rev != kv->mod_revision || e->tomb != tomb || kv->key_len != 3 || memcmp(kv->key, key, 3) != 0)
    c->bad = 1;
  return 0;
}

static void model_check(lkvt_store_t *ts, lkvt_kvs_t *r, int64_t cur) {
  lkv_mvcc_txn_t *t;
  lkv_mvcc_stat_t st;
  /* the history holds exactly the model's events: survivors below the compact revision included */
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  assert_int_equal(st.records, nev);
  cmp_hist_t ch = {0};
  while (ch.i < nev && evs[ch.i].rev < compacted) ch.i++;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_history(t, compacted < 0 ? 0 : compacted, 0, cmp_hist_cb, &ch), 0);
  lkv_mvcc_txn_end(t);
  assert_false(ch.bad);
  assert_int_equal(ch.i, nev);
  for (int64_t rev = compacted < 1 ? 1 : compacted; rev <= cur; rev += 1 + (int64_t)(rnd() % 9)) {
    assert_int_equal(lkvt_range(ts, "k", "l", rev, r), 0);
    size_t n = 0;
    for (int k = 0; k < MK; k++) {
      int v = model_get(k, rev);
      if (v < 0) continue;
      char key[8], val[16];
      snprintf(key, sizeof(key), "k%02d", k);
      snprintf(val, sizeof(val), "%d", v);
      assert_true(n < r->n);
      assert_string_equal(r->v[n].key, key);
      assert_string_equal(r->v[n].value, val);
      n++;
    }
    assert_int_equal(r->n, n);
  }
}

static void test_random_model(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  int64_t cur = 1;
  nev = 0;
  compacted = -1;
  for (int step = 0; step < 600; step++) {
    int k = (int)(rnd() % MK);
    char key[8];
    snprintf(key, sizeof(key), "k%02d", k);
    if (rnd() % 4 == 0) {
      if (model_get(k, cur) >= 0) {
        assert_int_equal(lkvt_del(ts, key, NULL), 1);
        cur++;
        evs[nev++] = (ev_t){.rev = cur, .key = k, .tomb = 1};
      }
    } else {
      char val[16];
      snprintf(val, sizeof(val), "%d", step);
      lkvt_put(ts, key, val);
      cur++;
      evs[nev++] = (ev_t){.rev = cur, .key = k, .val = step};
    }
    if (step % 50 == 49) {
      int64_t c = compacted + 1 + (int64_t)(rnd() % (uint64_t)(cur - compacted));
      if (c > cur) c = cur;
      assert_int_equal(lkvt_compact(ts, c), 0);
      model_compact(c);
      model_check(ts, r, cur);
    }
  }
  assert_int_equal(lkvt_compact(ts, cur), 0);
  model_compact(cur);
  model_check(ts, r, cur);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_errors),
      LKVT_TEST(test_generations),
      LKVT_TEST(test_survivor_superseded_later),
      LKVT_TEST(test_rollback_restores_compact_rev),
      LKVT_TEST(test_random_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
