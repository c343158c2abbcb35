/* The causal replicator: three members in one process over an in-memory network the test cuts and heals. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cluster/attrs.h"
#include "metrics/catalog.h"
#include "mvcc_testutil.h"
#include "replication/causal_node.h"
#include "replication/snap_codec.h"

#define N 3

/* The network: members by index (NULL while stopped) and which directed links are cut. */
static struct {
  pthread_mutex_t mu;
  lkv_replicator_t *node[N];
  int cut[N][N];
  lkvt_store_t store[N];
  lkv_causal_peer_t peers[N];
  uint8_t sk[N][LKV_CAUSAL_SK_LEN];
  int learn;                      /* members start knowing only their own key: the others' come from hellos */
  int removed[N][N + 1];          /* removed[i][id]: member i told its server that member id was removed */
  uint8_t proof[N][N + 1][1024];  /* the removal it told with (for its transport's refusals) */
  size_t proof_len[N][N + 1];
  int added[N][N + 2];            /* added[i][id]: member i told its server that member id was added */
  uint64_t log_events, silent_ms; /* the members' compaction options (0: the defaults) */
  /* The snapshot transfers to member 3 (causal_snap_stream.c's messages, kind 5), watched and altered: */
  uint8_t *snap;   /* the last file streamed (sender u64 ‖ snapshot), reassembled from its chunks */
  size_t snap_len; /* its size (the OFFER's) */
  int offers;      /* transfers offered */
  int chunks;      /* chunks of the last transfer */
  int drop_chunk;  /* when set, the next chunk is lost (a broken connection) */
  int tamper;      /* when set, the next transfer's first chunk gets one byte flipped, and its END the hash
                      of what was delivered: it arrives whole, signed by nobody */
  int tampered;    /* a tampered transfer's END was delivered */
  int snap_open;   /* the recorded transfer has not ended (END) */
  size_t snap_sender;
  uint64_t snap_id;
  crypto_generichash_state delivered; /* the hash of the chunks delivered in the current transfer */
  size_t value_len;                   /* left_behind's values: this many bytes (0: short ones) */
  uint64_t no_events_from; /* this member's events (kind 1) are lost (0: none) */
} net = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A snapshot stream's message from member `from` to member 3 (msg[0] == 5, the rest snap_codec.h's):
 * recorded (one transfer at a time: another member's offered meanwhile is ignored, as member 3 refuses it),
 * and dropped (returns NULL) or altered (returns a copy in *alt) as the test asked. Under net.mu. */
static const uint8_t *watch_snap(size_t from, const uint8_t *msg, size_t len, uint8_t **alt) {
  lkv_snap_msg_t m;
  if (lkv_snap_msg_decode(msg + 1, len - 1, &m) != 0) return msg;
  if (m.type == LKV_SNAP_OFFER && (!net.snap_open || from == net.snap_sender)) {
    free(net.snap);
    assert_non_null(net.snap = calloc(1, m.size ? m.size : 1));
    net.snap_len = m.size, net.offers++, net.chunks = 0;
    net.snap_open = 1, net.snap_sender = from, net.snap_id = m.id;
    crypto_generichash_init(&net.delivered, NULL, 0, LKV_SNAP_HASH_LEN);
    return msg;
  }
  if (!net.snap_open || m.id != net.snap_id) return msg;
  if (m.type == LKV_SNAP_CHUNK_MSG) {
    if (net.drop_chunk) {
      net.drop_chunk = 0;
      return NULL;
    }
    assert_true(m.offset + m.data_len <= net.snap_len);
    memcpy(net.snap + m.offset, m.data, m.data_len);
    net.chunks++;
    if (net.tamper == 1 && m.offset == 0) {
      assert_non_null(*alt = malloc(len));
      memcpy(*alt, msg, len);
      (*alt)[(size_t)(m.data - msg) + m.data_len / 2] ^= 1; /* inside the signed body */
      net.tamper = 2;
      assert_int_equal(lkv_snap_msg_decode(*alt + 1, len - 1, &m), 0);
    }
    crypto_generichash_update(&net.delivered, m.data, m.data_len);
  } else if (m.type == LKV_SNAP_END) {
    net.snap_open = 0;
    if (net.tamper == 2) {
      assert_non_null(*alt = malloc(len));
      crypto_generichash_final(&net.delivered, m.hash, LKV_SNAP_HASH_LEN);
      assert_int_equal(lkv_snap_msg_encode(&m, *alt + 1, len - 1), len - 1);
      (*alt)[0] = msg[0];
      net.tamper = 0, net.tampered = 1;
    }
  }
  return *alt ? *alt : msg;
}

static int net_send(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  size_t from = (size_t)(uintptr_t)arg, j = (size_t)(to - 1);
  uint8_t *alt = NULL;
  pthread_mutex_lock(&net.mu);
  int reaches = j < N && net.node[j] && !net.cut[from][j];
  if (reaches && to == 3 && len && msg[0] == 5)
    msg = watch_snap(from + 1, msg, len, &alt); /* delivered ones */
  int lost = from + 1 == net.no_events_from && len && msg && msg[0] == 1;
  if (reaches && msg && !lost) lkv_causal_node_receive(net.node[j], from + 1, msg, len);
  pthread_mutex_unlock(&net.mu);
  free(alt);
  return 0;
}

static void partition(int on) {
  pthread_mutex_lock(&net.mu);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) net.cut[i][j] = on && i != j;
  pthread_mutex_unlock(&net.mu);
}

static void on_removed(void *arg, uint64_t id, const uint8_t *proof, size_t len) {
  pthread_mutex_lock(&net.mu);
  net.removed[(uintptr_t)arg][id]++;
  assert_true(len <= sizeof(net.proof[0][0]));
  if (len) memcpy(net.proof[(uintptr_t)arg][id], proof, len);
  net.proof_len[(uintptr_t)arg][id] = len;
  pthread_mutex_unlock(&net.mu);
}

static void on_added(void *arg, uint64_t id, const uint8_t *attrs, size_t len) {
  (void)attrs, (void)len;
  pthread_mutex_lock(&net.mu);
  if (id < N + 2) net.added[(uintptr_t)arg][id]++;
  pthread_mutex_unlock(&net.mu);
}

static int added_told(size_t i, uint64_t id) {
  pthread_mutex_lock(&net.mu);
  int n = net.added[i][id];
  pthread_mutex_unlock(&net.mu);
  return n;
}

static int removed_told(size_t i, uint64_t id) {
  pthread_mutex_lock(&net.mu);
  int n = net.removed[i][id];
  pthread_mutex_unlock(&net.mu);
  return n;
}

static void start(size_t i) {
  char dir[128];
  snprintf(dir, sizeof(dir), "%s/causal", net.store[i].dir);
  lkv_causal_node_options_t o = {.store = net.store[i].s,
                                 .dir = dir,
                                 .member_id = i + 1,
                                 .cluster_id = 99,
                                 .sk = net.sk[i],
                                 .members = net.peers,
                                 .n_members = N,
                                 .sync_ms = 10,
                                 .log_events = net.log_events,
                                 .silent_after_ms = net.silent_ms,
                                 .send = net_send,
                                 .send_arg = (void *)(uintptr_t)i,
                                 .on_removed = on_removed,
                                 .on_added = on_added};
  lkv_causal_peer_t known[N];
  for (size_t k = 0; k < N; k++) known[k] = (lkv_causal_peer_t){.id = net.peers[k].id};
  known[i] = net.peers[i];
  if (net.learn) o.members = known;
  char err[256] = "";
  lkv_replicator_t *r;
  if (lkv_causal_node_start(&r, &o, err, sizeof(err))) fail_msg("member %zu: %s", i + 1, err);
  pthread_mutex_lock(&net.mu);
  net.node[i] = r;
  pthread_mutex_unlock(&net.mu);
}

static void stop(size_t i) {
  pthread_mutex_lock(&net.mu);
  lkv_replicator_t *r = net.node[i];
  net.node[i] = NULL; /* no sender reaches it any more */
  pthread_mutex_unlock(&net.mu);
  lkv_replicator_stop(r);
}

static int setup(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++) {
    uint8_t seed[32] = {(uint8_t)(i + 1)};
    assert_int_equal(lkv_causal_keypair_from_seed(seed, net.peers[i].pk, net.sk[i]), 0);
    net.peers[i].id = i + 1;
    lkvt_open(&net.store[i]);
  }
  partition(0);
  net.learn = 0;
  net.log_events = net.silent_ms = net.no_events_from = 0;
  net.offers = net.chunks = net.drop_chunk = net.tamper = net.tampered = net.snap_open = 0;
  net.value_len = 0;
  memset(net.removed, 0, sizeof(net.removed));
  memset(net.added, 0, sizeof(net.added));
  for (size_t i = 0; i < N; i++) start(i);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++) {
    if (net.node[i]) stop(i);
    lkvt_close(&net.store[i]);
  }
  free(net.snap);
  net.snap = NULL;
  return 0;
}

/* ---- requests */

static int put_leased(size_t i, const char *k, const char *v, int64_t lease) {
  Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
  req.key = (ProtobufCBinaryData){.data = (uint8_t *)k, .len = strlen(k)};
  req.value = (ProtobufCBinaryData){.data = (uint8_t *)v, .len = strlen(v)};
  req.lease = lease;
  lkv_proposal_t p = {.req = {.kind = LKV_OP_PUT, .msg = &req.base}};
  return lkv_replicator_propose_wait(net.node[i], &p);
}

static int put(size_t i, const char *k, const char *v) {
  return put_leased(i, k, v, 0);
}

/* A LeaseGrant (TTL 10) or LeaseRevoke of lease id on member i. */
static int lease_op(size_t i, lkv_op_kind_t kind, int64_t id) {
  Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
  Etcdserverpb__LeaseRevokeRequest r = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
  g.id = r.id = id, g.ttl = 10;
  lkv_proposal_t p = {.req = {.kind = kind, .msg = kind == LKV_OP_LEASE_GRANT ? &g.base : &r.base}};
  return lkv_replicator_propose_wait(net.node[i], &p);
}

static int del(size_t i, const char *k) {
  Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  req.key = (ProtobufCBinaryData){.data = (uint8_t *)k, .len = strlen(k)};
  lkv_proposal_t p = {.req = {.kind = LKV_OP_DELETE_RANGE, .msg = &req.base}};
  return lkv_replicator_propose_wait(net.node[i], &p);
}

/* Txn: if k does not exist (mod_revision == 0), put k = v; built in caller-owned storage. */
typedef struct {
  Etcdserverpb__Compare cmp, *cmps[1];
  Etcdserverpb__PutRequest put;
  Etcdserverpb__RequestOp op, *ops[1];
  Etcdserverpb__TxnRequest txn;
} cia_t;

static void cia_build(cia_t *c, const char *k, const char *v) {
  etcdserverpb__compare__init(&c->cmp);
  c->cmp.key = (ProtobufCBinaryData){.data = (uint8_t *)k, .len = strlen(k)};
  c->cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
  c->cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
  c->cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
  c->cmp.mod_revision = 0;
  c->cmps[0] = &c->cmp;
  etcdserverpb__put_request__init(&c->put);
  c->put.key = c->cmp.key;
  c->put.value = (ProtobufCBinaryData){.data = (uint8_t *)v, .len = strlen(v)};
  etcdserverpb__request_op__init(&c->op);
  c->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
  c->op.request_put = &c->put;
  c->ops[0] = &c->op;
  etcdserverpb__txn_request__init(&c->txn);
  c->txn.n_compare = 1, c->txn.compare = c->cmps, c->txn.n_success = 1, c->txn.success = c->ops;
}

/* propose_wait drops the answer: the tests read the outcome from the store. */
static int create_if_absent(size_t i, const char *k, const char *v) {
  cia_t c;
  cia_build(&c, k, v);
  lkv_proposal_t p = {.req = {.kind = LKV_OP_TXN, .msg = &c.txn.base}};
  return lkv_replicator_propose_wait(net.node[i], &p);
}

/* ---- reading the stores */

typedef struct {
  char buf[4096];
  size_t len;
} dump_t;

/* A value over 64 bytes shows as its length and a digest (left_behind's long values). */
static int dump_kv(void *arg, const lkv_mvcc_kv_t *kv) {
  dump_t *d = arg;
  int w;
  if (kv->value_len > 64) {
    uint8_t h[8];
    crypto_generichash(h, sizeof(h), kv->value, kv->value_len, NULL, 0);
    w = snprintf(d->buf + d->len, sizeof(d->buf) - d->len, "%.*s=#%zu:%02x%02x%02x%02x%02x%02x%02x%02x;",
                 (int)kv->key_len, kv->key, kv->value_len, h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
  } else
    w = snprintf(d->buf + d->len, sizeof(d->buf) - d->len, "%.*s=%.*s;", (int)kv->key_len, kv->key,
                 (int)kv->value_len, kv->value);
  assert_true(w > 0 && (size_t)w < sizeof(d->buf) - d->len);
  d->len += (size_t)w;
  return 0;
}

/* Every live key of member i's store as "k=v;" in key order. */
static void dump(size_t i, dump_t *d) {
  lkv_mvcc_txn_t *t;
  d->len = 0;
  d->buf[0] = 0;
  assert_int_equal(lkv_mvcc_read_begin(net.store[i].s, &t), 0);
  lkv_mvcc_range_t q = {
      .key = (const uint8_t *)"\0", .key_len = 1, .end = (const uint8_t *)"\0", .end_len = 1};
  assert_int_equal(lkv_mvcc_range(t, &q, dump_kv, d, NULL), 0);
  lkv_mvcc_txn_end(t);
}

static int64_t store_rev(size_t i) {
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(net.store[i].s, &st), 0);
  return st.revision;
}

static uint64_t vv_total(size_t i, lkv_causal_vv_t *vv) {
  uint64_t rev, sum = 0;
  lkv_causal_node_vv(net.node[i], vv, &rev);
  for (uint32_t k = 0; k < vv->n; k++) sum += vv->e[k].seq;
  assert_int_equal(sum, rev); /* every applied event took one revision */
  return rev;
}

/* Waits until the running members among the first n have applied `events` events, then checks that their
 * stores hold the same keys and values, at revision events + 1 (one revision per event, no gap). */
static void converge_among(size_t n, uint64_t events) {
  for (int tries = 0; tries < 1000; tries++) {
    int done = 1;
    for (size_t i = 0; i < n; i++) {
      lkv_causal_vv_t vv;
      if (net.node[i] && vv_total(i, &vv) != events) done = 0;
    }
    if (done) break;
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  dump_t first, other;
  dump(0, &first);
  for (size_t i = 0; i < n; i++) {
    lkv_causal_vv_t vv;
    assert_int_equal(vv_total(i, &vv), events);
    assert_int_equal(store_rev(i), (int64_t)events + 1);
    dump(i, &other);
    assert_string_equal(other.buf, first.buf);
  }
}

static void converge(uint64_t events) {
  converge_among(N, events);
}

/* ---- tests */

/* Writes on every side of a full partition are all accepted; after healing every member shows the same
 * winner for the key all three wrote, and each took one revision per event. */
static void test_partition_converges(void **state) {
  (void)state;
  partition(1);
  assert_int_equal(put(0, "k", "from-1"), 0);
  assert_int_equal(put(1, "k", "from-2"), 0);
  assert_int_equal(put(2, "k", "from-3"), 0);
  assert_int_equal(put(0, "a", "1"), 0);
  assert_int_equal(put(1, "b", "2"), 0);
  assert_int_equal(del(2, "k"), 0);                                 /* supersedes member 3's own put only */
  for (size_t i = 0; i < N; i++) assert_int_equal(store_rev(i), 3); /* two local events each */
  dump_t d;
  dump(2, &d);
  assert_string_equal(d.buf, ""); /* member 3 saw only its own writes: k deleted */
  partition(0);
  converge(6);
  dump(0, &d);
  /* Member 3's delete is a tombstone sibling beside members 1's and 2's puts; whichever wins, a, b are
   * there and k is one of the siblings' outcomes on every member (checked equal by converge). */
  assert_non_null(strstr(d.buf, "a=1;"));
  assert_non_null(strstr(d.buf, "b=2;"));
  /* A plain put after healing supersedes every sibling: k has one value everywhere. */
  assert_int_equal(put(1, "k", "settled"), 0);
  converge(7);
  dump(2, &d);
  assert_string_equal(d.buf, "a=1;b=2;k=settled;");
}

/* Two members pass the same create-if-absent compare during a partition (compares are local); both
 * writes are kept as siblings and every member converges on one of them. */
static void test_txn_compares_are_local(void **state) {
  (void)state;
  partition(1);
  assert_int_equal(create_if_absent(0, "lock", "holder-1"), 0);
  assert_int_equal(create_if_absent(1, "lock", "holder-2"), 0);
  assert_int_equal(create_if_absent(1, "lock", "holder-2b"), 0); /* fails locally: no event */
  dump_t d;
  dump(1, &d);
  assert_string_equal(d.buf, "lock=holder-2;");
  assert_int_equal(store_rev(1), 2);
  partition(0);
  converge(2);
  dump(0, &d);
  assert_true(strcmp(d.buf, "lock=holder-1;") == 0 || strcmp(d.buf, "lock=holder-2;") == 0);
}

/* A member stopped while the others write, its event log given a torn tail, restarts from its data dir
 * with the same state and catches up; a member whose store was lost rebuilds it from its event log. */
/* Stops member i and replaces its store by a fresh one (what a machine restart without a checkpoint
 * leaves); its event log stays. */
static void lose_store(size_t i) {
  stop(i);
  lkv_mvcc_close(net.store[i].s);
  char db[128];
  snprintf(db, sizeof(db), "%s/member", net.store[i].dir);
  lkvt_rmrf(db);
  lkv_mvcc_options_t o = {.dir = net.store[i].dir, .quota_bytes = 64u << 20};
  assert_int_equal(lkv_mvcc_open(&net.store[i].s, &o), 0);
}

static void test_restart_replays_and_catches_up(void **state) {
  (void)state;
  assert_int_equal(put(2, "x", "1"), 0);
  converge(1);
  lkv_causal_vv_t before, after;
  uint64_t rev_before = vv_total(2, &before);
  stop(2);
  assert_int_equal(put(0, "y", "2"), 0);
  assert_int_equal(put(1, "x", "3"), 0);
  char path[160];
  snprintf(path, sizeof(path), "%s/causal/events", net.store[2].dir);
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  fwrite("\x40\0\0\0torn", 1, 8, f); /* a record header cut short by a crash */
  fclose(f);
  partition(1);
  start(2);
  assert_int_equal(vv_total(2, &after), rev_before);
  assert_memory_equal(&after, &before, sizeof(before));
  dump_t d;
  dump(2, &d);
  assert_string_equal(d.buf, "x=1;");
  partition(0);
  converge(3);
  dump(2, &d);
  assert_string_equal(d.buf, "x=3;y=2;");

  /* The store lost (a fresh one), the event log kept: every event is applied again at its revision. */
  lose_store(2);
  partition(1);
  start(2);
  assert_int_equal(store_rev(2), 4);
  dump(2, &d);
  assert_string_equal(d.buf, "x=3;y=2;");
  partition(0);
}

/* Compaction is the member's own (no event, no revision), and its removal of history runs on the causal
 * thread between batches. */
static void test_compaction_is_local(void **state) {
  (void)state;
  for (int i = 0; i < 3; i++) assert_int_equal(put(0, "k", i ? "later" : "first"), 0);
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  c.revision = 3;
  lkv_proposal_t p = {.req = {.kind = LKV_OP_COMPACT, .msg = &c.base}};
  assert_int_equal(lkv_replicator_propose_wait(net.node[0], &p), 0);
  for (int tries = 0; tries < 500 && lkv_mvcc_compact_pending(net.store[0].s); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_int_equal(lkv_mvcc_compact_pending(net.store[0].s), 0);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(net.store[0].s, &st), 0);
  assert_int_equal(st.compact_revision, 3);
  assert_int_equal(st.revision, 4);
  converge(3);
  assert_int_equal(lkv_mvcc_stat(net.store[1].s, &st), 0);
  assert_int_equal(st.compact_revision, -1); /* not replicated */
}

/* Raises an alarm on member i (its own, applied as is). */
static void raise_alarm(size_t i, Etcdserverpb__AlarmType type) {
  Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
  a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
  a.alarm = type;
  a.memberid = net.peers[i].id;
  lkv_proposal_t p = {.req = {.kind = LKV_OP_ALARM, .msg = &a.base, .no_claims = 1}};
  assert_int_equal(lkv_replicator_propose_wait(net.node[i], &p), 0);
}

/* Alarms are each member's own: a member under CORRUPT (the causal check's) or NOSPACE refuses its clients'
 * writes as etcd does, and still applies the events of members without the alarm (they were decided
 * there); it does not halt. */
static void test_alarms_are_local(void **state) {
  (void)state;
  raise_alarm(1, ETCDSERVERPB__ALARM_TYPE__CORRUPT);
  raise_alarm(2, ETCDSERVERPB__ALARM_TYPE__NOSPACE);
  assert_int_equal(put(1, "k", "v"), LKV_ECORRUPT);
  assert_int_equal(put(2, "k", "v"), LKV_ENOSPACE);
  assert_int_equal(put(0, "k", "v"), 0);
  assert_int_equal(del(0, "k"), 0);
  assert_int_equal(put(0, "k2", "v2"), 0);
  converge(3);
  dump_t d;
  dump(1, &d);
  assert_string_equal(d.buf, "k2=v2;");
  assert_int_equal(put(1, "k3", "v"), LKV_ECORRUPT); /* not halted: still the alarm's answer */
}

/* Members that know only their own key learn the others' from their hellos (events converge), record them
 * (a restart knows them without a hello), and refuse the events of a member that announces another key
 * than the one recorded. */
static void test_keys_learned_from_hellos(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++) stop(i);
  net.learn = 1;
  for (size_t i = 0; i < N; i++) start(i);
  assert_int_equal(put(0, "a", "1"), 0);
  assert_int_equal(put(2, "c", "3"), 0);
  converge(2);

  /* Member 3 comes back with a new key pair: its hello's key differs from the recorded one. */
  stop(2);
  uint8_t seed[32] = {42};
  assert_int_equal(lkv_causal_keypair_from_seed(seed, net.peers[2].pk, net.sk[2]), 0);
  start(2);
  assert_int_equal(put(2, "c", "new-key"), 0);
  /* Member 1 restarts knowing only its own key and what it recorded (a torn last record cut off: the
   * file holds whole records again); member 2 writes. */
  stop(0);
  char path[160];
  snprintf(path, sizeof(path), "%s/causal/peers", net.store[0].dir);
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  fwrite("\x02\0\0", 1, 3, f);
  fclose(f);
  start(0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 2 * (8 + LKV_CAUSAL_PK_LEN));
  assert_int_equal(put(1, "b", "2"), 0);
  lkv_causal_vv_t vv;
  for (int tries = 0; tries < 500 && (vv_total(0, &vv) != 3 || vv_total(2, &vv) != 4); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL); /* many hellos and vectors later */
  assert_int_equal(vv_total(0, &vv), 3); /* a, c, b: not member 3's write with its new key */
  assert_int_equal(vv_total(1, &vv), 3);
  assert_int_equal(vv_total(2, &vv), 4); /* member 3 still takes the others' events */
  dump_t d;
  dump(0, &d);
  assert_string_equal(d.buf, "a=1;b=2;c=3;");
}

/* The member's key: created once, the same at every later call; a key file of another size is refused. */
static off_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Waits up to 5 s for path to hold at least size bytes. */
static void wait_size(const char *path, off_t size) {
  for (int tries = 0; tries < 500 && file_size(path) < size; tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_true(file_size(path) >= size);
}

/* A learned key's record that a full disk cut short is taken back, so that the next record starts where it
 * did: after a restart member 1 still knows both peers' keys and takes their events (a record left cut
 * short, with the next ones appended after it, would be read askew: a peer given a wrong key, its events
 * refused for good). */
static void test_key_record_cut_short(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++) stop(i);
  net.learn = 1;
  char path[3][160];
  for (size_t i = 0; i < N; i++) snprintf(path[i], sizeof(path[i]), "%s/causal/peers", net.store[i].dir);
  start(1);
  start(2);
  wait_size(path[1], 8 + LKV_CAUSAL_PK_LEN); /* 2 and 3 know each other: no more records while cut */
  wait_size(path[2], 8 + LKV_CAUSAL_PK_LEN);
  partition(1);
  start(0);
  struct rlimit old, cut;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  cut = old;
  cut.rlim_cur = (8 + LKV_CAUSAL_PK_LEN) / 2; /* a record is cut in half, the next refused */
  signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &cut), 0);
  partition(0);
  nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL); /* many hellos, each record tried again */
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  wait_size(path[0], 2 * (8 + LKV_CAUSAL_PK_LEN));
  wait_size(path[1], 2 * (8 + LKV_CAUSAL_PK_LEN));
  wait_size(path[2], 2 * (8 + LKV_CAUSAL_PK_LEN));
  stop(0);
  start(0);
  assert_int_equal(put(1, "b", "2"), 0);
  assert_int_equal(put(2, "c", "3"), 0);
  converge(2);
}

static void test_node_key(void **state) {
  (void)state;
  char dir[128], err[256];
  snprintf(dir, sizeof(dir), "%s/keys", net.store[0].dir);
  uint8_t pk1[LKV_CAUSAL_PK_LEN], pk2[LKV_CAUSAL_PK_LEN], sk[LKV_CAUSAL_SK_LEN];
  assert_int_equal(lkv_causal_node_key(dir, pk1, sk, err, sizeof(err)), 0);
  assert_int_equal(lkv_causal_node_key(dir, pk2, sk, err, sizeof(err)), 0);
  assert_memory_equal(pk1, pk2, sizeof(pk1));
  char path[160];
  snprintf(path, sizeof(path), "%s/member.key", dir);
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  fputc(0, f);
  fclose(f);
  assert_int_equal(lkv_causal_node_key(dir, pk2, sk, err, sizeof(err)), LKV_ECORRUPT);
  assert_non_null(strstr(err, "member.key"));
}

/* ---- many writes at once */

#define GROUP 40

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int left;
} answers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void answered(lkv_proposal_t *p) {
  (void)p;
  pthread_mutex_lock(&answers.mu);
  answers.left--;
  pthread_cond_broadcast(&answers.cv);
  pthread_mutex_unlock(&answers.mu);
}

/* *p: a proposal of the Put key=value, built in *put (the strings outlive it). */
static void put_proposal(lkv_proposal_t *p, Etcdserverpb__PutRequest *put, const char *key,
                         const char *value) {
  etcdserverpb__put_request__init(put);
  put->key = (ProtobufCBinaryData){.data = (uint8_t *)key, .len = strlen(key)};
  put->value = (ProtobufCBinaryData){.data = (uint8_t *)value, .len = strlen(value)};
  *p = (lkv_proposal_t){.req = {.kind = LKV_OP_PUT, .msg = &put->base}};
}

/* Proposes the writes p[0..n) to member i so that its causal thread takes them in one round: behind a
 * compaction, which the thread applies (waiting for the store this test holds meanwhile) before it takes
 * the writes queued after it; then waits until every one is answered. */
static void propose_together(size_t i, lkv_proposal_t *p, int n) {
  Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
  c.revision = 1;
  lkv_proposal_t blocker = {.req = {.kind = LKV_OP_COMPACT, .msg = &c.base}, .done = answered};
  answers.left = n + 1;
  lkv_mvcc_txn_t *hold;
  assert_int_equal(lkv_mvcc_write_begin(net.store[i].s, &hold), 0);
  assert_int_equal(lkv_replicator_propose(net.node[i], &blocker), 0);
  for (int j = 0; j < n; j++) {
    p[j].done = answered;
    assert_int_equal(lkv_replicator_propose(net.node[i], &p[j]), 0);
  }
  lkv_mvcc_txn_end(hold);
  pthread_mutex_lock(&answers.mu);
  while (answers.left) pthread_cond_wait(&answers.cv, &answers.mu);
  pthread_mutex_unlock(&answers.mu);
  free(blocker.req.resp);
}

static int txn_succeeded(const lkv_proposal_t *p) {
  Etcdserverpb__TxnResponse *r = etcdserverpb__txn_response__unpack(NULL, p->req.resp_len, p->req.resp);
  assert_non_null(r);
  int ok = r->succeeded;
  etcdserverpb__txn_response__free_unpacked(r, NULL);
  return ok;
}

/* Writes queued while the causal thread is busy are taken together (one flush), each dry-run on the
 * state the ones before it leave: of ten create-if-absent Txns on one key only the first succeeds, a
 * delete removes a key put earlier in the same round; one revision per write, the same after a restart. */
static void test_queued_writes_see_each_other(void **state) {
  (void)state;
  static lkv_proposal_t p[GROUP];
  static Etcdserverpb__PutRequest put[GROUP];
  static cia_t cia[GROUP];
  static char keys[GROUP][16], vals[GROUP][16];
  Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
  dr.key = (ProtobufCBinaryData){.data = (uint8_t *)"g/20", .len = 4};
  memset(p, 0, sizeof(p));
  for (int i = 0; i < GROUP; i++) {
    snprintf(keys[i], sizeof(keys[i]), "g/%02d", i);
    snprintf(vals[i], sizeof(vals[i]), "v%d", i);
    if (i >= 1 && i <= 10) { /* create-if-absent of key "c" */
      cia_build(&cia[i], "c", vals[i]);
      p[i].req = (lkv_apply_req_t){.kind = LKV_OP_TXN, .msg = &cia[i].txn.base};
    } else if (i == GROUP - 1) {
      p[i].req = (lkv_apply_req_t){.kind = LKV_OP_DELETE_RANGE, .msg = &dr.base};
    } else {
      put_proposal(&p[i], &put[i], keys[i], vals[i]);
    }
  }
  propose_together(0, p, GROUP);
  for (int i = 0; i < GROUP; i++) {
    assert_int_equal(p[i].req.err, 0);
    if (i >= 1 && i <= 10) assert_int_equal(txn_succeeded(&p[i]), i == 1);
    free(p[i].req.resp);
  }
  /* Events: the puts g/00 and g/11..g/38, the first Txn, the delete of g/20 (put in the same round). */
  dump_t d, again;
  dump(0, &d);
  assert_non_null(strstr(d.buf, "c=v1;g/00=v0;g/11=v11;"));
  assert_null(strstr(d.buf, "g/20="));
  assert_null(strstr(d.buf, "g/39"));
  converge(31);
  stop(0);
  start(0);
  assert_int_equal(store_rev(0), 32);
  dump(0, &again);
  assert_string_equal(again.buf, d.buf);
}

/* A Put refused by the space quota raises NOSPACE, as etcd's quota check does, also when it shares its
 * round's dry run with a write that took effect (that run is rolled back: the alarm must not go with it);
 * the write beside it still becomes an event. */
static void test_quota_refusal_raises_nospace(void **state) {
  (void)state;
  stop(0);
  lkvt_close(&net.store[0]);
  lkvt_open_quota(&net.store[0], 1u << 20);
  start(0);
  static uint8_t big[1u << 20];
  Etcdserverpb__PutRequest small = ETCDSERVERPB__PUT_REQUEST__INIT, large = ETCDSERVERPB__PUT_REQUEST__INIT;
  small.key = (ProtobufCBinaryData){.data = (uint8_t *)"s", .len = 1};
  small.value = (ProtobufCBinaryData){.data = (uint8_t *)"v", .len = 1};
  large.key = (ProtobufCBinaryData){.data = (uint8_t *)"l", .len = 1};
  large.value = (ProtobufCBinaryData){.data = big, .len = sizeof(big)};
  lkv_proposal_t p[2] = {{.req = {.kind = LKV_OP_PUT, .msg = &small.base}},
                         {.req = {.kind = LKV_OP_PUT, .msg = &large.base}}};
  propose_together(0, p, 2);
  assert_int_equal(p[0].req.err, 0);
  assert_int_equal(p[1].req.err, LKV_ENOSPACE);
  free(p[0].req.resp);
  lkv_mvcc_stat_t st;
  assert_int_equal(lkv_mvcc_stat(net.store[0].s, &st), 0);
  assert_true(st.alarms & LKV_MVCC_ALARM_NOSPACE);
  assert_int_equal(put(0, "t", "v"), LKV_ENOSPACE); /* the alarm refuses even a small write now */
  assert_int_equal(store_rev(0), 2);
}

#define REBUILT (3 * 4096 + 100)

/* A fresh store brought up to a long event log at start-up takes it a bounded number of events per store
 * transaction (the requests of at most that many are held at once): REBUILT puts take at least four
 * commits, and the store comes back the same. */
static void test_long_rebuild_in_steps(void **state) {
  (void)state;
  stop(1); /* member 0 alone: the store commits counted below are its own */
  stop(2);
  static lkv_proposal_t p[64];
  static Etcdserverpb__PutRequest put[64];
  static char keys[64][16], vals[64][16];
  for (int done = 0; done < REBUILT; done += 64) {
    int m = REBUILT - done < 64 ? REBUILT - done : 64;
    for (int j = 0; j < m; j++) {
      snprintf(keys[j], sizeof(keys[j]), "s/%02d", (done + j) % 40);
      snprintf(vals[j], sizeof(vals[j]), "v%d", done + j);
      put_proposal(&p[j], &put[j], keys[j], vals[j]);
    }
    propose_together(0, p, m);
    for (int j = 0; j < m; j++) {
      assert_int_equal(p[j].req.err, 0);
      free(p[j].req.resp);
    }
  }
  assert_int_equal(store_rev(0), REBUILT + 1);
  dump_t d, again;
  dump(0, &d);
  lose_store(0);
  uint64_t commits = lkv_metric_count(LKV_METRIC(backend_commit), 0);
  start(0);
  assert_true(lkv_metric_count(LKV_METRIC(backend_commit), 0) - commits >= 4);
  assert_int_equal(store_rev(0), REBUILT + 1);
  dump(0, &again);
  assert_string_equal(again.buf, d.buf);
}

static void barrier_cb(void *arg, int err) {
  *(int *)arg = err + 1;
}

static int lease_known(size_t i, int64_t id) {
  lkv_mvcc_txn_t *t;
  assert_int_equal(lkv_mvcc_read_begin(net.store[i].s, &t), 0);
  int rc = lkv_mvcc_lease_get(t, id, NULL);
  lkv_mvcc_txn_end(t);
  return rc == 0;
}

/* Leases belong to the member their id names (docs/causal.md §5). A grant is an event (one revision on
 * every member, as converge checks); a key attached on another member during a partition, unseen by the
 * owner, goes with the owner's revoke all the same: on the far side the revoke deletes every key attached
 * there (at one revision, or the revisions would not add up), and on the owner the late put finds its lease
 * gone, so its key is not shown. */
static void test_leases_owned_and_revoked(void **state) {
  (void)state;
  const int64_t lease = ((int64_t)1 << 48) | 5; /* names member 1 */
  assert_int_equal(lease_op(0, LKV_OP_LEASE_GRANT, ((int64_t)2 << 48) | 5), LKV_ELEASEOWNER);
  assert_int_equal(lease_op(0, LKV_OP_LEASE_GRANT, lease), 0);
  converge(1);
  assert_true(lease_known(2, lease));
  assert_int_equal(put_leased(1, "k2", "v", lease), 0);
  converge(2);
  assert_int_equal(lease_op(1, LKV_OP_LEASE_REVOKE, lease), LKV_ELEASEOWNER); /* only its owner */
  partition(1);
  assert_int_equal(put_leased(2, "k3", "v", lease), 0);
  assert_int_equal(lease_op(0, LKV_OP_LEASE_REVOKE, lease), 0);
  dump_t d;
  dump(0, &d);
  assert_string_equal(d.buf, "");
  dump(2, &d);
  assert_string_equal(d.buf, "k2=v;k3=v;"); /* the far side keeps them until the revoke arrives */
  partition(0);
  converge(4);
  dump(1, &d);
  assert_string_equal(d.buf, "");
  for (size_t i = 0; i < N; i++) assert_false(lease_known(i, lease));
  assert_int_equal(put_leased(0, "k1", "v", lease), LKV_ELEASENOTFOUND); /* gone: as etcd */
}

/* Waits until member i holds what member 0 holds (the same vector and store contents). */
static void caught_up(size_t i) {
  for (int tries = 0; tries < 1000; tries++) {
    lkv_causal_vv_t a, b;
    uint64_t ra, rb;
    dump_t d0, di;
    lkv_causal_node_vv(net.node[0], &a, &ra);
    lkv_causal_node_vv(net.node[i], &b, &rb);
    dump(0, &d0);
    dump(i, &di);
    if (lkv_causal_vv_compare(&a, &b) == LKV_CAUSAL_EQUAL && strcmp(d0.buf, di.buf) == 0) return;
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  fail_msg("member %zu did not catch up", i + 1);
}

#define KEEP (((int64_t)1 << 48) | 7) /* member 1's leases */
#define GONE (((int64_t)1 << 48) | 8)

/* Members compacting after 10 events and counting a peer silent after 100 ms; member 3 stopped (its data dir
 * copied to saved when set) while the others revoke lease GONE, delete x and write 80 events past it, then
 * started again. Returns member 3's store revision when it stopped. */
static int64_t left_behind(const char *saved) {
  for (size_t i = 0; i < N; i++) stop(i);
  net.log_events = 10, net.silent_ms = 100;
  for (size_t i = 0; i < N; i++) start(i);
  assert_int_equal(lease_op(0, LKV_OP_LEASE_GRANT, KEEP), 0);
  assert_int_equal(lease_op(0, LKV_OP_LEASE_GRANT, GONE), 0);
  assert_int_equal(put_leased(0, "lk", "v", KEEP), 0);
  assert_int_equal(put_leased(0, "lg", "v", GONE), 0);
  assert_int_equal(put(2, "x", "old"), 0);
  converge(5);
  int64_t old_rev = store_rev(2);
  stop(2);
  if (saved) {
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cp -a %s %s", net.store[2].dir, saved);
    assert_int_equal(system(cmd), 0);
  }
  nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL); /* silent: left behind */
  assert_int_equal(lease_op(0, LKV_OP_LEASE_REVOKE, GONE), 0);
  assert_int_equal(del(1, "x"), 0);
  char k[16], *v = malloc(net.value_len + 16);
  assert_non_null(v);
  for (int i = 0; i < 80; i++) {
    snprintf(k, sizeof(k), "k%02d", i % 20);
    int at = snprintf(v, 16, "v%d", i);
    memset(v + at, 'a' + i % 26, net.value_len); /* long values: a snapshot of several chunks */
    v[at + (int)net.value_len] = 0;
    assert_int_equal(put((size_t)i % 2, k, v), 0);
    if (i % 10 == 0) nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL); /* reports: stability */
  }
  free(v);
  start(2);
  return old_rev;
}

/* Member 3 holds what a snapshot of the others' state gave it: lk with KEEP, not lg (GONE revoked) nor x. */
static void holds_snapshot(void) {
  dump_t d;
  dump(2, &d);
  assert_non_null(strstr(d.buf, "lk=v;"));
  assert_null(strstr(d.buf, "lg="));
  assert_null(strstr(d.buf, "x="));
  assert_true(lease_known(2, KEEP));
  assert_false(lease_known(2, GONE));
}

/* A member stopped while the others compact past it (silent: left behind) gets a snapshot when it comes
 * back: its store takes the others' keys and leases at one revision (a lease revoked meanwhile goes with
 * its key), it goes on writing, and a restart brings it back as it was (the install is durable: the store's
 * checkpoint, the event log restarted after it). */
static void test_snapshot_install_and_restart(void **state) {
  (void)state;
  int64_t old_rev = left_behind(NULL);
  caught_up(2);
  holds_snapshot();
  assert_true(store_rev(2) > old_rev && store_rev(2) < old_rev + 10); /* not the 82 events one by one */
  assert_int_equal(put(2, "after", "c"), 0);
  caught_up(2);
  int64_t rev = store_rev(2);
  lkv_causal_vv_t before_vv, after_vv;
  uint64_t r1, r2;
  dump_t d, after;
  lkv_causal_node_vv(net.node[2], &before_vv, &r1);
  dump(2, &d);
  stop(2);
  start(2);
  dump(2, &after);
  lkv_causal_node_vv(net.node[2], &after_vv, &r2);
  assert_string_equal(after.buf, d.buf);
  assert_int_equal(store_rev(2), rev);
  assert_int_equal(r2, r1);
  assert_int_equal(lkv_causal_vv_compare(&before_vv, &after_vv), LKV_CAUSAL_EQUAL);
}

/* A crash after the snapshot was kept and before the store committed its install: the store and event log
 * as they were before it, the snapshot in member/causal/snapshot. The start installs it again, at once (the
 * first revision after the old ones), and removes the file; the member then catches up. */
static void test_snapshot_install_redone_after_crash(void **state) {
  (void)state;
  char saved[64] = "/tmp/lkv-causal-saved-XXXXXX";
  assert_non_null(mkdtemp(saved));
  strcat(saved, "/store");
  int64_t old_rev = left_behind(saved);
  caught_up(2);
  stop(2);
  assert_non_null(net.snap);
  lkv_mvcc_close(net.store[2].s);
  char cmd[256], path[128];
  lkvt_rmrf(net.store[2].dir);
  snprintf(cmd, sizeof(cmd), "cp -a %s %s", saved, net.store[2].dir);
  assert_int_equal(system(cmd), 0);
  snprintf(path, sizeof(path), "%s/causal/snapshot", net.store[2].dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(net.snap, 1, net.snap_len, f), net.snap_len); /* the pending file's layout */
  fclose(f);
  lkv_mvcc_options_t o = {.dir = net.store[2].dir, .quota_bytes = 64u << 20};
  assert_int_equal(lkv_mvcc_open(&net.store[2].s, &o), 0);
  partition(1); /* what follows is the start's own doing */
  start(2);
  assert_int_equal(store_rev(2), old_rev + 1);
  holds_snapshot();
  struct stat st;
  assert_int_equal(stat(path, &st), -1);
  partition(0);
  caught_up(2);
  saved[strlen(saved) - strlen("/store")] = 0;
  lkvt_rmrf(saved);
}

#define LEASE_OF_2 (((int64_t)2 << 48) | 9)

/* docs/causal.md §7a-§7b's join: members 1 and 2 cannot talk while member 3 hears both (and relays none of
 * their events); each compacts with member 3, a majority, what the other lacks; member 3 is gone. Neither
 * vector covers the other, so a snapshot goes one way once the peer's answers bring nothing, is joined there
 * (each side's keys and leases kept, member 2's lease among them although member 1's table lacks it), and
 * one goes back: both end with the same keys, leases and vector. */
static void test_concurrent_snapshots_join(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++) stop(i);
  net.log_events = 10, net.silent_ms = 100;
  for (size_t i = 0; i < N; i++) start(i);
  assert_int_equal(put(0, "base", "0"), 0);
  caught_up(1);
  caught_up(2);
  pthread_mutex_lock(&net.mu);
  net.cut[0][1] = net.cut[1][0] = 1;
  net.no_events_from = 3;
  pthread_mutex_unlock(&net.mu);
  nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL); /* 1 and 2 silent to each other */
  assert_int_equal(lease_op(0, LKV_OP_LEASE_GRANT, KEEP), 0);
  assert_int_equal(lease_op(1, LKV_OP_LEASE_GRANT, LEASE_OF_2), 0);
  assert_int_equal(put_leased(0, "l1", "v", KEEP), 0);
  assert_int_equal(put_leased(1, "l2", "v", LEASE_OF_2), 0);
  assert_int_equal(put(0, "k", "x"), 0);
  assert_int_equal(put(1, "k", "y"), 0);
  char k[16];
  for (int i = 0; i < 60; i++) {
    snprintf(k, sizeof(k), "k%d-%02d", i % 2 + 1, i / 2);
    assert_int_equal(put((size_t)i % 2, k, "v"), 0);
    if (i % 10 == 0) nanosleep(&(struct timespec){0, 30 * 1000 * 1000}, NULL); /* reports: stability */
  }
  nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
  stop(2);
  pthread_mutex_lock(&net.mu);
  net.cut[0][1] = net.cut[1][0] = 0;
  pthread_mutex_unlock(&net.mu);
  caught_up(1);
  dump_t d;
  dump(1, &d);
  assert_non_null(strstr(d.buf, "l1=v;"));
  assert_non_null(strstr(d.buf, "l2=v;"));
  assert_non_null(strstr(d.buf, "k1-29=v;"));
  assert_non_null(strstr(d.buf, "k2-29=v;"));
  for (size_t i = 0; i < 2; i++) {
    assert_true(lease_known(i, KEEP));
    assert_true(lease_known(i, LEASE_OF_2));
  }
  /* Each took the other's side by a snapshot (one revision), not by events: both had compacted them. */
  for (size_t i = 0; i < 2; i++) {
    lkv_causal_vv_t vv;
    uint64_t rev, events = 0;
    lkv_causal_node_vv(net.node[i], &vv, &rev);
    for (uint32_t e = 0; e < vv.n; e++) events += vv.e[e].seq;
    assert_true(rev + 20 < events);
  }
}

/* The files under member i's causal/snap: transfers received in part, or sent and not unlinked. */
static int stream_files(size_t i) {
  char dir[160];
  snprintf(dir, sizeof(dir), "%s/causal/snap", net.store[i].dir);
  DIR *d = opendir(dir);
  assert_non_null(d);
  int k = 0;
  for (struct dirent *e; (e = readdir(d));) k += e->d_name[0] != '.';
  closedir(d);
  return k;
}

/* Member 2 reaches member 3 no more (member 1 relays its events): member 1 alone sends it snapshots. */
static void one_sender(void) {
  pthread_mutex_lock(&net.mu);
  net.cut[1][2] = 1;
  pthread_mutex_unlock(&net.mu);
}

static int snap_stat(int *field) {
  pthread_mutex_lock(&net.mu);
  int v = *field;
  pthread_mutex_unlock(&net.mu);
  return v;
}

/* A snapshot larger than a stream chunk (1 MiB) goes in chunks into a file on the receiver (the window its
 * acknowledgements open bounds what is in flight) and is installed whole; no file stays on either side. */
static void test_snapshot_streamed_in_chunks(void **state) {
  (void)state;
  net.value_len = 80 << 10; /* 20 keys of 80 KiB: a snapshot of about 1.6 MiB */
  one_sender();
  left_behind(NULL);
  caught_up(2);
  holds_snapshot();
  pthread_mutex_lock(&net.mu); /* read under the lock, checked outside it (a failure must not keep it) */
  size_t len = net.snap_len;
  int chunks = net.chunks;
  pthread_mutex_unlock(&net.mu);
  assert_true(len > LKV_SNAP_CHUNK);
  assert_int_equal(chunks, (int)((len + LKV_SNAP_CHUNK - 1) / LKV_SNAP_CHUNK));
  for (size_t i = 0; i < N; i++) assert_int_equal(stream_files(i), 0);
}

/* A transfer that loses a chunk (a broken connection) is dropped by the receiver (its file removed) and the
 * sender, and the next due snapshot (5 s later) goes through. What a receiver's earlier run left in
 * causal/snap is removed at its start. */
static void test_snapshot_transfer_interrupted_then_sent_again(void **state) {
  (void)state;
  net.drop_chunk = 1;
  one_sender();
  int64_t old_rev = left_behind(NULL);
  caught_up(2);
  holds_snapshot();
  assert_true(store_rev(2) > old_rev && store_rev(2) < old_rev + 10);
  assert_int_equal(snap_stat(&net.drop_chunk), 0);
  assert_true(snap_stat(&net.offers) >= 2);
  for (size_t i = 0; i < N; i++) assert_int_equal(stream_files(i), 0);

  stop(2);
  char path[200];
  const char *left[] = {"00000000000000aa.part", "00000000000000bb.snap", "to-0000000000000001.snap"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s/causal/snap/%s", net.store[2].dir, left[i]);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
  }
  assert_int_equal(stream_files(2), 3);
  start(2);
  assert_int_equal(stream_files(2), 0);
}

/* A transfer whose content was altered on the way, its stream hash made to match, arrives whole: the
 * signature over the whole snapshot refuses it (nothing installed, its file removed); the next one goes
 * through. */
static void test_tampered_snapshot_refused(void **state) {
  (void)state;
  net.tamper = 1;
  one_sender();
  int64_t old_rev = left_behind(NULL);
  for (int tries = 0; tries < 500 && !snap_stat(&net.tampered); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_true(snap_stat(&net.tampered));
  nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL); /* its install tried, well before the next */
  assert_int_equal(store_rev(2), old_rev);                   /* refused: still the old state */
  char path[160];
  struct stat st;
  snprintf(path, sizeof(path), "%s/causal/snapshot", net.store[2].dir);
  assert_int_equal(stat(path, &st), -1);
  caught_up(2); /* the next transfer, untouched */
  holds_snapshot();
  assert_true(snap_stat(&net.offers) >= 2);
  for (size_t i = 0; i < N; i++) assert_int_equal(stream_files(i), 0);
}

/* What the causal mode does not do (yet) is refused, not faked; reads need no barrier. */
static void test_refusals_and_reads(void **state) {
  (void)state;
  assert_int_equal(lkv_replicator_move_leader(net.node[0], 2, barrier_cb, NULL), LKV_EUNSUPPORTED);
  lkv_member_change_t c = {.type = LKV_MEMBER_ADD_LEARNER, .id = 7};
  assert_int_equal(lkv_replicator_change_member(net.node[0], &c, barrier_cb, NULL), LKV_EUNSUPPORTED);
  c = (lkv_member_change_t){.type = LKV_MEMBER_PROMOTE, .id = 2}; /* no learners in this mode */
  assert_int_equal(lkv_replicator_change_member(net.node[0], &c, barrier_cb, NULL), LKV_ENOTLEARNER);
  assert_int_equal(lkv_replicator_read_barrier_wait(net.node[1]), 0);
  lkv_replication_status_t st;
  lkv_replicator_status(net.node[1], &st);
  assert_int_equal(st.member_id, 2);
  assert_int_equal(st.leader, 2);
  assert_true(st.single);
  assert_int_equal(del(1, "nothing"), 0); /* deletes no key: no event, no revision */
  assert_int_equal(store_rev(1), 1);
}

/* Waits (up to 5 s) until *flag is set by a callback; returns its value. */
static int wait_flag(const int *flag) {
  for (int tries = 0; tries < 500 && !__atomic_load_n(flag, __ATOMIC_SEQ_CST); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

static size_t n_members(size_t i) {
  lkv_replication_member_t *ms;
  size_t n;
  assert_int_equal(lkv_replicator_members(net.node[i], &ms, &n), 0);
  for (size_t k = 0; k < n; k++) assert_int_not_equal(ms[k].id, 3);
  lkv_replication_members_free(ms, n);
  return n;
}

/* A member cut off and removed (docs/causal.md §15): its writes made after the removal's deps are refused
 * everywhere, the members still in drop it from MemberList and tell their servers (whose transport then
 * refuses it), and it learns of its removal once it can talk again. */
static void test_member_remove(void **state) {
  (void)state;
  assert_int_equal(put(2, "before", "1"), 0);
  converge(1);
  pthread_mutex_lock(&net.mu);
  for (int j = 0; j < N; j++) net.cut[2][j] = net.cut[j][2] = j != 2;
  pthread_mutex_unlock(&net.mu);
  assert_int_equal(put(2, "after", "1"), 0); /* acknowledged by the member being removed */
  int done = 0;
  lkv_member_change_t c = {.type = LKV_MEMBER_REMOVE, .id = 3};
  assert_int_equal(lkv_replicator_change_member(net.node[0], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), 1); /* err 0 */
  assert_int_equal(removed_told(0, 3), 1);
  assert_int_equal(n_members(0), 2);
  for (int tries = 0; tries < 500 && !removed_told(1, 3); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_int_equal(removed_told(1, 3), 1);
  assert_int_equal(n_members(1), 2);
  done = 0; /* again: etcd's answer for a removed id */
  assert_int_equal(lkv_replicator_change_member(net.node[1], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), LKV_EMEMBERNOTFOUND + 1);
  partition(0);
  for (int tries = 0; tries < 500 && !removed_told(2, 3); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_int_equal(removed_told(2, 3), 1);                   /* it learned: its server stops */
  nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL); /* anti-entropy rounds */
  for (size_t i = 0; i < 2; i++) {
    dump_t d;
    dump(i, &d);
    assert_string_equal(d.buf, "before=1;");
    assert_int_equal(removed_told(i, 3), 1); /* told once */
  }
  /* A restart of a member still in tells its server again (its transport starts afresh). */
  pthread_mutex_lock(&net.mu);
  net.proof_len[1][3] = 0;
  pthread_mutex_unlock(&net.mu);
  stop(1);
  start(1);
  assert_int_equal(removed_told(1, 3), 2);
  pthread_mutex_lock(&net.mu);
  assert_true(net.proof_len[1][3] > 0); /* with the removal, from its event log */
  pthread_mutex_unlock(&net.mu);
  /* The removed member cannot start again from its data. */
  stop(2);
  char dir[128], err[256] = "";
  snprintf(dir, sizeof(dir), "%s/causal", net.store[2].dir);
  lkv_causal_node_options_t o = {.store = net.store[2].s,
                                 .dir = dir,
                                 .member_id = 3,
                                 .cluster_id = 99,
                                 .sk = net.sk[2],
                                 .members = net.peers,
                                 .n_members = N,
                                 .send = net_send,
                                 .send_arg = (void *)(uintptr_t)2};
  lkv_replicator_t *r = NULL;
  assert_int_equal(lkv_causal_node_start(&r, &o, err, sizeof(err)), LKV_EMEMBERREMOVED);
  assert_string_equal(err, "the member has been permanently removed from the cluster");
}

/* Waits up to 5 s for member i to have told its server of id's removal k times. */
static int wait_told(size_t i, uint64_t id, int k) {
  for (int tries = 0; tries < 500 && removed_told(i, id) < k; tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  return removed_told(i, id) == k;
}

/* A removed member's peers told of its removal with the removal event, which their transports' refusals
 * carry; the removed member, refused (docs/causal.md §15a): not stopped by garbage or by the remover's
 * refusal alone while member 2 is still in; stopped (its removal told to its server, once) by member 2's
 * refusal with it. */
static void test_member_refused(void **state) {
  (void)state;
  pthread_mutex_lock(&net.mu);
  for (int j = 0; j < N; j++) net.cut[2][j] = net.cut[j][2] = j != 2;
  pthread_mutex_unlock(&net.mu);
  int done = 0;
  lkv_member_change_t c = {.type = LKV_MEMBER_REMOVE, .id = 3};
  assert_int_equal(lkv_replicator_change_member(net.node[0], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), 1);
  assert_true(wait_told(1, 3, 1));
  pthread_mutex_lock(&net.mu);
  size_t len = net.proof_len[1][3];
  uint8_t proof[1024];
  memcpy(proof, net.proof[1][3], len);
  assert_true(len > 0);
  assert_int_equal(net.proof_len[0][3], len); /* the same first removal on both */
  assert_memory_equal(net.proof[0][3], proof, len);
  pthread_mutex_unlock(&net.mu);
  uint8_t junk[16] = {0};
  lkv_causal_node_refused(net.node[2], 2, junk, sizeof(junk));
  lkv_causal_node_refused(net.node[2], 1, proof, len); /* the remover alone */
  nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
  assert_int_equal(removed_told(2, 3), 0);
  lkv_causal_node_refused(net.node[2], 2, proof, len);
  assert_true(wait_told(2, 3, 1));
  lkv_causal_node_refused(net.node[2], 2, proof, len); /* told once */
  nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  assert_int_equal(removed_told(2, 3), 1);
}

/* Member i lists member id (MemberList) with attributes whose peer URL is url (name empty: unstarted). */
static int lists(size_t i, uint64_t id, const char *url) {
  lkv_replication_member_t *ms;
  size_t n;
  assert_int_equal(lkv_replicator_members(net.node[i], &ms, &n), 0);
  int found = 0;
  for (size_t k = 0; k < n; k++) {
    lkv_cluster_attrs_t a;
    if (ms[k].id != id || !ms[k].attrs || lkv_cluster_attrs_decode(ms[k].attrs, ms[k].attrs_len, &a))
      continue;
    found = a.n_peer_urls == 1 && strcmp(a.peer_urls[0], url) == 0 && strcmp(a.name, "") == 0;
    lkv_cluster_attrs_free(&a);
  }
  lkv_replication_members_free(ms, n);
  return found;
}

/* An add (docs/causal.md §15b): answered once durable with the member table grown on the member asked; a
 * member applying it from a remote event grows its table and tells its server (which dials it), and so does
 * a restart (the table rebuilt from the core's membership). A peer URL in use and a removed id are refused
 * as etcd refuses them. */
static void test_member_add(void **state) {
  (void)state;
  char *urls[] = {"http://127.0.0.1:4"};
  lkv_cluster_attrs_t a = {.name = "", .peer_urls = urls, .n_peer_urls = 1};
  uint8_t *attrs;
  size_t len;
  assert_int_equal(lkv_cluster_attrs_encode(&a, &attrs, &len), 0);
  int done = 0;
  lkv_member_change_t c = {.type = LKV_MEMBER_ADD, .id = 4, .attrs = attrs, .attrs_len = len};
  assert_int_equal(lkv_replicator_change_member(net.node[0], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), 1); /* err 0 */
  assert_true(lists(0, 4, urls[0]));
  assert_int_equal(added_told(0, 4), 1);
  for (int tries = 0; tries < 500 && !added_told(1, 4); tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_int_equal(added_told(1, 4), 1); /* from member 1's event */
  assert_true(lists(1, 4, urls[0]));
  done = 0; /* another id with the same peer URL */
  c.id = 5;
  assert_int_equal(lkv_replicator_change_member(net.node[1], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), LKV_EPEERURLEXIST + 1);
  done = 0; /* an id removed is never added again: etcd's "member not found" (its ErrIDRemoved) */
  lkv_member_change_t rm = {.type = LKV_MEMBER_REMOVE, .id = 3};
  assert_int_equal(lkv_replicator_change_member(net.node[1], &rm, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), 1);
  char *other[] = {"http://127.0.0.1:5"};
  a.peer_urls = other;
  free(attrs);
  assert_int_equal(lkv_cluster_attrs_encode(&a, &attrs, &len), 0);
  c = (lkv_member_change_t){.type = LKV_MEMBER_ADD, .id = 3, .attrs = attrs, .attrs_len = len};
  done = 0;
  assert_int_equal(lkv_replicator_change_member(net.node[1], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), LKV_EMEMBERNOTFOUND + 1);
  stop(1);
  start(1);
  assert_int_equal(added_told(1, 4), 2); /* told again at start */
  assert_true(lists(1, 4, urls[0]));
  free(attrs);
}

/* Cuts (on) or heals the links between members a and b, both ways. */
static void cut_pair(size_t a, size_t b, int on) {
  pthread_mutex_lock(&net.mu);
  net.cut[a][b] = net.cut[b][a] = on;
  pthread_mutex_unlock(&net.mu);
}

/* The last event of member origin that member i applied. */
static uint64_t seq_of(size_t i, uint64_t origin) {
  lkv_causal_vv_t vv;
  vv_total(i, &vv);
  return lkv_causal_vv_get(&vv, origin);
}

/* Members 1 and 2 still in have the same keys as "want", at the same revision, and none of leases[0..3). */
static void removed_leases_gone(const int64_t *leases, const char *want) {
  converge_among(2, 11);
  for (size_t i = 0; i < 2; i++) {
    dump_t d;
    dump(i, &d);
    assert_string_equal(d.buf, want);
    for (size_t k = 0; k < 3; k++) assert_false(lease_known(i, leases[k]));
  }
}

/* A removed member's leases end with its removal (docs/causal.md §15a). Member 3 grants two leases with
 * keys, member 2 attaches a key to one; cut off from member 1 only, member 3 grants a third lease that
 * member 2 takes (and attaches a key to) before it hears of the removal member 1 makes: member 1 takes
 * those events after the removal (the lift), the grant void there. Both end with the same store, without
 * any key of member 3's leases, and so does member 2 restarted, and rebuilt from its event log. */
static void test_member_remove_ends_leases(void **state) {
  (void)state;
  const int64_t l[3] = {((int64_t)3 << 48) | 7, ((int64_t)3 << 48) | 8, ((int64_t)3 << 48) | 9};
  assert_int_equal(lease_op(2, LKV_OP_LEASE_GRANT, l[0]), 0);
  assert_int_equal(put_leased(2, "x1", "1", l[0]), 0);
  assert_int_equal(lease_op(2, LKV_OP_LEASE_GRANT, l[1]), 0);
  assert_int_equal(put_leased(2, "x2", "1", l[1]), 0);
  converge(4);
  assert_int_equal(put_leased(1, "b1", "1", l[0]), 0);
  assert_int_equal(put(0, "before", "1"), 0);
  converge(6);
  cut_pair(0, 1, 1);
  cut_pair(0, 2, 1);
  assert_int_equal(lease_op(2, LKV_OP_LEASE_GRANT, l[2]), 0);
  assert_int_equal(put_leased(2, "late", "1", l[2]), 0);
  assert_int_equal(put(2, "xplain", "1"), 0);
  for (int tries = 0; tries < 500 && seq_of(1, 3) < 7; tries++)
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  assert_int_equal(seq_of(1, 3), 7);
  assert_int_equal(put_leased(1, "b3", "1", l[2]), 0);
  cut_pair(1, 2, 1);
  int done = 0;
  lkv_member_change_t c = {.type = LKV_MEMBER_REMOVE, .id = 3};
  assert_int_equal(lkv_replicator_change_member(net.node[0], &c, barrier_cb, &done), 0);
  assert_int_equal(wait_flag(&done), 1); /* err 0 */
  dump_t d;
  dump(0, &d);
  assert_string_equal(d.buf, "before=1;"); /* x1, x2 and b1 went with the removal's revision */
  assert_int_equal(store_rev(0), 8);       /* events 1..7, one revision each */
  assert_int_equal(lease_op(0, LKV_OP_LEASE_REVOKE, l[0]), LKV_ELEASENOTFOUND); /* as etcd: unknown */
  assert_int_equal(put_leased(0, "k", "v", l[1]), LKV_ELEASENOTFOUND);
  assert_int_equal(lease_op(0, LKV_OP_LEASE_GRANT, ((int64_t)3 << 48) | 10), LKV_ELEASEOWNER);
  cut_pair(0, 1, 0);
  removed_leases_gone(l, "before=1;xplain=1;");
  assert_int_equal(seq_of(0, 3), 7); /* member 3's events member 2 had taken, lifted */
  stop(1);
  start(1);
  removed_leases_gone(l, "before=1;xplain=1;");
  lose_store(1);
  start(1);
  removed_leases_gone(l, "before=1;xplain=1;");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_member_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_member_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_member_add, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_install_and_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_install_redone_after_crash, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_snapshots_join, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_streamed_in_chunks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_transfer_interrupted_then_sent_again, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tampered_snapshot_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_member_remove_ends_leases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_partition_converges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_txn_compares_are_local, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restart_replays_and_catches_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_is_local, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alarms_are_local, setup, teardown),
      cmocka_unit_test_setup_teardown(test_leases_owned_and_revoked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals_and_reads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys_learned_from_hellos, setup, teardown),
      cmocka_unit_test_setup_teardown(test_node_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queued_writes_see_each_other, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quota_refusal_raises_nospace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_long_rebuild_in_steps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_record_cut_short, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
