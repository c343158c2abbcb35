/* Unit tests for key encoding and for long keys (beyond LMDB's key size) in point reads and ranges. */
#include "mvcc/keyenc.h"
#include "mvcc_testutil.h"

#define T LKV_MVCC_KEY_INLINE

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
  return lkvt_rand(&rng);
}

static void test_encoding(void **state) {
  (void)state;
  uint8_t key[T + 40], a[LKV__KEYENC_MAX], b[LKV__KEYENC_MAX];
  memset(key, 'k', sizeof(key));
  assert_int_equal(lkv__key_encode(key, 5, a), 5);
  assert_memory_equal(a, key, 5);
  assert_int_equal(lkv__key_encode(key, T, a), T);
  assert_false(lkv__key_enc_is_long(T));
  assert_int_equal(lkv__key_encode(key, T + 1, a), LKV__KEYENC_MAX);
  assert_true(lkv__key_enc_is_long(LKV__KEYENC_MAX));
  assert_true(LKV__KEYENC_MAX <= 511); /* LMDB's default key limit */
  assert_memory_equal(a, key, T);
  assert_int_equal(lkv__key_encode(key, T + 2, b), LKV__KEYENC_MAX);
  assert_memory_not_equal(a + T, b + T, LKV__KEY_HASH_LEN); /* same prefix, different hash */
  lkv__key_encode(key, T + 1, b);
  assert_memory_equal(a, b, LKV__KEYENC_MAX); /* deterministic */
}

static void test_bytes_cmp(void **state) {
  (void)state;
  assert_true(lkv__bytes_cmp((const uint8_t *)"a", 1, (const uint8_t *)"ab", 2) < 0);
  assert_true(lkv__bytes_cmp((const uint8_t *)"b", 1, (const uint8_t *)"ab", 2) > 0);
  assert_true(lkv__bytes_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"ab", 2) == 0);
  assert_true(lkv__bytes_cmp(NULL, 0, (const uint8_t *)"\0", 1) < 0);
  assert_true(lkv__bytes_cmp((const uint8_t *)"\xff", 1, (const uint8_t *)"\x01", 1) > 0);
}

static void put_len(lkvt_store_t *ts, size_t len, uint8_t fill, const char *value) {
  uint8_t *k = malloc(len);
  memset(k, fill, len);
  assert_int_equal(lkvt_put_n(ts, k, len, value, strlen(value)), 0);
  free(k);
}

static int get_len(lkvt_store_t *ts, size_t len, uint8_t fill, lkvt_kvs_t *r) {
  uint8_t *k = malloc(len);
  memset(k, fill, len);
  lkv_mvcc_range_t q = {.key = k, .key_len = len};
  int rc = lkvt_range_q(ts, &q, r);
  free(k);
  return rc;
}

static void test_key_sizes(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  size_t sizes[] = {1, 479, 480, 481, 10000, 1u << 20};
  for (size_t i = 0; i < 6; i++) put_len(ts, sizes[i], 'x', "v1");
  for (size_t i = 0; i < 6; i++) put_len(ts, sizes[i], 'x', "v2");
  for (size_t i = 0; i < 6; i++) {
    assert_int_equal(get_len(ts, sizes[i], 'x', r), 0);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->v[0].key_len, sizes[i]);
    assert_string_equal(r->v[0].value, "v2");
    assert_int_equal(r->v[0].version, 2);
    assert_int_equal(r->v[0].create, 2 + (int64_t)i);
  }
  /* a long key that is not stored, with a stored key's prefix */
  assert_int_equal(get_len(ts, 482, 'x', r), 0);
  assert_int_equal(r->count, 0);
  /* all of them in order: x, x*479, x*480, x*481, x*10000, x*1MiB */
  assert_int_equal(lkvt_range(ts, "x", "", 0, r), 0);
  assert_int_equal(r->count, 6);
  for (size_t i = 0; i < 6; i++) assert_int_equal(r->v[i].key_len, sizes[i]);
  /* prefix range "x" .. "y" with a limit inside the long group */
  lkv_mvcc_range_t q = {
      .key = (const uint8_t *)"x", .key_len = 1, .end = (const uint8_t *)"y", .end_len = 1, .limit = 4};
  assert_int_equal(lkvt_range_q(ts, &q, r), 0);
  assert_int_equal(r->n, 4);
  assert_int_equal(r->count, 6);
  assert_int_equal(r->v[3].key_len, 481);
  /* delete the long ones by range and check the tombstones */
  uint8_t from[481];
  memset(from, 'x', sizeof(from));
  lkv_mvcc_txn_t *t;
  int64_t n;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_delete_range(t, from, sizeof(from), (const uint8_t *)"y", 1, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  assert_int_equal(lkvt_range(ts, "x", "", 0, r), 0);
  assert_int_equal(r->count, 3);
  assert_int_equal(get_len(ts, 10000, 'x', r), 0);
  assert_int_equal(r->count, 0);
}

/* ---- model check: long keys sharing prefixes, mixed with short keys ---- */

#define NKEYS 160
typedef struct mkey_s {
  uint8_t b[T + 64];
  size_t len;
  int live;
} mkey_t;

static mkey_t keys[NKEYS];
static size_t nkeys;

static int mkey_cmp(const void *a, const void *b) {
  const mkey_t *x = a, *y = b;
  return lkv__bytes_cmp(x->b, x->len, y->b, y->len);
}

/* Keys around two T-byte prefixes P and Q (Q = P with its last byte + 1): short prefixes of P, P itself,
 * long keys P‖suffix with random suffixes (including 0x00 and 0xff bytes), long keys Q‖suffix. */
static void make_keys(void) {
  uint8_t p[T];
  for (size_t i = 0; i < T; i++) p[i] = (uint8_t)('a' + i % 26);
  nkeys = 0;
  for (size_t i = 0; i < NKEYS; i++) {
    mkey_t *k = &keys[nkeys];
    memcpy(k->b, p, T);
    unsigned kind = i == 0 ? 0 : (unsigned)(next_rand() % 10);
    if (i == 0) {
      k->len = T; /* P itself: sorts just before its group */
    } else if (kind == 0) {
      k->len = 1 + next_rand() % T; /* a prefix of P (maybe P) */
    } else if (kind == 1) {
      k->len = 1 + next_rand() % T;
      k->b[k->len - 1] = (uint8_t)next_rand(); /* near P, short */
    } else {
      size_t extra = 1 + next_rand() % 40;
      for (size_t j = 0; j < extra; j++)
        k->b[T + j] = (uint8_t)(next_rand() % 4 == 0 ? (next_rand() & 1) * 0xff : next_rand());
      k->len = T + extra;
      if (kind == 9) k->b[T - 1]++; /* the neighbouring group Q */
    }
    int dup = 0;
    for (size_t j = 0; j < nkeys; j++) dup |= keys[j].len == k->len && memcmp(keys[j].b, k->b, k->len) == 0;
    if (!dup) nkeys++;
  }
  qsort(keys, nkeys, sizeof(keys[0]), mkey_cmp);
}

/* Expected keys in [s, e) (e_len 0 = to the end). */
static size_t expect(const uint8_t *s, size_t sl, const uint8_t *e, size_t el, size_t out[NKEYS]) {
  size_t n = 0;
  for (size_t i = 0; i < nkeys; i++) {
    if (!keys[i].live) continue;
    if (lkv__bytes_cmp(keys[i].b, keys[i].len, s, sl) < 0) continue;
    if (el && lkv__bytes_cmp(keys[i].b, keys[i].len, e, el) >= 0) continue;
    out[n++] = i;
  }
  return n;
}

static void check_range(lkvt_store_t *ts, lkvt_kvs_t *r, const uint8_t *s, size_t sl, const uint8_t *e,
                        size_t el, size_t limit) {
  static const uint8_t zero = 0;
  size_t want[NKEYS];
  size_t n = expect(s, sl, e, el, want);
  lkv_mvcc_range_t q = {
      .key = s, .key_len = sl, .end = el ? e : &zero, .end_len = el ? el : 1, .limit = limit};
  assert_int_equal(lkvt_range_q(ts, &q, r), 0);
  assert_int_equal(r->count, n);
  size_t got = limit && limit < n ? limit : n;
  assert_int_equal(r->n, got);
  for (size_t i = 0; i < got; i++) {
    assert_int_equal(r->v[i].key_len, keys[want[i]].len);
    assert_memory_equal(r->v[i].key, keys[want[i]].b, r->v[i].key_len);
  }
}

/* etcd's prefix range end: the prefix with its last non-0xff byte incremented (trailing 0xff dropped). */
static size_t prefix_end(const uint8_t *p, size_t len, uint8_t *out) {
  memcpy(out, p, len);
  while (len > 0 && out[len - 1] == 0xff) len--;
  if (len > 0) out[len - 1]++;
  return len;
}

static void test_long_key_groups_model(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  lkvt_kvs_t *r = lkvt_fix_kvs(state);
  make_keys();
  for (size_t i = 0; i < nkeys; i++) {
    assert_int_equal(lkvt_put_n(ts, keys[i].b, keys[i].len, "v", 1), 0);
    keys[i].live = 1;
  }
  /* delete every third key (single-key deletes) */
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  for (size_t i = 0; i < nkeys; i += 3) {
    int64_t n;
    assert_int_equal(lkv_mvcc_delete_range(t, keys[i].b, keys[i].len, NULL, 0, &n), 0);
    assert_int_equal(n, 1);
    keys[i].live = 0;
  }
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);

  /* point reads, including stored keys' extensions that are not stored */
  for (size_t i = 0; i < nkeys; i++) {
    lkv_mvcc_range_t q = {.key = keys[i].b, .key_len = keys[i].len};
    assert_int_equal(lkvt_range_q(ts, &q, r), 0);
    assert_int_equal(r->count, keys[i].live);
    uint8_t ext[T + 80];
    memcpy(ext, keys[i].b, keys[i].len);
    ext[keys[i].len] = 0x00;
    int stored = i + 1 < nkeys && keys[i + 1].len == keys[i].len + 1 &&
                 memcmp(keys[i + 1].b, ext, keys[i].len + 1) == 0;
    q = (lkv_mvcc_range_t){.key = ext, .key_len = keys[i].len + 1};
    assert_int_equal(lkvt_range_q(ts, &q, r), 0);
    assert_int_equal(r->count, stored ? keys[i + 1].live : 0);
  }
  /* the whole keyspace */
  check_range(ts, r, (const uint8_t *)"\0", 1, NULL, 0, 0);
  /* ranges between every pair of bound candidates: stored keys and their neighbours */
  for (int iter = 0; iter < 1500; iter++) {
    mkey_t *a = &keys[next_rand() % nkeys], *b = &keys[next_rand() % nkeys];
    uint8_t s[T + 80], e[T + 80];
    size_t sl = a->len, el = b->len;
    memcpy(s, a->b, sl);
    memcpy(e, b->b, el);
    if (next_rand() % 3 == 0) s[sl++] = (uint8_t)next_rand(); /* a bound that is not a key */
    if (next_rand() % 3 == 0) el = el > 1 ? el - 1 : el;
    size_t limit = next_rand() % 4 == 0 ? 1 + next_rand() % 10 : 0;
    if (lkv__bytes_cmp(s, sl, e, el) >= 0) {
      check_range(ts, r, e, el, s, sl, limit);
    } else {
      check_range(ts, r, s, sl, e, el, limit);
    }
    if (iter % 10 == 0) check_range(ts, r, s, sl, NULL, 0, limit); /* from key */
    if (iter % 5 == 0) {                                           /* prefix range */
      uint8_t pe[T + 80];
      size_t pl = prefix_end(s, sl, pe);
      check_range(ts, r, s, sl, pe, pl, limit);
    }
  }
  /* historical read before the deletes sees every key */
  lkv_mvcc_range_t q = {.key = (const uint8_t *)"\0",
                        .key_len = 1,
                        .end = (const uint8_t *)"\xff",
                        .end_len = 1,
                        .rev = (int64_t)nkeys + 1};
  assert_int_equal(lkvt_range_q(ts, &q, r), 0);
  assert_int_equal(r->count, nkeys);
  for (size_t i = 0; i < nkeys; i++) assert_memory_equal(r->v[i].key, keys[i].b, keys[i].len);
  /* a delete over a prefix that splits the long group removes exactly the model's keys */
  size_t mid = nkeys / 2;
  uint8_t pe[T + 80];
  size_t pl = prefix_end(keys[0].b, 300, pe);
  assert_int_equal(lkv_mvcc_write_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  int64_t n;
  assert_int_equal(lkv_mvcc_delete_range(t, keys[mid].b, keys[mid].len, pe, pl, &n), 0);
  size_t want[NKEYS];
  assert_int_equal(n, expect(keys[mid].b, keys[mid].len, pe, pl, want));
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  for (size_t i = 0; i < (size_t)n; i++) keys[want[i]].live = 0;
  check_range(ts, r, (const uint8_t *)"\0", 1, NULL, 0, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encoding),
      cmocka_unit_test(test_bytes_cmp),
      LKVT_TEST(test_key_sizes),
      LKVT_TEST(test_long_key_groups_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
