/* Promises against disks: acks and votes leave only for durable state, and a leader commits only its own
 * term's entries once a quorum holds them durably (what Raft's safety argument assumes of every member). */
#include "sim.h"

/* Member n's durable state holds committed entry c (its chain agrees with the history through c). */
static int durable_holds_committed(const lkv__sim_t *s, const lkv__sim_node_t *n, uint64_t c) {
  const lkv__sim_store_t *d = &n->disk.durable;
  if (c <= d->snap.index)
    return d->snap.index <= s->gmax && s->hist[d->snap.index].chain == d->snap_data.chain;
  if (!d->n || c < d->ents[0].index || c > d->ents[d->n - 1].index) return 0;
  return d->ents[c - d->ents[0].index].chain == s->hist[c].chain;
}

/* Member n's durable log holds index i as its in-memory log does. */
static int durable_holds_own(const lkv__sim_node_t *n, uint64_t i) {
  const lkv__sim_store_t *d = &n->disk.durable;
  uint64_t chain;
  if (i <= d->snap.index) return 1;
  if (!d->n || i < d->ents[0].index || i > d->ents[d->n - 1].index) return 0;
  return lkv__sim_shadow_chain(n, i, &chain) && d->ents[i - d->ents[0].index].chain == chain;
}

void lkv__sim_check_promise(lkv__sim_t *s, int slot, const lkv_raft_msg_t *m) {
  const lkv__sim_node_t *n = &s->nodes[slot];
  const lkv_raft_hard_state_t *hs = &n->disk.durable.hs;
  if (m->reject || !s->rules) return;
  if (m->type == LKV_RAFT_MSG_VOTE_RESP && (hs->term != m->term || hs->vote != m->to))
    lkv__sim_fail(s, "promise-before-durable",
                  "n%d grants its term-%llu vote to n%llu while its disk holds term %llu vote %llu", slot + 1,
                  (unsigned long long)m->term, (unsigned long long)m->to, (unsigned long long)hs->term,
                  (unsigned long long)hs->vote);
  else if (m->type == LKV_RAFT_MSG_APP_RESP && !durable_holds_own(n, m->index))
    lkv__sim_fail(s, "promise-before-durable", "n%d acknowledges index %llu (term %llu) before it is durable",
                  slot + 1, (unsigned long long)m->index, (unsigned long long)m->term);
}

void lkv__sim_check_leader_commit(lkv__sim_t *s, int slot, uint64_t from, const lkv_raft_status_t *st) {
  const lkv__sim_node_t *n = &s->nodes[slot];
  uint64_t c = st->hard_state.commit, term = 0;
  if (c <= from || !s->rules) return;
  if (c >= n->s_first && c - n->s_first < n->s_n) term = n->s_term[c - n->s_first];
  if (term != st->hard_state.term) {
    lkv__sim_fail(s, "commit-rule", "leader n%d of term %llu commits %llu..%llu by an entry of term %llu",
                  slot + 1, (unsigned long long)st->hard_state.term, (unsigned long long)from + 1,
                  (unsigned long long)c, (unsigned long long)term);
    return;
  }
  uint32_t durable = 0;
  for (uint32_t i = 0; i < st->conf.n_voters; i++) {
    int k = lkv__sim_slot(s, st->conf.voters[i]);
    if (k >= 0 && durable_holds_committed(s, &s->nodes[k], c)) durable++;
  }
  if (durable < st->conf.n_voters / 2 + 1)
    lkv__sim_fail(s, "commit-durable-quorum", "leader n%d commits %llu held durably by %u of %u voters",
                  slot + 1, (unsigned long long)c, durable, st->conf.n_voters);
}
