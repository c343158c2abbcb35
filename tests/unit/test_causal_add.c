/* Unit tests for member additions in the causal core (docs/causal.md §15b): the add applied everywhere, the
 * new member's events refused before the add and taken after, its writes gated on its own add, stability
 * waiting for it, replay, refusals, the mutation's codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"

#define URLS "http://127.0.0.1:2380"

/* Members 1 to n - 1 running, member n (keys of ct_cluster) not known to them: it joins, knowing all n. */
static net_t *net_joining_of(size_t n) {
  net_t *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  ct_cluster(&t->cl, n);
  t->now = 1000;
  for (size_t i = 0; i < n; i++) {
    lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
    cfg.n_members = i < n - 1 ? n - 1 : n;
    cfg.joining = i == n - 1;
    assert_int_equal(lkv_causal_member_new(&cfg, &t->m[i]), 0);
  }
  return t;
}

static net_t *net_joining(void) {
  return net_joining_of(3);
}

static uint64_t adds(net_t *t, size_t i, uint64_t id, const char *urls) {
  uint64_t rev = 0;
  assert_int_equal(lkv_causal_member_add(t->m[i], t->now++, id, (const uint8_t *)urls, strlen(urls), 5, &rev),
                   0);
  assert_int_equal(flush(t, i), rev);
  return rev;
}

/* Member i learns member 3's key (a hello's work in the replicator). */
static void learns_key(net_t *t, size_t i) {
  assert_int_equal(lkv_causal_member_set_key(t->m[i], 3, t->cl.peers[2].pk), 0);
}

/* Anti-entropy rounds of every member, everything delivered; refusals of unknown origins expected. */
static void rounds(net_t *t, int n) {
  for (int r = 0; r < n; r++) {
    for (size_t i = 0; i < t->cl.n; i++) {
      assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
      flush(t, i);
    }
    while (t->nq) {
      int rc = deliver(t, 0);
      assert_true(rc == 0 || rc == LKV_EVERIFY || rc == LKV_EINVAL || rc == LKV_EBADMSG);
    }
  }
}

static uint64_t has(net_t *t, size_t i, uint64_t origin) {
  return lkv_causal_vv_get(lkv_causal_member_vv(t->m[i]), origin);
}

static int write_rc(net_t *t, size_t i, const char *k, const char *v) {
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT,
                              .key = (const uint8_t *)k,
                              .key_len = strlen(k),
                              .value = (const uint8_t *)v,
                              .value_len = strlen(v)};
  uint64_t rev;
  int rc = lkv_causal_member_write(t->m[i], t->now++, &mu, 1, 1, &rev);
  flush(t, i);
  return rc;
}

/* The add takes a revision on every member, appends the member with its URLs; the new member's writes wait
 * for the add of itself, then replicate both ways. */
static void test_add_applied_and_joined(void **state) {
  (void)state;
  net_t *t = net_joining();
  put(t, 0, "a", "1");
  settle(t);
  assert_int_equal(lkv_causal_member_count(t->m[0]), 2);
  assert_int_equal(write_rc(t, 2, "c", "early"), LKV_EUNHEALTHY); /* not added yet */
  uint64_t rev = adds(t, 0, 3, URLS);
  assert_int_equal(rev, 2);
  drop_all(t); /* the push to B and to C lost: anti-entropy brings it */
  assert_int_equal(lkv_causal_member_count(t->m[0]), 3);
  assert_int_equal(lkv_causal_member_id_at(t->m[0], 2), 3);
  assert_int_equal(lkv_causal_member_id_at(t->m[0], 3), 0);
  size_t len = 0;
  const uint8_t *u = lkv_causal_member_peer_urls(t->m[0], 3, &len);
  assert_non_null(u);
  assert_int_equal(len, strlen(URLS));
  assert_memory_equal(u, URLS, len);
  assert_null(lkv_causal_member_peer_urls(t->m[0], 1, &len)); /* an initial member */
  rounds(t, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(lkv_causal_member_count(t->m[i]), 3);
    assert_non_null(lkv_causal_member_peer_urls(t->m[i], 3, &len));
    assert_string_equal(value(t, i, "a"), "1");
    assert_int_equal(lkv_causal_member_revision(t->m[i]), 2);
  }
  /* C applied its add: it writes; A and B take the write once they know C's key. */
  assert_int_equal(write_rc(t, 2, "c", "1"), 0);
  assert_int_equal(deliver(t, 0), LKV_EVERIFY); /* A: the key of C not known yet */
  drop_all(t);
  learns_key(t, 0);
  learns_key(t, 1);
  rounds(t, 2);
  put(t, 1, "b", "2");
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(value(t, i, "c"), "1");
    assert_string_equal(value(t, i, "b"), "2");
    assert_int_equal(has(t, i, 3), 1);
  }
  net_free(t);
}

/* B has not applied the add: C's events (and vectors) are refused there; once the add reaches B, they are
 * taken by anti-entropy. */
static void test_events_refused_before_add(void **state) {
  (void)state;
  net_t *t = net_joining();
  adds(t, 0, 3, URLS);
  for (size_t k = 0; k < t->nq;) /* only C gets the add */
    if (t->q[k].to == 2)
      drop(t, k);
    else
      assert_int_equal(deliver(t, k), 0);
  assert_int_equal(has(t, 2, 1), 1);
  learns_key(t, 0);
  assert_int_equal(lkv_causal_member_set_key(t->m[1], 3, t->cl.peers[2].pk), LKV_EINVAL); /* not a member */
  assert_int_equal(write_rc(t, 2, "c", "1"), 0);
  int to_b = -1;
  for (size_t k = 0; k < t->nq; k++)
    if (t->q[k].to == 2) to_b = (int)k;
  assert_true(to_b >= 0);
  assert_int_equal(deliver(t, (size_t)to_b), LKV_EVERIFY); /* an unknown origin at B */
  assert_int_equal(has(t, 1, 3), 0);
  settle(t); /* the rest: A takes C's write */
  assert_int_equal(has(t, 0, 3), 1);
  /* B's anti-entropy: A ships the add (and C's write, which follows it) to B. */
  assert_int_equal(lkv_causal_member_tick(t->m[1]), 0);
  flush(t, 1);
  while (t->nq) {
    int rc = deliver(t, 0);
    assert_true(rc == 0 || rc == LKV_EVERIFY || rc == LKV_EINVAL);
  }
  assert_int_equal(lkv_causal_member_count(t->m[1]), 3);
  assert_int_equal(has(t, 1, 3), 0); /* the key of C still unknown at B */
  learns_key(t, 1);
  rounds(t, 2);
  assert_int_equal(has(t, 1, 3), 1);
  assert_string_equal(value(t, 1, "c"), "1");
  net_free(t);
}

/* Once the add is applied, nothing is stable until the new member reports: no compaction, no purge. */
static void test_stability_waits_for_new_member(void **state) {
  (void)state;
  net_t *t = net_joining();
  put(t, 0, "k", "1");
  adds(t, 0, 3, URLS);
  put(t, 0, "k", NULL);          /* a sole tombstone */
  for (size_t k = 0; k < t->nq;) /* C gets nothing: not started */
    if (t->q[k].to == 3)
      drop(t, k);
    else
      assert_int_equal(deliver(t, k), 0);
  for (int r = 0; r < 3; r++) { /* A and B report to each other */
    for (size_t i = 0; i < 2; i++) {
      assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
      flush(t, i);
    }
    for (size_t k = 0; k < t->nq;)
      if (t->q[k].to == 3)
        drop(t, k);
      else
        assert_int_equal(deliver(t, k), 0);
  }
  for (size_t i = 0; i < 2; i++) {
    assert_non_null(key(t, i, "k"));
    assert_int_equal(lkv_causal_member_stable(t->m[i]), 0);
  }
  /* C starts, catches up and reports: the tombstone becomes stable. */
  learns_key(t, 0);
  learns_key(t, 1);
  rounds(t, 4);
  for (size_t i = 0; i < 3; i++) {
    assert_null(key(t, i, "k"));
    assert_int_equal(lkv_causal_member_stable(t->m[i]), 3);
  }
  net_free(t);
}

/* net_joining with member 3 added by 1, its key known, and its first write everywhere. */
static net_t *net_joined(void) {
  net_t *t = net_joining();
  adds(t, 0, 3, URLS);
  settle(t);
  learns_key(t, 0);
  learns_key(t, 1);
  assert_int_equal(write_rc(t, 2, "c", "1"), 0);
  settle(t);
  return t;
}

/* A restart replays the add: the member is known again with its URLs, its events taken. */
static void test_replay_keeps_added_member(void **state) {
  (void)state;
  net_t *t = net_joined();
  lkv_causal_member_t *again;
  lkv_causal_config_t cfg = ct_config(&t->cl, 2);
  cfg.n_members = 2;
  assert_int_equal(lkv_causal_member_new(&cfg, &again), 0);
  for (size_t j = 0; j < t->nlog[1]; j++) {
    uint64_t rev = 0;
    assert_int_equal(lkv_causal_member_replay(again, t->log[1][j], t->loglen[1][j], &rev), 0);
  }
  assert_int_equal(lkv_causal_member_count(again), 3);
  assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(again), 3), 1);
  size_t len;
  assert_non_null(lkv_causal_member_peer_urls(again, 3, &len));
  lkv_causal_member_free(again);
  /* The joining member's restart: its own add replayed, it writes at once. */
  cfg = ct_config(&t->cl, 3);
  cfg.joining = 1;
  assert_int_equal(lkv_causal_member_new(&cfg, &again), 0);
  for (size_t j = 0; j < t->nlog[2]; j++) {
    uint64_t rev = 0;
    assert_int_equal(lkv_causal_member_replay(again, t->log[2][j], t->loglen[2][j], &rev), 0);
  }
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_DEL, .key = (const uint8_t *)"c", .key_len = 1};
  uint64_t rev;
  assert_int_equal(lkv_causal_member_write(again, t->now, &mu, 1, 1, &rev), 0);
  lkv_causal_member_free(again);
  net_free(t);
}

/* Refusals: a member, a removed id (never reused), a lease owner tag in use, id 0, no URLs. Concurrent adds
 * of one id: one member, the first add's URLs. */
static void test_refusals_and_concurrent_adds(void **state) {
  (void)state;
  net_t *t = net_joining();
  uint64_t rev;
  const uint8_t *u = (const uint8_t *)URLS;
  assert_int_equal(lkv_causal_member_add(t->m[0], t->now, 2, u, 5, 1, &rev), LKV_EMEMBEREXIST);
  assert_int_equal(lkv_causal_member_add(t->m[0], t->now, 0, u, 5, 1, &rev), LKV_EINVAL);
  assert_int_equal(lkv_causal_member_add(t->m[0], t->now, 9, u, 0, 1, &rev), LKV_EINVAL);
  /* 0x8001's owner tag is member 1's (the low 15 bits). */
  assert_int_equal(lkv_causal_member_add(t->m[0], t->now, 0x8001, u, 5, 1, &rev), LKV_EEXIST);
  adds(t, 0, 3, "http://a");
  adds(t, 1, 3, "http://b");
  settle(t);
  for (size_t i = 0; i < 2; i++) {
    size_t len;
    assert_int_equal(lkv_causal_member_count(t->m[i]), 3);
    const uint8_t *got = lkv_causal_member_peer_urls(t->m[i], 3, &len);
    assert_non_null(got);
    assert_memory_equal(got, i == 0 ? "http://a" : "http://b", len); /* each member's first applied */
    assert_int_equal(lkv_causal_member_revision(t->m[i]), 2);
  }
  assert_int_equal(lkv_causal_member_remove(t->m[0], t->now++, 3, 1, &rev), 0);
  flush(t, 0);
  assert_int_equal(lkv_causal_member_add(t->m[0], t->now, 3, u, 5, 1, &rev), LKV_EMEMBERREMOVED);
  /* The tag of a removed member is free again. */
  assert_int_equal(lkv_causal_member_add(t->m[0], t->now++, 0x8003, u, 5, 1, &rev), 0);
  flush(t, 0);
  assert_int_equal(lkv_causal_member_count(t->m[0]), 4);
  drop_all(t);
  net_free(t);
}

/* A checkpoint keeps the added members (ids and URLs): a restart from it knows them, and the joining member
 * restarted from its own writes at once; a damaged one is refused and leaves the new member as it was. */
static void test_checkpoint_keeps_added_member(void **state) {
  (void)state;
  net_t *t = net_joined();
  for (size_t i = 1; i < 3; i++) {
    uint8_t *ck;
    size_t len, ulen;
    assert_int_equal(lkv_causal_member_checkpoint(t->m[i], lkv_causal_member_revision(t->m[i]), &ck, &len),
                     0);
    lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
    cfg.n_members = i == 1 ? 2 : 3;
    cfg.joining = i == 2;
    lkv_causal_member_t *again;
    uint64_t rev, base;
    assert_int_equal(lkv_causal_member_new(&cfg, &again), 0);
    assert_int_equal(lkv_causal_member_restore(again, ck, len - 1, &rev, &base), LKV_EBADMSG);
    assert_int_equal(lkv_causal_member_count(again), cfg.n_members);
    assert_null(lkv_causal_member_peer_urls(again, 3, &ulen));
    assert_int_equal(lkv_causal_member_restore(again, ck, len, &rev, &base), 0);
    assert_int_equal(rev, 2);
    assert_int_equal(lkv_causal_member_count(again), 3);
    const uint8_t *u = lkv_causal_member_peer_urls(again, 3, &ulen);
    assert_non_null(u);
    assert_memory_equal(u, URLS, ulen);
    assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(again), 3), 1);
    lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_DEL, .key = (const uint8_t *)"c", .key_len = 1};
    assert_int_equal(lkv_causal_member_write(again, t->now, &mu, 1, 1, &rev), 0); /* C: it had joined */
    lkv_causal_member_free(again);
    free(ck);
  }
  net_free(t);
}

/* A replacement: 3 wrote, 1 removed it and added 4, known to 1, 2 and 3 (which learnt its removal); 4 is
 * not started (what is sent to it is lost). 4 starts knowing 1, 2 and itself. */
static net_t *net_replacing(void) {
  net_t *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  ct_cluster(&t->cl, 4);
  t->now = 1000;
  for (size_t i = 0; i < 4; i++) {
    lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
    lkv_causal_peer_t joining[3] = {t->cl.peers[0], t->cl.peers[1], t->cl.peers[3]};
    cfg.n_members = 3;
    if (i == 3) cfg.members = joining, cfg.joining = 1;
    assert_int_equal(lkv_causal_member_new(&cfg, &t->m[i]), 0);
  }
  put(t, 2, "r", "1");
  settle(t);
  uint64_t rev;
  assert_int_equal(lkv_causal_member_remove(t->m[0], t->now++, 3, 5, &rev), 0);
  flush(t, 0);
  settle(t);
  adds(t, 0, 4, URLS);
  for (int r = 0; r < 3; r++) { /* 1, 2 and 3 (it learns its removal) exchange; 4 is not started */
    for (size_t i = 0; i < 3; i++) {
      assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
      flush(t, i);
    }
    for (size_t k = 0; k < t->nq;)
      if (t->q[k].to == 4)
        drop(t, k);
      else
        assert_int_equal(deliver(t, k), 0);
  }
  return t;
}

/* 4 starts: 1 learns its key (its hello) and gets its first vector; what goes elsewhere is lost. */
static void starts_reporting_to_first(net_t *t) {
  assert_int_equal(lkv_causal_member_set_key(t->m[0], 4, t->cl.peers[3].pk), 0);
  assert_int_equal(lkv_causal_member_tick(t->m[3]), 0);
  flush(t, 3);
  for (size_t k = 0; k < t->nq;)
    if (t->q[k].to == 1)
      assert_int_equal(deliver(t, k), 0);
    else
      drop(t, k);
}

/* The replacement's report lacks the removed 3's events, which 4 can never verify (3 sends no hello; 4 does
 * not know it): a snapshot is due though nothing was compacted; a member still in lacking nothing is not
 * sent one. */
static void test_replacement_needs_snapshot(void **state) {
  (void)state;
  net_t *t = net_replacing();
  assert_int_equal(lkv_causal_member_first_rev(t->m[0]), 1); /* nothing compacted */
  starts_reporting_to_first(t);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 4), 1);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 4), 1);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 2), 0);
  drop_all(t);
  net_free(t);
}

/* etcd's replacement procedure: member 3 removed, member 4 added. Member 4 starts knowing 1, 2 and itself;
 * member 1 compacted everything (4 silent), so 4 catches up by a snapshot, which teaches it member 3
 * (removed) and its own add: it writes at once. */
static void test_snapshot_teaches_membership(void **state) {
  (void)state;
  net_t *t = net_replacing();
  uint64_t rev;
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_member_heard(t->m[0], 0, 1); /* the member's start for silence */
  lkv_causal_member_heard(t->m[0], 2, 100000);
  lkv_causal_member_silence(t->m[0], 100000, 1000, out);
  assert_int_equal(lkv_causal_member_is_silent(t->m[0], 4), 1);
  uint64_t stable = lkv_causal_member_stable(t->m[0]);
  assert_int_equal(stable, lkv_causal_member_revision(t->m[0]));
  assert_int_equal(lkv_causal_member_compact(t->m[0], stable), 0);
  /* 4 starts: its vector reaches 1, which finds a snapshot due. */
  starts_reporting_to_first(t);
  drop_all(t);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 4), 1);
  uint8_t *snap;
  size_t len;
  assert_int_equal(lkv_causal_member_snapshot(t->m[0], NULL, 0, &snap, &len), 0);
  const uint8_t *extra;
  size_t extra_len;
  assert_int_equal(lkv_causal_member_install(t->m[3], t->now, snap, len - 1, &rev, &extra, &extra_len),
                   LKV_EVERIFY);
  assert_int_equal(lkv_causal_member_count(t->m[3]), 3);
  assert_int_equal(lkv_causal_member_install(t->m[3], t->now, snap, len, &rev, &extra, &extra_len), 0);
  free(snap);
  assert_int_equal(lkv_causal_member_count(t->m[3]), 4);
  assert_true(lkv_causal_member_is_removed(t->m[3], 3));
  assert_string_equal(value(t, 3, "r"), "1");
  t->nlog[3] = (size_t)rev; /* its log restarts after the snapshot's revision (no event logged) */
  assert_int_equal(write_rc(t, 3, "d", "4"), 0);
  assert_int_equal(deliver(t, 0), 0); /* to 1, which knows its key */
  assert_string_equal(value(t, 0, "d"), "4");
  drop_all(t);
  net_free(t);
}

/* Rounds of anti-entropy among the members in `among` (ids as bits); what reaches or leaves the others is
 * lost. */
static void rounds_among(net_t *t, unsigned among, int n) {
  for (int r = 0; r < n; r++) {
    for (size_t i = 0; i < t->cl.n; i++)
      if (among & (1u << (i + 1))) {
        assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
        flush(t, i);
      }
    while (t->nq)
      if (among & (1u << t->q[0].to) && among & (1u << t->q[0].from))
        assert_int_equal(deliver(t, 0), 0);
      else
        drop(t, 0);
  }
}

/* Member 1 hears 2 and 4 (unless removed) now and never heard 3: 3 is silent there. */
static void silent_three(net_t *t) {
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_member_heard(t->m[0], 0, 1); /* the member's start for silence */
  lkv_causal_member_heard(t->m[0], 2, 100000);
  lkv_causal_member_heard(t->m[0], 4, 100000);
  lkv_causal_member_silence(t->m[0], 100000, 1000, out);
  assert_int_equal(lkv_causal_member_is_silent(t->m[0], 3), 1);
}

/* causal-sim seed 3277, reduced (docs/causal.md §7): 3 is cut off before 1 adds 4 and removes 2, so 3 still
 * counts {1, 2, 3} (and may leave 1 behind with 2's help). With only the add in flight, 1 and 2 are half
 * of what 3 counts: 1 leaves 3 behind. Once 2 is removed, {1, 4} is a majority of {1, 3, 4} but 2 cannot be
 * the member shared with 3's side (it is going) and 3 does not count 4: 1 keeps what 3 lacks. */
static void test_changes_in_flight_keep_the_silent(void **state) {
  (void)state;
  net_t *t = net_joining_of(4);
  put(t, 2, "c", "3");
  settle(t);
  rounds_among(t, 1u << 1 | 1u << 2 | 1u << 3, 2); /* they all reported it; 4 is not started */
  uint64_t has3 = lkv_causal_member_revision(t->m[0]);
  adds(t, 0, 4, URLS);
  assert_int_equal(lkv_causal_member_set_key(t->m[0], 4, t->cl.peers[3].pk), 0);
  uint64_t x = put(t, 0, "x", "1");                /* an event 3 lacks */
  rounds_among(t, 1u << 1 | 1u << 2 | 1u << 4, 3); /* 2 and 4 catch up and report; 3 hears nothing */
  assert_int_equal(has(t, 3, 1), has(t, 0, 1));
  silent_three(t);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), x); /* the add alone in flight: 3 left behind */
  uint64_t rev;
  assert_int_equal(lkv_causal_member_remove(t->m[0], t->now++, 2, 5, &rev), 0);
  flush(t, 0);
  drop_all(t); /* 2 never gets it */
  rounds_among(t, 1u << 1 | 1u << 4, 2);
  silent_three(t);
  assert_true(lkv_causal_member_is_removed(t->m[0], 2));
  assert_int_equal(lkv_causal_member_stable(t->m[0]), has3); /* both in flight: 3 kept */
  net_free(t);
}

static void test_mutation_codec(void **state) {
  (void)state;
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_MEMBER_ADD,
                              .member = 0x1234567890abcdefull,
                              .value = (const uint8_t *)URLS,
                              .value_len = strlen(URLS)},
                        got;
  uint8_t buf[64];
  size_t len = 0;
  assert_int_equal(lkv_causal_mutations_size(&mu, 1), 4 + 1 + 8 + 4 + strlen(URLS));
  assert_int_equal(lkv_causal_mutations_encode(&mu, 1, buf, sizeof(buf), &len), 0);
  lkv_causal_mutation_iter_t it;
  assert_int_equal(lkv_causal_mutations_open(buf, len, &it), 0);
  assert_int_equal(lkv_causal_mutations_next(&it, &got), 1);
  assert_int_equal(got.kind, LKV_CAUSAL_MEMBER_ADD);
  assert_int_equal(got.member, mu.member);
  assert_int_equal(got.value_len, strlen(URLS));
  assert_memory_equal(got.value, URLS, got.value_len);
  assert_int_equal(lkv_causal_mutations_next(&it, &got), 0);
  assert_int_equal(lkv_causal_mutations_open(buf, len - 1, &it), LKV_EBADMSG); /* URLs cut */
  mu.value_len = 0;
  assert_int_equal(lkv_causal_mutations_encode(&mu, 1, buf, sizeof(buf), &len), LKV_EINVAL);
  mu.value_len = 3, mu.member = 0;
  assert_int_equal(lkv_causal_mutations_encode(&mu, 1, buf, sizeof(buf), &len), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_applied_and_joined),
      cmocka_unit_test(test_events_refused_before_add),
      cmocka_unit_test(test_stability_waits_for_new_member),
      cmocka_unit_test(test_replay_keeps_added_member),
      cmocka_unit_test(test_refusals_and_concurrent_adds),
      cmocka_unit_test(test_checkpoint_keeps_added_member),
      cmocka_unit_test(test_snapshot_teaches_membership),
      cmocka_unit_test(test_replacement_needs_snapshot),
      cmocka_unit_test(test_changes_in_flight_keep_the_silent),
      cmocka_unit_test(test_mutation_codec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
