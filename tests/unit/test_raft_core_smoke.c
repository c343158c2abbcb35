/* Smoke test of the Raft core: a 3-member cluster driven by hand through elect, replicate, read, restart. */
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

#define N 3
#define MAXN 5
#define MAX_ENTS 512
#define MAX_MSGS 4096

/* A member's durable store: what a restart recovers. */
typedef struct {
  lkv_raft_hard_state_t hs;
  lkv_raft_snapshot_meta_t snap;
  lkv_raft_entry_t ents[MAX_ENTS]; /* data malloc'd */
  size_t n;
} store_t;

typedef struct {
  lkv_raft_t *r;
  store_t st;
  uint64_t applied[MAX_ENTS]; /* index of each applied normal entry with data */
  char applied_data[MAX_ENTS][16];
  size_t n_applied;
  uint64_t read_index;
  char read_ctx[16];
  int down;
} node_t;

static node_t nodes[MAXN + 1];
static int n_nodes;
static uint8_t *wire[MAX_MSGS]; /* encoded messages in flight */
static size_t wire_len[MAX_MSGS];
static size_t n_wire;
static uint64_t seed = 1;

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
  return c;
}

static void post(const lkv_raft_msg_t *m) {
  assert_true(n_wire < MAX_MSGS);
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
      assert_true(e->len < 16);
      nd->applied[nd->n_applied] = e->index;
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

/* Delivers every message (and the ones they cause) until the cluster is quiet. */
static void stabilize(void) {
  for (int rounds = 0; rounds < 10000; rounds++) {
    int busy = 0;
    for (int i = 1; i <= n_nodes; i++) busy |= process(i);
    size_t n = n_wire;
    n_wire = 0;
    uint8_t *batch[MAX_MSGS];
    size_t lens[MAX_MSGS];
    memcpy(batch, wire, n * sizeof(*batch));
    memcpy(lens, wire_len, n * sizeof(*lens));
    for (size_t k = 0; k < n; k++) {
      lkv_raft_msg_t m;
      lkv_raft_entry_t *es;
      assert_int_equal(lkv_raft_msg_decode(batch[k], lens[k], &m, &es), 0);
      if (m.to >= 1 && (int)m.to <= n_nodes && !nodes[m.to].down)
        assert_int_equal(lkv_raft_step(nodes[m.to].r, &m), 0);
      free(es);
      free(batch[k]);
      busy = 1;
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
  /* The state machine here is volatile: it re-applies everything after the snapshot. */
  nodes[i].n_applied = 0;
  assert_int_equal(lkv_raft_new(&c, &rs, &nodes[i].r), 0);
}

static int setup(void **state) {
  (void)state;
  memset(nodes, 0, sizeof(nodes));
  n_nodes = N;
  n_wire = 0;
  lkv_raft_id_t ids[N] = {1, 2, 3};
  for (int i = 1; i <= N; i++) {
    start_node(i, 1);
    assert_int_equal(lkv_raft_bootstrap(nodes[i].r, ids, N), 0);
  }
  stabilize();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int i = 1; i <= MAXN; i++) {
    lkv_raft_free(nodes[i].r);
    store_free(&nodes[i].st);
  }
  for (size_t k = 0; k < n_wire; k++) free(wire[k]);
  n_wire = 0;
  return 0;
}

static lkv_raft_status_t status(int i) {
  lkv_raft_status_t s;
  lkv_raft_status(nodes[i].r, &s);
  return s;
}

static void elect(int i) {
  assert_int_equal(lkv_raft_campaign(nodes[i].r), 0);
  stabilize();
  assert_int_equal(status(i).role, LKV_RAFT_LEADER);
  for (int j = 1; j <= n_nodes; j++)
    if (!nodes[j].down) assert_int_equal(status(j).leader, (lkv_raft_id_t)i);
}

static void propose(int i, const char *s) {
  assert_int_equal(lkv_raft_propose(nodes[i].r, (const uint8_t *)s, strlen(s), NULL, NULL), 0);
}

static void test_bootstrap_applies_membership(void **state) {
  (void)state;
  for (int i = 1; i <= N; i++) {
    lkv_raft_status_t s = status(i);
    assert_int_equal(s.conf.n_voters, 3);
    assert_int_equal(s.hard_state.commit, 3);
    assert_int_equal(s.applied, 3);
    assert_int_equal(nodes[i].st.n, 3);
    assert_int_equal(nodes[i].st.hs.term, 1);
  }
}

static void test_elect_replicate_apply(void **state) {
  (void)state;
  elect(1);
  assert_int_equal(status(1).hard_state.term, 2); /* the pre-vote did not raise any term */
  propose(1, "a");
  propose(1, "b");
  propose(2, "c"); /* a follower forwards */
  stabilize();
  for (int i = 1; i <= N; i++) {
    assert_int_equal(nodes[i].n_applied, 3);
    assert_string_equal(nodes[i].applied_data[0], "a");
    assert_string_equal(nodes[i].applied_data[1], "b");
    assert_string_equal(nodes[i].applied_data[2], "c");
    assert_int_equal(status(i).hard_state.commit, 7); /* 3 conf + empty + 3 */
    assert_int_equal(status(i).applied, 7);
  }
  lkv_raft_progress_t p;
  assert_int_equal(lkv_raft_progress(nodes[1].r, 2, &p), 0);
  assert_int_equal(p.match, 7);
  assert_int_equal(p.state, LKV_RAFT_PROGRESS_REPLICATE);
  assert_int_equal(lkv_raft_progress(nodes[2].r, 1, &p), LKV_EPERM);
}

static void test_many_entries_batched(void **state) {
  (void)state;
  elect(2);
  char buf[16];
  for (int k = 0; k < 100; k++) {
    snprintf(buf, sizeof(buf), "v%d", k);
    propose(2, buf);
  }
  stabilize();
  for (int i = 1; i <= N; i++) {
    assert_int_equal(nodes[i].n_applied, 100);
    assert_string_equal(nodes[i].applied_data[99], "v99");
  }
}

static void test_read_index(void **state) {
  (void)state;
  elect(1);
  propose(1, "x");
  stabilize();
  uint64_t commit = status(1).hard_state.commit;
  assert_int_equal(lkv_raft_read_index(nodes[1].r, (const uint8_t *)"r1", 2), 0);
  assert_int_equal(lkv_raft_read_index(nodes[3].r, (const uint8_t *)"r3", 2), 0);
  stabilize();
  assert_int_equal(nodes[1].read_index, commit);
  assert_string_equal(nodes[1].read_ctx, "r1");
  assert_int_equal(nodes[3].read_index, commit);
  assert_string_equal(nodes[3].read_ctx, "r3");
}

static void test_restart_from_restore(void **state) {
  (void)state;
  elect(1);
  propose(1, "a");
  stabilize();
  nodes[3].down = 1;
  lkv_raft_free(nodes[3].r);
  nodes[3].r = NULL;
  propose(1, "b");
  stabilize();
  start_node(3, 0);
  nodes[3].down = 0;
  /* Its volatile state machine starts empty: membership comes back as the committed entries re-apply. */
  assert_int_equal(status(3).conf.n_voters, 0);
  assert_int_equal(status(3).hard_state.term, status(1).hard_state.term);
  propose(1, "c");
  stabilize();
  for (int t = 0; t < 3; t++) { /* heartbeats carry the commit index to the restarted member */
    lkv_raft_tick(nodes[1].r);
    stabilize();
  }
  assert_int_equal(nodes[3].n_applied, 3);
  assert_string_equal(nodes[3].applied_data[0], "a");
  assert_string_equal(nodes[3].applied_data[2], "c");
  assert_int_equal(status(3).hard_state.commit, status(1).hard_state.commit);
  assert_int_equal(status(3).conf.n_voters, 3);
}

static void test_election_by_ticks(void **state) {
  (void)state;
  /* Nobody leads yet: ticking past the randomized timeout elects someone. */
  for (int t = 0; t < 40 && status(1).leader == LKV_RAFT_NONE; t++) {
    for (int i = 1; i <= N; i++) lkv_raft_tick(nodes[i].r);
    stabilize();
  }
  lkv_raft_id_t l = status(1).leader;
  assert_true(l >= 1 && l <= 3);
  for (int i = 1; i <= N; i++) assert_int_equal(status(i).leader, l);
  assert_int_equal(status((int)l).role, LKV_RAFT_LEADER);
}

static void test_transfer_leader(void **state) {
  (void)state;
  elect(1);
  assert_int_equal(lkv_raft_transfer_leader(nodes[1].r, 1), LKV_EINVAL);
  assert_int_equal(lkv_raft_transfer_leader(nodes[1].r, 3), 0);
  stabilize();
  assert_int_equal(status(3).role, LKV_RAFT_LEADER);
  assert_int_equal(status(1).leader, 3);
  propose(3, "after");
  stabilize();
  assert_int_equal(nodes[1].n_applied, 1);
}

static void test_add_learner_and_promote(void **state) {
  (void)state;
  elect(1);
  propose(1, "a");
  stabilize();
  n_nodes = 4;
  start_node(4, 1);
  lkv_raft_conf_change_t cc = {.type = LKV_RAFT_CC_ADD_LEARNER, .node = 4};
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), 0);
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), LKV_ECONFPENDING);
  stabilize();
  for (int t = 0; t < 3; t++) {
    lkv_raft_tick(nodes[1].r);
    stabilize();
  }
  assert_int_equal(status(1).conf.n_learners, 1);
  assert_int_equal(status(4).conf.n_learners, 1);
  assert_int_equal(nodes[4].n_applied, 1);
  cc.type = LKV_RAFT_CC_ADD_NODE;
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), 0);
  stabilize();
  assert_int_equal(status(1).conf.n_voters, 4);
  assert_int_equal(status(4).conf.n_voters, 4);
  cc = (lkv_raft_conf_change_t){.type = LKV_RAFT_CC_REMOVE_NODE, .node = 1};
  assert_int_equal(lkv_raft_propose_conf_change(nodes[1].r, &cc), 0);
  stabilize();
  /* The removed leader stepped down. */
  assert_int_equal(status(1).role, LKV_RAFT_FOLLOWER);
  assert_int_equal(status(2).conf.n_voters, 3);
}

static void test_snapshot_catch_up(void **state) {
  (void)state;
  elect(1);
  nodes[3].down = 1;
  char buf[16];
  for (int k = 0; k < 20; k++) {
    snprintf(buf, sizeof(buf), "s%d", k);
    propose(1, buf);
  }
  stabilize();
  lkv_raft_status_t s = status(1);
  lkv_raft_snapshot_meta_t meta = {.index = s.applied, .conf = s.conf};
  assert_int_equal(lkv_raft_set_snapshot(nodes[1].r, &meta), 0);
  assert_int_equal(lkv_raft_set_snapshot(nodes[1].r, &meta), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_compact(nodes[1].r, s.applied - 2), 0);
  lkv_raft_entry_t e;
  assert_int_equal(lkv_raft_entry(nodes[1].r, s.applied - 2, &e), LKV_ECOMPACTED);
  assert_int_equal(lkv_raft_entry(nodes[1].r, s.applied - 1, &e), 0);
  nodes[3].down = 0;
  for (int t = 0; t < 4; t++) {
    lkv_raft_tick(nodes[1].r);
    stabilize();
    lkv_raft_report_snapshot(nodes[1].r, 3, 1);
  }
  propose(1, "post");
  stabilize();
  assert_int_equal(status(3).snapshot_index, s.applied);
  assert_int_equal(status(3).hard_state.commit, status(1).hard_state.commit);
  assert_int_equal(nodes[3].st.snap.index, s.applied);
  assert_int_equal(nodes[3].n_applied, 1);
  assert_string_equal(nodes[3].applied_data[0], "post");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bootstrap_applies_membership, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elect_replicate_apply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_entries_batched, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_restart_from_restore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_election_by_ticks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transfer_leader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_add_learner_and_promote, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_catch_up, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
