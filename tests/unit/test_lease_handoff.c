/* Unit tests for the lessor's side of the lease handoff (src/lease/handoff.c) on an injected clock:
 * records keep the later expiry, orphans wait for their grant, a query's answer fences older terms (their
 * records and this member's own renewals), and a new leader expires nothing until a majority's answers
 * are merged, then expires each lease at the latest expiry any answer gave it, never earlier. */
#include "lease_testutil.h"

static int64_t fake_now;

static int64_t fake_clock(void *arg) {
  (void)arg;
  return fake_now;
}

typedef struct fixture_s {
  lkvt_store_t ts;
  lkvt_rep_t rep;
  lkv_lessor_t *l;
} fixture_t;

/* Member 2 of 3, following member 1 in term 2, with leases 5 (TTL 10) and 6 (TTL 4) granted at 0. */
static void start(fixture_t *f) {
  fake_now = 0;
  lkvt_open(&f->ts);
  lkvt_rep_init(&f->rep, 2, 1, 2, 3);
  lkv_lessor_options_t o = {.store = f->ts.s, .replicator = &f->rep.base, .clock = fake_clock, .handoff = 1};
  assert_int_equal(lkv_lessor_open(&f->l, &o), 0);
  assert_int_equal(lkv_lessor_granted(f->l, 5, 10), 0);
  assert_int_equal(lkv_lessor_granted(f->l, 6, 4), 0);
}

static void stop(fixture_t *f) {
  lkv_lessor_close(f->l);
  lkvt_close(&f->ts);
}

static int64_t left(fixture_t *f, int64_t id) {
  int64_t s = -99;
  assert_int_equal(lkv_lessor_lookup(f->l, id, NULL, &s), 0);
  return s;
}

/* The remaining ms the lessor would answer a query of `term` with, for id (-1 when absent). */
static int64_t answered_ms(fixture_t *f, uint64_t term, int64_t id, int64_t *uptime) {
  lkv_lease_remaining_t *v;
  size_t n;
  assert_int_equal(lkv_lessor_remaining(f->l, term, &v, &n, uptime), 0);
  int64_t ms = -1;
  for (size_t i = 0; i < n; i++)
    if (v[i].id == id) ms = v[i].ms;
  free(v);
  return ms;
}

static void test_records_keep_the_later_expiry(void **state) {
  (void)state;
  fixture_t f;
  start(&f);
  fake_now = 3000;
  lkv_lease_remaining_t r[] = {{5, 9500}, {6, 500}};
  assert_int_equal(lkv_lessor_record(f.l, 2, r, 2), 0);
  assert_int_equal(left(&f, 5), 9); /* 3000 + 9500 - 3000 */
  assert_int_equal(left(&f, 6), 1); /* its grant's 4000 is later than 3500 */
  int64_t up;
  assert_int_equal(answered_ms(&f, 2, 5, &up), 9500);
  assert_int_equal(answered_ms(&f, 2, 6, &up), 1000);
  assert_int_equal(up, 3000);
  /* A following member does not renew or expire. */
  int64_t ttl;
  assert_int_equal(lkv_lessor_renew(f.l, 5, &ttl, NULL), LKV_ENOTLEADER);
  fake_now = 60000;
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  stop(&f);
}

static void test_orphans_wait_for_their_grant(void **state) {
  (void)state;
  fixture_t f;
  start(&f);
  fake_now = 1000;
  lkv_lease_remaining_t r[] = {{7, 8000}, {8, 8000}};
  assert_int_equal(lkv_lessor_record(f.l, 2, r, 2), 0);
  /* Not granted here yet: unknown to clients, but part of an answer. */
  assert_int_equal(lkv_lessor_lookup(f.l, 7, NULL, NULL), LKV_ELEASENOTFOUND);
  int64_t *ids;
  size_t n;
  assert_int_equal(lkv_lessor_list(f.l, &ids, &n), 0);
  assert_int_equal(n, 2);
  free(ids);
  int64_t up;
  assert_int_equal(answered_ms(&f, 2, 7, &up), 8000);
  fake_now = 2000;
  assert_int_equal(lkv_lessor_granted(f.l, 7, 5), 0); /* 2000 + 5000 < 9000: the record counts */
  assert_int_equal(left(&f, 7), 7);
  lkv_lessor_revoked(f.l, 8); /* revoked before its grant was seen here: the orphan goes */
  assert_int_equal(answered_ms(&f, 2, 8, &up), -1);
  assert_int_equal(lkv_lessor_granted(f.l, 8, 30), 0);
  assert_int_equal(left(&f, 8), 30);
  stop(&f);
}

static void test_answer_fences_older_terms(void **state) {
  (void)state;
  fixture_t f;
  start(&f);
  int64_t up;
  assert_int_equal(answered_ms(&f, 4, 5, &up), 10000);
  lkv_lease_remaining_t r[] = {{5, 20000}};
  assert_int_equal(lkv_lessor_record(f.l, 3, r, 1), LKV_ENOTLEADER);
  assert_int_equal(left(&f, 5), 10);
  assert_int_equal(lkv_lessor_record(f.l, 4, r, 1), 0);
  assert_int_equal(left(&f, 5), 20);
  /* Leading in term 3 after answering term 4's query: its renewals would be missed by term 4. */
  f.rep.leader = 2;
  f.rep.term = 3;
  int64_t ttl;
  assert_int_equal(lkv_lessor_renew(f.l, 5, &ttl, NULL), LKV_ENOTLEADER);
  f.rep.term = 5;
  uint64_t term = 0;
  assert_int_equal(lkv_lessor_renew(f.l, 5, &ttl, &term), 0);
  assert_int_equal(ttl, 10);
  assert_int_equal(term, 5);
  stop(&f);
}

static void test_takeover_waits_for_a_majority_then_is_never_early(void **state) {
  (void)state;
  fixture_t f;
  start(&f);
  fake_now = 2000;
  f.rep.leader = 2; /* elected in term 3 */
  f.rep.term = 3;
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  int64_t up;
  assert_int_equal(answered_ms(&f, 3, 5, &up), 8000);
  fake_now = 30000; /* every lease is due by this member's clock, but nothing is merged yet */
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  fake_now = 2500;
  /* A wrong term merges nothing. */
  lkv_lease_remaining_t other[] = {{5, 50000}};
  assert_int_equal(lkv_lessor_takeover(f.l, 2, other, 1, 100000, 0), LKV_ENOTLEADER);
  /* Its own answer, then member 1's (which had renewed lease 5 at 1000: 9000 left then), counted from
   * when it is merged; member 1 has been up for 2 s, so nothing older than that is lost. */
  assert_int_equal(lkv_lessor_takeover(f.l, 3, NULL, 0, 2500, 0), 0);
  lkv_lease_remaining_t a[] = {{5, 8500}, {6, 1500}, {9, 4000}};
  fake_now = 2600;
  assert_int_equal(lkv_lessor_takeover(f.l, 3, a, 3, 2000, 1), 0);
  assert_int_equal(lkv_lessor_takeover(f.l, 3, a, 3, 2000, 1), LKV_ENOTLEADER); /* over */
  assert_int_equal(lkv_lessor_lookup(f.l, 9, NULL, NULL), LKV_ELEASENOTFOUND);  /* an orphan */
  /* Lease 6: granted at 0 (4000) vs 2600 + 1500 = 4100 from the answer, and member 1 was up from 600:
   * 600 + 4000 = 4600 is the latest. Lease 5: 2600 + 8500 = 11100. */
  fake_now = 4599;
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  fake_now = 4600;
  assert_int_equal(lkv_lessor_expire(f.l), 1);
  assert_int_equal(f.rep.revoked[0], 6);
  fake_now = 11099;
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  fake_now = 11100;
  assert_int_equal(lkv_lessor_expire(f.l), 1);
  assert_int_equal(f.rep.revoked[1], 5);
  stop(&f);
}

static void test_new_term_takes_over_again(void **state) {
  (void)state;
  fixture_t f;
  start(&f);
  f.rep.leader = 2;
  f.rep.term = 3;
  assert_int_equal(lkv_lessor_takeover(f.l, 3, NULL, 0, 0, 1), 0);
  fake_now = 4000;
  assert_int_equal(lkv_lessor_expire(f.l), 1); /* lease 6, from its grant */
  /* Elected again in a later term (another member may have led between): no expiry until merged. */
  f.rep.term = 5;
  fake_now = 10000;
  assert_int_equal(lkv_lessor_expire(f.l), 0);
  assert_int_equal(lkv_lessor_takeover(f.l, 5, NULL, 0, 10000, 1), 0); /* up since 0 */
  assert_int_equal(lkv_lessor_expire(f.l), 1);
  stop(&f);
}

static void test_reload_counts_as_filling(void **state) {
  (void)state;
  fixture_t f;
  start(&f);
  fake_now = 7000;
  lkv_lease_remaining_t r[] = {{70, 9000}};
  assert_int_equal(lkv_lessor_record(f.l, 2, r, 1), 0);
  assert_int_equal(lkv_lessor_reload(f.l, f.ts.s), 0); /* the store has no leases: all forgotten */
  int64_t up;
  assert_int_equal(answered_ms(&f, 2, 70, &up), -1);
  assert_int_equal(up, 0); /* a new leader counts a full TTL from now for what this member forgot */
  stop(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_records_keep_the_later_expiry),
      cmocka_unit_test(test_orphans_wait_for_their_grant),
      cmocka_unit_test(test_answer_fences_older_terms),
      cmocka_unit_test(test_takeover_waits_for_a_majority_then_is_never_early),
      cmocka_unit_test(test_new_term_takes_over_again),
      cmocka_unit_test(test_reload_counts_as_filling),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
