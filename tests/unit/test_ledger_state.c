/* The ledger's STATE record: its builder's rules, codec, place in the log, and its replay into a store. */
#include "apply_testutil.h"
#include "ledger/log_file.h"
#include "ledger/state.h"
#include "ledger_testutil.h"

static lkv_ledger_state_key_t skey(const char *k, const char *v, int64_t create, int64_t mod, int64_t sub,
                                   int64_t version, int64_t lease) {
  return (lkv_ledger_state_key_t){.key = (const uint8_t *)k,
                                  .key_len = strlen(k),
                                  .value = (const uint8_t *)v,
                                  .value_len = strlen(v),
                                  .create_revision = create,
                                  .mod_revision = mod,
                                  .mod_sub = sub,
                                  .version = version,
                                  .lease = lease};
}

/* Lease 7 (60 s); "a" created at 3, last put at 5 (version 2); "b" at (8, 1) on lease 7. */
static void sample(lkv_ledger_state_t *s) {
  lkv_ledger_state_key_t a = skey("a", "va", 3, 5, 0, 2, 0), b = skey("b", "vb", 8, 8, 1, 1, 7);
  assert_int_equal(lkv_ledger_state_lease(s, 7, 60), 0);
  assert_int_equal(lkv_ledger_state_key(s, &a), 0);
  assert_int_equal(lkv_ledger_state_key(s, &b), 0);
}

static void test_builder_rules(void **state) {
  (void)state;
  lkv_ledger_state_t s = {0};
  lkv_ledger_state_key_t k;
  assert_int_equal(lkv_ledger_state_lease(&s, 0, 60), LKV_EINVAL);
  assert_int_equal(lkv_ledger_state_lease(&s, 9, 60), 0);
  assert_int_equal(lkv_ledger_state_lease(&s, 9, 60), LKV_EINVAL); /* ids increase */
  k = skey("k", "v", 6, 5, 0, 1, 0);                               /* created after its last put */
  assert_int_equal(lkv_ledger_state_key(&s, &k), LKV_EINVAL);
  k = skey("k", "v", 5, 5, 0, 0, 0); /* version 0 is a deleted key */
  assert_int_equal(lkv_ledger_state_key(&s, &k), LKV_EINVAL);
  k = skey("k", "v", 5, 5, 2, 1, 0);
  assert_int_equal(lkv_ledger_state_key(&s, &k), 0);
  k = skey("l", "v", 5, 5, 2, 1, 0); /* the same (mod, sub) twice */
  assert_int_equal(lkv_ledger_state_key(&s, &k), LKV_EINVAL);
  k = skey("l", "v", 4, 4, 0, 1, 0); /* below the previous key's */
  assert_int_equal(lkv_ledger_state_key(&s, &k), LKV_EINVAL);
  assert_int_equal(lkv_ledger_state_lease(&s, 10, 60), LKV_EINVAL); /* leases come first */
  assert_int_equal(s.n_leases, 1);
  assert_int_equal(s.n_keys, 1);
  lkv_ledger_state_free(&s);
}

static void test_codec(void **state) {
  (void)state;
  lkv_ledger_state_t s = {0};
  lkv_ledger_entry_t e, d;
  lkv_ledger_state_iter_t it;
  lkv_ledger_state_key_t k;
  int64_t id, ttl;
  uint8_t buf[512];
  size_t len;
  sample(&s);
  lkv_ledger_state_entry(&s, 10, &e);
  assert_false(lkv_ledger_entry_is_revision(&e));
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, lkv_ledger_entry_size(&e));
  assert_int_equal(lkv_ledger_entry_decode(buf, len, &d), 0);
  assert_int_equal(d.kind, LKV_LEDGER_STATE);
  assert_int_equal(d.revision, 10);
  lkv_ledger_state_begin(&d, &it);
  assert_int_equal(lkv_ledger_state_next_key(&it, &k), LKV_ECORRUPT); /* leases first */
  assert_int_equal(lkv_ledger_state_next_lease(&it, &id, &ttl), 1);
  assert_true(id == 7 && ttl == 60);
  assert_int_equal(lkv_ledger_state_next_lease(&it, &id, &ttl), 0);
  assert_int_equal(lkv_ledger_state_next_key(&it, &k), 1);
  assert_true(k.key_len == 1 && k.key[0] == 'a' && k.value_len == 2 && memcmp(k.value, "va", 2) == 0);
  assert_true(k.create_revision == 3 && k.mod_revision == 5 && k.mod_sub == 0 && k.version == 2 &&
              k.lease == 0);
  assert_int_equal(lkv_ledger_state_next_key(&it, &k), 1);
  assert_true(k.key[0] == 'b' && k.mod_revision == 8 && k.mod_sub == 1 && k.lease == 7);
  assert_int_equal(lkv_ledger_state_next_key(&it, &k), 0);
  /* the leaf covers the body: another value is another leaf */
  lkv_ledger_leaf_t l1, l2;
  lkv_ledger_entry_leaf(&d, &l1);
  buf[len - 1] ^= 1;
  assert_int_equal(lkv_ledger_entry_decode(buf, len, &d), 0);
  lkv_ledger_entry_leaf(&d, &l2);
  assert_memory_not_equal(l1.ws_digest, l2.ws_digest, LKV_LEDGER_DIGEST_LEN);
  /* a key above the record's revision, and every truncation, are refused */
  lkv_ledger_state_entry(&s, 7, &e);
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  lkv_ledger_state_entry(&s, 10, &e);
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), 0);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(lkv_ledger_entry_decode(buf, cut, &d), LKV_ECORRUPT);
  lkv_ledger_state_free(&s);
}

/* A STATE record only starts a ledger. */
static void test_first_record_only(void **state) {
  (void)state;
  char dir[64];
  lkv_ledger_log_t *log;
  lkv_ledger_state_t s = {0};
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e, r;
  sample(&s);
  lkv_ledger_state_entry(&s, 10, &e);
  lt_tmpdir(dir);
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  lt_put_entry(&r, &ws, 2, 4);
  assert_int_equal(lkv_ledger_log_append(log, &r, 1, NULL), 0);
  assert_int_equal(lkv_ledger_log_append(log, &e, 1, NULL), LKV_EINVAL);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
  lt_tmpdir(dir);
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  lt_put_entry(&r, &ws, 11, 4);
  lkv_ledger_entry_t both[2] = {e, r};
  assert_int_equal(lkv_ledger_log_append(log, both, 2, NULL), 0);
  lkv_ledger_log_close(log);
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0); /* and recovery accepts it */
  assert_int_equal(lkv_ledger_log_count(log), 2);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_state_free(&s);
}

static int collect(void *arg, const lkv_mvcc_kv_t *kv) {
  char *out = arg;
  size_t n = strlen(out);
  snprintf(out + n, 512 - n, "%.*s=%.*s c%lld m%lld v%lld l%lld;", (int)kv->key_len, (const char *)kv->key,
           (int)kv->value_len, (const char *)kv->value, (long long)kv->create_revision,
           (long long)kv->mod_revision, (long long)kv->version, (long long)kv->lease);
  return 0;
}

static int range_at(lkvt_store_t *ts, int64_t rev, char out[512]) {
  lkv_mvcc_txn_t *t;
  out[0] = '\0';
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  lkv_mvcc_range_t q = {
      .key = (const uint8_t *)"\0", .key_len = 1, .end = (const uint8_t *)"\0", .end_len = 1, .rev = rev};
  int rc = lkv_mvcc_range(t, &q, collect, out, NULL);
  lkv_mvcc_txn_end(t);
  return rc;
}

/* A fresh store becomes the state (compacted at its revision), the history above it follows; a second
 * replay finds nothing to do; a store with other history refuses the state. */
static void test_replay(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char dir[64], got[512];
  lkv_ledger_log_t *log;
  lkv_ledger_state_t s = {0};
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e[2];
  sample(&s);
  lkv_ledger_state_entry(&s, 10, &e[0]);
  assert_int_equal(lkv_ledger_ws_put(&ws, "a", 1, "new", 3, 3, 3, 0), 0);
  e[1] = (lkv_ledger_entry_t){.kind = LKV_LEDGER_REVISION, .revision = 11};
  lkv_ledger_entry_set_ws(&e[1], &ws);
  lt_tmpdir(dir);
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  assert_int_equal(lkv_ledger_log_append(log, e, 2, NULL), 0);
  lkv_apply_replay_info_t info;
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), 0);
  assert_int_equal(info.replayed, 2);
  assert_int_equal(range_at(ts, 0, got), 0);
  assert_string_equal(got, "a=new c3 m11 v3 l0;b=vb c8 m8 v1 l7;");
  assert_int_equal(range_at(ts, 10, got), 0);
  assert_string_equal(got, "a=va c3 m5 v2 l0;b=vb c8 m8 v1 l7;");
  assert_int_equal(range_at(ts, 9, got), LKV_ECOMPACTED);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(ts->s, &st), 0);
  assert_true(st.revision == 11 && st.compact_revision == 10);
  lkv_mvcc_txn_t *t;
  int64_t ttl = 0;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_get(t, 7, &ttl), 0);
  lkv_mvcc_txn_end(t);
  assert_int_equal(ttl, 60);
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), 0);
  assert_int_equal(info.replayed, 0);

  /* Another history under the state: refused, naming the record. */
  lkvt_close(ts);
  lkvt_open(ts);
  assert_int_equal(lkvt_put(ts, "x", "y"), 0);
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), LKV_ECORRUPT);
  assert_int_equal(info.bad_index, 0);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_state_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builder_rules),
      cmocka_unit_test(test_codec),
      cmocka_unit_test(test_first_record_only),
      LKVT_TEST(test_replay),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
