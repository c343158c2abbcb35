/* The Raft replicator with three members in one process: replication, forwarding, read barriers,
 * restarts that neither skip nor repeat entries, identical stores and ledgers, the entry codec and
 * header stamping. */
#include <pthread.h>
#include <stdatomic.h>

#include "apply_testutil.h"
#include "ledger/ledger.h"
#include "ledger_testutil.h"
#include "raft/codec.h"
#include "replication/raft_entry.h"
#include "replication/raft_node.h"

#define N 3

/* One member: its store, ledger, log directory and replicator; a NULL replicator is a stopped member. */
typedef struct member_s {
  lkvt_store_t ts;
  char ldir[64];
  char wal[96];
  lkv_ledger_t *l;
  lkv_replicator_t *r;
  atomic_uint stall_ms; /* its raft thread's next heartbeat answer first sleeps this long (then 0) */
} member_t;

typedef struct cluster_s {
  member_t m[N];
  uint64_t ids[N];
  pthread_rwlock_t net; /* held for reading while delivering; for writing while a member stops/starts */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, failed;
  int reads_ok;
  unsigned election_ticks; /* of 10 ms */
  int pre_vote;
} cluster_t;

static cluster_t *C;

/* A member that was told to stall sleeps in its raft thread (heartbeat answers leave from there), as if
 * the CPU or its disk kept it waiting, while what the others send it piles up. */
static void maybe_stall(member_t *from, const uint8_t *msg, size_t len) {
  lkv_raft_msg_t m;
  lkv_raft_entry_t *entries = NULL;
  if (atomic_load(&from->stall_ms) == 0 || lkv_raft_msg_decode(msg, len, &m, &entries) != 0) return;
  free(entries);
  if (m.type != LKV_RAFT_MSG_HEARTBEAT_RESP) return;
  unsigned ms = atomic_exchange(&from->stall_ms, 0);
  if (ms) usleep(ms * 1000u);
}

static int deliver(void *arg, uint64_t to, const uint8_t *msg, size_t len) {
  maybe_stall(arg, msg, len);
  pthread_rwlock_rdlock(&C->net);
  for (int i = 0; i < N; i++)
    if (C->ids[i] == to && C->m[i].r) lkv_raft_node_receive(C->m[i].r, 0, msg, len);
  pthread_rwlock_unlock(&C->net);
  return 0;
}

static void start_member(int i) {
  member_t *m = &C->m[i];
  assert_int_equal(lkv_ledger_open(&m->l, m->ldir, NULL), 0);
  lkv_raft_node_options_t o = {.store = m->ts.s,
                               .ledger = m->l,
                               .wal_dir = m->wal,
                               .member_id = C->ids[i],
                               .cluster_id = 77,
                               .voters = C->ids,
                               .n_voters = N,
                               .tick_ms = 10,
                               .election_ticks = C->election_ticks,
                               .pre_vote = C->pre_vote,
                               .request_timeout_ms = 15000,
                               .send = deliver,
                               .send_arg = m};
  char err[256] = "";
  lkv_replicator_t *r;
  int rc = lkv_raft_node_start(&r, &o, err, sizeof(err));
  if (rc) fail_msg("start member %d: %s", i, err);
  pthread_rwlock_wrlock(&C->net);
  m->r = r;
  pthread_rwlock_unlock(&C->net);
}

static void stop_member(int i) {
  member_t *m = &C->m[i];
  pthread_rwlock_wrlock(&C->net);
  lkv_replicator_t *r = m->r;
  m->r = NULL;
  pthread_rwlock_unlock(&C->net);
  lkv_replicator_stop(r);
  lkv_ledger_close(m->l);
  m->l = NULL;
}

static int setup_cluster(uint64_t quota, unsigned election_ticks, int pre_vote) {
  C = calloc(1, sizeof(*C));
  C->election_ticks = election_ticks;
  C->pre_vote = pre_vote;
  pthread_rwlock_init(&C->net, NULL);
  pthread_mutex_init(&C->mu, NULL);
  pthread_cond_init(&C->cv, NULL);
  for (int i = 0; i < N; i++) {
    C->ids[i] = 0x1000 + (uint64_t)i;
    lkvt_open_quota(&C->m[i].ts, quota);
    lt_tmpdir(C->m[i].ldir);
    strcpy(C->m[i].wal, C->m[i].ts.dir);
    strcat(C->m[i].wal, "/wal");
  }
  for (int i = 0; i < N; i++) start_member(i);
  return 0;
}

/* Elections of 1 to 2 s and a leader suspected after 0.4 s of silence: a loaded machine (CI, sanitizers)
 * keeps a thread waiting for the CPU for a tenth of a second now and then, and a leader change fails or
 * times out the writes in flight, which these tests count. */
#define ELECTION_TICKS 100
#define WAIT_TRIES 3000 /* of 10 ms: how long a condition may take on a loaded machine */

static int setup(void **state) {
  (void)state;
  return setup_cluster(64u << 20, ELECTION_TICKS, 1);
}

static int setup_small_quota(void **state) {
  (void)state;
  return setup_cluster(1u << 20, ELECTION_TICKS, 1);
}

/* Without pre-vote (etcd's default) a follower that times out raises the term and unseats the leader. */
static int setup_no_pre_vote(void **state) {
  (void)state;
  return setup_cluster(64u << 20, ELECTION_TICKS, 0);
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < N; i++) {
    if (C->m[i].r) stop_member(i);
    lkvt_close(&C->m[i].ts);
    lkvt_rmrf(C->m[i].ldir);
  }
  free(C);
  return 0;
}

/* Waits until some member knows a leader everyone agrees on; returns its index. */
static int wait_leader(void) {
  for (int tries = 0; tries < WAIT_TRIES; tries++) {
    uint64_t leader = 0;
    int agree = 1;
    for (int i = 0; i < N; i++) {
      if (!C->m[i].r) continue;
      lkv_replication_status_t st;
      lkv_replicator_status(C->m[i].r, &st);
      if (!leader) leader = st.leader;
      agree &= st.leader != 0 && st.leader == leader;
    }
    for (int i = 0; agree && i < N; i++)
      if (C->ids[i] == leader && C->m[i].r) return i;
    usleep(10000);
  }
  fail_msg("no leader elected");
  return -1;
}

typedef struct put_s {
  lkv_proposal_t p;
  Etcdserverpb__PutRequest req;
  uint8_t *raw; /* freed when answered */
  char key[64]; /* the request's key: the message must stay valid until it is answered */
  int64_t revision;
  uint64_t member, term;
} put_t;

static void put_done(lkv_proposal_t *p) {
  put_t *w = (put_t *)p;
  pthread_mutex_lock(&C->mu);
  if (p->req.err) {
    C->failed++;
  } else {
    Etcdserverpb__PutResponse *r = etcdserverpb__put_response__unpack(NULL, p->req.resp_len, p->req.resp);
    w->revision = r->header->revision;
    w->member = r->header->member_id;
    w->term = r->header->raft_term;
    etcdserverpb__put_response__free_unpacked(r, NULL);
  }
  free(p->req.resp);
  free(w->raw);
  w->raw = NULL;
  C->done++;
  pthread_cond_broadcast(&C->cv);
  pthread_mutex_unlock(&C->mu);
}

static void put_via(int i, put_t *w, const char *k, const char *v) {
  memset(w, 0, sizeof(*w));
  snprintf(w->key, sizeof(w->key), "%s", k);
  w->req = lkvt_put_req(w->key, v);
  w->raw = malloc(etcdserverpb__put_request__get_packed_size(&w->req));
  size_t len = etcdserverpb__put_request__pack(&w->req, w->raw);
  w->p.req.kind = LKV_OP_PUT;
  w->p.req.msg = &w->req.base;
  w->p.req.raw = w->raw;
  w->p.req.raw_len = len;
  w->p.done = put_done;
  assert_int_equal(lkv_replicator_propose(C->m[i].r, &w->p), 0);
}

static void wait_done(int want) {
  pthread_mutex_lock(&C->mu);
  while (C->done < want) pthread_cond_wait(&C->cv, &C->mu);
  pthread_mutex_unlock(&C->mu);
}

/* Waits until every running member has applied up to the same index, then compares stores and ledgers. */
/* Whether every member has applied as far as the leader has committed, with the same revision and ledger
 * length (read while applying goes on: a false answer is retried). */
static int caught_up(void) {
  uint64_t commit = 0;
  for (int i = 0; i < N; i++) {
    lkv_replication_status_t st;
    lkv_replicator_status(C->m[i].r, &st);
    if (st.commit_index > commit) commit = st.commit_index;
  }
  for (int i = 0; i < N; i++) {
    lkv_replication_status_t st;
    lkv_replicator_status(C->m[i].r, &st);
    if (st.applied_index != commit) return 0;
    if (lkvt_rev(&C->m[i].ts) != lkvt_rev(&C->m[0].ts)) return 0;
    if (lkv_ledger_log_count(lkv_ledger_log(C->m[i].l)) != lkv_ledger_log_count(lkv_ledger_log(C->m[0].l)))
      return 0;
  }
  return 1;
}

/* Waits until every member caught up, then compares their ledgers leaf by leaf. */
static void assert_converged(void) {
  for (int tries = 0; !caught_up(); tries++) {
    if (tries > WAIT_TRIES) fail_msg("members did not converge");
    usleep(10000);
  }
  uint64_t count0 = lkv_ledger_log_count(lkv_ledger_log(C->m[0].l));
  for (int i = 1; i < N; i++) {
    lkv_ledger_log_t *log = lkv_ledger_log(C->m[i].l);
    for (uint64_t j = 0; j < count0; j++) {
      lkv_merkle_hash_t a, b;
      assert_int_equal(lkv_ledger_log_leaf(lkv_ledger_log(C->m[0].l), j, &a), 0);
      assert_int_equal(lkv_ledger_log_leaf(log, j, &b), 0);
      assert_memory_equal(a.b, b.b, sizeof(a.b));
    }
  }
}

static void test_writes_on_every_member(void **state) {
  (void)state;
  int leader = wait_leader();
  enum { PER = 20 };
  put_t *w = calloc(N * PER, sizeof(*w));
  char k[32];
  for (int i = 0; i < N; i++)
    for (int j = 0; j < PER; j++) {
      snprintf(k, sizeof(k), "k%d-%d", i, j);
      put_via(i, &w[i * PER + j], k, "v"); /* followers forward to the leader */
    }
  wait_done(N * PER);
  assert_int_equal(C->failed, 0);
  int seen[N * PER + 2] = {0};
  for (int i = 0; i < N * PER; i++) {
    /* Every write got its own revision, and the answer names the member that was asked. */
    assert_in_range(w[i].revision, 2, N * PER + 1);
    assert_int_equal(seen[w[i].revision]++, 0);
    assert_int_equal(w[i].member, C->ids[i / PER]);
    assert_true(w[i].term >= 1);
  }
  assert_converged();
  assert_int_equal(lkvt_rev(&C->m[leader].ts), N * PER + 1);
  free(w);
}

static void read_done(void *arg, int err) {
  (void)arg;
  pthread_mutex_lock(&C->mu);
  if (err == 0) C->reads_ok++;
  C->done++;
  pthread_cond_broadcast(&C->cv);
  pthread_mutex_unlock(&C->mu);
}

static void test_read_barrier_on_follower_sees_acknowledged_write(void **state) {
  (void)state;
  int leader = wait_leader();
  int follower = (leader + 1) % N;
  put_t w;
  put_via(leader, &w, "rb", "1");
  wait_done(1);
  assert_int_equal(C->failed, 0);
  /* A barrier may fail while a leader change runs (a loaded machine delays heartbeats); whichever one
   * succeeds must see the write. */
  for (int done = 1; done < 6 && C->reads_ok == 0;) {
    assert_int_equal(lkv_replicator_read_barrier(C->m[follower].r, read_done, NULL), 0);
    wait_done(++done);
  }
  assert_int_equal(C->reads_ok, 1);
  /* The barrier returned: the follower's store has the write. */
  assert_true(lkvt_rev(&C->m[follower].ts) >= w.revision);
}

static void test_restart_neither_skips_nor_repeats(void **state) {
  (void)state;
  wait_leader();
  enum { K = 10 };
  put_t w[2 * K];
  char k[16];
  for (int j = 0; j < K; j++) {
    snprintf(k, sizeof(k), "a%d", j);
    put_via(j % N, &w[j], k, "x");
  }
  wait_done(K);
  assert_converged();
  /* Restart every member in turn, writing while one is down. */
  for (int i = 0; i < N; i++) {
    stop_member(i);
    lkvt_reopen(&C->m[i].ts);
    int leader = wait_leader();
    snprintf(k, sizeof(k), "b%d", i);
    put_via(leader, &w[K + i], k, "y");
    wait_done(K + i + 1);
    start_member(i);
  }
  wait_leader();
  assert_int_equal(C->failed, 0);
  assert_converged();
  assert_int_equal(lkvt_rev(&C->m[0].ts), 1 + K + N);
}

static void test_leader_loss_elects_another(void **state) {
  (void)state;
  int leader = wait_leader();
  stop_member(leader);
  int next = wait_leader();
  assert_int_not_equal(next, leader);
  put_t w;
  put_via(next, &w, "after", "1");
  wait_done(1);
  assert_int_equal(C->failed, 0);
  lkvt_reopen(&C->m[leader].ts);
  start_member(leader);
  assert_converged();
}

/* A follower whose raft thread was kept waiting longer than an election timeout while the leader's
 * heartbeats arrived steps them in the order they came with the ticks: it does not campaign (which,
 * without pre-vote, would unseat a live leader). */
static void test_late_follower_keeps_its_leader(void **state) {
  (void)state;
  int leader = wait_leader();
  int follower = (leader + 1) % N;
  lkv_replication_status_t before;
  lkv_replicator_status(C->m[leader].r, &before);
  /* More than the 2 election timeouts of ticks a late round catches up at most: a round that ticks first
   * campaigns whatever its random timeout. */
  atomic_store(&C->m[follower].stall_ms, 2 * ELECTION_TICKS * 10 + 500);
  while (atomic_load(&C->m[follower].stall_ms)) usleep(10000);
  put_t w; /* answered once the follower applied it: it has stepped what waited for it */
  put_via(follower, &w, "late", "1");
  wait_done(1);
  assert_int_equal(C->failed, 0);
  for (int i = 0; i < N; i++) {
    lkv_replication_status_t st;
    lkv_replicator_status(C->m[i].r, &st);
    assert_int_equal(st.term, before.term);
    assert_int_equal(st.leader, C->ids[leader]);
  }
}

/* Near the quota every member refuses the same writes: the proposer checks the quota and raises NOSPACE
 * through the log, so the stores end identical and every member has the alarm. */
static void test_quota_is_decided_before_the_log(void **state) {
  (void)state;
  int leader = wait_leader();
  static char big[48 << 10];
  memset(big, 'x', sizeof(big) - 1);
  put_t *w = calloc(200, sizeof(*w));
  char k[16];
  int i;
  for (i = 0; i < 200; i++) {
    snprintf(k, sizeof(k), "q%d", i);
    put_via(leader, &w[i], k, big);
    wait_done(i + 1);
    if (C->failed) break;
  }
  assert_int_equal(C->failed, 1); /* refused once the quota is near, not before */
  assert_true(i > 3);
  for (int m = 0; m < N; m++) { /* the alarm, proposed with the refusal, reaches every member */
    lkv_mvcc_stat_t st;
    int tries = 0;
    do {
      assert_int_equal(lkv_mvcc_stat(C->m[m].ts.s, &st), 0);
      if (!(st.alarms & LKV_MVCC_ALARM_NOSPACE)) usleep(10000);
    } while (!(st.alarms & LKV_MVCC_ALARM_NOSPACE) && ++tries < WAIT_TRIES);
    assert_true(st.alarms & LKV_MVCC_ALARM_NOSPACE);
  }
  assert_converged();
  free(w);
}

static void test_entry_codec(void **state) {
  (void)state;
  const uint8_t req[] = {1, 2, 3};
  lkv_raft_entry_payload_t in = {.kind = LKV_OP_TXN,
                                 .flags = LKV_RAFT_ENTRY_NO_CLAIMS,
                                 .origin = 9,
                                 .seq = 1234567890123ULL,
                                 .request = req,
                                 .request_len = sizeof(req)};
  uint8_t *b;
  size_t len;
  assert_int_equal(lkv_raft_entry_encode(&in, &b, &len), 0);
  lkv_raft_entry_payload_t out;
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), 0);
  assert_int_equal(out.kind, LKV_OP_TXN);
  assert_int_equal(out.flags, LKV_RAFT_ENTRY_NO_CLAIMS);
  assert_int_equal(out.origin, 9);
  assert_int_equal(out.seq, 1234567890123ULL);
  assert_int_equal(out.request_len, 3);
  assert_memory_equal(out.request, req, 3);
  assert_int_equal(lkv_raft_entry_decode(b, LKV_RAFT_ENTRY_HEADER - 1, &out), LKV_EBADMSG);
  b[0] = 2; /* a newer version */
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), LKV_EBADMSG);
  b[0] = 1, b[1] = 99; /* an unknown kind */
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), LKV_EBADMSG);
  b[1] = LKV_OP_PUT, b[2] = 0x80; /* unknown flags */
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), LKV_EBADMSG);
  free(b);
}

/* Who asked travels with the request (flag 0x2): the auth revision and the user, NUL-terminated. */
static void test_entry_codec_auth(void **state) {
  (void)state;
  const uint8_t req[] = {1, 2, 3};
  lkv_raft_entry_payload_t in = {.kind = LKV_OP_PUT,
                                 .flags = LKV_RAFT_ENTRY_AUTH,
                                 .origin = 9,
                                 .seq = 5,
                                 .request = req,
                                 .request_len = sizeof(req),
                                 .auth = {.user = "alice", .revision = 77}};
  uint8_t *b;
  size_t len;
  assert_int_equal(lkv_raft_entry_encode(&in, &b, &len), 0);
  assert_int_equal(len, LKV_RAFT_ENTRY_HEADER + 8 + 6 + 3);
  lkv_raft_entry_payload_t out;
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), 0);
  assert_int_equal(out.flags, LKV_RAFT_ENTRY_AUTH);
  assert_string_equal(out.auth.user, "alice");
  assert_int_equal(out.auth.revision, 77);
  assert_int_equal(out.request_len, 3);
  assert_memory_equal(out.request, req, 3);
  b[LKV_RAFT_ENTRY_HEADER + 8 + 5] = 'x'; /* the user's NUL gone: the request bytes hold none either */
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), LKV_EBADMSG);
  assert_int_equal(lkv_raft_entry_decode(b, LKV_RAFT_ENTRY_HEADER + 7, &out), LKV_EBADMSG);
  free(b);
  in.flags = 0; /* without the flag nothing is written, nothing read */
  assert_int_equal(lkv_raft_entry_encode(&in, &b, &len), 0);
  assert_int_equal(lkv_raft_entry_decode(b, len, &out), 0);
  assert_null(out.auth.user);
  assert_int_equal(out.request_len, 3);
  free(b);
}

static void test_stamp_header(void **state) {
  (void)state;
  Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  h.cluster_id = 5;
  h.revision = 300;
  Mvccpb__KeyValue prev = MVCCPB__KEY_VALUE__INIT;
  prev.key = lkvt_bin("k");
  Etcdserverpb__PutResponse r = ETCDSERVERPB__PUT_RESPONSE__INIT;
  r.header = &h;
  r.prev_kv = &prev;
  uint8_t buf[128], *out;
  size_t len = etcdserverpb__put_response__pack(&r, buf), out_len;
  assert_int_equal(lkv_apply_stamp_header(buf, len, 0xabcdef0123ULL, 7, &out, &out_len), 0);
  Etcdserverpb__PutResponse *u = etcdserverpb__put_response__unpack(NULL, out_len, out);
  assert_non_null(u);
  assert_int_equal(u->header->cluster_id, 5);
  assert_int_equal(u->header->revision, 300);
  assert_int_equal(u->header->member_id, 0xabcdef0123ULL);
  assert_int_equal(u->header->raft_term, 7);
  assert_non_null(u->prev_kv);
  assert_int_equal(u->prev_kv->key.len, 1);
  etcdserverpb__put_response__free_unpacked(u, NULL);
  free(out);
  assert_int_equal(lkv_apply_stamp_header(buf + 1, len - 1, 1, 1, &out, &out_len), LKV_EBADMSG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_entry_codec),
      cmocka_unit_test(test_entry_codec_auth),
      cmocka_unit_test(test_stamp_header),
      cmocka_unit_test_setup_teardown(test_writes_on_every_member, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_barrier_on_follower_sees_acknowledged_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restart_neither_skips_nor_repeats, setup, teardown),
      cmocka_unit_test_setup_teardown(test_leader_loss_elects_another, setup, teardown),
      cmocka_unit_test_setup_teardown(test_late_follower_keeps_its_leader, setup_no_pre_vote, teardown),
      cmocka_unit_test_setup_teardown(test_quota_is_decided_before_the_log, setup_small_quota, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
