/* Unit tests for the anti-entropy answer: exactly the missing events in local order across interleaved
 * origins, within the bounds (events and bytes), and a cost that does not grow with the log behind the first missing event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testutil.h"
#include "common/error.h"

typedef struct {
  ct_cluster_t cl;
  lkv_causal_member_t *m; /* member 1, fed events of 2 and 3 */
  uint64_t seq[CT_MAX + 1];
} ship_t;

static void setup_member(ship_t *s, size_t max_ship, size_t max_bytes) {
  memset(s, 0, sizeof(*s));
  ct_cluster(&s->cl, 4);
  lkv_causal_config_t cfg = ct_config(&s->cl, 1);
  cfg.max_ship_events = max_ship;
  cfg.max_ship_bytes = max_bytes;
  assert_int_equal(lkv_causal_member_new(&cfg, &s->m), 0);
}

static void done(lkv_causal_member_t *m) {
  lkv_causal_batch_t rb;
  if (lkv_causal_member_batch(m, &rb)) lkv_causal_member_advance(m);
}

/* One event of origin o (2 or 3, with deps on nothing else) or a local write (o == 1). */
static void add(ship_t *s, uint64_t o) {
  uint64_t seq = ++s->seq[o];
  if (o == 1) {
    lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"k", .key_len = 1};
    uint64_t rev;
    assert_int_equal(lkv_causal_member_write(s->m, 1000, &mu, 1, 0, &rev), 0);
  } else {
    lkv_causal_vv_t deps;
    lkv_causal_vv_init(&deps);
    assert_int_equal(lkv_causal_vv_set(&deps, o, seq - 1), 0);
    uint8_t buf[512];
    size_t len = ct_event(&s->cl, o, seq, 1000, &deps, "k", "v", buf, sizeof(buf));
    assert_int_equal(lkv_causal_member_recv_event(s->m, 1000, buf, len), 0);
  }
  done(s->m);
}

/* Member 4 reports theirs; the answer's events (origin, seq) are written to got (capacity cap). */
static size_t answer(ship_t *s, const lkv_causal_vv_t *theirs, lkv_causal_event_id_t *got, size_t cap) {
  uint8_t enc[256];
  lkv_causal_vv_encode(theirs, enc);
  assert_int_equal(lkv_causal_member_recv_vv(s->m, 4, enc, lkv_causal_vv_encoded_size(theirs)), 0);
  lkv_causal_batch_t rb;
  size_t n = 0;
  if (!lkv_causal_member_batch(s->m, &rb)) return 0;
  for (size_t i = 0; i < rb.n_msgs; i++) {
    assert_int_equal(rb.msgs[i].to, 4);
    assert_int_equal(rb.msgs[i].kind, LKV_CAUSAL_MSG_EVENT);
    lkv_causal_event_t ev;
    assert_int_equal(lkv_causal_event_decode(rb.msgs[i].data, rb.msgs[i].len, &ev), 0);
    assert_true(n < cap);
    got[n++] = (lkv_causal_event_id_t){.origin = ev.origin, .seq = ev.seq};
  }
  lkv_causal_member_advance(s->m);
  return n;
}

static uint64_t rev_of(const ship_t *s, lkv_causal_event_id_t id) {
  uint64_t rev = 0;
  assert_non_null(lkv_causal_member_event(s->m, id.origin, id.seq, &rev));
  return rev;
}

/* Interleaved origins: the answer is every event the vector lacks, in the member's local order, cut at
 * max_ship_events; the next answer (the peer having applied the first) goes on from there. */
static void test_answer_is_missing_events_in_local_order(void **state) {
  (void)state;
  ship_t s;
  setup_member(&s, 5, 1 << 20);
  static const uint64_t order[] = {2, 1, 3, 3, 2, 1, 2, 3, 1, 1, 2, 3, 2};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) add(&s, order[i]);
  lkv_causal_vv_t theirs; /* has 1:2, 2:1, 3:all (4) */
  lkv_causal_vv_init(&theirs);
  assert_int_equal(lkv_causal_vv_set(&theirs, 1, 2), 0);
  assert_int_equal(lkv_causal_vv_set(&theirs, 2, 1), 0);
  assert_int_equal(lkv_causal_vv_set(&theirs, 3, s.seq[3]), 0);
  lkv_causal_event_id_t got[16];
  size_t n = answer(&s, &theirs, got, 16);
  assert_int_equal(n, 5); /* 4 of origin 2 (2..5) and 2 of origin 1 (3, 4) lacked: cut at five */
  uint64_t last = 0;
  for (size_t i = 0; i < n; i++) {
    assert_false(lkv_causal_vv_covers(&theirs, got[i].origin, got[i].seq));
    uint64_t rev = rev_of(&s, got[i]);
    assert_true(rev > last); /* local order */
    last = rev;
  }
  /* Nothing lacked was skipped before the cut: every lacked event below the last shipped one was shipped. */
  for (uint64_t o = 1; o <= 3; o++)
    for (uint64_t q = lkv_causal_vv_get(&theirs, o) + 1; q <= s.seq[o]; q++) {
      lkv_causal_event_id_t id = {.origin = o, .seq = q};
      int shipped = 0;
      for (size_t i = 0; i < n; i++) shipped |= got[i].origin == o && got[i].seq == q;
      assert_int_equal(shipped, rev_of(&s, id) <= last);
    }
  for (size_t i = 0; i < n; i++)
    if (lkv_causal_vv_get(&theirs, got[i].origin) < got[i].seq)
      assert_int_equal(lkv_causal_vv_set(&theirs, got[i].origin, got[i].seq), 0);
  n = answer(&s, &theirs, got, 16);
  assert_int_equal(n, 1); /* the sixth lacked */
  assert_true(rev_of(&s, got[0]) > last);
  assert_int_equal(lkv_causal_vv_set(&theirs, got[0].origin, got[0].seq), 0);
  assert_int_equal(answer(&s, &theirs, got, 16), 0); /* nothing lacked: nothing sent */
  lkv_causal_member_free(s.m);
}

/* Six events of origin 2, each of len bytes (a 100-byte value), lacked by member 4: with a budget of 2.5
 * events an answer ships two, and with one smaller than an event it still ships one (else that event would
 * never go). Returns the events' length. */
static size_t six_big_events(ship_t *s) {
  char value[101];
  memset(value, 'x', 100);
  value[100] = 0;
  size_t len = 0;
  for (uint64_t seq = 1; seq <= 6; seq++) {
    lkv_causal_vv_t deps;
    lkv_causal_vv_init(&deps);
    assert_int_equal(lkv_causal_vv_set(&deps, 2, seq - 1), 0);
    uint8_t buf[512];
    len = ct_event(&s->cl, 2, seq, 1000, &deps, "k", value, buf, sizeof(buf));
    assert_int_equal(lkv_causal_member_recv_event(s->m, 1000, buf, len), 0);
    done(s->m);
  }
  return len;
}

static void test_answer_within_byte_budget(void **state) {
  (void)state;
  ship_t s;
  setup_member(&s, 256, 1 << 20);
  size_t len = six_big_events(&s);
  lkv_causal_member_free(s.m);
  static const struct {
    size_t budget_halves; /* the byte budget, in halves of an event */
    size_t shipped;
  } cases[] = {{5, 2}, {1, 1}, {12, 6}};
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    setup_member(&s, 256, cases[c].budget_halves * len / 2);
    six_big_events(&s);
    lkv_causal_vv_t theirs;
    lkv_causal_vv_init(&theirs);
    lkv_causal_event_id_t got[8];
    assert_int_equal(answer(&s, &theirs, got, 8), cases[c].shipped);
    for (size_t i = 0; i < cases[c].shipped; i++) assert_int_equal(got[i].seq, i + 1);
    lkv_causal_member_free(s.m);
  }
}

static double ms_since(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A peer that lacks only the first event of a long log gets exactly it, and the answer does not walk the
 * log behind it: many such answers take about as long on a long log as on a short one (the time is printed:
 * the micro-benchmark of docs/causal.md §12). */
static void test_answer_cost_independent_of_log_tail(void **state) {
  (void)state;
  double per[2];
  static const size_t tails[2] = {10, 20000};
  for (int t = 0; t < 2; t++) {
    ship_t s;
    setup_member(&s, 256, 1 << 20);
    add(&s, 2);
    for (size_t i = 0; i < tails[t]; i++) add(&s, 1);
    lkv_causal_vv_t theirs;
    lkv_causal_vv_init(&theirs);
    assert_int_equal(lkv_causal_vv_set(&theirs, 1, s.seq[1]), 0);
    lkv_causal_event_id_t got[4];
    enum { ROUNDS = 2000 };
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < ROUNDS; r++) {
      /* Each answer after a tick: within one, the event shipped already would not be shipped again. */
      assert_int_equal(lkv_causal_member_tick(s.m), 0);
      done(s.m);
      assert_int_equal(answer(&s, &theirs, got, 4), 1);
      assert_int_equal(got[0].origin, 2);
      assert_int_equal(got[0].seq, 1);
    }
    per[t] = ms_since(&t0) * 1e3 / ROUNDS;
    lkv_causal_member_free(s.m);
  }
  printf(
      "anti-entropy answer (1 event lacked before a log tail): %.2f us with 10 events behind it, "
      "%.2f us with 20000\n",
      per[0], per[1]);
  /* A scan of the tail would make the long log's answers thousands of times slower; a loaded machine
   * varies by far less than this bound. */
  assert_true(per[1] < 50 * per[0] + 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answer_is_missing_events_in_local_order),
      cmocka_unit_test(test_answer_within_byte_budget),
      cmocka_unit_test(test_answer_cost_independent_of_log_tail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
