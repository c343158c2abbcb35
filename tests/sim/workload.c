/* The clients: proposals, ReadIndex requests, membership changes and leadership transfers at random. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sim.h"

static int usable(const lkv__sim_t *s, int slot) {
  const lkv__sim_node_t *n = &s->nodes[slot];
  return n->up && !n->retired && n->paused_until <= s->now;
}

uint64_t lkv__sim_propose(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  uint8_t data[64];
  uint64_t id = ++s->next_prop;
  size_t len = 8 + (size_t)lkv__sim_rng_below(&s->rng, sizeof(data) - 8 + 1);
  for (int i = 0; i < 8; i++) data[i] = (uint8_t)(id >> (8 * i));
  for (size_t i = 8; i < len; i++) data[i] = (uint8_t)lkv__sim_rng_next(&s->rng);
  uint64_t index = 0, term = 0;
  int rc = lkv_raft_propose(n->raft, data, len, &index, &term);
  lkv__sim_trace(s, "propose p%llu (%zu bytes) at n%d: %s index %llu", (unsigned long long)id, len, slot + 1,
                 rc ? lkv_err_name(rc) : "ok", (unsigned long long)index);
  lkv__sim_node_process(s, slot);
  return rc ? 0 : id;
}

int lkv__sim_read(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (s->n_reads == s->reads_cap) {
    s->reads_cap = s->reads_cap ? s->reads_cap * 2 : 64;
    s->reads = realloc(s->reads, s->reads_cap * sizeof(*s->reads));
    if (!s->reads) abort();
  }
  uint64_t id = s->n_reads;
  uint8_t ctx[8];
  for (int i = 0; i < 8; i++) ctx[i] = (uint8_t)(id >> (8 * i));
  int rc = lkv_raft_read_index(n->raft, ctx, sizeof(ctx));
  lkv__sim_trace(s, "read r%llu at n%d (committed %llu): %s", (unsigned long long)id, slot + 1,
                 (unsigned long long)s->gmax, rc ? lkv_err_name(rc) : "ok");
  if (rc) return -1;
  s->reads[s->n_reads++] = (lkv__sim_read_t){slot, s->gmax, 0};
  lkv__sim_node_process(s, slot);
  return (int)id;
}

/* A fresh slot (never started) for a new member, started empty: it learns everything from the leader. */
static int fresh_slot(lkv__sim_t *s) {
  for (int i = 0; i < s->n_slots; i++)
    if (!s->nodes[i].used) return i;
  return -1;
}

static void conf_change(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  const lkv_raft_conf_state_t *c = &st.conf;
  lkv_raft_conf_change_t cc;
  memset(&cc, 0, sizeof(cc));
  uint64_t pick = lkv__sim_rng_below(&s->rng, 100);
  int fresh = fresh_slot(s);
  if (pick < 20 && fresh >= 0) { /* a new learner */
    cc.type = LKV_RAFT_CC_ADD_LEARNER;
    cc.node = (lkv_raft_id_t)fresh + 1;
  } else if (pick < 30 && fresh >= 0 && c->n_voters < 7) { /* a new voter directly */
    cc.type = LKV_RAFT_CC_ADD_NODE;
    cc.node = (lkv_raft_id_t)fresh + 1;
  } else if (pick < 50 && c->n_learners && c->n_voters < 7) { /* promote */
    cc.type = LKV_RAFT_CC_ADD_NODE;
    cc.node = c->learners[lkv__sim_rng_below(&s->rng, c->n_learners)];
  } else if (pick < 60 && c->n_learners) {
    cc.type = LKV_RAFT_CC_REMOVE_NODE;
    cc.node = c->learners[lkv__sim_rng_below(&s->rng, c->n_learners)];
  } else if (pick < 90 && c->n_voters > 3) { /* remove a voter, often the leader itself */
    cc.type = LKV_RAFT_CC_REMOVE_NODE;
    cc.node = c->voters[lkv__sim_rng_below(&s->rng, c->n_voters)];
    if (st.leader && lkv__sim_conf_has(c, st.leader, 0) && lkv__sim_rng_chance(&s->rng, 400))
      cc.node = st.leader;
  } else if (pick < 95 && c->n_voters) { /* refused at apply time: adds an existing voter */
    cc.type = LKV_RAFT_CC_ADD_NODE;
    cc.node = c->voters[lkv__sim_rng_below(&s->rng, c->n_voters)];
  } else { /* refused at apply time: removes a member that is not there */
    cc.type = LKV_RAFT_CC_REMOVE_NODE;
    cc.node = (lkv_raft_id_t)LKV_SIM_MAX_NODES + 1 + lkv__sim_rng_below(&s->rng, 5);
  }
  if (!cc.node) return;
  int rc = lkv_raft_propose_conf_change(n->raft, &cc);
  static const char *const kinds[] = {"add", "add-learner", "remove"};
  lkv__sim_trace(s, "propose conf %s n%llu at n%d: %s", kinds[cc.type], (unsigned long long)cc.node, slot + 1,
                 rc ? lkv_err_name(rc) : "ok");
  int target = lkv__sim_slot(s, cc.node);
  if (!rc && target >= 0 && !s->nodes[target].used) lkv__sim_node_start(s, target, 0);
  lkv__sim_node_process(s, slot);
}

static void transfer(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (!st.conf.n_voters) return;
  lkv_raft_id_t to = st.conf.voters[lkv__sim_rng_below(&s->rng, st.conf.n_voters)];
  int rc = lkv_raft_transfer_leader(n->raft, to);
  lkv__sim_trace(s, "transfer to n%llu at n%d: %s", (unsigned long long)to, slot + 1,
                 rc ? lkv_err_name(rc) : "ok");
  lkv__sim_node_process(s, slot);
}

void lkv__sim_work(lkv__sim_t *s) {
  int slot = (int)lkv__sim_rng_below(&s->rng, (uint64_t)s->n_slots);
  if (!usable(s, slot)) return;
  uint64_t op = lkv__sim_rng_below(&s->rng, 100);
  if (op < 60)
    (void)lkv__sim_propose(s, slot);
  else if (op < 82)
    (void)lkv__sim_read(s, slot);
  else if (op < 92)
    conf_change(s, slot);
  else
    transfer(s, slot);
}

/* A new leader is tested at once: a membership change or a read before it committed an entry of its term
 * must be refused or held back (the single-server change bug and the stale first read). */
void lkv__sim_work_new_leader(lkv__sim_t *s, int slot) {
  if (!usable(s, slot) || s->healed) return;
  if (lkv__sim_rng_chance(&s->rng, 300)) conf_change(s, slot);
  if (usable(s, slot) && lkv__sim_rng_chance(&s->rng, 300)) (void)lkv__sim_read(s, slot);
}
