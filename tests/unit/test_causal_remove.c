/* Unit tests for member removals in the causal core (docs/causal.md §15): the removal's cap on the removed
 * member's events whatever their order, the cap lifted to what members still in had applied, the removed
 * member learning of it, stability without it, held events dropped, replay, the mutation's codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"

/* Takes every queued message out of the network into aside (a partition that keeps them). */
static size_t hold_all(net_t *t, flight_t *aside) {
  size_t n = t->nq;
  memcpy(aside, t->q, n * sizeof(*aside));
  t->nq = 0;
  return n;
}

/* Delivers the held message f to its receiver now and returns the receiver's answer (f's data freed). */
static int deliver_held(net_t *t, flight_t *f) {
  t->q[t->nq++] = *f;
  return deliver(t, t->nq - 1);
}

static void removes(net_t *t, size_t i, uint64_t id) {
  uint64_t rev = 0;
  assert_int_equal(lkv_causal_member_remove(t->m[i], t->now++, id, 5, &rev), 0);
  assert_int_equal(flush(t, i), rev);
}

/* Delivers everything in flight except what goes to member `gone` (dropped): refusals of a removed member's
 * events are expected. */
static void settle_without(net_t *t, uint64_t gone) {
  for (size_t j = 0; j < t->nq;) {
    if (t->q[j].to == gone) {
      drop(t, j);
      continue;
    }
    int rc = deliver(t, j);
    assert_true(rc == 0 || rc == LKV_EMEMBERREMOVED);
  }
}

/* Anti-entropy rounds of every member but `gone`, which gets nothing. */
static void rounds_without(net_t *t, uint64_t gone, int rounds) {
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < t->cl.n; i++) {
      if (i + 1 == gone) continue;
      assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
      flush(t, i);
    }
    settle_without(t, gone);
  }
}

static uint64_t has(net_t *t, size_t i, uint64_t origin) {
  return lkv_causal_vv_get(lkv_causal_member_vv(t->m[i]), origin);
}

/* C's writes made after the removal's deps are refused by every member, whatever order they arrive in. */
static void test_removal_caps_events(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 2, "c", "1");
  settle(t);
  put(t, 2, "c", "2"); /* C cut off: A and B never get these before the removal */
  put(t, 2, "c", "3");
  flight_t aside[16];
  size_t n = hold_all(t, aside);
  removes(t, 0, 3);
  assert_true(lkv_causal_member_is_removed(t->m[0], 3));
  assert_int_equal(lkv_causal_member_removal_cap(t->m[0], 3), 1);
  assert_int_equal(lkv_causal_member_removal_cap(t->m[0], 2), UINT64_MAX);
  settle(t);
  assert_true(lkv_causal_member_is_removed(t->m[1], 3));
  /* Now C's later events arrive: refused, in order or not. */
  for (size_t k = n; k-- > 0;) {
    if (aside[k].kind != LKV_CAUSAL_MSG_EVENT || aside[k].to == 3) {
      free(aside[k].data);
      continue;
    }
    assert_int_equal(deliver_held(t, &aside[k]), LKV_EMEMBERREMOVED);
  }
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(has(t, i, 3), 1);
    assert_string_equal(value(t, i, "c"), "1");
    assert_int_equal(lkv_causal_member_held(t->m[i]), 0);
  }
  /* Removing it again, or an id that is no member: refused. */
  uint64_t rev;
  assert_int_equal(lkv_causal_member_remove(t->m[1], t->now, 3, 5, &rev), LKV_EMEMBERREMOVED);
  assert_int_equal(lkv_causal_member_remove(t->m[1], t->now, 9, 5, &rev), LKV_ENOENT);
  net_free(t);
}

/* B applied C's second write before the removal reached it: B holds it, reports it, and A, which refused
 * it at first, takes it then; C's third write, which no member still in applied, stays refused. */
static void test_cap_lifted_by_members_still_in(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 2, "c", "1");
  settle(t);
  put(t, 2, "c", "2");
  flight_t aside[16];
  size_t n = hold_all(t, aside);
  for (size_t k = 0; k < n; k++) /* c2 reaches B only */
    if (aside[k].kind == LKV_CAUSAL_MSG_EVENT && aside[k].to == 2)
      assert_int_equal(deliver_held(t, &aside[k]), 0);
    else
      free(aside[k].data);
  put(t, 2, "c", "3");
  drop_all(t); /* c3 reaches nobody now */
  removes(t, 0, 3);
  assert_int_equal(lkv_causal_member_removal_cap(t->m[0], 3), 1);
  /* The removal reaches B, which has C up to 2: its cap is 2. */
  int k = -1;
  for (size_t j = 0; j < t->nq; j++)
    if (t->q[j].to == 2) k = (int)j;
  assert_true(k >= 0);
  assert_int_equal(deliver(t, (size_t)k), 0);
  drop_all(t);
  assert_true(lkv_causal_member_is_removed(t->m[1], 3));
  assert_int_equal(lkv_causal_member_removal_cap(t->m[1], 3), 2);
  /* Rounds between A and B only (C is gone): A learns B's vector, lifts its cap and takes c2. */
  rounds_without(t, 3, 3);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(has(t, i, 3), 2);
    assert_int_equal(lkv_causal_member_removal_cap(t->m[i], 3), 2);
    assert_string_equal(value(t, i, "c"), "2");
  }
  /* C writes on: refused by both. */
  put(t, 2, "c", "4");
  settle_without(t, 3);
  rounds_without(t, 0, 1); /* everyone: C's vector gets its removal shipped to it */
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(has(t, i, 3), 2);
    assert_int_equal(lkv_causal_member_held(t->m[i]), 0);
  }
  net_free(t);
}

/* The removed member gets its removal through anti-entropy and then refuses its clients' writes; members
 * still in no longer push events to it nor report it silent. */
static void test_removed_member_learns(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "a", "1");
  settle(t);
  removes(t, 1, 3);
  settle(t);
  assert_false(lkv_causal_member_is_removed(t->m[2], 3)); /* the removal is not pushed to C */
  put(t, 0, "a", "2");
  for (size_t j = 0; j < t->nq; j++) assert_int_not_equal(t->q[j].to, 3);
  settle(t);
  rounds_without(t, 0, 1); /* C sends its vector; A and B answer with what it lacks */
  assert_true(lkv_causal_member_is_removed(t->m[2], 3));
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"x", .key_len = 1};
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(t->m[2], t->now, &mu, 1, 1, &rev), LKV_EMEMBERREMOVED);
  /* A removed member is not silent (it is gone): never reported. */
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  assert_int_equal(lkv_causal_member_silence(t->m[0], 1, 10, out), 0);
  size_t k = lkv_causal_member_silence(t->m[0], 100000, 10, out);
  assert_int_equal(k, 1);
  assert_int_equal(out[0].id, 2);
  net_free(t);
}

/* A tombstone waits for a silent member's report; once that member is removed and every member still in
 * reported having the removal, it is purged. */
static void test_removal_lets_tombstones_purge(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "v");
  settle(t);
  put(t, 0, "k", NULL);
  drop_all(t); /* C is gone for good: it never gets the delete */
  rounds_without(t, 3, 3);
  assert_non_null(key(t, 0, "k")); /* C's report is missing: kept */
  removes(t, 1, 3);
  rounds_without(t, 3, 3);
  assert_null(key(t, 0, "k"));
  assert_null(key(t, 1, "k"));
  net_free(t);
}

/* Delivers the queued messages to member `to` of kind (0: any) and drops every other message in flight. */
static void only_to(net_t *t, uint64_t to, uint8_t kind) {
  for (size_t j = 0; j < t->nq;) {
    if (t->q[j].to == to && (!kind || t->q[j].kind == kind)) {
      assert_int_equal(deliver(t, j), 0);
      continue;
    }
    drop(t, j);
  }
}

/* B applied X's write of k before learning of X's removal; A deleted k concurrently and removed X. B's report
 * covers the delete, but A must not purge the tombstone while B may still hand it X's concurrent write: it
 * waits until the members still in report the removal and it holds what they have of X. */
static void test_purge_waits_for_removed_members_writes(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "v");
  settle(t);
  put(t, 2, "k", "x"); /* X's write reaches B only */
  only_to(t, 2, LKV_CAUSAL_MSG_EVENT);
  put(t, 0, "k", NULL); /* A's delete, concurrent with it, reaches B */
  only_to(t, 2, LKV_CAUSAL_MSG_EVENT);
  removes(t, 0, 3);
  drop_all(t); /* B does not get the removal yet */
  assert_int_equal(lkv_causal_member_tick(t->m[1]), 0);
  flush(t, 1);
  only_to(t, 1, LKV_CAUSAL_MSG_VV); /* A hears B's vector: it covers the delete */
  drop_all(t);
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  flush(t, 0);
  drop_all(t);
  assert_non_null(key(t, 0, "k")); /* kept: B may hold a write of X concurrent with it */
  rounds_without(t, 3, 4);
  assert_int_equal(has(t, 0, 3), 1); /* X's write, which B had, is taken by A too */
  assert_string_equal(value(t, 0, "k"), value(t, 1, "k"));
  assert_int_equal(key(t, 0, "k")->n, key(t, 1, "k")->n);
  net_free(t);
}

/* Events of the removed member held for their deps when the removal applies are dropped. */
static void test_held_events_dropped(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 2, "c", "1");
  put(t, 2, "c", "2");
  flight_t aside[16];
  size_t n = hold_all(t, aside);
  for (size_t k = 0; k < n; k++) /* c2 reaches A, c1 does not: c2 waits */
    if (aside[k].kind == LKV_CAUSAL_MSG_EVENT && aside[k].to == 1 && k > 0)
      assert_int_equal(deliver_held(t, &aside[k]), 0);
    else
      aside[k].data = (free(aside[k].data), NULL);
  assert_int_equal(lkv_causal_member_held(t->m[0]), 1);
  removes(t, 0, 3);
  assert_int_equal(lkv_causal_member_held(t->m[0]), 0);
  assert_int_equal(has(t, 0, 3), 0);
  net_free(t);
}

/* A restart from the durable log gives back the removals and the caps. */
static void test_replay_restores_removal(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 2, "c", "1");
  settle(t);
  removes(t, 0, 3);
  settle(t);
  lkv_causal_member_t *again = replayed(t, 1);
  assert_true(lkv_causal_member_is_removed(again, 3));
  assert_int_equal(lkv_causal_member_removal_cap(again, 3), 1);
  assert_false(lkv_causal_member_is_removed(again, 1));
  lkv_causal_member_free(again);
  net_free(t);
}

/* A checkpoint (log compaction, docs/causal.md §7) keeps the removals: the removal's event may be gone from
 * the log a restart replays. */
static void test_checkpoint_keeps_removal(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 2, "c", "1");
  settle(t);
  removes(t, 0, 3);
  settle(t);
  uint8_t *ck;
  size_t len;
  uint64_t rev, base;
  assert_int_equal(lkv_causal_member_checkpoint(t->m[1], lkv_causal_member_revision(t->m[1]), &ck, &len), 0);
  lkv_causal_member_t *again;
  lkv_causal_config_t cfg = ct_config(&t->cl, 2);
  assert_int_equal(lkv_causal_member_new(&cfg, &again), 0);
  assert_int_equal(lkv_causal_member_restore(again, ck, len, &rev, &base), 0);
  assert_true(lkv_causal_member_is_removed(again, 3));
  assert_int_equal(lkv_causal_member_removal_cap(again, 3), 1);
  assert_false(lkv_causal_member_is_removed(again, 1));
  lkv_causal_member_free(again);
  assert_int_equal(lkv_causal_member_new(&cfg, &again), 0); /* a truncated section is refused */
  assert_int_equal(lkv_causal_member_restore(again, ck, len - 1, &rev, &base), LKV_EBADMSG);
  assert_false(lkv_causal_member_is_removed(again, 3));
  lkv_causal_member_free(again);
  free(ck);
  net_free(t);
}

/* A member removing itself: its removal covers its own events up to the removal. */
static void test_self_removal(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 2, "c", "1");
  removes(t, 2, 3);
  assert_true(lkv_causal_member_is_removed(t->m[2], 3));
  settle(t);
  for (size_t i = 0; i < 2; i++) {
    assert_true(lkv_causal_member_is_removed(t->m[i], 3));
    assert_int_equal(lkv_causal_member_removal_cap(t->m[i], 3), 2);
    assert_string_equal(value(t, i, "c"), "1");
  }
  net_free(t);
}

static void test_mutation_codec(void **state) {
  (void)state;
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_MEMBER_REMOVE, .member = 0x1234567890abcdefull}, got;
  uint8_t buf[64];
  size_t len;
  assert_int_equal(lkv_causal_mutations_encode(&mu, 1, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 4 + 1 + 8);
  lkv_causal_mutation_iter_t it;
  assert_int_equal(lkv_causal_mutations_open(buf, len, &it), 0);
  assert_int_equal(lkv_causal_mutations_next(&it, &got), 1);
  assert_int_equal(got.kind, LKV_CAUSAL_MEMBER_REMOVE);
  assert_int_equal(got.member, mu.member);
  assert_int_equal(lkv_causal_mutations_open(buf, len - 1, &it), LKV_EBADMSG);
  mu.member = 0;
  assert_int_equal(lkv_causal_mutations_encode(&mu, 1, buf, sizeof(buf), &len), LKV_EINVAL);
}

/* An event removing an id that is not a member is malformed. */
static void test_removal_of_unknown_refused(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_MEMBER_REMOVE, .member = 9};
  uint8_t payload[32], ev[256];
  size_t plen, len;
  assert_int_equal(lkv_causal_mutations_encode(&mu, 1, payload, sizeof(payload), &plen), 0);
  lkv_causal_event_t e = {
      .origin = 2, .seq = 1, .hlc = {.wall = 1000}, .payload = payload, .payload_len = plen};
  lkv_causal_vv_init(&e.deps);
  assert_int_equal(lkv_causal_event_encode_signed(&e, t->cl.sk[1], ev, sizeof(ev), &len), 0);
  assert_int_equal(lkv_causal_member_recv_event(t->m[0], t->now, ev, len), LKV_EBADMSG);
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_removal_caps_events),
      cmocka_unit_test(test_cap_lifted_by_members_still_in),
      cmocka_unit_test(test_removed_member_learns),
      cmocka_unit_test(test_removal_lets_tombstones_purge),
      cmocka_unit_test(test_purge_waits_for_removed_members_writes),
      cmocka_unit_test(test_held_events_dropped),
      cmocka_unit_test(test_replay_restores_removal),
      cmocka_unit_test(test_checkpoint_keeps_removal),
      cmocka_unit_test(test_self_removal),
      cmocka_unit_test(test_mutation_codec),
      cmocka_unit_test(test_removal_of_unknown_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
