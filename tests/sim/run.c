/* One run: the configuration drawn from the seed, the event loop, the fault phase and the liveness phase. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sim.h"

static void setup(lkv__sim_t *s, const lkv__sim_opts_t *o) {
  memset(s, 0, sizeof(*s));
  s->seed = o->seed;
  s->bugs = o->bugs;
  s->trace = o->trace;
  s->digest_on = o->digest;
  s->rules = !o->consequences_only;
  lkv__sim_rng_seed(&s->rng, o->seed);
  lkv__sim_rng_t *g = &s->rng;
  s->n_founders = o->nodes ? o->nodes : 3 + (int)lkv__sim_rng_below(g, 5);
  if (s->n_founders > LKV_SIM_MAX_NODES) s->n_founders = LKV_SIM_MAX_NODES;
  s->n_slots = s->n_founders + (int)lkv__sim_rng_below(g, 4);
  if (s->n_slots > LKV_SIM_MAX_NODES) s->n_slots = LKV_SIM_MAX_NODES;
  s->election_tick = 5 + (unsigned)lkv__sim_rng_below(g, 11);
  s->heartbeat_tick = lkv__sim_rng_chance(g, 200) ? 2 : 1;
  s->pre_vote = lkv__sim_rng_chance(g, 750);
  s->check_quorum = lkv__sim_rng_chance(g, 750);
  s->max_size_per_msg = lkv__sim_rng_chance(g, 500) ? 1u << 20 : 32 + (size_t)lkv__sim_rng_below(g, 512);
  s->max_inflight_msgs = lkv__sim_rng_chance(g, 300) ? 1 + (size_t)lkv__sim_rng_below(g, 4) : 256;
  s->max_uncommitted = lkv__sim_rng_chance(g, 200) ? 200 + (size_t)lkv__sim_rng_below(g, 2000) : 0;
  s->snap_pm = lkv__sim_rng_chance(g, 500) ? 50 + (unsigned)lkv__sim_rng_below(g, 150)
                                           : 2 + (unsigned)lkv__sim_rng_below(g, 20);
  s->crash_pm = 4 + (unsigned)lkv__sim_rng_below(g, 20); /* percent of faults, split between the two kinds */
  s->pause_pm = 2 + (unsigned)lkv__sim_rng_below(g, 10);
  s->net.delay_max = 5 + lkv__sim_rng_below(g, LKV_SIM_TICK);
  s->net.long_delay_max = 2ull * s->election_tick * LKV_SIM_TICK;
  s->net.loss_pm = (unsigned)lkv__sim_rng_below(g, 50);
  s->net.dup_pm = (unsigned)lkv__sim_rng_below(g, 50);
  s->net.long_pm = (unsigned)lkv__sim_rng_below(g, 50);
  s->fault_ticks = o->fault_ticks ? o->fault_ticks : 150 + lkv__sim_rng_below(g, 451);
  for (int i = 0; i < s->n_slots; i++) {
    lkv__sim_rng_seed(&s->nodes[i].core_rng, lkv__sim_mix(o->seed, (uint64_t)i + 1));
    s->nodes[i].tick_period = 70 + lkv__sim_rng_below(g, 61); /* rates within ±30 % */
  }
  lkv__sim_trace(s,
                 "seed %llu: %d voters, %d slots, election %u heartbeat %u, pre-vote %d check-quorum %d, "
                 "msg %zu bytes, inflight %zu, uncommitted %zu, bugs 0x%x",
                 (unsigned long long)o->seed, s->n_founders, s->n_slots, s->election_tick, s->heartbeat_tick,
                 s->pre_vote, s->check_quorum, s->max_size_per_msg, s->max_inflight_msgs, s->max_uncommitted,
                 s->bugs);
  for (int i = 0; i < s->n_founders && !s->failed; i++) lkv__sim_node_start(s, i, 1);
  s->next_fault = 5 * LKV_SIM_TICK * s->election_tick;
  s->next_work = LKV_SIM_TICK;
}

/* A correct run takes thousands of events; a member pair answering each other forever is a livelock. */
#define LKV_SIM_MAX_STEPS 300000

enum { EV_NONE, EV_TICK, EV_RESTART, EV_PKT, EV_FAULT, EV_WORK };

void lkv__sim_loop(lkv__sim_t *s, uint64_t until) {
  while (!s->failed) {
    uint64_t best = UINT64_MAX;
    int ev = EV_NONE, slot = -1;
    for (int i = 0; i < s->n_slots; i++) {
      lkv__sim_node_t *n = &s->nodes[i];
      if (n->retired || !n->used) continue;
      uint64_t t;
      int kind;
      if (n->up) {
        t = n->next_tick > n->paused_until ? n->next_tick : n->paused_until;
        kind = EV_TICK;
      } else {
        t = n->down_until;
        kind = EV_RESTART;
      }
      if (t < best) best = t, ev = kind, slot = i;
    }
    if (s->net.n && s->net.heap[0].at < best) best = s->net.heap[0].at, ev = EV_PKT;
    if (!s->healed && s->next_fault < best) best = s->next_fault, ev = EV_FAULT;
    if (s->next_work < best) best = s->next_work, ev = EV_WORK;
    if (best > until || ev == EV_NONE) break;
    s->now = best;
    if (++s->steps > LKV_SIM_MAX_STEPS) {
      lkv__sim_fail(s, "livelock", "more than %d events by tick %llu (messages ping-pong without end)",
                    LKV_SIM_MAX_STEPS, (unsigned long long)(s->now / LKV_SIM_TICK));
      break;
    }
    switch (ev) {
      case EV_TICK: {
        lkv__sim_node_t *n = &s->nodes[slot];
        lkv_raft_tick(n->raft);
        uint64_t jitter = n->tick_period / 10;
        n->next_tick = s->now + n->tick_period - jitter + lkv__sim_rng_below(&s->rng, 2 * jitter + 1);
        lkv__sim_node_process(s, slot);
        break;
      }
      case EV_RESTART:
        lkv__sim_node_start(s, slot, 0);
        break;
      case EV_PKT: {
        lkv__sim_pkt_t p;
        (void)lkv__sim_net_pop(&s->net, &p);
        lkv__sim_node_deliver(s, &p);
        break;
      }
      case EV_FAULT:
        lkv__sim_fault(s);
        s->next_fault = s->now + 1 + lkv__sim_rng_below(&s->rng, 2ull * s->election_tick * LKV_SIM_TICK);
        break;
      case EV_WORK:
        if (!s->healed) lkv__sim_work(s);
        s->next_work = s->now + 1 + lkv__sim_rng_below(&s->rng, 2 * LKV_SIM_TICK);
        break;
    }
    for (int i = 0; i < s->n_slots && !s->failed; i++) lkv__sim_check_node(s, i);
  }
  if (s->now < until && !s->failed) s->now = until;
}

/* The stable leader: a leader every running member follows, or -1. */
static int stable_leader(lkv__sim_t *s) {
  int l = -1;
  for (int i = 0; i < s->n_slots; i++)
    if (s->nodes[i].up && s->nodes[i].role == LKV_RAFT_LEADER) {
      if (l >= 0) return -1;
      l = i;
    }
  if (l < 0) return -1;
  lkv_raft_status_t st;
  lkv_raft_status(s->nodes[l].raft, &st);
  for (uint32_t i = 0; i < st.conf.n_voters + st.conf.n_learners; i++) {
    lkv_raft_id_t id = lkv__sim_conf_member(&st.conf, i);
    int k = lkv__sim_slot(s, id);
    if (k < 0 || !s->nodes[k].up || s->nodes[k].leader != s->nodes[l].id) return -1;
  }
  return l;
}

/* Runs until done(s, arg) holds, checking every `every` ticks, at most `ticks` ticks. Returns 1 if it held.
 */
static int await(lkv__sim_t *s, uint64_t ticks, int (*done)(lkv__sim_t *, void *), void *arg) {
  uint64_t end = s->now + ticks * LKV_SIM_TICK;
  while (!s->failed && s->now < end) {
    if (done(s, arg)) return 1;
    lkv__sim_loop(s, s->now + LKV_SIM_TICK);
    lkv__sim_retire_removed(s);
  }
  return !s->failed && done(s, arg);
}

static int has_leader(lkv__sim_t *s, void *arg) {
  (void)arg;
  return stable_leader(s) >= 0;
}

typedef struct {
  uint64_t index, term;
} target_t;

/* Every member of the leader's membership applied the target entry, and it is the committed one. */
static int all_applied(lkv__sim_t *s, void *arg) {
  target_t *t = arg;
  int l = stable_leader(s);
  if (l < 0 || s->gmax < t->index || s->hist[t->index].term != t->term) return 0;
  lkv_raft_status_t st;
  lkv_raft_status(s->nodes[l].raft, &st);
  for (uint32_t i = 0; i < st.conf.n_voters + st.conf.n_learners; i++) {
    lkv_raft_id_t id = lkv__sim_conf_member(&st.conf, i);
    int k = lkv__sim_slot(s, id);
    if (k < 0 || !s->nodes[k].up || s->nodes[k].applied < t->index) return 0;
  }
  return 1;
}

/* No packet sent before the faults stopped is still in flight (a late, long-delayed transfer request from
 * the fault phase would legitimately redirect the transfer under test). */
static int old_drained(lkv__sim_t *s, void *arg) {
  uint64_t healed_seq = *(uint64_t *)arg;
  for (size_t i = 0; i < s->net.n; i++)
    if (s->net.heap[i].seq < healed_seq) return 0;
  return 1;
}

/* Every member holds the leader's whole log (the same chain at its last index) and its commit index. */
static int converged(lkv__sim_t *s, void *arg) {
  (void)arg;
  int l = stable_leader(s);
  if (l < 0) return 0;
  const lkv__sim_node_t *ln = &s->nodes[l];
  uint64_t last = ln->s_first + ln->s_n - 1, chain, other;
  if (!lkv__sim_shadow_chain(ln, last, &chain)) return 0;
  lkv_raft_status_t st;
  lkv_raft_status(ln->raft, &st);
  for (uint32_t i = 0; i < st.conf.n_voters + st.conf.n_learners; i++) {
    int k = lkv__sim_slot(s, lkv__sim_conf_member(&st.conf, i));
    if (k < 0) return 0;
    const lkv__sim_node_t *n = &s->nodes[k];
    if (n->commit != ln->commit || n->s_first + n->s_n - 1 != last ||
        !lkv__sim_shadow_chain(n, last, &other) || other != chain)
      return 0;
  }
  return 1;
}

static int read_answered(lkv__sim_t *s, void *arg) {
  return s->reads[*(int *)arg].answered;
}

static int is_leader(lkv__sim_t *s, void *arg) {
  int k = *(int *)arg;
  return s->nodes[k].up && s->nodes[k].role == LKV_RAFT_LEADER && stable_leader(s) == k;
}

/* A fresh proposal commits and is applied on every member. */
static int commit_one(lkv__sim_t *s, uint64_t bound) {
  uint64_t end = s->now + bound * LKV_SIM_TICK;
  while (!s->failed && s->now < end) {
    if (!await(s, (end - s->now) / LKV_SIM_TICK, has_leader, NULL)) break;
    int l = stable_leader(s);
    uint64_t id = lkv__sim_propose(s, l);
    lkv_raft_status_t st;
    lkv_raft_status(s->nodes[l].raft, &st);
    target_t t = {st.last_index, st.hard_state.term};
    if (id && await(s, 4 * s->election_tick, all_applied, &t)) return 1;
    if (!id) lkv__sim_loop(s, s->now + LKV_SIM_TICK); /* dropped (a transfer, a full pipe): retry later */
  }
  return 0;
}

/* What every member believes, for the trace of a liveness failure. */
static void dump(lkv__sim_t *s) {
  for (int i = 0; i < s->n_slots; i++) {
    lkv__sim_node_t *n = &s->nodes[i];
    if (!n->up) {
      lkv__sim_trace(s, "state n%d: %s", i + 1, n->retired ? "retired" : n->used ? "down" : "never started");
      continue;
    }
    lkv_raft_status_t st;
    lkv_raft_status(n->raft, &st);
    char ids[200] = "";
    size_t len = 0;
    for (uint32_t k = 0; k < st.conf.n_voters + st.conf.n_learners && len + 24 < sizeof(ids); k++) {
      int voter = k < st.conf.n_voters;
      lkv_raft_id_t id = lkv__sim_conf_member(&st.conf, k);
      len += (size_t)snprintf(ids + len, sizeof(ids) - len, " %s%llu", voter ? "v" : "l",
                              (unsigned long long)id);
    }
    lkv__sim_trace(
        s, "state n%d: %s term %llu vote %llu leader %llu commit %llu applied %llu log %llu..%llu, members%s",
        i + 1, lkv_raft_role_name(st.role), (unsigned long long)st.hard_state.term,
        (unsigned long long)st.hard_state.vote, (unsigned long long)st.leader,
        (unsigned long long)st.hard_state.commit, (unsigned long long)st.applied,
        (unsigned long long)st.first_index, (unsigned long long)st.last_index, ids);
  }
}

/* A stable leader with no transfer of its own in progress (a late transfer request from the fault phase
 * may still have one going, and its TimeoutNow may win the race against the one under test). */
static int quiet_leader(lkv__sim_t *s, void *arg) {
  (void)arg;
  int l = stable_leader(s);
  if (l < 0) return 0;
  lkv_raft_status_t st;
  lkv_raft_status(s->nodes[l].raft, &st);
  return st.transferee == LKV_RAFT_NONE;
}

/* One transfer to another voter must complete; a race lost to an older transfer gets two more tries, a
 * transfer that cannot complete (the campaign is refused) fails every try. Returns 0 on a failure. */
static int transfer_round(lkv__sim_t *s, uint64_t bound) {
  int l = -1, to = -1;
  for (int attempt = 0; attempt < 3 && !s->failed; attempt++) {
    if (!await(s, bound, quiet_leader, NULL)) {
      if (!s->failed) lkv__sim_fail(s, "liveness", "no stable leader before a transfer");
      return 0;
    }
    l = stable_leader(s);
    lkv_raft_status_t st;
    lkv_raft_status(s->nodes[l].raft, &st);
    to = -1;
    for (uint32_t i = 0; i < st.conf.n_voters; i++) {
      int k = lkv__sim_slot(s, st.conf.voters[i]);
      if (k >= 0 && k != l && s->nodes[k].up && (to < 0 || lkv__sim_rng_chance(&s->rng, 500))) to = k;
    }
    if (to < 0) return 1; /* a single voter: nothing to transfer to */
    int rc = lkv_raft_transfer_leader(s->nodes[l].raft, s->nodes[to].id);
    lkv__sim_trace(s, "liveness: transfer n%d -> n%d: %s", l + 1, to + 1, rc ? lkv_err_name(rc) : "ok");
    lkv__sim_node_process(s, l);
    if (await(s, 3ull * 2 * s->election_tick, is_leader, &to)) {
      s->n_transfers_ok++;
      return 1;
    }
  }
  if (!s->failed)
    lkv__sim_fail(s, "transfer-liveness",
                  "transfer n%d -> n%d in a healthy cluster did not complete (3 tries)", l + 1, to + 1);
  return 0;
}

static void liveness(lkv__sim_t *s) {
  uint64_t bound = 20ull * 2 * s->election_tick; /* 20 election timeouts (of up to 2x election ticks) */
  lkv__sim_heal_all(s);
  uint64_t healed_seq = s->net.seq;
  if (!await(s, bound, has_leader, NULL)) {
    lkv__sim_fail(s, "liveness", "no stable leader %llu ticks after the faults stopped",
                  (unsigned long long)bound);
    return;
  }
  if (!commit_one(s, bound)) {
    lkv__sim_fail(s, "liveness", "a fresh proposal did not commit on every member within %llu ticks",
                  (unsigned long long)bound);
    return;
  }
  /* A read at a random member answers (retried like a client would, on a timeout). */
  uint64_t end = s->now + bound * LKV_SIM_TICK;
  int ok = 0;
  while (!s->failed && !ok && s->now < end) {
    int l = stable_leader(s), k = l;
    for (int i = 0; i < s->n_slots; i++)
      if (s->nodes[i].up && lkv__sim_rng_chance(&s->rng, 300)) k = i;
    if (k < 0) {
      lkv__sim_loop(s, s->now + LKV_SIM_TICK);
      continue;
    }
    int r = lkv__sim_read(s, k);
    ok = r >= 0 && await(s, 3 * s->election_tick, read_answered, &r);
    if (!ok) lkv__sim_loop(s, s->now + LKV_SIM_TICK);
  }
  if (!ok && !s->failed) {
    lkv__sim_fail(s, "liveness", "no read answered within %llu ticks after the faults stopped",
                  (unsigned long long)bound);
    return;
  }
  /* Leadership transfers in a healthy cluster complete (a transferee's campaign must win). */
  (void)await(s, bound, old_drained, &healed_seq);
  for (int round = 0; round < 2 && !s->failed; round++)
    if (!transfer_round(s, bound)) return;
  if (!s->failed && !commit_one(s, bound)) {
    lkv__sim_fail(s, "liveness", "no proposal committed on every member after the transfers");
    return;
  }
  if (!await(s, bound, converged, NULL) && !s->failed)
    lkv__sim_fail(s, "liveness", "the members' logs did not converge on the leader's within %llu ticks",
                  (unsigned long long)bound);
}

int lkv__sim_run(lkv__sim_t *s, const lkv__sim_opts_t *o) {
  setup(s, o);
  lkv__sim_loop(s, s->fault_ticks * LKV_SIM_TICK);
  if (!s->failed) liveness(s);
  if (s->failed) dump(s);
  lkv__sim_trace(s, "end: %s, committed %llu, %llu steps", s->failed ? "VIOLATION" : "ok",
                 (unsigned long long)s->gmax, (unsigned long long)s->steps);
  return s->failed;
}

void lkv__sim_free(lkv__sim_t *s) {
  for (int i = 0; i < LKV_SIM_MAX_NODES; i++) lkv__sim_node_free(&s->nodes[i]);
  lkv__sim_net_free(&s->net);
  lkv__sim_check_free(s);
  free(s->reads);
  free(s->scratch);
  s->reads = NULL;
  s->scratch = NULL;
}
