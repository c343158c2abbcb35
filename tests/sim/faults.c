/* The fault schedule: partitions of every shape, healing, crashes (between events or inside a batch), pauses,
 * lossy links; and healing everything for the liveness phase. */
#include <string.h>

#include "sim.h"

static int pick_up(lkv__sim_t *s, int prefer_leader) {
  if (prefer_leader)
    for (int i = 0; i < s->n_slots; i++)
      if (s->nodes[i].up && s->nodes[i].role == LKV_RAFT_LEADER) return i;
  int start = (int)lkv__sim_rng_below(&s->rng, (uint64_t)s->n_slots);
  for (int k = 0; k < s->n_slots; k++) {
    int i = (start + k) % s->n_slots;
    if (s->nodes[i].up && !s->nodes[i].retired) return i;
  }
  return -1;
}

/* Followers cut off from their leader sometimes hear it from their transport (fast failover). */
static void report_leader_lost(lkv__sim_t *s) {
  for (int i = 0; i < s->n_slots; i++) {
    lkv__sim_node_t *n = &s->nodes[i];
    int l = lkv__sim_slot(s, n->leader);
    if (!n->up || n->paused_until > s->now || l < 0 || l == i || !s->net.cut[l][i]) continue;
    if (!lkv__sim_rng_chance(&s->rng, 500)) continue;
    lkv__sim_trace(s, "n%d: leader n%d lost", i + 1, l + 1);
    lkv_raft_report_leader_lost(n->raft);
    lkv__sim_node_process(s, i);
  }
}

static void partition(lkv__sim_t *s) {
  int n = s->n_slots;
  uint64_t shape = lkv__sim_rng_below(&s->rng, 4);
  if (shape == 0) { /* isolate one member (often the leader), both ways */
    int v = pick_up(s, lkv__sim_rng_chance(&s->rng, 500));
    if (v < 0) return;
    for (int i = 0; i < n; i++) s->net.cut[v][i] = s->net.cut[i][v] = (uint8_t)(i != v);
    lkv__sim_trace(s, "partition: n%d isolated", v + 1);
  } else if (shape == 1) { /* one-way: a member can send but not hear, or hear but not send */
    int v = pick_up(s, lkv__sim_rng_chance(&s->rng, 500));
    if (v < 0) return;
    int out = lkv__sim_rng_chance(&s->rng, 500);
    for (int i = 0; i < n; i++)
      if (i != v) {
        if (out)
          s->net.cut[v][i] = 1;
        else
          s->net.cut[i][v] = 1;
      }
    lkv__sim_trace(s, "partition: n%d cannot %s", v + 1, out ? "send" : "hear");
  } else if (shape == 2) { /* a random split: each side hears only itself */
    uint8_t side[LKV_SIM_MAX_NODES];
    for (int i = 0; i < n; i++) side[i] = (uint8_t)lkv__sim_rng_below(&s->rng, 2);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) s->net.cut[i][j] = side[i] != side[j];
    lkv__sim_trace(s, "partition: split");
  } else { /* single one-way links */
    int k = 1 + (int)lkv__sim_rng_below(&s->rng, (uint64_t)n);
    for (int c = 0; c < k; c++) {
      int a = (int)lkv__sim_rng_below(&s->rng, (uint64_t)n),
          b = (int)lkv__sim_rng_below(&s->rng, (uint64_t)n);
      if (a != b) s->net.cut[a][b] = 1;
    }
    lkv__sim_trace(s, "partition: %d one-way links cut", k);
  }
  report_leader_lost(s);
}

static void heal_network(lkv__sim_t *s) {
  memset(s->net.cut, 0, sizeof(s->net.cut));
  lkv__sim_trace(s, "partition: healed");
}

void lkv__sim_fault(lkv__sim_t *s) {
  uint64_t k = lkv__sim_rng_below(&s->rng, 100);
  if (k < 22) {
    partition(s);
  } else if (k < 40) {
    heal_network(s);
  } else if (k < 40 + s->crash_pm / 2) { /* crash between events */
    int v = pick_up(s, lkv__sim_rng_chance(&s->rng, 300));
    if (v >= 0) lkv__sim_node_crash(s, v, "between events");
  } else if (k < 40 + s->crash_pm) { /* crash inside its next batch that writes */
    int v = pick_up(s, lkv__sim_rng_chance(&s->rng, 300));
    if (v < 0) return;
    /* Mostly in the window where the batch's early messages are out and its write is not yet flushed. */
    s->nodes[v].crash_phase = lkv__sim_rng_chance(&s->rng, 600) ? 2 + (int)lkv__sim_rng_below(&s->rng, 2)
                                                                : 1 + (int)lkv__sim_rng_below(&s->rng, 6);
    /* Some crashes wait for an election batch: a vote or a new term on its way to the disk. */
    s->nodes[v].crash_on_hs = lkv__sim_rng_chance(&s->rng, 400);
  } else if (k < 40 + s->crash_pm + s->pause_pm) {
    int v = pick_up(s, lkv__sim_rng_chance(&s->rng, 500));
    if (v < 0) return;
    uint64_t d = (1 + lkv__sim_rng_below(&s->rng, 3 * s->election_tick)) * LKV_SIM_TICK;
    s->nodes[v].paused_until = s->now + d;
    lkv__sim_trace(s, "pause n%d for %llu ticks", v + 1, (unsigned long long)(d / LKV_SIM_TICK));
  } else if (k < 90) {
    s->net.loss_pm = lkv__sim_rng_chance(&s->rng, 500) ? 0 : (unsigned)lkv__sim_rng_below(&s->rng, 250);
    s->net.dup_pm = (unsigned)lkv__sim_rng_below(&s->rng, 150);
    s->net.long_pm = (unsigned)lkv__sim_rng_below(&s->rng, 150);
    lkv__sim_trace(s, "links: loss %u dup %u long-delay %u per mille", s->net.loss_pm, s->net.dup_pm,
                   s->net.long_pm);
  }
}

/* A removed member is shut down (like etcd) once the most advanced member that still belongs to its own
 * membership (the highest applied index) no longer lists it. A member that applied its own removal does
 * not judge (it may have applied a removal the others still need its vote to commit); judged only when
 * every member is running, so no view is missing. */
void lkv__sim_retire_removed(lkv__sim_t *s) {
  lkv_raft_conf_state_t conf;
  uint64_t best = 0;
  int found = 0;
  for (int i = 0; i < s->n_slots; i++) {
    const lkv__sim_node_t *n = &s->nodes[i];
    if (n->used && !n->retired && !n->up) return;
    if (!n->up) continue;
    lkv_raft_status_t st;
    lkv_raft_status(n->raft, &st);
    if (lkv__sim_conf_has(&st.conf, n->id, 1) && (!found || st.applied > best))
      conf = st.conf, best = st.applied, found = 1;
  }
  if (!found) return;
  for (int i = 0; i < s->n_slots; i++)
    if (s->nodes[i].up && s->nodes[i].was_member && !lkv__sim_conf_has(&conf, s->nodes[i].id, 1))
      lkv__sim_node_stop(s, i);
}

void lkv__sim_heal_all(lkv__sim_t *s) {
  s->healed = 1;
  heal_network(s);
  s->net.loss_pm = s->net.dup_pm = s->net.long_pm = 0;
  for (int i = 0; i < s->n_slots; i++) {
    lkv__sim_node_t *n = &s->nodes[i];
    n->paused_until = 0;
    n->crash_phase = 0;
    if (n->used && !n->up && !n->retired) n->down_until = s->now;
  }
  lkv__sim_trace(s, "heal: faults stop");
}
