/* Unit tests for the causal member core: writes and batches, siblings across members, causal delivery,
 * refusals (tampering, unknown origin or key, clock ahead, full buffer, equivocation), anti-entropy, replay,
 * purge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"
#include "common/error.h"

static void test_write_batch_and_push(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"a", .key_len = 1};
  uint64_t rev = 0;
  assert_int_equal(lkv_causal_member_write(t->m[0], 5, &mu, 1, 42, &rev), 0);
  assert_int_equal(rev, 1);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(t->m[0], &rb), 1);
  assert_int_equal(rb.n_applied, 1);
  assert_int_equal(rb.first_rev, 1);
  assert_int_equal(rb.n_msgs, 2); /* pushed to both peers */
  assert_int_equal(rb.msgs[0].to, 2);
  assert_int_equal(rb.msgs[1].to, 3);
  assert_int_equal(rb.msgs[0].kind, LKV_CAUSAL_MSG_EVENT);
  assert_int_equal(rb.n_acks, 1);
  assert_int_equal(rb.acks[0].token, 42);
  assert_int_equal(rb.acks[0].rev, 1);
  assert_int_equal(lkv_causal_member_write(t->m[0], 5, &mu, 1, 43, &rev), LKV_EAGAIN);
  assert_int_equal(lkv_causal_member_batch(t->m[0], &rb), 0); /* one batch at a time */
  lkv_causal_member_advance(t->m[0]);
  assert_int_equal(lkv_causal_member_batch(t->m[0], &rb), 0);
  assert_int_equal(lkv_causal_member_write(t->m[0], 5, &mu, 0, 43, &rev), LKV_EINVAL);
  mu.key_len = 0;
  assert_int_equal(lkv_causal_member_write(t->m[0], 5, &mu, 1, 43, &rev), LKV_EINVAL);
  /* A write set too large for one event is refused, not half made (the size is checked before any copy). */
  mu.key_len = 1;
  mu.value = (const uint8_t *)"";
  mu.value_len = LKV_CAUSAL_EVENT_MAX_PAYLOAD;
  assert_int_equal(lkv_causal_member_write(t->m[0], 5, &mu, 1, 43, &rev), LKV_ETOOLARGE);
  assert_int_equal(lkv_causal_member_revision(t->m[0]), 1);
  net_free(t);
}

static void test_siblings_and_supersede(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "a1");
  settle(t);
  assert_string_equal(value(t, 1, "k"), "a1");
  /* A and B write k concurrently (neither sees the other's). */
  put(t, 0, "k", "a2");
  put(t, 1, "k", "b1");
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(key(t, i, "k")->n, 2);
    assert_string_equal(value(t, i, "k"), "b1"); /* B's stamp is later (same clock, written after) */
  }
  /* A plain put on C, which saw both, supersedes both everywhere. */
  put(t, 2, "k", "c1");
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(key(t, i, "k")->n, 1);
    assert_string_equal(value(t, i, "k"), "c1");
    assert_int_equal(lkv_causal_member_revision(t->m[i]), 4); /* every applied event took a revision */
  }
  net_free(t);
}

static void test_causal_delivery_out_of_order(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "x", "1");
  put(t, 0, "x", "2"); /* supersedes 1 */
  put(t, 0, "y", "3");
  /* C gets A's events newest first: held until their deps are in. */
  while (t->nq) assert_int_equal(deliver(t, t->nq - 1), 0);
  assert_int_equal(lkv_causal_member_held(t->m[2]), 0);
  assert_string_equal(value(t, 2, "x"), "2");
  assert_int_equal(key(t, 2, "x")->n, 1); /* 1 was not kept as a sibling of 2 */
  assert_string_equal(value(t, 2, "y"), "3");
  assert_int_equal(lkv_causal_member_revision(t->m[2]), 3);
  net_free(t);
}

static void test_refusals(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 2);
  uint8_t buf[512];
  /* Tampered: one value byte changed after signing. */
  size_t len = ct_event(&t->cl, 1, 1, 1000, NULL, "k", "v", buf, sizeof(buf));
  buf[len - 65] ^= 1;
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now, buf, len), LKV_EVERIFY);
  /* Signed by another member's key. */
  ct_cluster_t other;
  ct_cluster(&other, 3);
  memcpy(other.sk[0], other.sk[1], LKV_CAUSAL_SK_LEN);
  len = ct_event(&other, 1, 1, 1000, NULL, "k", "v", buf, sizeof(buf));
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now, buf, len), LKV_EVERIFY);
  /* From an origin that is not a member. */
  ct_cluster(&other, 4);
  len = ct_event(&other, 4, 1, 1000, NULL, "k", "v", buf, sizeof(buf));
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now, buf, len), LKV_EVERIFY);
  /* A stamp too far ahead (max_ahead 1000 ms): refused, later accepted. */
  len = ct_event(&t->cl, 1, 1, t->now + 1001, NULL, "k", "v", buf, sizeof(buf));
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now, buf, len), LKV_ECLOCKAHEAD);
  assert_int_equal(lkv_causal_member_revision(t->m[1]), 0);
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now + 1, buf, len), 0);
  assert_int_equal(lkv_causal_member_revision(t->m[1]), 1);
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now + 1, buf, len), 0); /* a copy */
  assert_int_equal(lkv_causal_member_revision(t->m[1]), 1);
  /* Equivocation: another validly signed event with the same origin and seq. */
  uint8_t twin[512];
  size_t tlen = ct_event(&t->cl, 1, 1, t->now, NULL, "k", "w", twin, sizeof(twin));
  assert_int_equal(lkv_causal_member_recv_event(t->m[1], t->now, twin, tlen), LKV_EEXIST);
  /* The buffer (2 events) fills with events whose deps never come. */
  lkv_causal_vv_t deps;
  lkv_causal_vv_init(&deps);
  assert_int_equal(lkv_causal_vv_set(&deps, 3, 5), 0);
  for (uint64_t s = 1; s <= 3; s++) {
    assert_int_equal(lkv_causal_vv_set(&deps, 2, s - 1), 0);
    len = ct_event(&t->cl, 2, s, t->now, &deps, "k", "v", buf, sizeof(buf));
    assert_int_equal(lkv_causal_member_recv_event(t->m[0], t->now, buf, len), s <= 2 ? 0 : LKV_EBUFFERFULL);
  }
  assert_int_equal(lkv_causal_member_held(t->m[0]), 2);
  /* Malformed bytes. */
  assert_int_equal(lkv_causal_member_recv_event(t->m[0], t->now, buf, 10), LKV_EBADMSG);
  assert_int_equal(lkv_causal_member_recv_vv(t->m[0], 2, buf, 3), LKV_EBADMSG);
  assert_int_equal(lkv_causal_member_recv_vv(t->m[0], 9, buf, 4), LKV_EINVAL);
  net_free(t);
}

/* A member whose key is not known (all zero) yet: its events are refused until it is set; a key set once
 * stays (another refused). */
static void test_key_set_later(void **state) {
  (void)state;
  ct_cluster_t cl;
  ct_cluster(&cl, 2);
  lkv_causal_peer_t known[2] = {cl.peers[0], {.id = 2}};
  lkv_causal_config_t cfg = ct_config(&cl, 1);
  cfg.members = known;
  lkv_causal_member_t *m;
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  uint8_t buf[512];
  size_t len = ct_event(&cl, 2, 1, 1000, NULL, "k", "v", buf, sizeof(buf));
  assert_int_equal(lkv_causal_member_recv_event(m, 1000, buf, len), LKV_EVERIFY);
  uint8_t wrong[LKV_CAUSAL_PK_LEN];
  memcpy(wrong, cl.peers[0].pk, sizeof(wrong));
  assert_int_equal(lkv_causal_member_set_key(m, 3, cl.peers[1].pk), LKV_EINVAL); /* not a member */
  assert_int_equal(lkv_causal_member_set_key(m, 2, cl.peers[1].pk), 0);
  assert_int_equal(lkv_causal_member_set_key(m, 2, cl.peers[1].pk), 0); /* the same again */
  assert_int_equal(lkv_causal_member_set_key(m, 2, wrong), LKV_EEXIST);
  assert_int_equal(lkv_causal_member_recv_event(m, 1000, buf, len), 0);
  assert_int_equal(lkv_causal_member_revision(m), 1);
  lkv_causal_member_free(m);
}

static void test_anti_entropy_ships_exactly_what_lacks(void **state) {
  (void)state;
  net_t *t = net_new(3, 2, 64); /* at most two events per answer */
  for (int i = 0; i < 3; i++) put(t, 0, "a", "x");
  for (int i = 0; i < 2; i++) put(t, 1, "b", "y");
  drop_all(t); /* C heard nothing; A and B nothing of each other */
  t->most_events_to_one = 0;
  int rounds = 0;
  while (lkv_causal_member_revision(t->m[2]) < 5 && rounds++ < 10) {
    for (size_t i = 0; i < 3; i++) assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush_all(t);
    settle(t);
  }
  assert_int_equal(t->most_events_to_one, 2); /* every answer within max_ship_events */
  assert_int_equal(rounds, 2);                /* three of A's: two rounds */
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(t->m[i]), 1), 3);
    assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(t->m[i]), 2), 2);
    assert_int_equal(lkv_causal_member_revision(t->m[i]), 5);
  }
  /* A vector that lacks A's last event only is answered with exactly that one event. */
  lkv_causal_vv_t v = *lkv_causal_member_vv(t->m[2]);
  assert_int_equal(lkv_causal_vv_set(&v, 1, 2), 0);
  uint8_t enc[256];
  lkv_causal_vv_encode(&v, enc);
  lkv_causal_member_t *fresh = replayed(t, 0);
  assert_int_equal(lkv_causal_member_recv_vv(fresh, 3, enc, lkv_causal_vv_encoded_size(&v)), 0);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(fresh, &rb), 1);
  assert_int_equal(rb.n_msgs, 1);
  lkv_causal_event_t ev;
  assert_int_equal(lkv_causal_event_decode(rb.msgs[0].data, rb.msgs[0].len, &ev), 0);
  assert_int_equal(ev.origin, 1);
  assert_int_equal(ev.seq, 3);
  lkv_causal_member_advance(fresh);
  lkv_causal_member_free(fresh);
  net_free(t);
}

/* Member 1's answer to the vector enc: exactly its events of seqs first..last (0, 0: none). */
static void expect_answer(lkv_causal_member_t *m, const uint8_t *enc, size_t len, uint64_t first,
                          uint64_t last) {
  assert_int_equal(lkv_causal_member_recv_vv(m, 2, enc, len), 0);
  lkv_causal_batch_t rb;
  size_t events = 0;
  if (lkv_causal_member_batch(m, &rb)) {
    for (size_t i = 0; i < rb.n_msgs; i++) {
      lkv_causal_event_t ev;
      assert_int_equal(rb.msgs[i].kind, LKV_CAUSAL_MSG_EVENT);
      assert_int_equal(lkv_causal_event_decode(rb.msgs[i].data, rb.msgs[i].len, &ev), 0);
      assert_int_equal(ev.seq, first + events++);
    }
    lkv_causal_member_advance(m);
  }
  assert_int_equal(events, first ? last - first + 1 : 0);
}

/* Vectors that arrive together (a partition held them) are answered with the next events each, not the
 * same ones again; after a tick the answers start again from what the peer reported (a link may have
 * dropped them). */
static void test_held_vectors_ship_on(void **state) {
  (void)state;
  net_t *t = net_new(2, 2, 64); /* at most two events per answer */
  for (int i = 0; i < 5; i++) put(t, 0, "a", "x");
  drop_all(t);
  lkv_causal_vv_t none;
  lkv_causal_vv_init(&none);
  uint8_t enc[64];
  size_t len = lkv_causal_vv_encoded_size(&none);
  lkv_causal_vv_encode(&none, enc);
  expect_answer(t->m[0], enc, len, 1, 2);
  expect_answer(t->m[0], enc, len, 3, 4);
  expect_answer(t->m[0], enc, len, 5, 5);
  expect_answer(t->m[0], enc, len, 0, 0); /* all shipped this tick */
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  flush(t, 0);
  drop_all(t);
  expect_answer(t->m[0], enc, len, 1, 2);
  net_free(t);
}

static void test_replay_restores(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "k", "1");
  put(t, 1, "k", "2");
  settle(t);
  put(t, 0, "j", NULL);
  settle(t);
  lkv_causal_member_t *again = replayed(t, 0);
  assert_int_equal(lkv_causal_vv_compare(lkv_causal_member_vv(again), lkv_causal_member_vv(t->m[0])),
                   LKV_CAUSAL_EQUAL);
  assert_int_equal(lkv_causal_member_n_keys(again), lkv_causal_member_n_keys(t->m[0]));
  const lkv_causal_key_t *a = lkv_causal_member_key(again, (const uint8_t *)"k", 1), *b = key(t, 0, "k");
  assert_int_equal(a->n, b->n);
  assert_int_equal(a->mod_rev, b->mod_rev);
  assert_int_equal(a->version, b->version);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(again, &rb), 0); /* replayed events are durable already */
  /* The next own write continues the sequence and the clock. */
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"k", .key_len = 1};
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(again, 0, &mu, 1, 1, &rev), 0);
  assert_int_equal(rev, t->nlog[0] + 1);
  assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(again), 1), 3);
  assert_int_equal(lkv_causal_member_replay(again, t->log[0][0], t->loglen[0][0], &rev), LKV_EAGAIN);
  lkv_causal_member_advance(again);
  lkv_causal_member_free(again);
  net_free(t);
}

static void test_tombstone_purged_when_stable(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "v");
  put(t, 0, "k", NULL);
  settle(t);
  for (size_t i = 0; i < 3; i++) assert_true(lkv_causal_key_sole_tombstone(key(t, i, "k")));
  /* Only A ticks: B and C learn A's vector, A learns nothing: nobody can purge yet. */
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  flush(t, 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) assert_non_null(key(t, i, "k"));
  /* Everyone reports; the round after that purges everywhere. */
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < 3; i++) assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush_all(t);
    settle(t);
  }
  for (size_t i = 0; i < 3; i++) {
    assert_null(key(t, i, "k"));
    assert_string_equal(value(t, i, "k"), "");
  }
  net_free(t);
}

/* The index of the first queued message from -> to of kind, or -1. */
static int find(net_t *t, uint64_t from, uint64_t to, uint8_t kind) {
  for (size_t k = 0; k < t->nq; k++)
    if (t->q[k].from == from && t->q[k].to == to && t->q[k].kind == kind) return (int)k;
  return -1;
}

/* Anti-entropy rounds in which only vectors get through (every event shipped is lost). */
static void vectors_only(net_t *t, int rounds) {
  for (int r = 0; r < rounds; r++) {
    for (size_t i = 0; i < t->cl.n; i++) assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush_all(t);
    for (size_t k = 0; k < t->nq;) {
      if (t->q[k].kind == LKV_CAUSAL_MSG_VV) {
        assert_int_equal(deliver(t, k), 0);
        continue;
      }
      drop(t, k);
    }
  }
}

/* A tombstone every member's vector covers still waits while a write concurrent with it, which its origin
 * had made before applying the tombstone, has not arrived: purging it would let that write win alone here
 * and lose to the tombstone elsewhere. */
static void test_tombstone_waits_for_concurrent_write(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "v");
  settle(t);
  put(t, 0, "k", NULL); /* A deletes */
  put(t, 2, "k", "c");  /* C writes concurrently */
  assert_int_equal(deliver(t, (size_t)find(t, 1, 2, LKV_CAUSAL_MSG_EVENT)), 0);
  assert_int_equal(deliver(t, (size_t)find(t, 1, 3, LKV_CAUSAL_MSG_EVENT)), 0);
  assert_int_equal(deliver(t, (size_t)find(t, 3, 1, LKV_CAUSAL_MSG_EVENT)), 0);
  int late = find(t, 3, 2, LKV_CAUSAL_MSG_EVENT); /* C's write to B is late */
  assert_true(late >= 0);
  flight_t parked = t->q[late];
  memmove(&t->q[late], &t->q[late + 1], (t->nq - (size_t)late - 1) * sizeof(t->q[0]));
  t->nq--;
  assert_true(lkv_causal_key_sole_tombstone(key(t, 1, "k")));
  vectors_only(t, 3);
  /* B has heard from A and C that both applied the tombstone, but not yet C's earlier write. */
  assert_non_null(key(t, 1, "k"));
  assert_true(lkv_causal_key_sole_tombstone(key(t, 1, "k")));
  t->q[t->nq++] = parked;
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(key(t, i, "k")->n, 2);
    assert_string_equal(value(t, i, "k"), "c"); /* C's write came later: its stamp wins */
  }
  net_free(t);
}

/* A one-member cluster: writes are acknowledged with nothing to send; a tick sends nothing, keeps nothing
 * for a batch, and purges a sole tombstone at once (no other member can hold a concurrent write). */
static void test_single_member(void **state) {
  (void)state;
  net_t *t = net_new(1, 100, 64);
  put(t, 0, "k", "v");
  put(t, 0, "k", NULL);
  assert_int_equal(t->nq, 0);
  assert_true(lkv_causal_key_sole_tombstone(key(t, 0, "k")));
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(t->m[0], &rb), 0);
  assert_null(key(t, 0, "k"));
  assert_int_equal(lkv_causal_member_revision(t->m[0]), 2);
  net_free(t);
}

/* A member whose data dir is restored from an older copy holds fewer of its own events than its peers do.
 * Its next write would reuse a sequence number they hold for another event (an equivocation they refuse
 * for ever, and the write would never replicate): it is refused until anti-entropy brought its own events
 * back, and then continues the sequence. */
static void test_own_events_behind(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "a", "1");
  put(t, 0, "b", "2");
  put(t, 0, "c", "3");
  settle(t);
  /* Member 1 restored from a copy that holds its first event only. */
  lkv_causal_member_t *old = t->m[0];
  for (size_t j = 1; j < t->nlog[0]; j++) free(t->log[0][j]);
  t->nlog[0] = 1;
  t->m[0] = replayed(t, 0);
  lkv_causal_member_free(old);
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"d", .key_len = 1};
  uint64_t rev;
  /* Before it hears from a peer it cannot know (docs/causal.md: the window this leaves). */
  assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(t->m[0]), 1), 1);
  assert_int_equal(lkv_causal_member_tick(t->m[1]), 0); /* member 2's vector: it holds 1's events up to 3 */
  flush(t, 1);
  settle(t);
  assert_int_equal(lkv_causal_member_write(t->m[0], t->now, &mu, 1, 1, &rev), LKV_EOWNBEHIND);
  assert_int_equal(lkv_causal_member_revision(t->m[0]), 1); /* nothing made */
  /* Its vector to member 2 is answered with its own events 2 and 3. */
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  flush(t, 0);
  settle(t);
  assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(t->m[0]), 1), 3);
  assert_string_equal(value(t, 0, "c"), "3");
  put(t, 0, "d", "4"); /* sequence 4 */
  assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(t->m[0]), 1), 4);
  settle(t);
  assert_string_equal(value(t, 1, "d"), "4"); /* taken by the peer: not an equivocation */
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_batch_and_push),
      cmocka_unit_test(test_siblings_and_supersede),
      cmocka_unit_test(test_causal_delivery_out_of_order),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_key_set_later),
      cmocka_unit_test(test_anti_entropy_ships_exactly_what_lacks),
      cmocka_unit_test(test_held_vectors_ship_on),
      cmocka_unit_test(test_replay_restores),
      cmocka_unit_test(test_tombstone_purged_when_stable),
      cmocka_unit_test(test_tombstone_waits_for_concurrent_write),
      cmocka_unit_test(test_single_member),
      cmocka_unit_test(test_own_events_behind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
