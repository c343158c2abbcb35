/* Unit tests for the causal member's compaction: stability from every member's report, the checkpoint
 * and a restart from it and the log's tail, compacted events taken as copies, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"
#include "common/error.h"

/* A new member i from a checkpoint and member i's durable log after base (t->log[i][j] has revision j + 1).
 */
static lkv_causal_member_t *restarted(net_t *t, size_t i, const uint8_t *ckpt, size_t len) {
  lkv_causal_member_t *m;
  lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  uint64_t rev = 0, base = 0;
  assert_int_equal(lkv_causal_member_restore(m, ckpt, len, &rev, &base), 0);
  assert_true(base <= rev && rev <= t->nlog[i]);
  for (size_t j = base; j < t->nlog[i]; j++) {
    uint64_t r = 0;
    assert_int_equal(lkv_causal_member_replay(m, t->log[i][j], t->loglen[i][j], &r), 0);
    assert_int_equal(r, j + 1);
  }
  return m;
}

static void test_stable_needs_every_report(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "a", "1");
  put(t, 0, "b", "2");
  settle(t);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 0); /* applied everywhere, but nobody said so */
  exchange(t);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 2);
  /* m2 is cut off: what it has not reported stays unstable, on every member. */
  put(t, 1, "c", "3");
  drop_all(t);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush(t, i);
  }
  for (size_t k = 0; k < t->nq;)
    if (t->q[k].to == 3)
      free(t->q[k].data), t->q[k] = t->q[--t->nq];
    else
      k++;
  settle(t);
  assert_int_equal(lkv_causal_member_revision(t->m[0]), 3);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 2);
  assert_int_equal(lkv_causal_member_compact(t->m[0], 3), LKV_EINVAL); /* not stable */
  net_free(t);
}

static void test_restart_from_checkpoint_and_tail(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "a1");
  settle(t);
  put(t, 0, "k", "a2"); /* concurrent with b1: siblings */
  put(t, 1, "k", "b1");
  put(t, 2, "gone", "x");
  put(t, 2, "gone", NULL);
  settle(t);
  exchange(t);
  uint64_t stable = lkv_causal_member_stable(t->m[0]);
  assert_int_equal(stable, 5);
  put(t, 0, "late", "v"); /* after the checkpoint's base, before its revision */
  uint8_t *ckpt;
  size_t len;
  assert_int_equal(lkv_causal_member_checkpoint(t->m[0], stable - 1, &ckpt, &len), 0);
  assert_int_equal(lkv_causal_member_compact(t->m[0], stable - 1), 0);
  assert_int_equal(lkv_causal_member_first_rev(t->m[0]), stable);
  assert_null(lkv_causal_member_event_at(t->m[0], stable - 1));
  assert_non_null(lkv_causal_member_event_at(t->m[0], stable));
  uint64_t rev;
  assert_null(lkv_causal_member_event(t->m[0], 1, 1, &rev));
  assert_int_equal(key(t, 0, "k")->n, 2);
  /* A restart: the checkpoint, then the log's events after its base (stable .. 6: held, not applied) and
   * after its revision (7: applied). */
  put(t, 0, "after", "w");
  lkv_causal_member_t *m = restarted(t, 0, ckpt, len);
  assert_same(t->m[0], m);
  assert_non_null(lkv_causal_member_event_at(m, stable));
  assert_non_null(lkv_causal_member_event_at(m, 7));
  /* A compacted event coming again is a copy: nothing changes. */
  assert_int_equal(lkv_causal_member_recv_event(m, t->now, t->log[0][0], t->loglen[0][0]), 0);
  assert_int_equal(lkv_causal_member_revision(m), 7);
  lkv_causal_member_free(m);
  free(ckpt);
  net_free(t);
}

/* A peer that lacks events after the base gets them from a member restarted from its checkpoint. */
static void test_ships_the_tail_after_a_restart(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "a", "1");
  settle(t);
  exchange(t);
  put(t, 0, "b", "2");
  drop_all(t); /* m1 misses b */
  uint8_t *ckpt;
  size_t len;
  uint64_t base = lkv_causal_member_stable(t->m[0]);
  assert_int_equal(base, 1);
  assert_int_equal(lkv_causal_member_checkpoint(t->m[0], base, &ckpt, &len), 0);
  lkv_causal_member_t *m = restarted(t, 0, ckpt, len);
  lkv_causal_member_free(t->m[0]);
  t->m[0] = m;
  exchange(t);
  assert_string_equal(value(t, 1, "b"), "2");
  exchange(t); /* m1 reports it has b */
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 2);
  free(ckpt);
  net_free(t);
}

/* A peer that comes back with less than this member compacted (a backup restored there) is reported: it
 * cannot get those events by anti-entropy. */
static void test_peer_below_the_compaction(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "a", "1");
  put(t, 1, "b", "2");
  settle(t);
  exchange(t);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 2), 0);
  assert_int_equal(lkv_causal_member_compact(t->m[0], 2), 0);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 2), 0); /* it has them */
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 1), 0); /* itself */
  /* m2 restored from an old backup: its vector has m1's first event only. */
  lkv_causal_vv_t old;
  lkv_causal_vv_init(&old);
  assert_int_equal(lkv_causal_vv_set(&old, 1, 1), 0);
  uint8_t buf[64];
  assert_true(lkv_causal_vv_encoded_size(&old) <= sizeof(buf));
  lkv_causal_vv_encode(&old, buf);
  /* Reports merge (a member's durable vector only grows): a new member object stands for m1 restarted. */
  uint8_t *ckpt;
  size_t len;
  assert_int_equal(lkv_causal_member_checkpoint(t->m[0], 2, &ckpt, &len), 0);
  lkv_causal_member_free(t->m[0]);
  lkv_causal_config_t cfg = ct_config(&t->cl, 1);
  assert_int_equal(lkv_causal_member_new(&cfg, &t->m[0]), 0);
  uint64_t rev, base;
  assert_int_equal(lkv_causal_member_restore(t->m[0], ckpt, len, &rev, &base), 0);
  free(ckpt);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 2), 0); /* no report yet: unknown */
  assert_int_equal(lkv_causal_member_recv_vv(t->m[0], 2, buf, lkv_causal_vv_encoded_size(&old)), 0);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 2), 1);
  net_free(t);
}

static void test_refusals(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "a", "1");
  settle(t);
  exchange(t);
  uint8_t *ckpt;
  size_t len;
  assert_int_equal(lkv_causal_member_checkpoint(t->m[0], 2, &ckpt, &len), LKV_EINVAL); /* above the rev */
  assert_int_equal(lkv_causal_member_checkpoint(t->m[0], 1, &ckpt, &len), 0);
  /* Not quiet: an event applied and not durable yet, or a batch out. */
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"b", .key_len = 1};
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(t->m[0], t->now, &mu, 1, 1, &rev), 0);
  uint8_t *other;
  size_t olen;
  assert_int_equal(lkv_causal_member_checkpoint(t->m[0], 1, &other, &olen), LKV_EAGAIN);
  assert_int_equal(lkv_causal_member_compact(t->m[0], 1), LKV_EAGAIN);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(t->m[0], &rb), 1);
  assert_int_equal(lkv_causal_member_compact(t->m[0], 1), LKV_EAGAIN);
  lkv_causal_member_advance(t->m[0]);
  assert_int_equal(lkv_causal_member_compact(t->m[0], 1), 0);
  assert_int_equal(lkv_causal_member_compact(t->m[0], 0), LKV_EINVAL); /* below what is compacted */
  /* Malformed checkpoints, and one given to a member that is not new. */
  lkv_causal_config_t cfg = ct_config(&t->cl, 1);
  lkv_causal_member_t *m;
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  uint64_t r, b;
  assert_int_equal(lkv_causal_member_restore(m, ckpt, len - 1, &r, &b), LKV_EBADMSG);
  ckpt[8] ^= 1; /* the revision no longer sums the vector */
  assert_int_equal(lkv_causal_member_restore(m, ckpt, len, &r, &b), LKV_EBADMSG);
  ckpt[8] ^= 1;
  assert_int_equal(lkv_causal_member_restore(m, ckpt, len, &r, &b), 0);
  assert_int_equal(lkv_causal_member_restore(m, ckpt, len, &r, &b), LKV_EAGAIN);
  assert_int_equal(r, 1);
  assert_string_equal(value(t, 0, "a"), "1");
  assert_non_null(lkv_causal_member_key(m, (const uint8_t *)"a", 1));
  lkv_causal_member_free(m);
  free(ckpt);
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stable_needs_every_report),
      cmocka_unit_test(test_restart_from_checkpoint_and_tail),
      cmocka_unit_test(test_ships_the_tail_after_a_restart),
      cmocka_unit_test(test_peer_below_the_compaction),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
