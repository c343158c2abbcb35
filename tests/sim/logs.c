/* Shadows of the members' in-memory logs as chain hashes: log matching and committed-entry checks. */
#include <stdlib.h>

#include "sim.h"

/*
 * Each member's log is mirrored as a chain hash per index (hash of the whole prefix through it), kept up
 * to date from the entries of every ready batch (the core hands out every entry it appends or rewrites).
 * Two logs agree on a prefix iff their chains agree at its last index, so "same (index, term) => same
 * prefix" and "a committed entry never changes" are one comparison each instead of a walk of the log.
 */

void lkv__sim_shadow_push(lkv__sim_node_t *n, uint64_t term, uint64_t chain) {
  if (n->s_n == n->s_cap) {
    n->s_cap = n->s_cap ? n->s_cap * 2 : 256;
    n->s_term = realloc(n->s_term, n->s_cap * sizeof(uint64_t));
    n->s_chain = realloc(n->s_chain, n->s_cap * sizeof(uint64_t));
    if (!n->s_term || !n->s_chain) abort();
  }
  n->s_term[n->s_n] = term;
  n->s_chain[n->s_n++] = chain;
}

int lkv__sim_shadow_chain(const lkv__sim_node_t *n, uint64_t index, uint64_t *chain) {
  if (index + 1 == n->s_first) {
    *chain = n->s_base;
    return 1;
  }
  if (index < n->s_first || index - n->s_first >= n->s_n) return 0;
  *chain = n->s_chain[index - n->s_first];
  return 1;
}

/* Remembers the chain of every (index, term) any member ever held: a second, different one breaks log
 * matching (same index and term on two members, different prefixes). */
static void seen(lkv__sim_t *s, int slot, uint64_t index, uint64_t term, uint64_t chain) {
  if (index >= s->seen_cap) {
    uint64_t cap = s->seen_cap ? s->seen_cap : 1024;
    while (cap <= index) cap *= 2;
    s->seen = realloc(s->seen, cap * sizeof(*s->seen));
    if (!s->seen) abort();
    for (uint64_t i = s->seen_cap; i < cap; i++) s->seen[i] = (lkv__sim_seenv_t){NULL, 0, 0};
    s->seen_cap = cap;
  }
  lkv__sim_seenv_t *v = &s->seen[index];
  for (uint32_t i = 0; i < v->n; i++) {
    if (v->v[i].term != term) continue;
    if (v->v[i].chain != chain)
      lkv__sim_fail(s, "log-matching",
                    "n%d holds (index %llu, term %llu) with a prefix other members do not have", slot + 1,
                    (unsigned long long)index, (unsigned long long)term);
    return;
  }
  if (v->n == v->cap) {
    v->cap = v->cap ? v->cap * 2 : 2;
    v->v = realloc(v->v, v->cap * sizeof(*v->v));
    if (!v->v) abort();
  }
  v->v[v->n++] = (lkv__sim_seen_t){term, chain};
}

void lkv__sim_check_snapshot_log(lkv__sim_t *s, int slot, const lkv__sim_snapdata_t *d) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (n->s_good > d->index)
    lkv__sim_fail(s, "committed-lost", "n%d drops committed entries %llu..%llu for snapshot %llu", slot + 1,
                  (unsigned long long)d->index + 1, (unsigned long long)n->s_good,
                  (unsigned long long)d->index);
  n->s_good = d->index; /* the caller checked it against the history */
  n->s_first = d->index + 1;
  n->s_base = d->chain;
  n->s_base_term = d->term;
  n->s_n = 0;
  seen(s, slot, d->index, d->term, d->chain);
}

void lkv__sim_check_new_entries(lkv__sim_t *s, int slot, const lkv_raft_entry_t *ents, size_t count,
                                uint64_t *chains) {
  lkv__sim_node_t *n = &s->nodes[slot];
  if (!count) return;
  uint64_t first = ents[0].index, old_last = n->s_first + n->s_n - 1;
  if (first < n->s_first || first > old_last + 1) {
    lkv__sim_fail(s, "log-contiguity", "n%d's batch starts at %llu, its log holds %llu..%llu", slot + 1,
                  (unsigned long long)first, (unsigned long long)n->s_first, (unsigned long long)old_last);
    return;
  }
  uint64_t chain = 0;
  (void)lkv__sim_shadow_chain(n, first - 1, &chain); /* first - 1 is in [s_first - 1, last] */
  n->s_n = (size_t)(first - n->s_first);
  for (size_t i = 0; i < count; i++) {
    if (ents[i].index != first + i) {
      lkv__sim_fail(s, "log-contiguity", "n%d's batch skips from %llu to %llu", slot + 1,
                    (unsigned long long)(first + i - 1), (unsigned long long)ents[i].index);
      return;
    }
    chain = lkv__sim_chain(chain, &ents[i]);
    chains[i] = chain;
    seen(s, slot, ents[i].index, ents[i].term, chain);
    lkv__sim_shadow_push(n, ents[i].term, chain);
  }
  uint64_t new_last = first + count - 1;
  (void)old_last;
  if (new_last < n->s_good) {
    lkv__sim_fail(s, "committed-lost", "n%d's log was cut back to %llu, losing committed entry %llu",
                  slot + 1, (unsigned long long)new_last, (unsigned long long)n->s_good);
    return;
  }
  if (first <= n->s_good && n->s_chain[n->s_good - n->s_first] != s->hist[n->s_good].chain) {
    lkv__sim_fail(s, "committed-changed",
                  "n%d rewrote its log from %llu, changing committed entries up to %llu", slot + 1,
                  (unsigned long long)first, (unsigned long long)n->s_good);
    return;
  }
  /* The shadow follows the batches; make sure it also follows the core. */
  lkv_raft_entry_t e;
  if (n->raft && (lkv_raft_entry(n->raft, new_last, &e) || e.term != ents[count - 1].term))
    lkv__sim_fail(s, "simulator", "n%d: the core's entry %llu is not the one its batch handed out", slot + 1,
                  (unsigned long long)new_last);
}
