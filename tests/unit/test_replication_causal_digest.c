/* Unit tests for the digests the causal members compare (causal_digest.h): equal states give equal digests,
 * an altered value shows in exactly its range, siblings (tombstones too) count, sole tombstones do not, the
 * split of a key range, and the keys not stable at a common vector (written since, attached to a lease) that
 * both members leave out. */
#include "causal_testutil.h"
#include "mvcc_testutil.h"
#include "replication/causal_digest.h"

/* A member (1 of 3) and a store beside it. */
typedef struct {
  ct_cluster_t cl;
  lkv_causal_member_t *m;
  lkvt_store_t st;
} side_t;

static void side_open(side_t *s) {
  ct_cluster(&s->cl, 3);
  lkv_causal_config_t cfg = ct_config(&s->cl, 1);
  assert_int_equal(lkv_causal_member_new(&cfg, &s->m), 0);
  lkvt_open(&s->st);
}

static void side_close(side_t *s) {
  lkv_causal_member_free(s->m);
  lkvt_close(&s->st);
}

static void settle(side_t *s) {
  lkv_causal_batch_t rb;
  if (lkv_causal_member_batch(s->m, &rb)) lkv_causal_member_advance(s->m);
}

/* A local write of key (value NULL: a delete) in the core, and the same in the store. */
static void put_key(side_t *s, const char *key, const char *value) {
  lkv_causal_mutation_t mu = {.kind = value ? LKV_CAUSAL_PUT : LKV_CAUSAL_DEL,
                              .key = (const uint8_t *)key,
                              .key_len = strlen(key),
                              .value = (const uint8_t *)value,
                              .value_len = value ? strlen(value) : 0};
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(s->m, 1000, &mu, 1, 0, &rev), 0);
  settle(s);
  if (value) assert_int_equal(lkvt_put(&s->st, key, value), 0);
}

/* A remote event (origin 2 or 3, its first, depending on nothing) in the core only. */
static void remote(side_t *s, uint64_t origin, const char *key, const char *value) {
  uint8_t buf[512];
  size_t len = ct_event(&s->cl, origin, 1, 1000, NULL, key, value, buf, sizeof(buf));
  assert_int_equal(lkv_causal_member_recv_event(s->m, 1000, buf, len), 0);
  settle(s);
}

static const lkv__causal_bound_t NONE = {.key = NULL, .len = 0};

static void digest(side_t *s, const lkv__causal_bound_t *b, size_t n,
                   uint8_t (*out)[LKV__CAUSAL_DIGEST_LEN]) {
  assert_int_equal(lkv__causal_digest(s->st.s, s->m, b, n, &NONE, NULL, out), 0);
}

static void test_equal_states_then_one_value_altered(void **state) {
  (void)state;
  side_t a, b;
  side_open(&a);
  side_open(&b);
  char key[16], value[16];
  for (int i = 0; i < 200; i++) {
    snprintf(key, sizeof(key), "k%03d", i);
    snprintf(value, sizeof(value), "v%d", i);
    put_key(&a, key, value);
    put_key(&b, key, value);
  }
  lkv__causal_bound_t bounds[LKV__CAUSAL_DIGEST_RANGES];
  size_t keys, n = lkv__causal_digest_split(a.m, NONE, NONE, bounds, &keys);
  assert_int_equal(keys, 200);
  assert_int_equal(n, LKV__CAUSAL_DIGEST_RANGES);
  uint8_t da[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN],
      db[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN];
  digest(&a, bounds, n, da);
  digest(&b, bounds, n, db);
  assert_memory_equal(da, db, sizeof(da[0]) * n);

  assert_int_equal(lkvt_put(&b.st, "k123", "altered"), 0); /* the store only, as a corrupted page would */
  digest(&b, bounds, n, db);
  size_t differ = 0, at = n;
  for (size_t i = 0; i < n; i++)
    if (memcmp(da[i], db[i], LKV__CAUSAL_DIGEST_LEN)) differ++, at = i;
  assert_int_equal(differ, 1);
  /* That range holds k123: it starts at or before it, and the next one after it. */
  assert_true(at < n);
  assert_true(memcmp(bounds[at].key, "k123", 4) <= 0);
  assert_true(at + 1 < n && memcmp(bounds[at + 1].key, "k123", 4) > 0);

  /* Split again within that range (the next exchange): one key per range, k123 alone in its own. */
  lkv__causal_bound_t sub[LKV__CAUSAL_DIGEST_RANGES];
  n = lkv__causal_digest_split(b.m, bounds[at], bounds[at + 1], sub, &keys);
  assert_int_equal(n, keys);
  assert_true(keys >= 2 && keys <= 4);
  assert_memory_equal(sub[0].key, bounds[at].key, bounds[at].len);
  assert_int_equal(lkv__causal_digest(a.st.s, a.m, sub, n, &bounds[at + 1], NULL, da), 0);
  assert_int_equal(lkv__causal_digest(b.st.s, b.m, sub, n, &bounds[at + 1], NULL, db), 0);
  for (size_t i = 0; i < n; i++) {
    int k123 = sub[i].len == 4 && memcmp(sub[i].key, "k123", 4) == 0;
    assert_int_equal(memcmp(da[i], db[i], LKV__CAUSAL_DIGEST_LEN) != 0, k123);
  }
  side_close(&a);
  side_close(&b);
}

/* A tombstone sibling beside a live one is part of the key's state (a digest of live values only would miss
 * it); a key whose only sibling is a tombstone is not (members purge those on their own timing). */
static void test_tombstone_siblings_count_sole_tombstones_do_not(void **state) {
  (void)state;
  side_t a, b;
  side_open(&a);
  side_open(&b);
  remote(&a, 2, "x", "live");
  remote(&b, 2, "x", "live");
  assert_int_equal(lkvt_put(&a.st, "x", "live"), 0);
  assert_int_equal(lkvt_put(&b.st, "x", "live"), 0);
  lkv__causal_bound_t all = {.key = NULL, .len = 0};
  uint8_t da[1][LKV__CAUSAL_DIGEST_LEN], db[1][LKV__CAUSAL_DIGEST_LEN];
  digest(&a, &all, 1, da);
  digest(&b, &all, 1, db);
  assert_memory_equal(da, db, sizeof(da));

  remote(&b, 3, "x", NULL); /* concurrent tombstone: two siblings; the store may show either winner */
  assert_int_equal(lkv_causal_member_key(b.m, (const uint8_t *)"x", 1)->n, 2);
  digest(&b, &all, 1, db);
  assert_memory_not_equal(da, db, sizeof(da));

  side_t c;
  side_open(&c);
  remote(&c, 2, "x", "live");
  assert_int_equal(lkvt_put(&c.st, "x", "live"), 0);
  put_key(&c, "gone", "v");
  put_key(&c, "gone", NULL); /* supersedes the put: a sole tombstone */
  assert_int_equal(lkv_causal_member_key(c.m, (const uint8_t *)"gone", 4)->n, 1);
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_write_begin(c.st.s, &t), 0);
  assert_int_equal(lkv_mvcc_req_begin(t), 0);
  assert_int_equal(lkv_mvcc_delete_range(t, (const uint8_t *)"gone", 4, NULL, 0, NULL), 0);
  assert_int_equal(lkv_mvcc_req_end(t, 1), 0);
  assert_int_equal(lkv_mvcc_write_commit(t), 0);
  uint8_t dc[1][LKV__CAUSAL_DIGEST_LEN];
  digest(&c, &all, 1, dc);
  assert_memory_equal(da, dc, sizeof(da));
  size_t keys;
  lkv__causal_bound_t bounds[LKV__CAUSAL_DIGEST_RANGES];
  assert_int_equal(lkv__causal_digest_split(c.m, NONE, NONE, bounds, &keys), 1);
  assert_int_equal(keys, 1); /* x only */
  side_close(&a);
  side_close(&b);
  side_close(&c);
}

/* Bounds are at most LKV__CAUSAL_DIGEST_BOUND_MAX bytes, increasing; keys sharing a longer prefix cannot be
 * told apart by them (the split within their range gives one range: the narrowing stops there). */
static void test_split_long_keys(void **state) {
  (void)state;
  side_t a;
  side_open(&a);
  char key[128];
  memset(key, 'p', sizeof(key));
  for (int i = 0; i < 5; i++) {
    snprintf(key + 100, sizeof(key) - 100, "%d", i);
    put_key(&a, key, "v");
  }
  lkv__causal_bound_t bounds[LKV__CAUSAL_DIGEST_RANGES];
  size_t keys;
  /* From the start: an empty range before the shared prefix, then one holding every key. */
  assert_int_equal(lkv__causal_digest_split(a.m, NONE, NONE, bounds, &keys), 2);
  assert_int_equal(keys, 5);
  assert_int_equal(bounds[1].len, LKV__CAUSAL_DIGEST_BOUND_MAX);
  /* Within that range no bound can split them. */
  lkv__causal_bound_t lo = bounds[1];
  assert_int_equal(lkv__causal_digest_split(a.m, lo, NONE, bounds, &keys), 1);
  assert_int_equal(keys, 5);
  uint8_t d[1][LKV__CAUSAL_DIGEST_LEN];
  digest(&a, bounds, 1, d);
  assert_int_equal(lkv__causal_digest(a.st.s, a.m, bounds, 0, &NONE, NULL, d), LKV_EINVAL);
  side_close(&a);
}

/* A local write of a lease's grant, or a put (with a lease, 0: none), in the core only. */
static void lease_op(side_t *s, uint8_t kind, int64_t lease, const char *key) {
  lkv_causal_mutation_t mu = {.kind = kind, .lease = lease, .ttl = 60};
  if (key)
    mu.key = (const uint8_t *)key, mu.key_len = strlen(key), mu.value = (const uint8_t *)"v",
    mu.value_len = 1;
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(s->m, 1000, &mu, 1, 0, &rev), 0);
  settle(s);
}

static void assert_keys(const lkv__causal_keyset_t *u, const char *const *want, size_t n) {
  assert_int_equal(u->n, n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(u->k[i].len, strlen(want[i]));
    assert_memory_equal(u->k[i].key, want[i], u->k[i].len);
  }
}

/* Stable at C: every sibling in C. A key written since (again, for the first time, deleted, or given a
 * concurrent sibling) is not; neither is one C does not reach. */
static void test_unstable_keys_written_since(void **state) {
  (void)state;
  side_t a;
  side_open(&a);
  remote(&a, 2, "x", "1");
  put_key(&a, "k1", "v");
  put_key(&a, "k2", "v");
  put_key(&a, "gone", "v");
  lkv_causal_vv_t c = *lkv_causal_member_vv(a.m);
  lkv__causal_keyset_t u = {0};
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), 0);
  assert_int_equal(u.n, 0); /* nothing since C */
  put_key(&a, "k1", "w");
  put_key(&a, "new", "v");
  put_key(&a, "gone", NULL); /* a sole tombstone since C: the peer may still show the put */
  remote(&a, 3, "x", NULL);  /* concurrent with x's put: two siblings, one since C */
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), 0);
  static const char *const want[] = {"gone", "k1", "new", "x"};
  assert_keys(&u, want, 4);
  /* C above this member's vector: it cannot compare at C. */
  lkv_causal_vv_t above = c;
  assert_int_equal(lkv_causal_vv_set(&above, 2, 5), 0);
  assert_int_equal(lkv__causal_unstable(a.m, &above, &u), LKV_ENOENT);
  lkv__causal_keyset_free(&u);
  side_close(&a);
}

/* A tombstone beside other siblings, all in C, is stable like two live concurrent siblings: every member
 * holds it (a resolve never spares a tombstone, docs/causal.md §13, and a sole tombstone is purged only once
 * the writes concurrent with it are here). A sibling above C is not. */
static void test_stable_tombstone_beside_siblings(void **state) {
  (void)state;
  side_t a;
  side_open(&a);
  remote(&a, 2, "t", "v");
  remote(&a, 3, "t", NULL); /* concurrent: a put and a tombstone */
  uint8_t buf[512];
  for (uint64_t origin = 2; origin <= 3; origin++) { /* each origin's second event: a live "u" */
    lkv_causal_vv_t deps;
    lkv_causal_vv_init(&deps);
    assert_int_equal(lkv_causal_vv_set(&deps, origin, 1), 0);
    size_t len =
        ct_event(&a.cl, origin, 2, 1000, &deps, "u", origin == 2 ? "two" : "three", buf, sizeof(buf));
    assert_int_equal(lkv_causal_member_recv_event(a.m, 1000, buf, len), 0);
    settle(&a);
  }
  assert_int_equal(lkv_causal_member_key(a.m, (const uint8_t *)"t", 1)->n, 2);
  assert_int_equal(lkv_causal_member_key(a.m, (const uint8_t *)"u", 1)->n, 2);
  lkv_causal_vv_t c = *lkv_causal_member_vv(a.m);
  lkv__causal_keyset_t u = {0};
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), 0);
  assert_int_equal(u.n, 0);
  lkv__causal_keyset_free(&u);
  assert_int_equal(lkv_causal_vv_set(&c, 3, 1), 0); /* 3's "u" above C */
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), 0);
  static const char *const want[] = {"u"};
  assert_keys(&u, want, 1);
  lkv__causal_keyset_free(&u);
  side_close(&a);
}

/* A key attached to a lease is never stable: its store view follows the lease's life (a revoke, its owner's
 * removal), not only its siblings. The same key without a lease is. */
static void test_unstable_keys_with_a_lease(void **state) {
  (void)state;
  side_t a;
  side_open(&a);
  int64_t mine = (int64_t)1 << 48 | 5, of3 = (int64_t)3 << 48 | 7;
  lease_op(&a, LKV_CAUSAL_LEASE_GRANT, mine, NULL);
  lease_op(&a, LKV_CAUSAL_PUT, mine, "l1");
  lease_op(&a, LKV_CAUSAL_PUT, of3, "l3");
  put_key(&a, "p", "v");
  lkv_causal_vv_t c = *lkv_causal_member_vv(a.m);
  lkv__causal_keyset_t u = {0};
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), 0);
  static const char *const want[] = {"l1", "l3"};
  assert_keys(&u, want, 2);
  lease_op(&a, LKV_CAUSAL_PUT, 0, "l1"); /* put again without a lease: stable at the vector after it */
  c = *lkv_causal_member_vv(a.m);
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), 0);
  assert_keys(&u, want + 1, 1);
  lkv__causal_keyset_free(&u);
  side_close(&a);
}

/* Two members equal at C, each writing other keys since: with the union of the keys they leave out their
 * digests are equal; with one side's only they differ; an altered value of a stable key shows. */
static void test_digests_at_common_vector(void **state) {
  (void)state;
  side_t a, b;
  side_open(&a);
  side_open(&b);
  char key[16];
  for (int i = 0; i < 100; i++) {
    snprintf(key, sizeof(key), "k%03d", i);
    put_key(&a, key, "v");
    put_key(&b, key, "v");
  }
  lkv_causal_vv_t c = *lkv_causal_member_vv(a.m);
  put_key(&a, "k010", "a-since");
  put_key(&a, "k011", NULL);
  put_key(&b, "k050", "b-since");
  put_key(&b, "zzz", "b-since");
  lkv__causal_keyset_t ua = {0}, ub = {0}, skip = {0};
  assert_int_equal(lkv__causal_unstable(a.m, &c, &ua), 0);
  assert_int_equal(lkv__causal_unstable(b.m, &c, &ub), 0);
  assert_int_equal(ua.n, 2);
  assert_int_equal(ub.n, 2);
  assert_int_equal(lkv__causal_keyset_union(&skip, &ua, &ub), 0);
  static const char *const want[] = {"k010", "k011", "k050", "zzz"};
  assert_keys(&skip, want, 4);
  assert_true(lkv__causal_keyset_has(&skip, (const uint8_t *)"k050", 4));
  assert_false(lkv__causal_keyset_has(&skip, (const uint8_t *)"k05", 3));

  lkv__causal_bound_t bounds[LKV__CAUSAL_DIGEST_RANGES];
  size_t keys, n = lkv__causal_digest_split(a.m, NONE, NONE, bounds, &keys);
  uint8_t da[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN],
      db[LKV__CAUSAL_DIGEST_RANGES][LKV__CAUSAL_DIGEST_LEN];
  assert_int_equal(lkv__causal_digest(a.st.s, a.m, bounds, n, &NONE, &skip, da), 0);
  assert_int_equal(lkv__causal_digest(b.st.s, b.m, bounds, n, &NONE, &skip, db), 0);
  assert_memory_equal(da, db, sizeof(da[0]) * n);
  assert_int_equal(lkv__causal_digest(b.st.s, b.m, bounds, n, &NONE, &ub, db), 0);
  assert_memory_not_equal(da, db, sizeof(da[0]) * n); /* k010's range: a's write since C is in b's digest */

  assert_int_equal(lkvt_put(&b.st, "k070", "altered"), 0); /* the store only */
  assert_int_equal(lkv__causal_digest(b.st.s, b.m, bounds, n, &NONE, &skip, db), 0);
  size_t r = lkv__causal_digest_find(bounds, n, &NONE, (const uint8_t *)"k070", 4);
  assert_true(r < n);
  for (size_t i = 0; i < n; i++) assert_int_equal(memcmp(da[i], db[i], LKV__CAUSAL_DIGEST_LEN) != 0, i == r);
  lkv__causal_bound_t end = bounds[1];
  assert_int_equal(lkv__causal_digest_find(bounds, 1, &end, (const uint8_t *)"k099", 4), 1); /* past end */
  lkv__causal_keyset_free(&ua);
  lkv__causal_keyset_free(&ub);
  lkv__causal_keyset_free(&skip);
  side_close(&a);
  side_close(&b);
}

/* More keys written since C than a check message carries: no comparison at C. */
static void test_unstable_too_many(void **state) {
  (void)state;
  side_t a;
  side_open(&a);
  lkv_causal_vv_t c = *lkv_causal_member_vv(a.m);
  char key[16];
  for (int i = 0; i <= LKV__CAUSAL_UNSTABLE_KEYS; i++) {
    snprintf(key, sizeof(key), "k%05d", i);
    lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)key, .key_len = strlen(key)};
    uint64_t rev;
    assert_int_equal(lkv_causal_member_write(a.m, 1000, &mu, 1, 0, &rev), 0);
    settle(&a);
  }
  lkv__causal_keyset_t u = {0};
  assert_int_equal(lkv__causal_unstable(a.m, &c, &u), LKV_ETOOLARGE);
  lkv__causal_keyset_free(&u);
  side_close(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equal_states_then_one_value_altered),
      cmocka_unit_test(test_tombstone_siblings_count_sole_tombstones_do_not),
      cmocka_unit_test(test_split_long_keys),
      cmocka_unit_test(test_unstable_keys_written_since),
      cmocka_unit_test(test_unstable_keys_with_a_lease),
      cmocka_unit_test(test_stable_tombstone_beside_siblings),
      cmocka_unit_test(test_digests_at_common_vector),
      cmocka_unit_test(test_unstable_too_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
