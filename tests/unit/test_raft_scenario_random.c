/* Seeded random scripts on the scripted harness: random delivery order, loss, duplication, partitions,
 * crashes between the phases of a ready batch, compactions, reads, transfers and membership changes, with
 * and without byte limits on flow control; every safety check of the harness must stay silent, and the
 * cluster must recover once the faults stop. (The simulator does this at scale; this is a quick per-commit
 * net with the harness's own checks.) */
#include "raft_testutil.h"

#define SEEDS 150
#define STEPS 4000

typedef struct {
  uint64_t s;
} prng_t;

static uint64_t pick(prng_t *p, uint64_t n) {
  return rt_rand(&p->s) % n;
}

static int up(rt_cluster_t *c, lkv_raft_id_t id) {
  return c->nodes[id].r != NULL;
}

/* One configuration for the whole cluster (members with different pre-vote and lease settings can
 * livelock each other, in etcd too: a lease holder ignores the votes of a member that ignores it). */
typedef struct {
  int pre_vote, check_quorum;
  unsigned election_tick, heartbeat_tick;
  size_t max_size_per_msg, max_inflight_msgs;
  size_t max_inflight_bytes, max_uncommitted_size; /* 0: no limit */
} cluster_cfg_t;

static void cfg_random(lkv_raft_config_t *cfg, void *arg) {
  const cluster_cfg_t *k = arg;
  cfg->pre_vote = k->pre_vote;
  cfg->check_quorum = k->check_quorum;
  cfg->election_tick = k->election_tick;
  cfg->heartbeat_tick = k->heartbeat_tick;
  cfg->max_size_per_msg = k->max_size_per_msg;
  cfg->max_inflight_msgs = k->max_inflight_msgs;
  cfg->max_inflight_bytes = k->max_inflight_bytes;
  cfg->max_uncommitted_size = k->max_uncommitted_size;
  const char *bugs = getenv("RT_BUGS"); /* a bug switch to see whether random scripts find it */
  cfg->bugs = bugs ? (unsigned)strtoul(bugs, NULL, 0) : 0;
}

static lkv_raft_id_t find_leader(rt_cluster_t *c) {
  lkv_raft_id_t l = 0;
  uint64_t best = 0;
  for (lkv_raft_id_t id = 1; id <= c->n; id++)
    if (up(c, id) && rt_role(c, id) == LKV_RAFT_LEADER && rt_term(c, id) >= best) {
      best = rt_term(c, id);
      l = id;
    }
  return l;
}

static void deliver_checked(rt_cluster_t *c, size_t i) {
  int rc = rt_deliver(c, i);
  assert_true(rc == 0 || rc == 1); /* the core never refuses what a core sent */
}

static int in_list(const lkv_raft_id_t *v, uint32_t n, lkv_raft_id_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (v[i] == id) return 1;
  return 0;
}

/* One single-step membership change chosen from the leader's membership: add a learner, promote one,
 * remove a learner or (keeping three voters) a voter; proposed on a random member (followers forward). */
static void change_membership(rt_cluster_t *c, prng_t *p) {
  lkv_raft_id_t l = find_leader(c), x = 1 + pick(p, c->n), via = 1 + pick(p, c->n);
  if (!l || c->removed[x] || !c->nodes[via].r) return;
  lkv_raft_conf_state_t cs = rt_st(c, l).conf;
  uint8_t type;
  if (in_list(cs.voters, cs.n_voters, x)) {
    if (cs.n_voters <= 3) return;
    type = LKV_RAFT_CC_REMOVE_NODE;
  } else if (in_list(cs.learners, cs.n_learners, x)) {
    type = pick(p, 3) ? LKV_RAFT_CC_ADD_NODE : LKV_RAFT_CC_REMOVE_NODE;
  } else {
    type = LKV_RAFT_CC_ADD_LEARNER;
  }
  rt_propose_cc(c, via, type, x);
}

static void one_step(rt_cluster_t *c, prng_t *p, unsigned *props, unsigned *reads, uint64_t seed) {
  lkv_raft_id_t id = 1 + pick(p, c->n);
  if (c->n > 3 && pick(p, 100) < 2) change_membership(c, p);
  unsigned a = (unsigned)pick(p, 100);
  char buf[48];
  if (a < 45) {
    if (c->nq) deliver_checked(c, pick(p, c->nq > 4 ? 4 : c->nq)); /* mostly in order, some reordering */
  } else if (a < 62) {
    if (up(c, id))
      rt_tick(c, id, 1);
    else if (pick(p, 8) == 0 && !c->removed[id])
      rt_start(c, id); /* a crashed member comes back after a while */
  } else if (a < 82) {
    rt_process(c, id);
  } else if (a < 88) {
    if (up(c, id)) {
      snprintf(buf, sizeof(buf), "s%llu-p%u", (unsigned long long)seed, (*props)++);
      rt_propose(c, id, buf);
    }
  } else if (a < 90) {
    if (up(c, id) && c->n_asked < RT_MAX_READS && rt_node(c, id)->n_reads < RT_MAX_READS - 4) {
      snprintf(buf, sizeof(buf), "r%u", (*reads)++);
      rt_read(c, id, buf);
    }
  } else if (a < 93) {
    if (c->nq) rt_drop(c, pick(p, c->nq));
  } else if (a < 95) {
    if (c->nq && c->nq < 4000) rt_dup(c, pick(p, c->nq));
  } else if (a < 96) {
    if (up(c, id) && pick(p, 2)) {
      rt_ready_partial(c, id, 1 + (int)pick(p, 3)); /* crash between phases of a batch */
      rt_crash(c, id);
      /* sometimes the state machine restarts from its snapshot: committed entries are handed out again */
      if (pick(p, 3) == 0) rt_lose_state_machine(c, id);
    }
  } else if (a < 97) {
    if (pick(p, 3) == 0)
      rt_isolate(c, id);
    else
      rt_heal(c);
  } else if (a < 98) {
    if (up(c, id)) {
      lkv_raft_status_t st;
      rt_status(c, id, &st);
      if (st.applied > st.snapshot_index + 2) rt_compact(c, id);
    }
  } else if (a < 99) {
    lkv_raft_id_t l = find_leader(c);
    if (l && pick(p, 2)) lkv_raft_transfer_leader(rt_raft(c, l), 1 + pick(p, c->n));
  } else {
    if (up(c, id) && pick(p, 2)) lkv_raft_report_leader_lost(rt_raft(c, id));
  }
  while (c->nq > 3000) rt_drop(c, 0);
  for (lkv_raft_id_t k = 1; k <= c->n; k++)
    if (c->removed[k] && up(c, k)) rt_crash(c, k); /* removed members stop for good, as etcd's do */
}

/* Faults stop: everyone up and connected; a leader must emerge and commit a new entry everywhere within
 * a bounded number of election timeouts. */
static void recover(rt_cluster_t *c, uint64_t seed) {
  rt_heal(c);
  for (lkv_raft_id_t id = 1; id <= c->n; id++)
    if (!up(c, id) && !c->removed[id]) rt_start(c, id);
  rt_stabilize(c);
  unsigned et = rt_node(c, 1)->cfg.election_tick;
  char final[32];
  snprintf(final, sizeof(final), "final-%llu", (unsigned long long)seed);
  int proposed = 0;
  for (unsigned t = 0; t < 20 * et; t++) {
    rt_tick_all(c, 1);
    lkv_raft_id_t l = find_leader(c);
    /* a proposal lost with its leader (never committed) is proposed again, as clients retry */
    if (l && !rt_log_find(c, l, final) && rt_propose(c, l, final) == 0) proposed = 1;
    int all = proposed;
    lkv_raft_conf_state_t cs = l ? rt_st(c, l).conf : (lkv_raft_conf_state_t){0};
    for (lkv_raft_id_t id = 1; all && id <= c->n; id++) {
      if (!in_list(cs.voters, cs.n_voters, id) && !in_list(cs.learners, cs.n_learners, id)) continue;
      if (c->removed[id]) continue; /* its removal is committed: the leader has yet to apply it */
      uint64_t at = rt_log_find(c, id, final);
      all = at && rt_node(c, id)->sm_applied >= at;
    }
    if (all) return;
  }
  for (lkv_raft_id_t id = 1; id <= c->n; id++) {
    if (!up(c, id)) continue; /* removed */
    lkv_raft_status_t st;
    rt_status(c, id, &st);
    lkv_raft_progress_t pr = {0};
    lkv_raft_id_t l = find_leader(c);
    if (l) lkv_raft_progress(rt_raft(c, l), id, &pr);
    print_message(
        "member %llu: %s term %llu vote %llu leader %llu commit %llu applied %llu last %llu snap %llu "
        "voters %u | leader's view: match %llu next %llu state %u\n",
        (unsigned long long)id, lkv_raft_role_name(st.role), (unsigned long long)st.hard_state.term,
        (unsigned long long)st.hard_state.vote, (unsigned long long)st.leader,
        (unsigned long long)st.hard_state.commit, (unsigned long long)st.applied,
        (unsigned long long)st.last_index, (unsigned long long)st.snapshot_index, st.conf.n_voters,
        (unsigned long long)pr.match, (unsigned long long)pr.next, pr.state);
  }
  fail_msg("seed %llu: no recovery within 20 election timeouts (RT_TRACE=1 and this seed replay it)",
           (unsigned long long)seed);
}

static void run_seed(uint64_t seed) {
  prng_t p = {seed * 0x9e3779b97f4a7c15ull + 7};
  static const size_t sizes[] = {3, 3, 5, 5, 7};
  size_t n = sizes[pick(&p, 5)], voters = n > 3 && pick(&p, 2) ? 3 : n; /* the others may join later */
  cluster_cfg_t k = {.pre_vote = pick(&p, 4) != 0};
  k.check_quorum = pick(&p, 4) != 0;
  k.heartbeat_tick = 1 + (unsigned)pick(&p, 2);
  k.election_tick = k.heartbeat_tick + 2 + (unsigned)pick(&p, 12);
  k.max_size_per_msg = pick(&p, 2) ? 16 : 1024;
  k.max_inflight_msgs = 1 + pick(&p, 4);
  /* Byte limits, a few entries' worth (the simulator sets none): a window that loss, duplicates and
   * restarts must never leave shut. Drawn from a generator of their own, so a seed's script is unchanged. */
  prng_t q = {seed * 0x9e3779b97f4a7c15ull + 11};
  if (pick(&q, 3) == 0) k.max_inflight_bytes = 16 + pick(&q, 48);
  if (pick(&q, 3) == 0) k.max_uncommitted_size = 32 + pick(&q, 96);
  rt_cluster_t *c = rt_new_members(n, voters, cfg_random, &k, seed);
  c->refuse_some_cc = pick(&p, 2);
  unsigned props = 0, reads = 0;
  const char *steps_env = getenv("RT_STEPS"); /* longer scripts for hunts */
  int steps = steps_env ? atoi(steps_env) : STEPS;
  for (int step = 0; step < steps; step++) {
    one_step(c, &p, &props, &reads, seed);
    if (step % 64 == 0) rt_check_log_matching(c);
    if (c->violations) fail_msg("seed %llu step %d: %s", (unsigned long long)seed, step, c->last_violation);
  }
  if (getenv("RT_STATS"))
    fprintf(stderr, "seed %llu n %zu props %u reads %u applied1 %llu answered %zu\n",
            (unsigned long long)seed, n, props, reads, (unsigned long long)rt_node(c, 1)->sm_applied,
            c->reads_answered);
  recover(c, seed);
  rt_check_log_matching(c);
  if (c->violations) fail_msg("seed %llu after recovery: %s", (unsigned long long)seed, c->last_violation);
  rt_free(c);
}

static void test_random_scripts_keep_every_invariant(void **state) {
  (void)state;
  /* RT_SEED=s replays seed s; RT_SEEDS=n runs n seeds from RT_SEED (or 1); RT_STEPS=k steps each */
  const char *one = getenv("RT_SEED"), *many = getenv("RT_SEEDS");
  uint64_t first = one ? strtoull(one, NULL, 10) : 1;
  uint64_t count = many ? strtoull(many, NULL, 10) : one ? 1 : SEEDS;
  for (uint64_t seed = first; seed < first + count; seed++) run_seed(seed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_scripts_keep_every_invariant),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
