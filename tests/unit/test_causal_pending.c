/* Unit tests for the causal-ready buffer: readiness, holding, taking in order, duplicates, its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal/pending.h"
#include "causal_testutil.h"
#include "common/error.h"

static ct_cluster_t cl;

typedef struct {
  uint8_t buf[512];
  size_t len;
  lkv_causal_event_t ev;
} ev_t;

/* Event (origin, seq) that depends on deps pairs (0-terminated). */
static void make(ev_t *e, uint64_t origin, uint64_t seq, const uint64_t (*deps)[2]) {
  lkv_causal_vv_t d;
  lkv_causal_vv_init(&d);
  for (int i = 0; deps && deps[i][0]; i++) assert_int_equal(lkv_causal_vv_set(&d, deps[i][0], deps[i][1]), 0);
  e->len = ct_event(&cl, origin, seq, 100, &d, "k", "v", e->buf, sizeof(e->buf));
  assert_int_equal(lkv_causal_event_decode(e->buf, e->len, &e->ev), 0);
}

static void test_is_ready(void **state) {
  (void)state;
  ev_t e;
  const uint64_t deps[][2] = {{1, 1}, {2, 3}, {0, 0}};
  make(&e, 1, 2, deps);
  lkv_causal_vv_t applied;
  lkv_causal_vv_init(&applied);
  assert_false(lkv_causal_pending_is_ready(&e.ev, &applied));
  assert_int_equal(lkv_causal_vv_set(&applied, 1, 1), 0);
  assert_false(lkv_causal_pending_is_ready(&e.ev, &applied)); /* 2:3 missing */
  assert_int_equal(lkv_causal_vv_set(&applied, 2, 3), 0);
  assert_true(lkv_causal_pending_is_ready(&e.ev, &applied));
  assert_int_equal(lkv_causal_vv_set(&applied, 1, 2), 0);
  assert_false(lkv_causal_pending_is_ready(&e.ev, &applied)); /* applied already */
}

static void test_hold_and_take_in_order(void **state) {
  (void)state;
  lkv_causal_pending_t p;
  lkv_causal_pending_init(&p, 8, 1 << 20);
  ev_t a2, a3, b1;
  const uint64_t d_a2[][2] = {{1, 1}, {0, 0}}, d_a3[][2] = {{1, 2}, {2, 1}, {0, 0}};
  make(&a2, 1, 2, d_a2);
  make(&a3, 1, 3, d_a3);
  make(&b1, 2, 1, NULL);
  assert_int_equal(lkv_causal_pending_hold(&p, a3.buf, a3.len, &a3.ev), 0);
  assert_int_equal(lkv_causal_pending_hold(&p, a2.buf, a2.len, &a2.ev), 0);
  assert_int_equal(lkv_causal_pending_hold(&p, a2.buf, a2.len, &a2.ev), LKV_EEXIST);
  assert_int_equal(lkv_causal_pending_hold(&p, b1.buf, b1.len, &b1.ev), 0);
  assert_int_equal(p.n, 3);
  assert_int_equal(p.bytes, a2.len + a3.len + b1.len);
  assert_non_null(lkv_causal_pending_find(&p, 1, 3));
  assert_null(lkv_causal_pending_find(&p, 1, 4));

  lkv_causal_vv_t applied;
  lkv_causal_vv_init(&applied);
  lkv_causal_held_t h;
  /* Only b1 is ready with nothing applied. */
  assert_int_equal(lkv_causal_pending_take(&p, &applied, &h), 1);
  assert_int_equal(h.ev.origin, 2);
  assert_memory_equal(h.bytes, b1.buf, b1.len);
  assert_ptr_equal(h.ev.payload, h.bytes + (b1.ev.payload - b1.buf)); /* points into its own copy */
  free(h.bytes);
  assert_int_equal(lkv_causal_vv_set(&applied, 2, 1), 0);
  assert_int_equal(lkv_causal_pending_take(&p, &applied, &h), 0); /* a2 needs 1:1 */
  assert_int_equal(lkv_causal_vv_set(&applied, 1, 1), 0);
  assert_int_equal(lkv_causal_pending_take(&p, &applied, &h), 1);
  assert_int_equal(h.ev.seq, 2);
  free(h.bytes);
  assert_int_equal(lkv_causal_vv_set(&applied, 1, 3), 0); /* a3 arrived by another way: dropped */
  assert_int_equal(lkv_causal_pending_take(&p, &applied, &h), 0);
  assert_int_equal(p.n, 0);
  assert_int_equal(p.bytes, 0);
  lkv_causal_pending_free(&p);
}

static void test_bounds(void **state) {
  (void)state;
  ev_t e[3];
  for (uint64_t i = 0; i < 3; i++) {
    const uint64_t deps[][2] = {{1, i}, {0, 0}}; /* {1, 0} is no entry: the first has no deps */
    make(&e[i], 1, i + 1, deps);
  }
  lkv_causal_pending_t p;
  lkv_causal_pending_init(&p, 2, 1 << 20);
  assert_int_equal(lkv_causal_pending_hold(&p, e[0].buf, e[0].len, &e[0].ev), 0);
  assert_int_equal(lkv_causal_pending_hold(&p, e[1].buf, e[1].len, &e[1].ev), 0);
  assert_int_equal(lkv_causal_pending_hold(&p, e[2].buf, e[2].len, &e[2].ev), LKV_EBUFFERFULL);
  lkv_causal_pending_free(&p);
  lkv_causal_pending_init(&p, 100, e[0].len + e[1].len - 1); /* bytes: the second does not fit */
  assert_int_equal(lkv_causal_pending_hold(&p, e[0].buf, e[0].len, &e[0].ev), 0);
  assert_int_equal(lkv_causal_pending_hold(&p, e[1].buf, e[1].len, &e[1].ev), LKV_EBUFFERFULL);
  assert_int_equal(p.n, 1);
  lkv_causal_pending_free(&p);
}

int main(void) {
  ct_cluster(&cl, 3);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_is_ready),
      cmocka_unit_test(test_hold_and_take_in_order),
      cmocka_unit_test(test_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
