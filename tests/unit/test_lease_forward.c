/* Unit tests for lease forwarding (src/lease/forward.h): two members, each a real lessor over its own store,
 * a replicator double whose leader the test sets, and a message queue the test delivers by hand (or
 * drops). Renewals and TTL queries reach the leader's lessor; a lease not applied yet waits for a read
 * barrier; no leader, silence, a stale leader, a member that becomes leader itself, the pending bound and
 * stop are checked for their exact outcomes. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "apply_testutil.h"
#include "lease/forward.h"
#include "lease/fwd_codec.h"

/* ---- a replicator double: status from the test, barriers counted ---- */

typedef struct fake_rep_s {
  lkv_replicator_t base;
  uint64_t self;
  _Atomic uint64_t leader;
  _Atomic int barriers;
  lkv_lessor_t *grant_on_barrier; /* a barrier first applies lease 77 (TTL 30) here, as if it were lagging */
} fake_rep_t;

static int fake_propose(lkv_replicator_t *r, lkv_proposal_t *p) {
  (void)r, (void)p;
  return LKV_ESTOPPED; /* nothing expires in these tests */
}

static int fake_barrier(lkv_replicator_t *r, lkv_read_cb cb, void *arg) {
  fake_rep_t *f = (fake_rep_t *)r;
  f->barriers++;
  if (f->grant_on_barrier) assert_int_equal(lkv_lessor_granted(f->grant_on_barrier, 77, 30), 0);
  cb(arg, 0);
  return 0;
}

static void fake_status(lkv_replicator_t *r, lkv_replication_status_t *out) {
  fake_rep_t *f = (fake_rep_t *)r;
  *out = (lkv_replication_status_t){.member_id = f->self, .leader = f->leader, .term = 2};
}

static const lkv_replicator_ops_t fake_ops = {
    .propose = fake_propose, .read_barrier = fake_barrier, .status = fake_status};

/* ---- the network: a queue of messages the test delivers or drops ---- */

typedef struct msg_s {
  uint64_t from, to;
  uint8_t data[LKV_LEASE_FWD_MAX_LEN];
  size_t len;
} msg_t;

#define MAX_MSGS 64

typedef struct member_s member_t;

static struct {
  pthread_mutex_t mu;
  msg_t q[MAX_MSGS];
  size_t n;
  int sent; /* ever */
} net = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct member_s {
  uint64_t id;
  lkvt_store_t ts;
  fake_rep_t rep;
  lkv_lessor_t *lessor;
  lkv_lease_fwd_t *fwd;
};

static member_t members[2];

static int net_send(void *arg, uint64_t to, const uint8_t *data, size_t len) {
  member_t *from = arg;
  pthread_mutex_lock(&net.mu);
  assert_true(net.n < MAX_MSGS);
  msg_t *m = &net.q[net.n++];
  m->from = from->id;
  m->to = to;
  memcpy(m->data, data, len);
  m->len = len;
  net.sent++;
  pthread_mutex_unlock(&net.mu);
  return 0;
}

/* Delivers every queued message (and those they cause) in order; returns how many. */
static int pump(void) {
  int n = 0;
  for (;;) {
    pthread_mutex_lock(&net.mu);
    if (net.n == 0) {
      pthread_mutex_unlock(&net.mu);
      return n;
    }
    msg_t m = net.q[0];
    memmove(net.q, net.q + 1, (net.n - 1) * sizeof(msg_t));
    net.n--;
    pthread_mutex_unlock(&net.mu);
    for (int i = 0; i < 2; i++)
      if (members[i].id == m.to) lkv_lease_fwd_receive(members[i].fwd, m.from, m.data, m.len);
    n++;
  }
}

static void drop_all(void) {
  pthread_mutex_lock(&net.mu);
  net.n = 0;
  pthread_mutex_unlock(&net.mu);
}

static int sent_count(void) {
  pthread_mutex_lock(&net.mu);
  int n = net.sent;
  pthread_mutex_unlock(&net.mu);
  return n;
}

/* ---- outcomes ---- */

typedef struct outcome_s {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls, err;
  int64_t ttl, granted;
} outcome_t;

static void outcome_init(outcome_t *o) {
  memset(o, 0, sizeof(*o));
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->cv, NULL);
}

static void on_outcome(void *arg, int err, int64_t ttl, int64_t granted) {
  outcome_t *o = arg;
  pthread_mutex_lock(&o->mu);
  o->calls++;
  o->err = err;
  o->ttl = ttl;
  o->granted = granted;
  pthread_cond_broadcast(&o->cv);
  pthread_mutex_unlock(&o->mu);
}

/* Waits up to ms for the outcome; returns how many times it was called. */
static int wait_outcome(outcome_t *o, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&o->mu);
  while (o->calls == 0 && pthread_cond_timedwait(&o->cv, &o->mu, &ts) == 0) {
  }
  int n = o->calls;
  pthread_mutex_unlock(&o->mu);
  return n;
}

static int calls_of(outcome_t *o) {
  pthread_mutex_lock(&o->mu);
  int n = o->calls;
  pthread_mutex_unlock(&o->mu);
  return n;
}

/* ---- fixture: member 0 (id 1) asks, member 1 (id 2) leads unless a test says otherwise ---- */

static void start_members(unsigned timeout_ms, unsigned resend_ms, size_t max_pending) {
  drop_all();
  net.sent = 0;
  for (int i = 0; i < 2; i++) {
    member_t *m = &members[i];
    memset(m, 0, sizeof(*m));
    m->id = (uint64_t)i + 1;
    lkvt_open(&m->ts);
    m->rep.base.ops = &fake_ops;
    m->rep.self = m->id;
    m->rep.leader = 2;
    lkv_lessor_options_t lo = {.store = m->ts.s, .replicator = &m->rep.base, .member_id = m->id};
    assert_int_equal(lkv_lessor_open(&m->lessor, &lo), 0);
    lkv_lease_fwd_options_t fo = {.lessor = m->lessor,
                                  .replicator = &m->rep.base,
                                  .send = net_send,
                                  .send_arg = m,
                                  .timeout_ms = timeout_ms,
                                  .resend_ms = resend_ms,
                                  .max_pending = max_pending};
    assert_int_equal(lkv_lease_fwd_start(&m->fwd, &fo), 0);
  }
}

static void stop_members(void) {
  for (int i = 0; i < 2; i++) {
    lkv_lease_fwd_stop(members[i].fwd);
    lkv_lessor_close(members[i].lessor);
    lkvt_close(&members[i].ts);
  }
  drop_all();
}

static void test_start_invalid(void **state) {
  (void)state;
  lkv_lease_fwd_t *f;
  lkv_lease_fwd_options_t o = {0};
  assert_int_equal(lkv_lease_fwd_start(&f, &o), LKV_EINVAL);
  assert_int_equal(lkv_lease_fwd_start(&f, NULL), LKV_EINVAL);
  lkv_lease_fwd_stop(NULL);
}

static void test_renew_and_ttl_answered_by_leader(void **state) {
  (void)state;
  start_members(5000, 1000, 0);
  assert_int_equal(lkv_lease_fwd_remote(members[0].fwd, 1), 1);
  assert_int_equal(lkv_lease_fwd_remote(members[1].fwd, 1), 0);
  /* The leader knows lease 5 with TTL 10; the asker's own lessor does not: only the leader answers. */
  assert_int_equal(lkv_lessor_granted(members[1].lessor, 5, 10), 0);
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &o), 0);
  assert_int_equal(calls_of(&o), 0); /* never before the answer */
  assert_int_equal(pump(), 2);       /* request, answer */
  assert_int_equal(wait_outcome(&o, 1000), 1);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.ttl, 10);
  outcome_t t;
  outcome_init(&t);
  assert_int_equal(lkv_lease_fwd_time_to_live(members[0].fwd, 5, on_outcome, &t), 0);
  assert_int_equal(pump(), 2);
  assert_int_equal(wait_outcome(&t, 1000), 1);
  assert_int_equal(t.err, 0);
  assert_int_equal(t.granted, 10);
  assert_true(t.ttl >= 9 && t.ttl <= 10);
  assert_int_equal(members[1].rep.barriers, 0); /* found at once: no barrier */
  stop_members();
}

static void test_unknown_lease_after_barrier(void **state) {
  (void)state;
  start_members(5000, 1000, 0);
  outcome_t o, t;
  outcome_init(&o);
  outcome_init(&t);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 6, on_outcome, &o), 0);
  assert_int_equal(lkv_lease_fwd_time_to_live(members[0].fwd, 6, on_outcome, &t), 0);
  assert_int_equal(pump(), 4);
  assert_int_equal(wait_outcome(&o, 1000), 1);
  assert_int_equal(wait_outcome(&t, 1000), 1);
  assert_int_equal(o.err, LKV_ELEASENOTFOUND);
  assert_int_equal(t.err, LKV_ELEASENOTFOUND);
  assert_int_equal(members[1].rep.barriers, 2); /* "not found" only after everything committed is applied */
  stop_members();
}

static void test_lease_applied_during_barrier_is_found(void **state) {
  (void)state;
  start_members(5000, 1000, 0);
  members[1].rep.grant_on_barrier = members[1].lessor; /* the grant is committed, not applied yet */
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 77, on_outcome, &o), 0);
  pump();
  assert_int_equal(wait_outcome(&o, 1000), 1);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.ttl, 30);
  assert_int_equal(members[1].rep.barriers, 1);
  stop_members();
}

static void test_no_leader_fails_with_no_leader(void **state) {
  (void)state;
  start_members(300, 100, 0);
  members[0].rep.leader = 0;
  assert_int_equal(lkv_lease_fwd_remote(members[0].fwd, 1), 1);
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &o), 0);
  assert_int_equal(wait_outcome(&o, 3000), 1);
  assert_int_equal(o.err, LKV_ENOLEADER);
  assert_int_equal(sent_count(), 0); /* nobody to ask */
  stop_members();
}

static void test_silent_leader_times_out_after_resends(void **state) {
  (void)state;
  start_members(600, 100, 0);
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &o), 0);
  assert_int_equal(wait_outcome(&o, 3000), 1); /* messages are never delivered */
  assert_int_equal(o.err, LKV_ETIMEDOUT);
  assert_true(sent_count() >= 3); /* the first send, then again every resend_ms */
  stop_members();
}

static void test_waits_for_a_leader_then_asks_it(void **state) {
  (void)state;
  start_members(5000, 1000, 0);
  assert_int_equal(lkv_lessor_granted(members[1].lessor, 5, 10), 0);
  members[0].rep.leader = 0;
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &o), 0);
  struct timespec ts = {0, 250 * 1000000L};
  nanosleep(&ts, NULL);
  assert_int_equal(sent_count(), 0);
  members[0].rep.leader = 2; /* elected: the parked request goes out at the next poll */
  for (int i = 0; i < 100 && sent_count() == 0; i++) nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
  assert_int_equal(pump(), 2);
  assert_int_equal(wait_outcome(&o, 1000), 1);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.ttl, 10);
  stop_members();
}

static void test_stale_leader_then_self_elected(void **state) {
  (void)state;
  start_members(5000, 1000, 0);
  members[1].rep.leader = 1; /* member 2 knows it does not lead any more */
  assert_int_equal(lkv_lessor_granted(members[0].lessor, 5, 12), 0);
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &o), 0);
  assert_int_equal(pump(), 2); /* asked, answered "not leader" */
  assert_int_equal(calls_of(&o), 0);
  members[0].rep.leader = 1; /* member 1 is elected: it serves its own parked request */
  assert_int_equal(wait_outcome(&o, 2000), 1);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.ttl, 12);
  stop_members();
}

static void test_unmatched_answers_are_dropped(void **state) {
  (void)state;
  start_members(5000, 1000, 0);
  outcome_t o;
  outcome_init(&o);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &o), 0);
  drop_all();
  /* Request ids start at 1: answers naming another lease, another op, or another id change nothing. */
  lkv_lease_fwd_msg_t bad[3] = {
      {.kind = LKV_LEASE_FWD_ANSWER, .op = LKV_LEASE_FWD_RENEW, .request_id = 1, .lease_id = 6},
      {.kind = LKV_LEASE_FWD_ANSWER, .op = LKV_LEASE_FWD_TIME_TO_LIVE, .request_id = 1, .lease_id = 5},
      {.kind = LKV_LEASE_FWD_ANSWER, .op = LKV_LEASE_FWD_RENEW, .request_id = 2, .lease_id = 5}};
  uint8_t buf[LKV_LEASE_FWD_MAX_LEN];
  for (int i = 0; i < 3; i++) {
    size_t n = lkv_lease_fwd_encode(&bad[i], buf);
    lkv_lease_fwd_receive(members[0].fwd, 2, buf, n);
  }
  lkv_lease_fwd_receive(members[0].fwd, 2, buf, 3); /* malformed */
  assert_int_equal(calls_of(&o), 0);
  lkv_lease_fwd_msg_t good = {
      .kind = LKV_LEASE_FWD_ANSWER, .op = LKV_LEASE_FWD_RENEW, .request_id = 1, .lease_id = 5, .ttl = 8};
  size_t n = lkv_lease_fwd_encode(&good, buf);
  lkv_lease_fwd_receive(members[0].fwd, 2, buf, n);
  lkv_lease_fwd_receive(members[0].fwd, 2, buf, n); /* a duplicate: already completed */
  assert_int_equal(wait_outcome(&o, 1000), 1);
  assert_int_equal(o.ttl, 8);
  assert_int_equal(calls_of(&o), 1);
  stop_members();
}

static void test_pending_bound_and_stop(void **state) {
  (void)state;
  start_members(60000, 1000, 2);
  outcome_t a, b, c;
  outcome_init(&a);
  outcome_init(&b);
  outcome_init(&c);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &a), 0);
  assert_int_equal(lkv_lease_fwd_time_to_live(members[0].fwd, 5, on_outcome, &b), 0);
  assert_int_equal(lkv_lease_fwd_renew(members[0].fwd, 5, on_outcome, &c), LKV_EAGAIN);
  lkv_lease_fwd_stop(members[0].fwd);
  members[0].fwd = NULL;
  assert_int_equal(calls_of(&a), 1);
  assert_int_equal(a.err, LKV_ESTOPPED);
  assert_int_equal(calls_of(&b), 1);
  assert_int_equal(b.err, LKV_ESTOPPED);
  assert_int_equal(calls_of(&c), 0);
  drop_all();
  stop_members();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_invalid),
      cmocka_unit_test(test_renew_and_ttl_answered_by_leader),
      cmocka_unit_test(test_unknown_lease_after_barrier),
      cmocka_unit_test(test_lease_applied_during_barrier_is_found),
      cmocka_unit_test(test_no_leader_fails_with_no_leader),
      cmocka_unit_test(test_silent_leader_times_out_after_resends),
      cmocka_unit_test(test_waits_for_a_leader_then_asks_it),
      cmocka_unit_test(test_stale_leader_then_self_elected),
      cmocka_unit_test(test_unmatched_answers_are_dropped),
      cmocka_unit_test(test_pending_bound_and_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
