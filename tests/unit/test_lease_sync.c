/* Unit tests for the lease handoff between members (src/lease/sync.h): three members, each a lessor with
 * handoff on an injected clock, a replicator double whose leader and term the test sets, and a network
 * the test delivers by hand (or drops). A renewal is acknowledged only once a majority recorded it; a
 * fenced voter refuses; a new leader merges a majority's answers and then expires a lease exactly when the
 * old leader would have, not before; leadership loss, deadlines and stop fail renewals as documented. */
#include <string.h>
#include <time.h>

#include "lease/sync.h"
#include "lease_testutil.h"

static int64_t fake_now;

static int64_t fake_clock(void *arg) {
  (void)arg;
  return fake_now;
}

/* ---- the network: messages the test delivers among the members it names, or drops ---- */

typedef struct msg_s {
  uint64_t from, to;
  uint8_t *data;
  size_t len;
  struct msg_s *next;
} msg_t;

static struct {
  pthread_mutex_t mu;
  msg_t *head, **tail;
  int sent; /* ever */
} net = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct member_s {
  uint64_t id;
  lkvt_store_t ts;
  lkvt_rep_t rep;
  lkv_lessor_t *l;
  lkv_lease_sync_t *s;
} member_t;

static member_t members[3];

static int net_send(void *arg, uint64_t to, const uint8_t *data, size_t len) {
  member_t *from = arg;
  msg_t *m = calloc(1, sizeof(*m));
  assert_non_null(m);
  m->data = malloc(len);
  assert_non_null(m->data);
  memcpy(m->data, data, len);
  m->len = len;
  m->from = from->id;
  m->to = to;
  pthread_mutex_lock(&net.mu);
  *net.tail = m;
  net.tail = &m->next;
  net.sent++;
  pthread_mutex_unlock(&net.mu);
  return 0;
}

static msg_t *net_take(void) {
  pthread_mutex_lock(&net.mu);
  msg_t *m = net.head;
  if (m) {
    net.head = m->next;
    if (!net.head) net.tail = &net.head;
  }
  pthread_mutex_unlock(&net.mu);
  return m;
}

/* Delivers queued messages (and those they cause) between the members whose bit (1 << (id - 1)) is in
 * `up`, dropping the others; returns how many were delivered. */
static int pump(unsigned up) {
  int n = 0;
  msg_t *m;
  while ((m = net_take())) {
    if ((up >> (m->from - 1) & 1) && (up >> (m->to - 1) & 1)) {
      lkv_lease_sync_receive(members[m->to - 1].s, m->from, m->data, m->len);
      n++;
    }
    free(m->data);
    free(m);
  }
  return n;
}

static int sent_count(void) {
  pthread_mutex_lock(&net.mu);
  int n = net.sent;
  pthread_mutex_unlock(&net.mu);
  return n;
}

/* Waits (up to 3 s) until at least n messages were ever sent. */
static void wait_sent(int n) {
  for (int i = 0; i < 300 && sent_count() < n; i++) nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
  assert_true(sent_count() >= n);
}

/* ---- outcomes ---- */

typedef struct outcome_s {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls, err;
} outcome_t;

static void outcome_init(outcome_t *o) {
  memset(o, 0, sizeof(*o));
  pthread_mutex_init(&o->mu, NULL);
  pthread_cond_init(&o->cv, NULL);
}

static void on_outcome(void *arg, int err) {
  outcome_t *o = arg;
  pthread_mutex_lock(&o->mu);
  o->calls++;
  o->err = err;
  pthread_cond_broadcast(&o->cv);
  pthread_mutex_unlock(&o->mu);
}

static int calls_of(outcome_t *o) {
  pthread_mutex_lock(&o->mu);
  int n = o->calls;
  pthread_mutex_unlock(&o->mu);
  return n;
}

/* Waits up to 3 s for the outcome; returns how many times it was called. */
static int wait_outcome(outcome_t *o) {
  for (int i = 0; i < 300 && calls_of(o) == 0; i++) nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
  return calls_of(o);
}

/* ---- fixture: member 1 leads in term 2; leases 4 (TTL 2) and 5 (TTL 10) granted everywhere at 0 ---- */

#define ALL 7u

static void lead(uint64_t leader, uint64_t term) {
  for (int i = 0; i < 3; i++) {
    members[i].rep.leader = leader;
    members[i].rep.term = term;
  }
}

static void start_members(unsigned timeout_ms, unsigned resend_ms) {
  fake_now = 0;
  net.head = NULL;
  net.tail = &net.head;
  net.sent = 0;
  for (int i = 0; i < 3; i++) {
    member_t *m = &members[i];
    memset(m, 0, sizeof(*m));
    m->id = (uint64_t)i + 1;
    lkvt_open(&m->ts);
    lkvt_rep_init(&m->rep, m->id, 1, 2, 3);
    lkv_lessor_options_t lo = {
        .store = m->ts.s, .replicator = &m->rep.base, .clock = fake_clock, .handoff = 1};
    assert_int_equal(lkv_lessor_open(&m->l, &lo), 0);
    assert_int_equal(lkv_lessor_granted(m->l, 5, 10), 0);
    assert_int_equal(lkv_lessor_granted(m->l, 4, 2), 0);
    lkv_lease_sync_options_t so = {.lessor = m->l,
                                   .replicator = &m->rep.base,
                                   .send = net_send,
                                   .send_arg = m,
                                   .timeout_ms = timeout_ms,
                                   .resend_ms = resend_ms};
    assert_int_equal(lkv_lease_sync_start(&m->s, &so), 0);
  }
  /* Member 1's takeover of term 2: it asks members 2 and 3, and starts expiring once they answered. */
  wait_sent(2);
  assert_true(pump(ALL) >= 4); /* queries (maybe sent twice on a slow machine) and answers */
  fake_now = 2000;
  assert_int_equal(lkv_lessor_expire(members[0].l), 1);
  assert_int_equal(members[0].rep.revoked[0], 4);
  for (int i = 1; i < 3; i++) lkv_lessor_revoked(members[i].l, 4); /* the revoke applied everywhere */
}

static void stop_members(void) {
  for (int i = 0; i < 3; i++) lkv_lease_sync_stop(members[i].s);
  for (int i = 0; i < 3; i++) {
    lkv_lease_sync_free(members[i].s);
    lkv_lessor_close(members[i].l);
    lkvt_close(&members[i].ts);
  }
  pump(0);
}

/* Renews lease 5 on member 1 at fake_now and hands the renewal to its handoff. */
static void renew_on_leader(outcome_t *o) {
  int64_t ttl;
  uint64_t term;
  assert_int_equal(lkv_lessor_renew(members[0].l, 5, &ttl, &term), 0);
  assert_int_equal(ttl, 10);
  outcome_init(o);
  assert_int_equal(lkv_lease_sync_renewed(members[0].s, term, 5, ttl, on_outcome, o), 0);
}

static int64_t left_on(int i) {
  int64_t s;
  assert_int_equal(lkv_lessor_lookup(members[i].l, 5, NULL, &s), 0);
  return s;
}

static void test_start_invalid(void **state) {
  (void)state;
  lkv_lease_sync_t *s;
  lkv_lease_sync_options_t o = {0};
  assert_int_equal(lkv_lease_sync_start(&s, &o), LKV_EINVAL);
  assert_int_equal(lkv_lease_sync_start(&s, NULL), LKV_EINVAL);
  lkv_lease_sync_stop(NULL);
  lkv_lease_sync_free(NULL);
}

static void test_renewal_waits_for_a_majority(void **state) {
  (void)state;
  start_members(60000, 60000);
  fake_now = 4000;
  int before = sent_count();
  outcome_t o;
  renew_on_leader(&o);
  wait_sent(before + 2); /* one record to each other voter */
  assert_int_equal(calls_of(&o), 0);
  assert_int_equal(pump(1u | 2u), 2); /* member 2 records and acknowledges; member 3 hears nothing */
  assert_int_equal(wait_outcome(&o), 1);
  assert_int_equal(o.err, 0);
  assert_int_equal(left_on(1), 10); /* 14000 by member 2's clock */
  assert_int_equal(left_on(2), 6);  /* member 3 still counts from the grant: 10000 */
  stop_members();
}

static void test_fenced_voter_refuses(void **state) {
  (void)state;
  start_members(60000, 60000);
  /* Member 2 answered the query of a term-3 leader: member 1 (term 2) is deposed there. */
  lkv_lease_remaining_t *v;
  size_t n;
  int64_t up;
  assert_int_equal(lkv_lessor_remaining(members[1].l, 3, &v, &n, &up), 0);
  free(v);
  int before = sent_count();
  outcome_t o;
  renew_on_leader(&o);
  wait_sent(before + 2);
  assert_int_equal(pump(1u | 2u), 2);
  assert_int_equal(wait_outcome(&o), 1);
  assert_int_equal(o.err, LKV_ENOTLEADER);
  stop_members();
}

static void test_new_leader_expires_when_the_old_one_would_have(void **state) {
  (void)state;
  start_members(60000, 60000);
  fake_now = 4000; /* renewed through member 1, recorded by member 3: expires at 14000 */
  int before = sent_count();
  outcome_t o;
  renew_on_leader(&o);
  wait_sent(before + 2);
  assert_int_equal(pump(1u | 4u), 2);
  assert_int_equal(wait_outcome(&o), 1);
  assert_int_equal(o.err, 0);
  /* Member 1 is gone; member 2, which never saw the renewal, is elected in term 3. */
  fake_now = 5000;
  lead(2, 3);
  before = sent_count();
  wait_sent(before + 2); /* its queries */
  fake_now = 60000;
  assert_int_equal(lkv_lessor_expire(members[1].l), 0); /* nothing merged yet: nothing expires */
  fake_now = 5000;
  assert_int_equal(pump(2u | 4u), 2); /* member 3 answers; a majority with member 2 itself */
  assert_int_equal(left_on(1), 9);
  fake_now = 13999;
  assert_int_equal(lkv_lessor_expire(members[1].l), 0);
  fake_now = 14000;
  assert_int_equal(lkv_lessor_expire(members[1].l), 1);
  assert_int_equal(members[1].rep.revoked[0], 5);
  stop_members();
}

static void test_leadership_loss_fails_renewals(void **state) {
  (void)state;
  start_members(60000, 60000);
  int before = sent_count();
  outcome_t o;
  renew_on_leader(&o);
  wait_sent(before + 2);
  pump(0); /* lost */
  members[0].rep.leader = 2;
  assert_int_equal(wait_outcome(&o), 1);
  assert_int_equal(o.err, LKV_ENOTLEADER);
  stop_members();
}

static void test_unanswered_records_are_resent_then_time_out(void **state) {
  (void)state;
  start_members(400, 50);
  int before = sent_count();
  outcome_t o;
  renew_on_leader(&o);
  assert_int_equal(wait_outcome(&o), 1); /* nothing is ever delivered */
  assert_int_equal(o.err, LKV_ETIMEDOUT);
  assert_true(sent_count() - before >= 6); /* to both voters, then again every resend_ms */
  stop_members();
}

static void test_unanswered_queries_are_resent(void **state) {
  (void)state;
  start_members(60000, 50);
  lead(2, 3);
  int before = sent_count();
  wait_sent(before + 2);
  pump(0); /* the new leader's queries are lost */
  wait_sent(before + 4);
  fake_now = 10000;
  assert_int_equal(lkv_lessor_expire(members[1].l), 0); /* lease 5 is due, but nobody answered */
  assert_true(pump(2u | 4u) >= 2);                      /* asked again: member 3 answers */
  assert_int_equal(lkv_lessor_expire(members[1].l), 1);
  assert_int_equal(members[1].rep.revoked[0], 5);
  stop_members();
}

static void test_stop_fails_waiting_renewals(void **state) {
  (void)state;
  start_members(60000, 60000);
  outcome_t o;
  renew_on_leader(&o);
  lkv_lease_sync_stop(members[0].s);
  assert_int_equal(calls_of(&o), 1);
  assert_int_equal(o.err, LKV_ESTOPPED);
  outcome_t late;
  outcome_init(&late);
  assert_int_equal(lkv_lease_sync_renewed(members[0].s, 2, 5, 10, on_outcome, &late), LKV_ESTOPPED);
  assert_int_equal(calls_of(&late), 0);
  stop_members();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_invalid),
      cmocka_unit_test(test_renewal_waits_for_a_majority),
      cmocka_unit_test(test_fenced_voter_refuses),
      cmocka_unit_test(test_new_leader_expires_when_the_old_one_would_have),
      cmocka_unit_test(test_leadership_loss_fails_renewals),
      cmocka_unit_test(test_unanswered_records_are_resent_then_time_out),
      cmocka_unit_test(test_unanswered_queries_are_resent),
      cmocka_unit_test(test_stop_fails_waiting_renewals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
