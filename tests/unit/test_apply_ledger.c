/* The write path's ledger entries (lkv_apply_batch_logged) and the replay of a ledger into a store. */
#include "apply_testutil.h"
#include "causal/event.h"
#include "causal/lease_id.h"
#include "causal/mutation.h"
#include "ledger/log_file.h"
#include "ledger_testutil.h"

/* What a log callback saw: the entries, encoded (so they outlive the call), and what to return. */
typedef struct seen_s {
  uint8_t *buf[32];
  size_t len[32];
  size_t n;
  int ret;
  lkv_ledger_log_t *log; /* when set, the entries are appended to it first */
} seen_t;

static int capture(void *arg, const lkv_ledger_entry_t *e, size_t n) {
  seen_t *s = arg;
  if (s->log) assert_int_equal(lkv_ledger_log_append(s->log, e, n, NULL), 0);
  for (size_t i = 0; i < n; i++) {
    assert_true(s->n < 32);
    size_t cap = lkv_ledger_entry_size(&e[i]);
    s->buf[s->n] = malloc(cap);
    assert_int_equal(lkv_ledger_entry_encode(&e[i], s->buf[s->n], cap, &s->len[s->n]), 0);
    s->n++;
  }
  return s->ret;
}

static void seen_free(seen_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->buf[i]);
  s->n = 0;
}

static void seen_entry(seen_t *s, size_t i, lkv_ledger_entry_t *e) {
  assert_true(i < s->n);
  assert_int_equal(lkv_ledger_entry_decode(s->buf[i], s->len[i], e), 0);
}

static void next_op(lkv_ledger_op_iter_t *it, lkv_ledger_op_type_t type, const char *key, const char *value) {
  lkv_ledger_op_t op;
  assert_int_equal(lkv_ledger_ops_next(it, &op), 1);
  assert_int_equal(op.type, type);
  assert_int_equal(op.key_len, strlen(key));
  assert_memory_equal(op.key, key, op.key_len);
  if (value) {
    assert_int_equal(op.value_len, strlen(value));
    assert_memory_equal(op.value, value, op.value_len);
  }
}

/* Applies one request through the logged path; returns its err. */
static int logged(lkvt_store_t *ts, seen_t *s, lkv_apply_req_t *r) {
  int rc = lkv_apply_batch_logged(ts->s, &lkvt_id, r, 1, capture, s);
  if (rc) return rc;
  return r->err;
}

static void test_entries_per_kind(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  seen_t s = {0};
  lkv_ledger_entry_t e;
  lkv_ledger_op_iter_t it;

  /* Put: REVISION with the stored kv; claims over the packed request and response. */
  Etcdserverpb__PutRequest put = lkvt_put_req("foo", "bar");
  lkv_apply_req_t r = {.kind = LKV_OP_PUT, .msg = &put.base};
  assert_int_equal(logged(ts, &s, &r), 0);
  seen_entry(&s, 0, &e);
  assert_int_equal(e.kind, LKV_LEDGER_REVISION);
  assert_int_equal(e.revision, 2);
  uint8_t req[64], claims[32];
  size_t req_len = protobuf_c_message_pack(&put.base, req);
  lkv_ledger_claims_digest(req, req_len, r.resp, r.resp_len, claims);
  assert_memory_equal(e.claims, claims, 32);
  free(r.resp);
  lkv_ledger_ops_begin(&e, &it);
  lkv_ledger_op_t op;
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 1);
  assert_int_equal(op.create_revision, 2);
  assert_int_equal(op.version, 1);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 0);

  /* With the bytes the client sent, the claims cover exactly those (whatever their encoding). */
  const uint8_t sent[] = {0x0a, 0x03, 'f', 'o', 'o', 0x12, 0x03, 'b', 'a', 'r', 0x12, 0x01, 'x'};
  Etcdserverpb__PutRequest put2 = lkvt_put_req("foo", "x");
  r = (lkv_apply_req_t){.kind = LKV_OP_PUT, .msg = &put2.base, .raw = sent, .raw_len = sizeof(sent)};
  assert_int_equal(logged(ts, &s, &r), 0);
  seen_entry(&s, 1, &e);
  lkv_ledger_claims_digest(sent, sizeof(sent), r.resp, r.resp_len, claims);
  assert_memory_equal(e.claims, claims, 32);
  free(r.resp);

  /* A delete of nothing changes nothing: no entry. */
  Etcdserverpb__DeleteRangeRequest none = lkvt_del_req("nothing", NULL);
  r = (lkv_apply_req_t){.kind = LKV_OP_DELETE_RANGE, .msg = &none.base};
  assert_int_equal(logged(ts, &s, &r), 0);
  free(r.resp);
  assert_int_equal(s.n, 2);

  /* Txn: one REVISION with every op in order. */
  Etcdserverpb__PutRequest tp = lkvt_put_req("zoo", "z");
  Etcdserverpb__DeleteRangeRequest td = lkvt_del_req("foo", NULL);
  Etcdserverpb__RequestOp o1 = ETCDSERVERPB__REQUEST_OP__INIT, o2 = ETCDSERVERPB__REQUEST_OP__INIT;
  o1.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
  o1.request_put = &tp;
  o2.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
  o2.request_delete_range = &td;
  Etcdserverpb__RequestOp *ops[] = {&o1, &o2};
  Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
  txn.n_success = 2;
  txn.success = ops;
  r = (lkv_apply_req_t){.kind = LKV_OP_TXN, .msg = &txn.base};
  assert_int_equal(logged(ts, &s, &r), 0);
  free(r.resp);
  seen_entry(&s, 2, &e);
  assert_int_equal(e.kind, LKV_LEDGER_REVISION);
  assert_int_equal(e.revision, 4);
  lkv_ledger_ops_begin(&e, &it);
  next_op(&it, LKV_LEDGER_OP_PUT, "zoo", "z");
  next_op(&it, LKV_LEDGER_OP_DELETE, "foo", NULL);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 0);

  /* Lease grant, a put on it, an expiry revoke (no claims), compaction. */
  Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  g.id = 77;
  g.ttl = 30;
  r = (lkv_apply_req_t){.kind = LKV_OP_LEASE_GRANT, .msg = &g.base};
  assert_int_equal(logged(ts, &s, &r), 0);
  free(r.resp);
  seen_entry(&s, 3, &e);
  assert_int_equal(e.kind, LKV_LEDGER_LEASE_GRANT);
  assert_int_equal(e.revision, 4);
  assert_int_equal(e.lease_id, 77);
  assert_int_equal(e.lease_ttl, 30);
  Etcdserverpb__PutRequest lp = lkvt_put_req("leased", "l");
  lp.lease = 77;
  r = (lkv_apply_req_t){.kind = LKV_OP_PUT, .msg = &lp.base};
  assert_int_equal(logged(ts, &s, &r), 0);
  free(r.resp);
  Etcdserverpb__LeaseRevokeRequest rv = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
  rv.id = 77;
  r = (lkv_apply_req_t){.kind = LKV_OP_LEASE_REVOKE, .msg = &rv.base, .no_claims = 1};
  assert_int_equal(logged(ts, &s, &r), 0);
  free(r.resp);
  seen_entry(&s, 5, &e);
  assert_int_equal(e.kind, LKV_LEDGER_LEASE_REVOKE);
  assert_int_equal(e.revision, 6);
  assert_int_equal(e.lease_id, 77);
  lkv_ledger_claims_digest(NULL, 0, NULL, 0, claims);
  assert_memory_equal(e.claims, claims, 32);
  lkv_ledger_ops_begin(&e, &it);
  next_op(&it, LKV_LEDGER_OP_DELETE, "leased", NULL);
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  c.revision = 4;
  r = (lkv_apply_req_t){.kind = LKV_OP_COMPACT, .msg = &c.base};
  assert_int_equal(logged(ts, &s, &r), 0);
  free(r.resp);
  seen_entry(&s, 6, &e);
  assert_int_equal(e.kind, LKV_LEDGER_COMPACTION);
  assert_int_equal(e.revision, 6);
  assert_int_equal(e.compact_revision, 4);

  /* A failed request leaves no entry. */
  r = (lkv_apply_req_t){.kind = LKV_OP_COMPACT, .msg = &c.base};
  assert_int_equal(logged(ts, &s, &r), LKV_ECOMPACTED);
  assert_int_equal(s.n, 7);
  seen_free(&s);
}

/* The log's refusal fails the whole batch: nothing is committed. */
static void test_log_failure_fails_batch(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  seen_t s = {.ret = LKV_EIO};
  Etcdserverpb__PutRequest a = lkvt_put_req("a", "1"), b = lkvt_put_req("b", "2");
  lkv_apply_req_t r[2] = {{.kind = LKV_OP_PUT, .msg = &a.base}, {.kind = LKV_OP_PUT, .msg = &b.base}};
  assert_int_equal(lkv_apply_batch_logged(ts->s, &lkvt_id, r, 2, capture, &s), LKV_EIO);
  assert_int_equal(s.n, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(r[i].err, LKV_EIO);
    assert_null(r[i].resp);
  }
  assert_int_equal(lkvt_rev(ts), 1);
  seen_free(&s);
}

/* Every live key with its metadata, as one string, for comparing two stores. */
static int dump_kv(void *arg, const lkv_mvcc_kv_t *kv) {
  char *out = arg;
  size_t n = strlen(out);
  snprintf(out + n, 4096 - n, "%.*s=%.*s@%lld/%lld/%lld/%lld;", (int)kv->key_len, kv->key, (int)kv->value_len,
           kv->value, (long long)kv->create_revision, (long long)kv->mod_revision, (long long)kv->version,
           (long long)kv->lease);
  return 0;
}

static void dump(lkvt_store_t *ts, char out[4096]) {
  out[0] = '\0';
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  lkv_mvcc_range_t q = {
      .key = (const uint8_t *)"\0", .key_len = 1, .end = (const uint8_t *)"\0", .end_len = 1};
  assert_int_equal(lkv_mvcc_range(t, &q, dump_kv, out, NULL), 0);
  size_t n = strlen(out);
  snprintf(out + n, 4096 - n, "rev=%lld compact=%lld", (long long)lkv_mvcc_txn_rev(t),
           (long long)lkv_mvcc_txn_compact_rev(t));
  lkv_mvcc_txn_end(t);
}

/* A crash between the ledger's fsync and the store's commit leaves the ledger one batch ahead: the
 * replay applies it; a second replay finds nothing to do; an empty store is rebuilt from the ledger. */
static void test_replay(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char dir[64];
  lt_tmpdir(dir);
  seen_t s = {0};
  assert_int_equal(lkv_ledger_log_open(&s.log, dir, NULL), 0);
  Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  g.id = 5;
  g.ttl = 60;
  Etcdserverpb__PutRequest p1 = lkvt_put_req("a", "1"), p2 = lkvt_put_req("b", "2");
  p2.lease = 5;
  Etcdserverpb__DeleteRangeRequest d = lkvt_del_req("a", NULL);
  lkv_apply_req_t b1[3] = {{.kind = LKV_OP_LEASE_GRANT, .msg = &g.base},
                           {.kind = LKV_OP_PUT, .msg = &p1.base},
                           {.kind = LKV_OP_PUT, .msg = &p2.base}};
  assert_int_equal(lkv_apply_batch_logged(ts->s, &lkvt_id, b1, 3, capture, &s), 0);
  for (int i = 0; i < 3; i++) free(b1[i].resp);
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  c.revision = 2;
  Etcdserverpb__PutRequest p3 = lkvt_put_req("a", "3");
  lkv_apply_req_t b2[3] = {{.kind = LKV_OP_DELETE_RANGE, .msg = &d.base},
                           {.kind = LKV_OP_COMPACT, .msg = &c.base},
                           {.kind = LKV_OP_PUT, .msg = &p3.base}};
  /* Both batches reach the ledger; a second store that committed only the first stands for a crash
   * between the ledger's fsync and the store's commit of the second. */
  char want[4096], got[4096];
  assert_int_equal(lkv_apply_batch_logged(ts->s, &lkvt_id, b2, 3, capture, &s), 0);
  dump(ts, want);
  for (int i = 0; i < 3; i++) free(b2[i].resp);
  lkvt_close(ts);
  lkvt_open(ts);
  lkv_apply_req_t b1again[3] = {{.kind = LKV_OP_LEASE_GRANT, .msg = &g.base},
                                {.kind = LKV_OP_PUT, .msg = &p1.base},
                                {.kind = LKV_OP_PUT, .msg = &p2.base}};
  assert_int_equal(lkv_apply_batch(ts->s, &lkvt_id, b1again, 3), 0);
  for (int i = 0; i < 3; i++) free(b1again[i].resp);
  lkv_apply_replay_info_t info;
  assert_int_equal(lkv_apply_replay(ts->s, s.log, &info), 0);
  assert_int_equal(info.store_revision, 3);
  assert_int_equal(info.ledger_revision, 5);
  assert_int_equal(info.replayed, 3);
  dump(ts, got);
  assert_string_equal(got, want);
  assert_int_equal(lkv_apply_replay(ts->s, s.log, &info), 0);
  assert_int_equal(info.replayed, 0);

  /* From nothing: the whole ledger. */
  lkvt_close(ts);
  lkvt_open(ts);
  assert_int_equal(lkv_apply_replay(ts->s, s.log, &info), 0);
  assert_int_equal(info.replayed, 6);
  dump(ts, got);
  assert_string_equal(got, want);

  /* A store ahead of the ledger was written without it. */
  assert_int_equal(lkvt_put(ts, "x", "y"), 0);
  assert_int_equal(lkv_apply_replay(ts->s, s.log, &info), LKV_ECORRUPT);
  assert_int_equal(info.bad_index, UINT64_MAX);
  lkv_ledger_log_close(s.log);
  seen_free(&s);
  lkvt_rmrf(dir);
}

/* An entry that does not fit the store (a delete of a key it does not have) is named. */
static void test_replay_mismatch(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char dir[64];
  lt_tmpdir(dir);
  lkv_ledger_log_t *log;
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e = {0};
  assert_int_equal(lkv_ledger_ws_delete(&ws, "ghost", 5), 0);
  e.kind = LKV_LEDGER_REVISION;
  e.revision = 2;
  lkv_ledger_entry_set_ws(&e, &ws);
  assert_int_equal(lkv_ledger_log_append(log, &e, 1, NULL), 0);
  lkv_apply_replay_info_t info;
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), LKV_ECORRUPT);
  assert_int_equal(info.bad_index, 0);
  assert_int_equal(lkvt_rev(ts), 1);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
}

/* Appends the CAUSAL_EVENT record of an event of origin with mutations muts[0..n) at
 * revision rev, its ops ws (the changes the member made). The replay reads only its mutations. */
static void append_event_from(lkv_ledger_log_t *log, int64_t rev, uint64_t origin,
                              const lkv_causal_mutation_t *muts, size_t n, const lkv_ledger_ws_t *ws) {
  uint8_t seed[32] = {(uint8_t)origin}, pk[LKV_CAUSAL_PK_LEN], sk[LKV_CAUSAL_SK_LEN], payload[256],
          event[512];
  size_t payload_len, event_len;
  assert_int_equal(lkv_causal_keypair_from_seed(seed, pk, sk), 0);
  assert_int_equal(lkv_causal_mutations_encode(muts, n, payload, sizeof(payload), &payload_len), 0);
  lkv_causal_event_t ev = {.origin = origin,
                           .seq = 1,
                           .hlc = {.wall = 1700000000000ull},
                           .payload = payload,
                           .payload_len = payload_len};
  lkv_causal_vv_init(&ev.deps);
  assert_int_equal(lkv_causal_event_encode_signed(&ev, sk, event, sizeof(event), &event_len), 0);
  lkv_ledger_entry_t e = {
      .kind = LKV_LEDGER_CAUSAL_EVENT, .revision = rev, .event = event, .event_len = event_len};
  lkv_ledger_entry_set_ws(&e, ws);
  lkv_ledger_claims_digest(NULL, 0, NULL, 0, e.claims);
  assert_int_equal(lkv_ledger_log_append(log, &e, 1, NULL), 0);
}

/* The same, of origin 7. */
static void append_event(lkv_ledger_log_t *log, int64_t rev, const lkv_causal_mutation_t *muts, size_t n,
                         const lkv_ledger_ws_t *ws) {
  append_event_from(log, rev, 7, muts, n, ws);
}

static int list_lease(void *arg, int64_t id, int64_t ttl) {
  char *out = arg;
  size_t n = strlen(out);
  snprintf(out + n, 256 - n, "%lld:%lld;", (long long)id, (long long)ttl);
  return 0;
}

static void leases(lkvt_store_t *ts, char out[256]) {
  out[0] = '\0';
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(ts->s, &t), 0);
  assert_int_equal(lkv_mvcc_lease_list(t, list_lease, out), 0);
  lkv_mvcc_txn_end(t);
}

/* A causal member's lease grants and revokes are inside its CAUSAL_EVENT records (docs/causal.md §5): the
 * replay applies the grants before the record's ops and the revokes after them (the ops deleted the keys);
 * a grant of a lease already there or a revoke of one absent changes nothing, a revoke that still finds a
 * key attached does not fit the store. */
static void test_replay_causal_leases(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char dir[64], got[4096], table[256];
  lt_tmpdir(dir);
  lkv_ledger_log_t *log;
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  lkv_ledger_ws_t ws = {0};
  lkv_causal_mutation_t grant9 = {.kind = LKV_CAUSAL_LEASE_GRANT, .lease = 9, .ttl = 30},
                        revoke9 = {.kind = LKV_CAUSAL_LEASE_REVOKE, .lease = 9},
                        grant10 = {.kind = LKV_CAUSAL_LEASE_GRANT, .lease = 10, .ttl = 40},
                        revoke11 = {.kind = LKV_CAUSAL_LEASE_REVOKE, .lease = 11},
                        revoke10 = {.kind = LKV_CAUSAL_LEASE_REVOKE, .lease = 10},
                        put_k = {.kind = LKV_CAUSAL_PUT,
                                 .key = (const uint8_t *)"k",
                                 .key_len = 1,
                                 .value = (const uint8_t *)"v",
                                 .value_len = 1,
                                 .lease = 9},
                        put_j = {.kind = LKV_CAUSAL_PUT,
                                 .key = (const uint8_t *)"j",
                                 .key_len = 1,
                                 .value = (const uint8_t *)"w",
                                 .value_len = 1,
                                 .lease = 10};
  append_event(log, 2, &grant9, 1, &ws); /* no key changed: an empty revision */
  assert_int_equal(lkv_ledger_ws_put(&ws, "k", 1, "v", 1, 3, 1, 9), 0);
  append_event(log, 3, &put_k, 1, &ws);
  lkv_ledger_ws_reset(&ws);
  assert_int_equal(lkv_ledger_ws_delete(&ws, "k", 1), 0);
  append_event(log, 4, &revoke9, 1, &ws); /* its key, deleted by the record's ops */
  lkv_ledger_ws_reset(&ws);
  lkv_causal_mutation_t both[3] = {grant9, grant10, revoke11}; /* 9 again: the store lacks it */
  append_event(log, 5, both, 3, &ws);
  append_event(log, 6, &grant10, 1, &ws); /* already there: nothing */
  lkv_apply_replay_info_t info;
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), 0);
  dump(ts, got);
  assert_string_equal(got, "rev=6 compact=-1");
  leases(ts, table);
  assert_string_equal(table, "9:30;10:40;");

  /* j attached to 10, then 10 revoked by a record whose ops do not delete j: not this store's history. */
  assert_int_equal(lkv_ledger_ws_put(&ws, "j", 1, "w", 1, 7, 1, 10), 0);
  append_event(log, 7, &put_j, 1, &ws);
  lkv_ledger_ws_reset(&ws);
  append_event(log, 8, &revoke10, 1, &ws);
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), LKV_ECORRUPT);
  assert_int_equal(info.bad_index, 6);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
}

/* A member's first removal (docs/causal.md §15a) ends its leases: after the record's ops (the attached keys'
 * deletes) every lease it owns is revoked, a grant of its taken afterwards is void, and a later removal of it
 * revokes nothing (a member added since may own leases of its tag). */
static void test_replay_causal_removal(void **state) {
  lkvt_store_t *ts = lkvt_fix_store(state);
  char dir[64], table[256];
  lt_tmpdir(dir);
  lkv_ledger_log_t *log;
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  lkv_ledger_ws_t ws = {0};
  const uint64_t x = 7; /* the origin of append_event's events */
  const int64_t of_x = ((int64_t)lkv_causal_lease_tag(x) << 48) | 1, other = 5;
  lkv_causal_mutation_t grants[2] = {{.kind = LKV_CAUSAL_LEASE_GRANT, .lease = of_x, .ttl = 30},
                                     {.kind = LKV_CAUSAL_LEASE_GRANT, .lease = other, .ttl = 40}},
                        put_k = {.kind = LKV_CAUSAL_PUT,
                                 .key = (const uint8_t *)"k",
                                 .key_len = 1,
                                 .value = (const uint8_t *)"v",
                                 .value_len = 1,
                                 .lease = of_x},
                        remove = {.kind = LKV_CAUSAL_MEMBER_REMOVE, .member = x};
  append_event(log, 2, grants, 2, &ws);
  assert_int_equal(lkv_ledger_ws_put(&ws, "k", 1, "v", 1, 3, 1, of_x), 0);
  append_event(log, 3, &put_k, 1, &ws);
  lkv_ledger_ws_reset(&ws);
  assert_int_equal(lkv_ledger_ws_delete(&ws, "k", 1), 0);
  append_event(log, 4, &remove, 1, &ws); /* k deleted by the record's ops, of_x revoked */
  lkv_ledger_ws_reset(&ws);
  append_event(log, 5, grants, 1, &ws); /* x's grant taken after its removal: void */
  lkv_apply_replay_info_t info;
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), 0);
  leases(ts, table);
  assert_string_equal(table, "5:40;");

  /* Granted again by another origin (a member added since, with x's tag), a second removal leaves it. */
  lkvt_close(ts);
  lkvt_open(ts);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
  lt_tmpdir(dir);
  assert_int_equal(lkv_ledger_log_open(&log, dir, NULL), 0);
  append_event(log, 2, &remove, 1, &ws);
  append_event_from(log, 3, 8, grants, 1, &ws);
  append_event(log, 4, &remove, 1, &ws);
  assert_int_equal(lkv_apply_replay(ts->s, log, &info), 0);
  leases(ts, table);
  char want[64];
  snprintf(want, sizeof(want), "%lld:30;", (long long)of_x);
  assert_string_equal(table, want);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_log_close(log);
  lkvt_rmrf(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      LKVT_TEST(test_entries_per_kind),
      LKVT_TEST(test_log_failure_fails_batch),
      LKVT_TEST(test_replay),
      LKVT_TEST(test_replay_mismatch),
      LKVT_TEST(test_replay_causal_leases),
      LKVT_TEST(test_replay_causal_removal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
