/* The simulated state machine: applying committed entries and membership changes, snapshots, compaction. */
#include <string.h>

#include "common/error.h"
#include "raft/codec.h"
#include "sim.h"

lkv_raft_id_t lkv__sim_conf_member(const lkv_raft_conf_state_t *c, uint32_t i) {
  return i < c->n_voters ? c->voters[i] : c->learners[i - c->n_voters];
}

int lkv__sim_conf_has(const lkv_raft_conf_state_t *c, lkv_raft_id_t id, int learners_too) {
  uint32_t n = c->n_voters + (learners_too ? c->n_learners : 0);
  for (uint32_t i = 0; i < n; i++)
    if (lkv__sim_conf_member(c, i) == id) return 1;
  return 0;
}

/* The state machine's validation at apply time, like etcd's: a function of the membership and of the
 * committed history before index (an id once removed never comes back: etcd refuses reused member ids), so
 * every member decides the same. */
static int conf_change_valid(const lkv__sim_t *s, const lkv_raft_conf_change_t *cc,
                             const lkv_raft_conf_state_t *c, uint64_t index) {
  int voter = lkv__sim_conf_has(c, cc->node, 0), learner = !voter && lkv__sim_conf_has(c, cc->node, 1);
  int removed = cc->node <= LKV_SIM_MAX_NODES && s->removed_at[cc->node] && s->removed_at[cc->node] < index;
  switch (cc->type) {
    case LKV_RAFT_CC_ADD_NODE:
      return !voter && !removed;
    case LKV_RAFT_CC_ADD_LEARNER:
      return !voter && !learner && !removed;
    case LKV_RAFT_CC_REMOVE_NODE:
      return (voter || learner) && !(voter && c->n_voters == 1);
  }
  return 0;
}

static void apply_conf_change(lkv__sim_t *s, int slot, const lkv_raft_entry_t *e) {
  lkv__sim_node_t *n = &s->nodes[slot];
  lkv_raft_conf_change_t cc;
  if (lkv_raft_conf_change_decode(e->data, e->len, &cc)) {
    lkv__sim_fail(s, "codec", "n%llu: committed conf change %llu does not decode", (unsigned long long)n->id,
                  (unsigned long long)e->index);
    return;
  }
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  int accept = conf_change_valid(s, &cc, &st.conf, e->index);
  if (accept && cc.type == LKV_RAFT_CC_REMOVE_NODE && cc.node <= LKV_SIM_MAX_NODES &&
      (!s->removed_at[cc.node] || e->index < s->removed_at[cc.node]))
    s->removed_at[cc.node] = e->index;
  lkv_raft_conf_state_t after;
  int rc = lkv_raft_apply_conf_change(n->raft, e, accept, &after);
  if (rc) {
    lkv__sim_fail(s, "contract", "n%llu: apply_conf_change(%llu) = %s", (unsigned long long)n->id,
                  (unsigned long long)e->index, lkv_err_name(rc));
    return;
  }
  static const char *const kinds[] = {"add", "add-learner", "remove"};
  lkv__sim_trace(s, "n%llu applies conf %llu: %s n%llu %s -> %u voters %u learners",
                 (unsigned long long)n->id, (unsigned long long)e->index, cc.type < 3 ? kinds[cc.type] : "?",
                 (unsigned long long)cc.node, accept ? "accepted" : "refused", after.n_voters,
                 after.n_learners);
  s->n_conf_applied++;
}

void lkv__sim_install_snapshot(lkv__sim_t *s, int slot, const lkv_raft_snapshot_t *snap) {
  lkv__sim_node_t *n = &s->nodes[slot];
  lkv__sim_snapdata_t d;
  (void)lkv__sim_snapdata_decode(snap->data, snap->len, &d); /* checked by the caller */
  if (d.index <= n->applied) {
    lkv__sim_fail(s, "applied-monotonic", "n%llu installs snapshot %llu at or below its applied index %llu",
                  (unsigned long long)n->id, (unsigned long long)d.index, (unsigned long long)n->applied);
    return;
  }
  if (d.index > s->gmax || s->hist[d.index].chain != d.chain) {
    lkv__sim_fail(s, "applied-prefix",
                  "n%llu installs snapshot %llu that is not a prefix of the committed history",
                  (unsigned long long)n->id, (unsigned long long)d.index);
    return;
  }
  n->applied = d.index;
  n->sm_chain = d.chain;
  /* The core drops its log for the snapshot: so does the shadow (check.c judges what disappeared). */
  lkv__sim_check_snapshot_log(s, slot, &d);
  s->n_snap_installs++;
  lkv__sim_trace(s, "n%llu installs snapshot %llu term %llu", (unsigned long long)n->id,
                 (unsigned long long)d.index, (unsigned long long)d.term);
}

void lkv__sim_apply(lkv__sim_t *s, int slot, const lkv_raft_ready_t *rd) {
  lkv__sim_node_t *n = &s->nodes[slot];
  for (size_t i = 0; i < rd->n_committed && !s->failed; i++) {
    const lkv_raft_entry_t *e = &rd->committed[i];
    if (e->index != n->applied + 1) {
      lkv__sim_fail(s, "applied-prefix", "n%llu applies %llu after %llu", (unsigned long long)n->id,
                    (unsigned long long)e->index, (unsigned long long)n->applied);
      return;
    }
    uint64_t chain = lkv__sim_chain(n->sm_chain, e);
    if (e->index > s->gmax) {
      lkv__sim_fail(s, "applied-prefix", "n%llu applies %llu beyond every commit index (%llu)",
                    (unsigned long long)n->id, (unsigned long long)e->index, (unsigned long long)s->gmax);
      return;
    }
    if (chain != s->hist[e->index].chain) {
      lkv__sim_fail(s, "applied-prefix",
                    "n%llu's applied sequence leaves the committed one at %llu (term %llu)",
                    (unsigned long long)n->id, (unsigned long long)e->index, (unsigned long long)e->term);
      return;
    }
    if (e->type == LKV_RAFT_ENTRY_CONF_CHANGE) apply_conf_change(s, slot, e);
    n->applied = e->index;
    n->sm_chain = chain;
  }
  for (size_t i = 0; i < rd->n_read_states && !s->failed; i++)
    lkv__sim_check_read_state(s, slot, &rd->read_states[i]);
}

/* Sometimes snapshot the state machine at the applied index and compact, keeping a tail now and then. */
void lkv__sim_maybe_snapshot(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (!n->up || n->applied <= n->disk.durable.snap.index || !lkv__sim_rng_chance(&s->rng, s->snap_pm)) return;
  lkv_raft_entry_t e;
  if (lkv_raft_entry(n->raft, n->applied, &e)) return;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  lkv_raft_snapshot_meta_t meta;
  memset(&meta, 0, sizeof(meta));
  meta.index = n->applied;
  meta.term = e.term;
  meta.conf = st.conf;
  int rc = lkv_raft_set_snapshot(n->raft, &meta);
  if (rc) {
    lkv__sim_fail(s, "contract", "n%llu: set_snapshot(%llu) = %s", (unsigned long long)n->id,
                  (unsigned long long)meta.index, lkv_err_name(rc));
    return;
  }
  lkv__sim_snapdata_t d = {meta.index, meta.term, n->sm_chain};
  lkv__sim_disk_save_snapshot(&n->disk, &meta, &d);
  uint64_t tail = lkv__sim_rng_chance(&s->rng, 500) ? lkv__sim_rng_below(&s->rng, 8) : 0;
  uint64_t upto = meta.index > tail ? meta.index - tail : 0;
  if (upto >= st.first_index) {
    rc = lkv_raft_compact(n->raft, upto);
    if (rc) {
      lkv__sim_fail(s, "contract", "n%llu: compact(%llu) = %s", (unsigned long long)n->id,
                    (unsigned long long)upto, lkv_err_name(rc));
      return;
    }
    lkv__sim_disk_compact(&n->disk, upto);
  }
  lkv__sim_trace(s, "n%llu snapshots at %llu, compacts to %llu", (unsigned long long)n->id,
                 (unsigned long long)meta.index, (unsigned long long)upto);
}
