/* Seeded random runs of the Raft core: loss, duplication, reordering, crashes, transfers, compaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "raft_core_harness.h"

/*
 * A quick check of the core on its own, beside the simulator of tests/sim (which owns the full fault
 * model and invariant list): every applied entry agrees with the first one applied at its index (the
 * harness's map), at most one leader per term, and after the faults stop the cluster elects a leader and
 * every member applies a final proposal.
 */

#define MAX_TERM 4096

static int leader_of_term[MAX_TERM];

static void check_leaders(void) {
  for (int i = 1; i <= n_nodes; i++) {
    if (nodes[i].down) continue;
    lkv_raft_status_t s = status(i);
    if (s.role != LKV_RAFT_LEADER) continue;
    assert_true(s.hard_state.term < MAX_TERM);
    if (leader_of_term[s.hard_state.term]) assert_int_equal(leader_of_term[s.hard_state.term], i);
    leader_of_term[s.hard_state.term] = i;
  }
}

static int pick_up(void) {
  for (int tries = 0; tries < 20; tries++) {
    int i = 1 + (int)(rnd(NULL) % (uint64_t)n_nodes);
    if (!nodes[i].down) return i;
  }
  return 0;
}

static int n_down(void) {
  int d = 0;
  for (int i = 1; i <= n_nodes; i++) d += nodes[i].down;
  return d;
}

static int current_leader(void) {
  int best = 0;
  uint64_t term = 0;
  for (int i = 1; i <= n_nodes; i++) {
    if (nodes[i].down) continue;
    lkv_raft_status_t s = status(i);
    if (s.role == LKV_RAFT_LEADER && s.hard_state.term >= term) {
      best = i;
      term = s.hard_state.term;
    }
  }
  return best;
}

static void network_step(void) {
  if (!n_wire) return;
  size_t k = (size_t)(rnd(NULL) % n_wire);
  uint64_t x = rnd(NULL) % 100;
  if (x < 10) { /* lost */
    lkv_raft_msg_t m;
    lkv_raft_entry_t *es;
    assert_int_equal(lkv_raft_msg_decode(wire[k], wire_len[k], &m, &es), 0);
    free(es);
    if (m.type == LKV_RAFT_MSG_SNAP && !nodes[m.from].down)
      lkv_raft_report_snapshot(nodes[m.from].r, m.to, 0);
    free(wire[k]);
    wire[k] = wire[n_wire - 1];
    wire_len[k] = wire_len[n_wire - 1];
    n_wire--;
    return;
  }
  if (x < 15 && n_wire < MAX_MSGS) { /* duplicated: a copy stays behind for later */
    wire[n_wire] = malloc(wire_len[k]);
    memcpy(wire[n_wire], wire[k], wire_len[k]);
    wire_len[n_wire++] = wire_len[k];
  }
  deliver(k); /* a random pick reorders */
}

static void snapshot_step(int i) {
  lkv_raft_status_t s = status(i);
  if (s.applied < s.snapshot_index + 10) return;
  lkv_raft_snapshot_meta_t meta = {.index = s.applied, .conf = s.conf};
  assert_int_equal(lkv_raft_set_snapshot(nodes[i].r, &meta), 0);
  store_snapshot(&nodes[i].st, &meta);
  assert_int_equal(lkv_raft_compact(nodes[i].r, s.applied - 3), 0);
}

static void chaos(int steps, int *proposals) {
  char buf[DATA_MAX];
  for (int step = 0; step < steps; step++) {
    uint64_t x = rnd(NULL) % 1000;
    int i = pick_up();
    if (x < 350) {
      if (i) lkv_raft_tick(nodes[i].r);
    } else if (x < 780) {
      network_step();
    } else if (x < 880) {
      snprintf(buf, sizeof(buf), "p%d", (*proposals)++);
      if (i) lkv_raft_propose(nodes[i].r, (const uint8_t *)buf, strlen(buf), NULL, NULL);
    } else if (x < 900) {
      if (i) lkv_raft_read_index(nodes[i].r, (const uint8_t *)"rd", 2);
    } else if (x < 910) {
      if (i && n_down() < (n_nodes - 1) / 2) crash(i);
    } else if (x < 940) {
      for (int j = 1; j <= n_nodes; j++)
        if (nodes[j].down) {
          restart(j);
          break;
        }
    } else if (x < 945) {
      int l = current_leader();
      if (l) lkv_raft_transfer_leader(nodes[l].r, (lkv_raft_id_t)(1 + rnd(NULL) % (uint64_t)n_nodes));
    } else if (x < 960) {
      if (i) snapshot_step(i);
    } else if (x < 965) {
      if (i) lkv_raft_report_leader_lost(nodes[i].r);
    }
    for (int j = 1; j <= n_nodes; j++) process(j);
    check_leaders();
    if (getenv("RAFT_CORE_TRACE")) {
      fprintf(stderr, "step %d x %llu:", step, (unsigned long long)x);
      for (int j = 1; j <= n_nodes; j++) {
        if (nodes[j].down) {
          fprintf(stderr, " [down]");
          continue;
        }
        lkv_raft_status_t s = status(j);
        fprintf(stderr, " [r%d t%llu v%llu l%llu c%llu a%llu last%llu]", s.role,
                (unsigned long long)s.hard_state.term, (unsigned long long)s.hard_state.vote,
                (unsigned long long)s.leader, (unsigned long long)s.hard_state.commit,
                (unsigned long long)s.applied, (unsigned long long)s.last_index);
      }
      fprintf(stderr, "\n");
    }
  }
}

/* Faults stop: everyone up, every message delivered. Within a bounded number of ticks a leader must emerge
 * and every member must apply a last proposal (re-proposed if a leader change lost it). */
static int all_applied_end(void) {
  lkv_raft_status_t s1 = status(1);
  for (int j = 1; j <= n_nodes; j++) {
    lkv_raft_status_t s = status(j);
    if (s.applied != s1.applied || !nodes[j].n_applied ||
        strcmp(nodes[j].applied_data[nodes[j].n_applied - 1], "end") != 0)
      return 0;
  }
  return 1;
}

static void heal_and_finish(uint64_t run_seed) {
  for (int j = 1; j <= n_nodes; j++)
    if (nodes[j].down) restart(j);
  for (int t = 0; t < 400; t++) {
    for (int j = 1; j <= n_nodes; j++) lkv_raft_tick(nodes[j].r);
    stabilize();
    check_leaders();
    if (all_applied_end()) return;
    int l = current_leader();
    if (l && t % 20 == 0) lkv_raft_propose(nodes[l].r, (const uint8_t *)"end", 3, NULL, NULL);
  }
  for (int j = 1; j <= n_nodes; j++) {
    lkv_raft_status_t s = status(j);
    fprintf(stderr, "member %d: role %d term %llu leader %llu commit %llu applied %llu last %llu\n", j,
            s.role, (unsigned long long)s.hard_state.term, (unsigned long long)s.leader,
            (unsigned long long)s.hard_state.commit, (unsigned long long)s.applied,
            (unsigned long long)s.last_index);
  }
  fail_msg("seed %llu: no progress after the faults stopped", (unsigned long long)run_seed);
}

static void run(int members, uint64_t first, uint64_t count, int steps) {
  for (uint64_t s = first; s < first + count; s++) {
    seed = s * 0x9e3779b97f4a7c15ull + 1;
    memset(leader_of_term, 0, sizeof(leader_of_term));
    cluster_start(members);
    int proposals = 0;
    chaos(steps, &proposals);
    heal_and_finish(s);
    cluster_free();
  }
}

/* Runs count seeds from first with the given config variant; RAFT_CORE_SEEDS=first:count in the environment
 * runs other seeds instead (RAFT_CORE_TRACE=1 prints every message and step). */
static void run_variant(unsigned v, int members, uint64_t first, uint64_t count) {
  const char *e = getenv("RAFT_CORE_SEEDS");
  if (e) {
    char *end;
    first = strtoull(e, &end, 10);
    if (*end == ':') count = strtoull(end + 1, NULL, 10);
  }
  variant = v;
  run(members, first, count, 3000);
  variant = 0;
}

static void test_three_members(void **state) {
  (void)state;
  run_variant(0, 3, 1, 300);
}

static void test_five_members(void **state) {
  (void)state;
  run_variant(0, 5, 1000, 200);
}

static void test_without_prevote_and_checkquorum(void **state) {
  (void)state;
  run_variant(PLAIN, 3, 2000, 200);
}

static void test_tight_flow_control(void **state) {
  (void)state;
  run_variant(TIGHT_FLOW, 5, 3000, 200);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_three_members),
      cmocka_unit_test(test_five_members),
      cmocka_unit_test(test_without_prevote_and_checkquorum),
      cmocka_unit_test(test_tight_flow_control),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
