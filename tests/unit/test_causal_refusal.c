/* Unit tests for the check of a "removed" refusal in the causal core (docs/causal.md §15a,
 * lkv_causal_member_removal_proven): a member stops only on a removal of it that a member still in (in its
 * own view) applied; the refusals of the members of a mutual removal, of a remover alone, tampered ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"

static void removes(net_t *t, size_t i, uint64_t id) {
  uint64_t rev = 0;
  assert_int_equal(lkv_causal_member_remove(t->m[i], t->now++, id, 5, &rev), 0);
  assert_int_equal(flush(t, i), rev);
}

/* Delivers what is in flight, except what goes to or comes from member `cut` (dropped). */
static void settle_around(net_t *t, uint64_t cut) {
  for (size_t j = 0; j < t->nq;) {
    if (t->q[j].to == cut || t->q[j].from == cut) {
      drop(t, j);
      continue;
    }
    int rc = deliver(t, j);
    assert_true(rc == 0 || rc == LKV_EMEMBERREMOVED);
  }
}

/* A copy of the removal of id that member i refuses id with (its first removal of id applied). */
static uint8_t *proof_of(net_t *t, size_t i, uint64_t id, size_t *len) {
  const uint8_t *p = lkv_causal_member_removal_event(t->m[i], id, len);
  assert_non_null(p);
  uint8_t *copy = malloc(*len);
  memcpy(copy, p, *len);
  return copy;
}

/* X (3) and Y (4) remove each other across a partition; A (1) and B (2) take Y's removal of X and refuse
 * X's removal of Y (above X's cap). X refuses Y with its removal of Y: Y, not removed, must not stop. A
 * refuses X with Y's removal of X: X stops. */
static void test_mutual_removal(void **state) {
  (void)state;
  net_t *t = net_new(4, 100, 64);
  put(t, 2, "x", "1");
  settle(t);
  removes(t, 2, 4); /* X removes Y; nobody gets it */
  drop_all(t);
  removes(t, 3, 3); /* Y removes X; A and B get it, X does not */
  settle_around(t, 3);
  assert_true(lkv_causal_member_is_removed(t->m[0], 3));
  assert_false(lkv_causal_member_is_removed(t->m[0], 4));
  size_t xlen, ylen;
  uint8_t *x_removes_y = proof_of(t, 2, 4, &xlen), *y_removes_x = proof_of(t, 0, 3, &ylen);
  /* The members still in refuse X's removal of Y. */
  assert_int_equal(lkv_causal_member_recv_event(t->m[0], t->now, x_removes_y, xlen), LKV_EMEMBERREMOVED);
  /* Y, refused by X with it: X is removed in Y's view, its refusal proves nothing. */
  assert_int_equal(lkv_causal_member_removal_proven(t->m[3], 3, x_removes_y, xlen), LKV_EMEMBERREMOVED);
  /* A and B do not refuse Y (it is no removed member there). */
  size_t none;
  assert_null(lkv_causal_member_removal_event(t->m[0], 4, &none));
  /* X, refused by A or B with Y's removal of it: proven, though Y is removed in X's own view and the
   * removal is above X's cap for Y (X's core would refuse the event itself). */
  assert_int_equal(lkv_causal_member_recv_event(t->m[2], t->now, y_removes_x, ylen), LKV_EMEMBERREMOVED);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 1, y_removes_x, ylen), 0);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 2, y_removes_x, ylen), 0);
  /* ... but not by Y's own refusal: Y is removed in X's view. */
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 4, y_removes_x, ylen), LKV_EMEMBERREMOVED);
  free(x_removes_y);
  free(y_removes_x);
  net_free(t);
}

/* A removal of Y by X while A removed X, which Y has not applied yet: only X refuses Y with it, and X may
 * be removed (it is): Y waits; once A's removal of X reached Y, X's refusal is no evidence at all. */
static void test_remover_alone_waits(void **state) {
  (void)state;
  net_t *t = net_new(4, 100, 64);
  settle(t);
  removes(t, 2, 4); /* X removes Y */
  drop_all(t);
  removes(t, 0, 3); /* A removes X; Y does not hear of it yet */
  flight_t aside[64];
  size_t n = 0;
  for (size_t j = 0; j < t->nq;)
    if (t->q[j].to == 4) {
      aside[n++] = t->q[j];
      memmove(&t->q[j], &t->q[j + 1], (t->nq - j - 1) * sizeof(t->q[0]));
      t->nq--;
    } else {
      j++;
    }
  settle_around(t, 3);
  size_t len;
  uint8_t *x_removes_y = proof_of(t, 2, 4, &len);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[3], 3, x_removes_y, len), LKV_EAGAIN);
  for (size_t k = 0; k < n; k++) {
    t->q[t->nq++] = aside[k];
    deliver(t, t->nq - 1);
  }
  assert_true(lkv_causal_member_is_removed(t->m[3], 3));
  assert_int_equal(lkv_causal_member_removal_proven(t->m[3], 3, x_removes_y, len), LKV_EMEMBERREMOVED);
  free(x_removes_y);
  net_free(t);
}

/* An ordinary removal: the remover's refusal alone waits while others are in; another member's that
 * applied it proves it; in a cluster of two the remover is the only other member, and its word is enough. */
static void test_plain_removal(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  settle(t);
  removes(t, 0, 3);
  settle_around(t, 3);
  size_t len;
  uint8_t *p = proof_of(t, 1, 3, &len);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 1, p, len), LKV_EAGAIN);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 2, p, len), 0);
  /* Not for another member, nor from itself or a stranger. */
  assert_int_equal(lkv_causal_member_removal_proven(t->m[1], 1, p, len), LKV_EBADMSG);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 3, p, len), LKV_EINVAL);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 9, p, len), LKV_EINVAL);
  /* Tampered: its signature fails; cut short: malformed. */
  p[len - 1] ^= 1;
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 2, p, len), LKV_EVERIFY);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[2], 2, p, len - 1), LKV_EBADMSG);
  free(p);
  net_free(t);

  t = net_new(2, 100, 64);
  settle(t);
  removes(t, 0, 2);
  drop_all(t);
  p = proof_of(t, 0, 2, &len);
  assert_int_equal(lkv_causal_member_removal_proven(t->m[1], 1, p, len), 0);
  free(p);
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mutual_removal),
      cmocka_unit_test(test_remover_alone_waits),
      cmocka_unit_test(test_plain_removal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
