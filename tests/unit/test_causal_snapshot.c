/* Unit tests for snapshot catch-up (causal/member.h, member_snapshot.c): a member left behind while the
 * others compacted installs a peer's signed snapshot as one revision; compaction leaves silent members
 * behind, tombstone purging does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"
#include "common/error.h"

/* Drops what is in flight to or from member id (a partition of it). */
static void cut(net_t *t, uint64_t id) {
  for (size_t k = 0; k < t->nq;)
    if (t->q[k].to == id || t->q[k].from == id)
      drop(t, k);
    else
      k++;
}

/* Every member but `away` sends its vector; what reaches or leaves `away` is lost. */
static void exchange_without(net_t *t, uint64_t away) {
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < t->cl.n; i++)
      if (i + 1 != away) {
        assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
        flush(t, i);
      }
    cut(t, away);
    settle(t);
  }
}

/* Member i hears every peer but `away` now; `away` was never heard: it is reported silent. */
static void silence(net_t *t, size_t i, uint64_t away) {
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_member_heard(t->m[i], 0, 1); /* the member's start for silence */
  for (uint64_t id = 1; id <= t->cl.n; id++)
    if (id != away) lkv_causal_member_heard(t->m[i], id, 100000);
  lkv_causal_member_silence(t->m[i], 100000, 1000, out);
  assert_int_equal(lkv_causal_member_is_silent(t->m[i], away), 1);
}

/* What the callbacks were told. */
typedef struct {
  uint64_t rev[16];
  char key[16][8];
  size_t n;
} calls_t;

static void record(void *arg, uint64_t rev, const lkv_causal_key_t *k) {
  calls_t *c = arg;
  assert_true(c->n < 16);
  c->rev[c->n] = rev;
  snprintf(c->key[c->n++], sizeof(c->key[0]), "%.*s", (int)k->key_len, (const char *)k->key);
}

static calls_t changes, writes;

static void on_change(void *arg, uint64_t rev, const lkv_causal_key_t *k) {
  (void)arg;
  record(&changes, rev, k);
}

static void on_write(void *arg, uint64_t rev, const lkv_causal_key_t *k) {
  (void)arg;
  record(&writes, rev, k);
}

/* 1 when calls c named key at rev. */
static int told(const calls_t *c, const char *key, uint64_t rev) {
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->key[i], key) && c->rev[i] == rev) return 1;
  return 0;
}

/* Member i is replaced by a new one rebuilt from its durable log, with the callbacks set. */
static void with_callbacks(net_t *t, size_t i) {
  lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
  cfg.on_change = on_change;
  cfg.on_write = on_write;
  lkv_causal_member_t *m;
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  for (size_t j = 0; j < t->nlog[i]; j++) {
    uint64_t rev;
    assert_int_equal(lkv_causal_member_replay(m, t->log[i][j], t->loglen[i][j], &rev), 0);
  }
  lkv_causal_member_free(t->m[i]);
  t->m[i] = m;
}

/* Member i installed a snapshot at rev: its durable log restarts after rev (t->log[i][j] has revision
 * j + 1: the first rev are none). */
static void log_restarts(net_t *t, size_t i, uint64_t rev) {
  for (size_t j = 0; j < t->nlog[i]; j++) free(t->log[i][j]), t->log[i][j] = NULL;
  t->nlog[i] = rev;
}

/* The sibling (origin, seq) of k, or NULL. */
static const lkv_causal_sibling_t *sibling(const lkv_causal_key_t *k, uint64_t origin, uint64_t seq) {
  for (size_t i = 0; i < k->n; i++)
    if (k->sib[i].origin == origin && k->sib[i].seq == seq) return &k->sib[i];
  return NULL;
}

/* The key at or after i of m that is not a sole tombstone when skip is set (i moves there), or NULL. */
static const lkv_causal_key_t *next_key(const lkv_causal_member_t *m, size_t *i, int skip) {
  const lkv_causal_key_t *k;
  while ((k = lkv_causal_member_key_at(m, *i)) != NULL && skip && lkv_causal_key_sole_tombstone(k)) (*i)++;
  return k;
}

/* Two members hold the same replicated state: vector, keys, sibling sets with their values, winners; with
 * skip, keys whose only sibling is a tombstone are left out (each member purges those on its own timing). */
static void assert_same_keys(const lkv_causal_member_t *a, const lkv_causal_member_t *b, int skip) {
  assert_int_equal(lkv_causal_vv_compare(lkv_causal_member_vv(a), lkv_causal_member_vv(b)), LKV_CAUSAL_EQUAL);
  for (size_t i = 0, i2 = 0;; i++, i2++) {
    const lkv_causal_key_t *x = next_key(a, &i, skip), *y = next_key(b, &i2, skip);
    assert_true((x == NULL) == (y == NULL));
    if (!x) break;
    assert_int_equal(x->key_len, y->key_len);
    assert_memory_equal(x->key, y->key, x->key_len);
    assert_int_equal(x->n, y->n);
    for (size_t j = 0; j < x->n; j++) {
      const lkv_causal_sibling_t *s = &x->sib[j], *o = sibling(y, s->origin, s->seq);
      assert_non_null(o);
      assert_int_equal(s->tombstone, o->tombstone);
      assert_int_equal(s->hlc.wall, o->hlc.wall);
      assert_int_equal(s->hlc.logical, o->hlc.logical);
      assert_int_equal(s->lease, o->lease);
      assert_int_equal(s->value_len, o->value_len);
      if (s->value_len) assert_memory_equal(s->value, o->value, s->value_len);
    }
    const lkv_causal_sibling_t *wx = lkv_causal_member_winner(a, x), *wy = lkv_causal_member_winner(b, y);
    assert_int_equal(wx->origin, wy->origin);
    assert_int_equal(wx->seq, wy->seq);
  }
}

static void assert_same_replicated(const lkv_causal_member_t *a, const lkv_causal_member_t *b) {
  assert_int_equal(lkv_causal_member_n_keys(a), lkv_causal_member_n_keys(b));
  assert_same_keys(a, b, 0);
}

/* The scene: three members; m3 writes and everyone has it; then m3 is away (silent) while m1 and m2 write
 * (siblings on "k", m3's "c" superseded, "a" deleted) and m1 compacts past what m3 lacks. */
static net_t *scene(void) {
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "a", "1");
  put(t, 2, "c", "3");
  put(t, 2, "d", "4");
  settle(t);
  exchange(t);
  put(t, 0, "a", NULL);
  put(t, 0, "c", "5");
  put(t, 0, "k", "x");
  put(t, 1, "k", "y"); /* concurrent with x: siblings */
  put(t, 1, "b", "2");
  cut(t, 3);
  settle(t);
  exchange_without(t, 3);
  silence(t, 0, 3);
  uint64_t stable = lkv_causal_member_stable(t->m[0]);
  assert_int_equal(stable, lkv_causal_member_revision(t->m[0]));
  assert_int_equal(lkv_causal_member_compact(t->m[0], stable), 0);
  return t;
}

/* m3 comes back: its vector reaches m1, which finds a snapshot due. Returns the snapshot. */
static uint8_t *snapshot_for_m3(net_t *t, size_t *len) {
  assert_int_equal(lkv_causal_member_tick(t->m[2]), 0);
  flush(t, 2);
  for (size_t k = 0; k < t->nq;)
    if (t->q[k].to == 1)
      assert_int_equal(deliver(t, k), 0);
    else
      drop(t, k);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 3), 1);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 3), 1);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 2), 0); /* m2 has everything */
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 1), 0); /* itself */
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 9), 0); /* not a member */
  uint8_t *snap;
  assert_int_equal(lkv_causal_member_snapshot(t->m[0], (const uint8_t *)"leases", 6, &snap, len), 0);
  return snap;
}

static void test_round_trip(void **state) {
  (void)state;
  net_t *t = scene();
  with_callbacks(t, 2);
  size_t len;
  uint8_t *snap = snapshot_for_m3(t, &len);
  const lkv_causal_key_t *a = key(t, 2, "a"), *d = key(t, 2, "d");
  uint64_t a_create = a->create_rev, d_view[3] = {d->create_rev, d->mod_rev, d->version};
  uint64_t before = lkv_causal_member_revision(t->m[2]);
  memset(&changes, 0, sizeof(changes));
  memset(&writes, 0, sizeof(writes));
  uint64_t rev = 0;
  const uint8_t *extra;
  size_t extra_len;
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len), 0);
  log_restarts(t, 2, rev);
  assert_int_equal(rev, before + 1);
  assert_int_equal(lkv_causal_member_revision(t->m[2]), rev);
  assert_int_equal(extra_len, 6);
  assert_memory_equal(extra, "leases", 6);
  assert_same_replicated(t->m[0], t->m[2]);
  assert_string_equal(value(t, 2, "c"), "5");
  assert_string_equal(value(t, 2, "b"), "2");
  assert_string_equal(value(t, 2, "a"), "");
  assert_int_equal(key(t, 2, "k")->n, 2);
  /* The views, as applied events move them, at the one revision. */
  assert_int_equal(key(t, 2, "b")->create_rev, rev);
  assert_int_equal(key(t, 2, "b")->mod_rev, rev);
  assert_int_equal(key(t, 2, "b")->version, 1);
  assert_int_equal(key(t, 2, "c")->mod_rev, rev);
  assert_int_equal(key(t, 2, "c")->version, 2);
  assert_true(key(t, 2, "c")->create_rev < rev);
  a = key(t, 2, "a");
  assert_true(a_create != 0);
  assert_int_equal(a->create_rev, 0); /* deleted: not live */
  assert_int_equal(a->mod_rev, 0);
  d = key(t, 2, "d"); /* unchanged */
  assert_int_equal(d->create_rev, d_view[0]);
  assert_int_equal(d->mod_rev, d_view[1]);
  assert_int_equal(d->version, d_view[2]);
  /* A sibling it had keeps its local revision; new ones take rev. */
  assert_true(sibling(d, 3, 2)->rev < rev);
  assert_int_equal(sibling(key(t, 2, "b"), 2, 2)->rev, rev);
  /* Told of exactly the keys whose view changed (on_change) or whose siblings changed (on_write). */
  assert_int_equal(changes.n, 4);
  assert_true(told(&changes, "a", rev) && told(&changes, "b", rev) && told(&changes, "c", rev) &&
              told(&changes, "k", rev));
  assert_int_equal(writes.n, 4);
  assert_true(told(&writes, "a", rev) && told(&writes, "b", rev) && told(&writes, "c", rev) &&
              told(&writes, "k", rev));
  /* The log: all compacted, the snapshot's vector as its base. */
  assert_int_equal(lkv_causal_member_first_rev(t->m[2]), rev + 1);
  assert_null(lkv_causal_member_event_at(t->m[2], rev));
  lkv_causal_vv_t base;
  lkv_causal_member_base_vv(t->m[2], &base);
  assert_int_equal(lkv_causal_vv_compare(&base, lkv_causal_member_vv(t->m[0])), LKV_CAUSAL_EQUAL);
  uint64_t r;
  assert_null(lkv_causal_member_event(t->m[2], 3, 1, &r));
  assert_int_equal(lkv_causal_member_stable(t->m[2]), rev);
  /* Nothing to make durable as events: no batch. */
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(t->m[2], &rb), 0);
  /* Once m3 reported its new vector, no snapshot is due for it any more. */
  exchange(t);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 3), 0);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 3), 0);
  /* The same snapshot again holds nothing more: not useful. */
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len),
                   LKV_EEXIST);
  free(snap);
  net_free(t);
}

/* The member's state, to show that a refused install changed nothing. */
static uint64_t state_of(const lkv_causal_member_t *m) {
  uint64_t h = lkv_causal_member_revision(m) * 1000003u + lkv_causal_member_n_keys(m);
  for (uint32_t i = 0; i < lkv_causal_member_vv(m)->n; i++) h = h * 31 + lkv_causal_member_vv(m)->e[i].seq;
  for (size_t i = 0; i < lkv_causal_member_n_keys(m); i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(m, i);
    h = h * 31 + k->n * 7 + k->mod_rev;
  }
  return h * 31 + lkv_causal_member_first_rev(m);
}

static void test_refused(void **state) {
  (void)state;
  net_t *t = scene();
  size_t len;
  uint8_t *snap = snapshot_for_m3(t, &len);
  uint64_t rev = 0, was = state_of(t->m[2]);
  const uint8_t *extra;
  size_t extra_len;
  /* Tampered: any byte of the body, or of the signature. */
  for (size_t at = 8; at < len; at += len / 7) {
    snap[at] ^= 0x10;
    int rc = lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len);
    assert_true(rc == LKV_EVERIFY || (at < 16 && rc == LKV_EBADMSG)); /* the sender id: not a member */
    snap[at] ^= 0x10;
  }
  snap[len - 1] ^= 1;
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len),
                   LKV_EVERIFY);
  snap[len - 1] ^= 1;
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len - 1, &rev, &extra, &extra_len),
                   LKV_EVERIFY);
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, 20, &rev, &extra, &extra_len),
                   LKV_EBADMSG);
  /* Its own snapshot to itself, or one from a member whose key is not known. */
  assert_int_equal(lkv_causal_member_install(t->m[0], t->now, snap, len, &rev, &extra, &extra_len),
                   LKV_EBADMSG);
  ct_cluster_t unknown = t->cl;
  memset(unknown.peers[0].pk, 0, LKV_CAUSAL_PK_LEN);
  lkv_causal_config_t cfg = ct_config(&unknown, 3);
  lkv_causal_member_t *m;
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  assert_int_equal(lkv_causal_member_install(m, t->now, snap, len, &rev, &extra, &extra_len), LKV_EVERIFY);
  lkv_causal_member_free(m);
  /* A clock far ahead of the receiver's now. */
  assert_int_equal(lkv_causal_member_install(t->m[2], 0, snap, len, &rev, &extra, &extra_len),
                   LKV_ECLOCKAHEAD);
  /* m3 wrote while away: the snapshot no longer covers its vector. */
  put(t, 2, "own", "z");
  cut(t, 3);
  was = state_of(t->m[2]);
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len),
                   LKV_EEXIST);
  assert_int_equal(state_of(t->m[2]), was);
  /* Not quiet: a batch out. */
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"q", .key_len = 1};
  assert_int_equal(lkv_causal_member_write(t->m[2], t->now, &mu, 1, 1, &rev), 0);
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len),
                   LKV_EAGAIN);
  lkv_causal_batch_t rb;
  assert_int_equal(lkv_causal_member_batch(t->m[2], &rb), 1);
  uint8_t *other;
  size_t olen;
  assert_int_equal(lkv_causal_member_snapshot(t->m[2], NULL, 0, &other, &olen), LKV_EAGAIN);
  lkv_causal_member_advance(t->m[2]);
  free(snap);
  net_free(t);
}

/* m3's own events reach m1 first; then the snapshot covers them, and m3's next write follows on. */
static void test_own_events_first_then_writes(void **state) {
  (void)state;
  net_t *t = scene();
  put(t, 2, "own", "z"); /* while away */
  cut(t, 3);
  assert_int_equal(lkv_causal_member_tick(t->m[2]), 0);
  flush(t, 2);
  for (size_t k = 0; k < t->nq;) /* m3's vector reaches m1 only */
    if (t->q[k].to == 1)
      assert_int_equal(deliver(t, k), 0);
    else
      drop(t, k);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 3), 1);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 3), 0); /* m3 has an event m1 lacks */
  /* m1's vector reaches m3, which answers with its write. */
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  flush(t, 0);
  while (t->nq) /* to m3, and m3's answer to m1 */
    if (t->q[0].to == 3 || t->q[0].from == 3)
      assert_int_equal(deliver(t, 0), 0);
    else
      drop(t, 0);
  assert_string_equal(value(t, 0, "own"), "z");
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 3), 1);
  size_t len;
  uint8_t *snap;
  assert_int_equal(lkv_causal_member_snapshot(t->m[0], NULL, 0, &snap, &len), 0);
  uint64_t rev;
  const uint8_t *extra;
  size_t extra_len;
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len), 0);
  log_restarts(t, 2, rev);
  assert_int_equal(extra_len, 0);
  assert_string_equal(value(t, 2, "own"), "z");
  /* The next own write: the next sequence, deps the installed vector. */
  lkv_causal_vv_t vv = *lkv_causal_member_vv(t->m[2]);
  uint64_t wrev = put(t, 2, "after", "w");
  assert_int_equal(wrev, rev + 1);
  const lkv_causal_held_t *h = lkv_causal_member_event_at(t->m[2], wrev);
  assert_non_null(h);
  assert_int_equal(h->ev.seq, lkv_causal_vv_get(&vv, 3) + 1);
  assert_int_equal(lkv_causal_vv_compare(&h->ev.deps, &vv), LKV_CAUSAL_EQUAL);
  settle(t);
  exchange(t);
  assert_same_replicated(t->m[0], t->m[2]);
  assert_same_replicated(t->m[1], t->m[2]);
  free(snap);
  net_free(t);
}

/* A checkpoint right after the install restores exactly the installed state; events after it replay. */
static void test_checkpoint_after_install(void **state) {
  (void)state;
  net_t *t = scene();
  size_t len;
  uint8_t *snap = snapshot_for_m3(t, &len);
  uint64_t rev;
  const uint8_t *extra;
  size_t extra_len;
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len), 0);
  free(snap);
  uint8_t *ckpt;
  size_t clen;
  assert_int_equal(lkv_causal_member_checkpoint(t->m[2], rev, &ckpt, &clen), 0);
  log_restarts(t, 2, rev);
  uint64_t w1 = put(t, 2, "after", "1");
  put(t, 1, "b", "3");
  settle(t);
  lkv_causal_config_t cfg = ct_config(&t->cl, 3);
  lkv_causal_member_t *m;
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  uint64_t crev, base;
  assert_int_equal(lkv_causal_member_restore(m, ckpt, clen, &crev, &base), 0);
  assert_int_equal(crev, rev);
  assert_int_equal(base, rev);
  for (size_t j = rev; j < t->nlog[2]; j++) {
    uint64_t r;
    assert_int_equal(lkv_causal_member_replay(m, t->log[2][j], t->loglen[2][j], &r), 0);
    assert_int_equal(r, j + 1);
  }
  assert_int_equal(w1, rev + 1);
  assert_same(t->m[2], m); /* local revisions, views and the order of siblings too */
  assert_int_equal(lkv_causal_member_first_rev(m), rev + 1);
  assert_non_null(lkv_causal_member_event_at(m, rev + 1));
  free(ckpt);
  lkv_causal_member_free(m);
  net_free(t);
}

/* Compaction leaves a silent member behind (when this member and those it hears are a majority); the
 * tombstone purge still waits for it. */
static void test_stable_leaves_silent_behind(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "a", "1");
  settle(t);
  exchange(t);
  put(t, 0, "a", NULL); /* a sole tombstone m3 never gets */
  put(t, 1, "b", "2");
  cut(t, 3);
  settle(t);
  exchange_without(t, 3);
  uint64_t top = lkv_causal_member_revision(t->m[0]);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 1); /* m3 has only the first */
  silence(t, 0, 3);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), top);
  exchange_without(t, 3); /* ticks: the purge runs */
  assert_non_null(key(t, 0, "a"));
  assert_true(lkv_causal_key_sole_tombstone(key(t, 0, "a")));
  /* Heard again: counted again. */
  lkv_causal_silence_t out[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_member_heard(t->m[0], 3, 100001);
  lkv_causal_member_heard(t->m[0], 2, 100001);
  lkv_causal_member_silence(t->m[0], 100001, 1000, out);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 1);
  net_free(t);
}

/* Two members: one alone is no majority, so a silent peer is not left behind. */
static void test_minority_keeps_the_silent(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "a", "1");
  settle(t);
  exchange(t);
  put(t, 0, "b", "2");
  cut(t, 2);
  silence(t, 0, 2);
  assert_int_equal(lkv_causal_member_stable(t->m[0]), 1);
  net_free(t);
}

/* Removals travel in snapshots: the receiver learns of one, and a removed sender's snapshot is refused. */
static void test_removals(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "a", "1");
  settle(t);
  exchange(t);
  uint64_t rev;
  assert_int_equal(lkv_causal_member_remove(t->m[0], t->now, 2, 1, &rev), 0);
  flush(t, 0);
  uint8_t *removed_snap, *snap;
  size_t removed_len, len;
  put(t, 1, "b", "2"); /* m2 does not know yet: its snapshot holds more than m3 has */
  assert_int_equal(lkv_causal_member_snapshot(t->m[1], NULL, 0, &removed_snap, &removed_len), 0);
  drop_all(t);
  assert_int_equal(lkv_causal_member_snapshot(t->m[0], NULL, 0, &snap, &len), 0);
  const uint8_t *extra;
  size_t extra_len;
  assert_int_equal(lkv_causal_member_is_removed(t->m[2], 2), 0);
  assert_int_equal(lkv_causal_member_install(t->m[2], t->now, snap, len, &rev, &extra, &extra_len), 0);
  assert_int_equal(lkv_causal_member_is_removed(t->m[2], 2), 1);
  assert_int_equal(lkv_causal_member_removal_cap(t->m[2], 2), lkv_causal_member_removal_cap(t->m[0], 2));
  assert_int_equal(
      lkv_causal_member_install(t->m[2], t->now, removed_snap, removed_len, &rev, &extra, &extra_len),
      LKV_EMEMBERREMOVED);
  assert_string_equal(value(t, 2, "b"), "");
  /* None is due to a removed member. */
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 2), 0);
  free(snap);
  free(removed_snap);
  net_free(t);
}

/* Members a and b (ids) send their vectors twice; what passes between them is delivered, but no event to
 * no_events_to (its answers lost); everything else in flight is lost. */
static void talk(net_t *t, uint64_t a, uint64_t b, uint64_t no_events_to) {
  for (int round = 0; round < 2; round++) {
    assert_int_equal(lkv_causal_member_tick(t->m[a - 1]), 0);
    flush(t, a - 1);
    assert_int_equal(lkv_causal_member_tick(t->m[b - 1]), 0);
    flush(t, b - 1);
    while (t->nq) {
      const flight_t *f = &t->q[0];
      int between = (f->from == a && f->to == b) || (f->from == b && f->to == a);
      if (between && !(f->to == no_events_to && f->kind == LKV_CAUSAL_MSG_EVENT))
        assert_int_equal(deliver(t, 0), 0);
      else
        drop(t, 0);
    }
  }
}

/* Member i compacts every event it holds, `away` being silent (left behind by the majority it hears). */
static void compact_all(net_t *t, size_t i, uint64_t away) {
  silence(t, i, away);
  uint64_t stable = lkv_causal_member_stable(t->m[i]);
  assert_int_equal(stable, lkv_causal_member_revision(t->m[i]));
  assert_int_equal(lkv_causal_member_compact(t->m[i], stable), 0);
}

/* docs/causal.md §7a's merge: m1 and m2 write on two sides of a split, each compacts with m3 (a majority)
 * what the other lacks, m3 (which has both sides' events) is gone; neither vector covers the other. m1's
 * snapshot becomes due once m2's answers bring nothing, m2 joins it with its own state, m2's snapshot back
 * is an ordinary one, and both end with the state of a member that applied every event: siblings of both
 * sides, own events kept, nothing superseded or purged on one side brought back. */
static void test_concurrent_snapshots_merge(void **state) {
  (void)state;
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "0");
  put(t, 0, "s", "0");
  put(t, 0, "t", "0");
  put(t, 1, "u", "0");
  settle(t);
  exchange(t);
  put(t, 0, "t", NULL); /* every member has the tombstone; only m1 learns it is stable and purges it */
  settle(t);
  for (size_t i = 1; i < 3; i++) {
    assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush(t, i);
  }
  for (size_t k = 0; k < t->nq;)
    if (t->q[k].to == 1)
      assert_int_equal(deliver(t, k), 0);
    else
      drop(t, k);
  assert_int_equal(lkv_causal_member_tick(t->m[0]), 0);
  drop_all(t);
  assert_null(key(t, 0, "t"));
  assert_true(lkv_causal_key_sole_tombstone(key(t, 1, "t")));
  /* The split: m1 supersedes s and writes k and its own key; m2 writes k (a sibling), u and its own key. */
  put(t, 0, "k", "x");
  put(t, 0, "s", "1");
  put(t, 0, "own1", "a");
  put(t, 1, "k", "y");
  put(t, 1, "u", "1");
  put(t, 1, "own2", "b");
  drop_all(t);
  talk(t, 1, 3, 0); /* m3 gets m1's side */
  compact_all(t, 0, 2);
  talk(t, 2, 3, 2); /* m3 gets m2's side; its answers to m2 (m1's side) are lost */
  compact_all(t, 1, 1);
  assert_int_equal(lkv_causal_vv_compare(lkv_causal_member_vv(t->m[0]), lkv_causal_member_vv(t->m[1])),
                   LKV_CAUSAL_CONCURRENT);
  /* m3 is gone; m1 and m2 talk. Until m2's answers have brought nothing for a few ticks, no snapshot. */
  lkv_causal_member_t *all = replayed(t, 2); /* every event, applied */
  uint64_t own2 = lkv_causal_vv_get(lkv_causal_member_vv(t->m[1]), 2);
  talk(t, 1, 2, 0);
  assert_int_equal(lkv_causal_member_needs_snapshot(t->m[0], 2), 1);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 2), 0); /* m2's events could still come */
  for (int ticks = 0; !lkv_causal_member_snapshot_due(t->m[0], 2); ticks++) {
    assert_true(ticks < 5);
    talk(t, 1, 2, 0);
  }
  size_t len;
  uint8_t *snap;
  assert_int_equal(lkv_causal_member_snapshot(t->m[0], NULL, 0, &snap, &len), 0);
  uint64_t before = lkv_causal_member_revision(t->m[1]), rev;
  const uint8_t *extra;
  size_t extra_len;
  assert_int_equal(lkv_causal_member_install(t->m[1], t->now, snap, len, &rev, &extra, &extra_len), 0);
  free(snap);
  log_restarts(t, 1, rev);
  assert_int_equal(rev, before + 1); /* one revision */
  assert_int_equal(key(t, 1, "k")->n, 2);
  assert_string_equal(value(t, 1, "own1"), "a");
  assert_string_equal(value(t, 1, "own2"), "b");
  assert_string_equal(value(t, 1, "u"), "1");
  assert_int_equal(key(t, 1, "s")->n, 1); /* s=0, superseded on m1, is not brought back */
  assert_string_equal(value(t, 1, "s"), "1");
  assert_null(key(t, 1, "t")); /* the tombstone m1 purged is not brought back */
  assert_int_equal(lkv_causal_vv_get(lkv_causal_member_vv(t->m[1]), 2), own2);
  assert_same_keys(t->m[1], all, 1);
  /* m2's vector now covers m1's: its snapshot back is an ordinary one. */
  talk(t, 1, 2, 0);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[1], 1), 1);
  assert_int_equal(lkv_causal_member_snapshot(t->m[1], NULL, 0, &snap, &len), 0);
  assert_int_equal(lkv_causal_member_install(t->m[0], t->now, snap, len, &rev, &extra, &extra_len), 0);
  free(snap);
  log_restarts(t, 0, rev);
  assert_same_keys(t->m[0], all, 1);
  assert_same_replicated(t->m[0], t->m[1]);
  /* m2's next write follows its own sequence. */
  uint64_t w = put(t, 1, "after", "w");
  assert_int_equal(lkv_causal_member_event_at(t->m[1], w)->ev.seq, own2 + 1);
  talk(t, 1, 2, 0);
  assert_same_replicated(t->m[0], t->m[1]);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[0], 2), 0);
  assert_int_equal(lkv_causal_member_snapshot_due(t->m[1], 1), 0);
  lkv_causal_member_free(all);
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_own_events_first_then_writes),
      cmocka_unit_test(test_checkpoint_after_install),
      cmocka_unit_test(test_stable_leaves_silent_behind),
      cmocka_unit_test(test_minority_keeps_the_silent),
      cmocka_unit_test(test_removals),
      cmocka_unit_test(test_concurrent_snapshots_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
