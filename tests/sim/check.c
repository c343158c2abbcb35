/* The invariants checked after every step: commits, election safety, leaders, reads, membership proposals. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/codec.h"
#include "sim.h"

/* Advances the member's agreement point: the highest index where its log holds the committed history
 * (chains agree there, so on the whole prefix). A member may hold other, uncommitted entries at committed
 * indexes (a deposed leader's tail): that is fine until they are overwritten; what it once held agreeing
 * must never change (logs.c checks every rewrite against it). */
static void advance_agreement(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  uint64_t last = n->s_first + n->s_n - 1, hi = last < s->gmax ? last : s->gmax, lo = n->s_good, chain;
  if (hi <= lo || !lkv__sim_shadow_chain(n, lo, &chain) || chain != s->hist[lo].chain) return;
  while (lo < hi) { /* agreement is a prefix property: binary search its end */
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (lkv__sim_shadow_chain(n, mid, &chain) && chain == s->hist[mid].chain)
      lo = mid;
    else
      hi = mid - 1;
  }
  n->s_good = lo;
}

/* Extends the committed history to index upto with the entries member slot holds. */
static void record_commit(lkv__sim_t *s, int slot, uint64_t upto) {
  const lkv__sim_node_t *n = &s->nodes[slot];
  uint64_t last = n->s_first + n->s_n - 1;
  if (upto > last) {
    lkv__sim_fail(s, "commit-beyond-log",
                  "n%d commits %llu but its log holds %llu..%llu (history ends at %llu)", slot + 1,
                  (unsigned long long)upto, (unsigned long long)n->s_first, (unsigned long long)last,
                  (unsigned long long)s->gmax);
    return;
  }
  if (upto >= s->hist_cap) {
    uint64_t cap = s->hist_cap ? s->hist_cap : 1024;
    while (cap <= upto) cap *= 2;
    s->hist = realloc(s->hist, cap * sizeof(*s->hist));
    if (!s->hist) abort();
    s->hist_cap = cap;
  }
  if (s->gmax == 0) s->hist[0] = (lkv__sim_hist_t){0, LKV_SIM_CHAIN0, 0};
  /* Entries up to upto are committed "in" the term of the entry at upto (the leader's term when the rule
   * holds); kept non-decreasing for the Leader Completeness check's binary search. */
  uint64_t cterm = upto >= n->s_first ? n->s_term[upto - n->s_first] : n->s_base_term;
  if (cterm < s->hist[s->gmax].commit_term) cterm = s->hist[s->gmax].commit_term;
  for (uint64_t i = s->gmax + 1; i <= upto; i++) {
    uint64_t chain;
    if (!lkv__sim_shadow_chain(n, i, &chain)) {
      lkv__sim_fail(s, "commit-beyond-log", "n%d commits %llu which it does not hold", slot + 1,
                    (unsigned long long)i);
      return;
    }
    uint64_t term = i >= n->s_first ? n->s_term[i - n->s_first] : n->s_base_term;
    s->hist[i] = (lkv__sim_hist_t){term, chain, cterm};
  }
  if (upto > s->gmax) {
    uint64_t from = s->gmax + 1;
    s->gmax = upto;
    /* The chain at the new end must agree with the old end's history: check through the recording
     * member's own prefix, then every other member against the extended history. */
    uint64_t chain;
    if (from - 1 >= n->s_first - 1 && lkv__sim_shadow_chain(n, from - 1, &chain) &&
        chain != s->hist[from - 1].chain)
      lkv__sim_fail(s, "committed-changed", "n%d commits %llu..%llu on a prefix other than the committed one",
                    slot + 1, (unsigned long long)from, (unsigned long long)upto);
    for (int i = 0; i < s->n_slots && !s->failed; i++)
      if (s->nodes[i].up) advance_agreement(s, i);
    lkv__sim_trace(s, "committed %llu..%llu (n%d)", (unsigned long long)from, (unsigned long long)upto,
                   slot + 1);
  }
}

/* The highest committed index whose commit term is below term (entries every leader of term must hold). */
static uint64_t committed_before_term(const lkv__sim_t *s, uint64_t term) {
  uint64_t lo = 0, hi = s->gmax;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (s->hist[mid].commit_term < term)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

static void check_leader(lkv__sim_t *s, int slot, const lkv_raft_status_t *st) {
  const lkv__sim_node_t *n = &s->nodes[slot];
  uint64_t term = st->hard_state.term;
  if (term >= s->term_cap) {
    uint64_t cap = s->term_cap ? s->term_cap : 256;
    while (cap <= term) cap *= 2;
    s->term_leader = realloc(s->term_leader, cap * sizeof(*s->term_leader));
    if (!s->term_leader) abort();
    memset(s->term_leader + s->term_cap, 0, (cap - s->term_cap) * sizeof(*s->term_leader));
    s->term_cap = cap;
  }
  if (s->term_leader[term] && s->term_leader[term] != n->id) {
    lkv__sim_fail(s, "election-safety", "n%llu and n%llu both lead term %llu",
                  (unsigned long long)s->term_leader[term], (unsigned long long)n->id,
                  (unsigned long long)term);
    return;
  }
  s->term_leader[term] = n->id;
  if (!lkv__sim_conf_has(&st->conf, n->id, 0)) {
    lkv__sim_fail(s, "removed-leader", "n%llu leads term %llu but is not a voter of its applied membership",
                  (unsigned long long)n->id, (unsigned long long)term);
    return;
  }
  uint64_t k = committed_before_term(s, term), chain;
  if (k == 0 || k < n->s_first - 1) return; /* inside its snapshot: checked when it was installed */
  if (!lkv__sim_shadow_chain(n, k, &chain) || chain != s->hist[k].chain)
    lkv__sim_fail(s, "leader-completeness", "n%llu leads term %llu without committed entry %llu",
                  (unsigned long long)n->id, (unsigned long long)term, (unsigned long long)k);
}

void lkv__sim_check_node(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (!n->up || s->failed) return;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (st.role != n->role || st.leader != n->leader || st.hard_state.term != n->term)
    lkv__sim_trace(s, "n%llu is %s in term %llu, leader %llu", (unsigned long long)n->id,
                   lkv_raft_role_name(st.role), (unsigned long long)st.hard_state.term,
                   (unsigned long long)st.leader);
  int new_leader =
      st.role == LKV_RAFT_LEADER && (n->role != LKV_RAFT_LEADER || n->term != st.hard_state.term);
  if (st.hard_state.commit < n->commit) {
    lkv__sim_fail(s, "commit-monotonic", "n%llu's commit went back from %llu to %llu",
                  (unsigned long long)n->id, (unsigned long long)n->commit,
                  (unsigned long long)st.hard_state.commit);
    return;
  }
  if (st.hard_state.term < n->term) {
    lkv__sim_fail(s, "term-monotonic", "n%llu's term went back from %llu to %llu", (unsigned long long)n->id,
                  (unsigned long long)n->term, (unsigned long long)st.hard_state.term);
    return;
  }
  uint64_t old_commit = n->commit;
  int was_leader = n->role == LKV_RAFT_LEADER && n->term == st.hard_state.term;
  n->commit = st.hard_state.commit;
  n->term = st.hard_state.term;
  n->role = st.role;
  n->leader = st.leader;
  if (lkv__sim_conf_has(&st.conf, n->id, 1)) n->was_member = 1;
  if (n->commit > s->gmax) record_commit(s, slot, n->commit);
  if (s->failed) return;
  advance_agreement(s, slot);
  if (!s->failed && st.role == LKV_RAFT_LEADER) check_leader(s, slot, &st);
  if (!s->failed && was_leader && st.role == LKV_RAFT_LEADER)
    lkv__sim_check_leader_commit(s, slot, old_commit, &st);
  if (!s->failed && new_leader) lkv__sim_report(s, LKV_SIM_PKT_NEW_LEADER, slot, n->life, slot, 0);
}

void lkv__sim_check_restart(lkv__sim_t *s, int slot) {
  lkv__sim_node_t *n = &s->nodes[slot];
  const lkv__sim_store_t *d = &n->disk.durable;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  uint64_t durable = d->hs.commit > d->snap.index ? d->hs.commit : d->snap.index;
  if (st.hard_state.commit < durable)
    lkv__sim_fail(s, "commit-monotonic", "n%llu restarts with commit %llu below its durable %llu",
                  (unsigned long long)n->id, (unsigned long long)st.hard_state.commit,
                  (unsigned long long)durable);
  n->commit = st.hard_state.commit;
  n->term = st.hard_state.term;
  n->role = st.role;
  n->leader = st.leader;
  advance_agreement(s, slot);
}

void lkv__sim_check_read_state(lkv__sim_t *s, int slot, const lkv_raft_read_state_t *rs) {
  uint64_t id = 0;
  if (rs->context_len != 8) {
    lkv__sim_fail(s, "read-context", "n%d got a read state with a %zu-byte context", slot + 1,
                  rs->context_len);
    return;
  }
  for (int i = 0; i < 8; i++) id |= (uint64_t)rs->context[i] << (8 * i);
  if (id >= s->n_reads) {
    lkv__sim_fail(s, "read-context", "n%d got a read state for unknown read %llu", slot + 1,
                  (unsigned long long)id);
    return;
  }
  lkv__sim_read_t *r = &s->reads[id];
  lkv__sim_trace(s, "n%d read %llu: index %llu (asked when %llu was committed)", slot + 1,
                 (unsigned long long)id, (unsigned long long)rs->index, (unsigned long long)r->floor);
  if (rs->index < r->floor) {
    lkv__sim_fail(
        s, "linearizable-read", "read %llu asked at n%d got index %llu, but %llu was committed before it",
        (unsigned long long)id, r->slot + 1, (unsigned long long)rs->index, (unsigned long long)r->floor);
    return;
  }
  if (!r->answered) s->n_reads_ok++;
  r->answered = 1;
}

/* A leader appended membership change e: single-step changes are safe only one at a time, and only after
 * the leader committed an entry of its own term (otherwise an older leader's uncommitted change can still
 * win with a disjoint quorum). */
void lkv__sim_check_leader_append(lkv__sim_t *s, int slot, const lkv_raft_entry_t *e) {
  lkv__sim_node_t *n = &s->nodes[slot];
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (e->term != st.hard_state.term || !s->rules) return;
  uint64_t c = st.hard_state.commit;
  uint64_t cterm = c >= n->s_first && c - n->s_first < n->s_n ? n->s_term[c - n->s_first] : n->s_base_term;
  if (cterm != e->term) {
    lkv__sim_fail(s, "conf-after-term-commit",
                  "n%llu appended membership change %llu in term %llu before committing an entry of its term "
                  "(commit %llu is of term %llu)",
                  (unsigned long long)n->id, (unsigned long long)e->index, (unsigned long long)e->term,
                  (unsigned long long)c, (unsigned long long)cterm);
    return;
  }
  for (uint64_t i = st.applied + 1; i < e->index; i++) {
    lkv_raft_entry_t o;
    if (lkv_raft_entry(n->raft, i, &o) == 0 && o.type == LKV_RAFT_ENTRY_CONF_CHANGE) {
      lkv__sim_fail(s, "one-conf-pending",
                    "n%llu appended membership change %llu while change %llu is not applied (applied %llu)",
                    (unsigned long long)n->id, (unsigned long long)e->index, (unsigned long long)i,
                    (unsigned long long)st.applied);
      return;
    }
  }
}

void lkv__sim_check_free(lkv__sim_t *s) {
  for (uint64_t i = 0; i < s->seen_cap; i++) free(s->seen[i].v);
  free(s->seen);
  free(s->hist);
  free(s->term_leader);
  s->seen = NULL;
  s->hist = NULL;
  s->term_leader = NULL;
}
