/* A small hand-driven Raft cluster for the core's own tests: durable stores, an encoded wire, checks. */
#ifndef LKV_TESTS_RAFT_CORE_HARNESS_H
#define LKV_TESTS_RAFT_CORE_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "raft/codec.h"
#include "raft/raft.h"

/*
 * Each member persists its ready batches into a store_t (what a restart recovers) before it sends
 * msgs_after_persist, as the contract says. Messages travel encoded with the real codec. Every applied
 * normal entry is checked against one global index -> data map: a committed entry never changes.
 * The state machine is volatile: a restarted member re-applies from its snapshot.
 */

#define MAXN 5
#define MAX_ENTS 2048
#define MAX_MSGS 8192
#define DATA_MAX 16

typedef struct {
  lkv_raft_hard_state_t hs;
  lkv_raft_snapshot_meta_t snap;
  lkv_raft_entry_t ents[MAX_ENTS]; /* after snap.index; data malloc'd */
  size_t n;
} store_t;

typedef struct {
  lkv_raft_t *r;
  store_t st;
  char applied_data[MAX_ENTS][DATA_MAX]; /* normal entries with data, in order */
  size_t n_applied;
  uint64_t read_index;
  char read_ctx[DATA_MAX];
  int down;
} node_t;

static node_t nodes[MAXN + 1];
static int n_nodes;
static uint8_t *wire[MAX_MSGS]; /* encoded messages in flight */
static size_t wire_len[MAX_MSGS];
static size_t n_wire;
static uint64_t seed = 1;
/* Config variations for the next started members: */
#define PLAIN 1u      /* pre-vote and CheckQuorum off */
#define TIGHT_FLOW 2u /* small byte limits on in-flight and uncommitted data */
static unsigned variant;
static char gmap[MAX_ENTS * 4][DATA_MAX]; /* index -> applied data ("" for none yet) */

static uint64_t rnd(void *arg) {
  (void)arg;
  seed = seed * 6364136223846793005ull + 1442695040888963407ull;
  return seed >> 17;
}

static lkv_raft_config_t config(lkv_raft_id_t id) {
  lkv_raft_config_t c;
  lkv_raft_config_default(&c, id, rnd, NULL);
  c.max_size_per_msg = 64;
  c.max_inflight_msgs = 4;
  if (variant & PLAIN) c.pre_vote = c.check_quorum = 0;
  if (variant & TIGHT_FLOW) {
    c.max_inflight_bytes = 40;
    c.max_uncommitted_size = 60;
  }
  if (getenv("RAFT_CORE_BUGS")) c.bugs = (unsigned)strtoul(getenv("RAFT_CORE_BUGS"), NULL, 0);
  return c;
}

static void post(const lkv_raft_msg_t *m) {
  if (n_wire == MAX_MSGS) return; /* a full network drops */
  size_t n = lkv_raft_msg_size(m);
  wire[n_wire] = malloc(n);
  assert_int_equal(lkv_raft_msg_encode(m, wire[n_wire], n), n);
  wire_len[n_wire++] = n;
}

static void store_entries(store_t *st, const lkv_raft_entry_t *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    /* Writing entry i discards stored entries >= i. */
    size_t pos = e[i].index - st->snap.index - 1;
    assert_true(pos <= st->n && pos < MAX_ENTS);
    for (size_t j = pos; j < st->n; j++) free((void *)st->ents[j].data);
    st->n = pos;
    uint8_t *d = NULL;
    if (e[i].len) {
      d = malloc(e[i].len);
      memcpy(d, e[i].data, e[i].len);
    }
    st->ents[st->n] = e[i];
    st->ents[st->n++].data = d;
  }
}

static void store_free(store_t *st) {
  for (size_t j = 0; j < st->n; j++) free((void *)st->ents[j].data);
  memset(st, 0, sizeof(*st));
}

/* The caller took a snapshot at meta->index: the store keeps only what follows it. */
static void store_snapshot(store_t *st, const lkv_raft_snapshot_meta_t *meta) {
  size_t drop = meta->index - st->snap.index;
  assert_true(drop <= st->n);
  uint64_t term = st->ents[drop - 1].term;
  for (size_t j = 0; j < drop; j++) free((void *)st->ents[j].data);
  memmove(st->ents, st->ents + drop, (st->n - drop) * sizeof(st->ents[0]));
  st->n -= drop;
  st->snap = *meta;
  st->snap.term = term;
}

static void check_applied(const lkv_raft_entry_t *e) {
  char d[DATA_MAX] = {0};
  assert_true(e->len < DATA_MAX && e->index < MAX_ENTS * 4);
  memcpy(d, e->data, e->len);
  if (gmap[e->index][0])
    assert_string_equal(gmap[e->index], d); /* a committed entry never changes */
  else
    memcpy(gmap[e->index], d, DATA_MAX);
}

/* Handles one ready batch of node i in the contract's order. Returns 1 if there was one. */
static int process(int i) {
  node_t *nd = &nodes[i];
  lkv_raft_ready_t rd;
  if (nd->down || !lkv_raft_ready(nd->r, &rd)) return 0;
  for (size_t k = 0; k < rd.n_msgs; k++) post(&rd.msgs[k]);
  if (rd.has_snapshot) {
    store_free(&nd->st);
    nd->st.snap = rd.snapshot.meta;
  }
  store_entries(&nd->st, rd.entries, rd.n_entries);
  if (rd.has_hard_state) nd->st.hs = rd.hard_state;
  for (size_t k = 0; k < rd.n_msgs_after_persist; k++) post(&rd.msgs_after_persist[k]);
  for (size_t k = 0; k < rd.n_committed; k++) {
    const lkv_raft_entry_t *e = &rd.committed[k];
    if (e->type == LKV_RAFT_ENTRY_CONF_CHANGE) {
      assert_int_equal(lkv_raft_apply_conf_change(nd->r, e, 1, NULL), 0);
    } else if (e->len) {
      check_applied(e);
      memcpy(nd->applied_data[nd->n_applied], e->data, e->len);
      nd->applied_data[nd->n_applied++][e->len] = 0;
    }
  }
  for (size_t k = 0; k < rd.n_read_states; k++) {
    nd->read_index = rd.read_states[k].index;
    assert_true(rd.read_states[k].context_len < sizeof(nd->read_ctx));
    memcpy(nd->read_ctx, rd.read_states[k].context, rd.read_states[k].context_len);
    nd->read_ctx[rd.read_states[k].context_len] = 0;
  }
  assert_int_equal(lkv_raft_advance(nd->r, &rd), 0);
  return 1;
}

/* Steps wire message k into its recipient (if up) and removes it from the wire. */
static void deliver(size_t k) {
  lkv_raft_msg_t m;
  lkv_raft_entry_t *es;
  uint8_t *buf = wire[k];
  size_t len = wire_len[k];
  memmove(wire + k, wire + k + 1, (n_wire - k - 1) * sizeof(wire[0]));
  memmove(wire_len + k, wire_len + k + 1, (n_wire - k - 1) * sizeof(wire_len[0]));
  n_wire--;
  assert_int_equal(lkv_raft_msg_decode(buf, len, &m, &es), 0);
  if (getenv("RAFT_CORE_TRACE"))
    fprintf(stderr, "  %s %llu->%llu t%llu i%llu lt%llu c%llu rej%d hint%llu n%zu\n",
            lkv_raft_msg_type_name(m.type), (unsigned long long)m.from, (unsigned long long)m.to,
            (unsigned long long)m.term, (unsigned long long)m.index, (unsigned long long)m.log_term,
            (unsigned long long)m.commit, m.reject, (unsigned long long)m.reject_hint, m.n_entries);
  int up = m.to >= 1 && (int)m.to <= n_nodes && !nodes[m.to].down;
  if (up) assert_int_equal(lkv_raft_step(nodes[m.to].r, &m), 0);
  /* The transport tells the leader how a snapshot went (raft.h: report_snapshot after each SNAP). */
  if (m.type == LKV_RAFT_MSG_SNAP && !nodes[m.from].down) lkv_raft_report_snapshot(nodes[m.from].r, m.to, up);
  free(es);
  free(buf);
}

/* Delivers every message (and the ones they cause) in order until the cluster is quiet. */
static void stabilize(void) {
  for (int rounds = 0; rounds < 10000; rounds++) {
    int busy = 0;
    for (int i = 1; i <= n_nodes; i++) busy |= process(i);
    while (n_wire) {
      deliver(0);
      busy = 1;
      for (int i = 1; i <= n_nodes; i++) process(i);
    }
    if (!busy) return;
  }
  fail_msg("cluster did not stabilize");
}

static void start_node(int i, int fresh) {
  lkv_raft_config_t c = config((lkv_raft_id_t)i);
  if (fresh) {
    assert_int_equal(lkv_raft_new(&c, NULL, &nodes[i].r), 0);
    return;
  }
  lkv_raft_restore_t rs = {.hard_state = nodes[i].st.hs,
                           .snapshot = nodes[i].st.snap,
                           .entries = nodes[i].st.ents,
                           .n_entries = nodes[i].st.n};
  nodes[i].n_applied = 0; /* the volatile state machine starts over */
  assert_int_equal(lkv_raft_new(&c, &rs, &nodes[i].r), 0);
}

static void crash(int i) {
  lkv_raft_free(nodes[i].r);
  nodes[i].r = NULL;
  nodes[i].down = 1;
}

static void restart(int i) {
  start_node(i, 0);
  nodes[i].down = 0;
}

/* n founding members, bootstrapped and with their first batch handled. */
static void cluster_start(int n) {
  memset(nodes, 0, sizeof(nodes));
  memset(gmap, 0, sizeof(gmap));
  n_nodes = n;
  n_wire = 0;
  lkv_raft_id_t ids[MAXN];
  for (int i = 0; i < n; i++) ids[i] = (lkv_raft_id_t)(i + 1);
  for (int i = 1; i <= n; i++) {
    start_node(i, 1);
    assert_int_equal(lkv_raft_bootstrap(nodes[i].r, ids, (size_t)n), 0);
  }
  stabilize();
}

static void cluster_free(void) {
  for (int i = 1; i <= MAXN; i++) {
    lkv_raft_free(nodes[i].r);
    store_free(&nodes[i].st);
  }
  for (size_t k = 0; k < n_wire; k++) free(wire[k]);
  n_wire = 0;
}

static lkv_raft_status_t status(int i) {
  lkv_raft_status_t s;
  lkv_raft_status(nodes[i].r, &s);
  return s;
}

#endif
