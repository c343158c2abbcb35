/* A network of causal members for the unit tests: batches flushed to durable logs, messages in flight
 * delivered in order or dropped, writes, key reads, replay. Include after cmocka.h. */
#ifndef LKV_TESTS_CAUSAL_TESTNET_H
#define LKV_TESTS_CAUSAL_TESTNET_H

#include <stdio.h>

#include "causal_testutil.h"
#include "common/error.h"

/* A message in flight between test members (a copy). */
typedef struct {
  uint64_t from, to;
  uint8_t kind;
  uint8_t *data;
  size_t len;
} flight_t;

typedef struct {
  ct_cluster_t cl;
  lkv_causal_member_t *m[CT_MAX];
  flight_t q[4096];
  size_t nq;
  /* Durable events per member, in local order (what the batches' applied made durable). */
  uint8_t *log[CT_MAX][256];
  size_t loglen[CT_MAX][256], nlog[CT_MAX];
  uint64_t now;
  size_t most_events_to_one; /* the most event messages one batch sent to one peer */
} net_t;

static inline net_t *net_new(size_t n, size_t ship, size_t held) {
  net_t *t = calloc(1, sizeof(*t));
  assert_non_null(t);
  ct_cluster(&t->cl, n);
  t->now = 1000;
  for (size_t i = 0; i < n; i++) {
    lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
    cfg.max_ship_events = ship;
    cfg.max_held_events = held;
    assert_int_equal(lkv_causal_member_new(&cfg, &t->m[i]), 0);
  }
  return t;
}

static inline void net_free(net_t *t) {
  for (size_t i = 0; i < t->cl.n; i++) {
    lkv_causal_member_free(t->m[i]);
    for (size_t j = 0; j < t->nlog[i]; j++) free(t->log[i][j]);
  }
  for (size_t i = 0; i < t->nq; i++) free(t->q[i].data);
  free(t);
}

/* Handles member i's batch: durable log, queued messages; returns the acks' last revision (0: none). */
static inline uint64_t flush(net_t *t, size_t i) {
  lkv_causal_batch_t rb;
  uint64_t acked = 0;
  if (!lkv_causal_member_batch(t->m[i], &rb)) return 0;
  assert_int_equal(rb.first_rev, t->nlog[i] + 1); /* gap-free */
  for (size_t j = 0; j < rb.n_applied; j++) {
    uint8_t *copy = malloc(rb.applied[j].len);
    memcpy(copy, rb.applied[j].bytes, rb.applied[j].len);
    t->loglen[i][t->nlog[i]] = rb.applied[j].len;
    t->log[i][t->nlog[i]++] = copy;
  }
  for (size_t j = 0; j < rb.n_msgs; j++) {
    flight_t *f = &t->q[t->nq++];
    *f = (flight_t){.from = i + 1, .to = rb.msgs[j].to, .kind = rb.msgs[j].kind, .len = rb.msgs[j].len};
    f->data = malloc(f->len);
    memcpy(f->data, rb.msgs[j].data, f->len);
  }
  for (size_t j = 0; j < rb.n_acks; j++) acked = rb.acks[j].rev;
  for (uint64_t to = 1; to <= t->cl.n; to++) {
    size_t events = 0;
    for (size_t j = 0; j < rb.n_msgs; j++)
      events += rb.msgs[j].to == to && rb.msgs[j].kind == LKV_CAUSAL_MSG_EVENT;
    if (events > t->most_events_to_one) t->most_events_to_one = events;
  }
  /* Inputs are refused while the batch is out. */
  assert_int_equal(lkv_causal_member_tick(t->m[i]), LKV_EAGAIN);
  lkv_causal_member_advance(t->m[i]);
  return acked;
}

static inline void flush_all(net_t *t) {
  for (size_t i = 0; i < t->cl.n; i++) flush(t, i);
}

/* Delivers queued message k (then drops it), returning the receiver's answer. */
static inline int deliver(net_t *t, size_t k) {
  flight_t f = t->q[k];
  memmove(&t->q[k], &t->q[k + 1], (t->nq - k - 1) * sizeof(t->q[0]));
  t->nq--;
  lkv_causal_member_t *to = t->m[f.to - 1];
  int rc = f.kind == LKV_CAUSAL_MSG_EVENT ? lkv_causal_member_recv_event(to, t->now, f.data, f.len)
                                          : lkv_causal_member_recv_vv(to, f.from, f.data, f.len);
  free(f.data);
  flush(t, f.to - 1);
  return rc;
}

/* Drops queued message k (lost in flight). */
static inline void drop(net_t *t, size_t k) {
  free(t->q[k].data);
  memmove(&t->q[k], &t->q[k + 1], (t->nq - k - 1) * sizeof(t->q[0]));
  t->nq--;
}

/* Delivers everything in order until nothing is in flight. */
static inline void settle(net_t *t) {
  while (t->nq) assert_int_equal(deliver(t, 0), 0);
}

/* Drops every message in flight (a partition). */
static inline void drop_all(net_t *t) {
  for (size_t i = 0; i < t->nq; i++) free(t->q[i].data);
  t->nq = 0;
}

static inline uint64_t put(net_t *t, size_t i, const char *key, const char *value) {
  lkv_causal_mutation_t mu = {.kind = value ? LKV_CAUSAL_PUT : LKV_CAUSAL_DEL,
                              .key = (const uint8_t *)key,
                              .key_len = strlen(key),
                              .value = (const uint8_t *)value,
                              .value_len = value ? strlen(value) : 0};
  uint64_t rev = 0;
  assert_int_equal(lkv_causal_member_write(t->m[i], t->now++, &mu, 1, 77, &rev), 0);
  assert_int_equal(flush(t, i), rev);
  return rev;
}

static inline const lkv_causal_key_t *key(net_t *t, size_t i, const char *k) {
  return lkv_causal_member_key(t->m[i], (const uint8_t *)k, strlen(k));
}

/* The winner's value of k on member i ("" when deleted or absent). */
static inline const char *value(net_t *t, size_t i, const char *k) {
  static char out[64];
  const lkv_causal_key_t *kk = key(t, i, k);
  const lkv_causal_sibling_t *w = kk ? lkv_causal_member_winner(t->m[i], kk) : NULL;
  out[0] = 0;
  if (w && !w->tombstone) snprintf(out, sizeof(out), "%.*s", (int)w->value_len, (const char *)w->value);
  return out;
}

/* A new member i rebuilt from the durable log of member i; each event takes the next revision. */
static inline lkv_causal_member_t *replayed(net_t *t, size_t i) {
  lkv_causal_member_t *m;
  lkv_causal_config_t cfg = ct_config(&t->cl, i + 1);
  assert_int_equal(lkv_causal_member_new(&cfg, &m), 0);
  for (size_t j = 0; j < t->nlog[i]; j++) {
    uint64_t rev = 0;
    assert_int_equal(lkv_causal_member_replay(m, t->log[i][j], t->loglen[i][j], &rev), 0);
    assert_int_equal(rev, j + 1);
  }
  return m;
}

/* Every member sends its vector and everything settles: each hears what the others have. */
static inline void exchange(net_t *t) {
  for (size_t i = 0; i < t->cl.n; i++) {
    assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush(t, i);
  }
  settle(t);
}

/* Two members hold the same keys, siblings (values, revisions) and views, vector and revision. */
static inline void assert_same(const lkv_causal_member_t *a, const lkv_causal_member_t *b) {
  assert_int_equal(lkv_causal_member_revision(a), lkv_causal_member_revision(b));
  assert_int_equal(lkv_causal_vv_compare(lkv_causal_member_vv(a), lkv_causal_member_vv(b)), LKV_CAUSAL_EQUAL);
  assert_int_equal(lkv_causal_member_n_keys(a), lkv_causal_member_n_keys(b));
  for (size_t i = 0; i < lkv_causal_member_n_keys(a); i++) {
    const lkv_causal_key_t *x = lkv_causal_member_key_at(a, i), *y = lkv_causal_member_key_at(b, i);
    assert_memory_equal(x->key, y->key, x->key_len);
    assert_int_equal(x->n, y->n);
    assert_int_equal(x->create_rev, y->create_rev);
    assert_int_equal(x->mod_rev, y->mod_rev);
    assert_int_equal(x->version, y->version);
    for (size_t j = 0; j < x->n; j++) {
      assert_int_equal(x->sib[j].origin, y->sib[j].origin);
      assert_int_equal(x->sib[j].seq, y->sib[j].seq);
      assert_int_equal(x->sib[j].rev, y->sib[j].rev);
      assert_int_equal(x->sib[j].tombstone, y->sib[j].tombstone);
      assert_int_equal(x->sib[j].hlc.wall, y->sib[j].hlc.wall);
      assert_int_equal(x->sib[j].value_len, y->sib[j].value_len);
      if (x->sib[j].value_len) assert_memory_equal(x->sib[j].value, y->sib[j].value, x->sib[j].value_len);
    }
  }
}

#endif
