/* The causal member's removals: which members are removed, whose events are still taken, stability without
 * them (docs/causal.md §15). */
#include <stdlib.h>

#include "causal/member_internal.h"
#include "common/error.h"

/* Lifts the cap of removed member index x to the vectors of the members still in (their reports and this
 * member's own vector): a member that had applied x's events before it applied the removal holds them, so
 * every member must take them to converge; once every member applied a removal they stop growing. */
static void lift(lkv_causal_member_t *m, size_t x) {
  uint64_t id = m->members[x].id;
  uint64_t cap = lkv_causal_vv_get(&m->vv, id);
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    uint64_t r = lkv_causal_vv_get(&m->reports[i], id);
    if (i != m->self && !m->removed[i] && r > cap) cap = r;
  }
  if (cap > m->cap[x]) m->cap[x] = cap;
}

void lkv__causal_removals_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort(); /* checked on arrival */
  while (lkv_causal_mutations_next(&it, &mu)) {
    if (mu.kind != LKV_CAUSAL_MEMBER_REMOVE) continue;
    int x = lkv__causal_index(m, mu.member);
    if (x < 0) abort(); /* checked on arrival */
    /* The last of x's events the removal covers: its deps' entry, or the removal itself when x removed
     * itself. */
    uint64_t named = ev->origin == mu.member ? ev->seq : lkv_causal_vv_get(&ev->deps, mu.member);
    if (named > m->cap[x]) m->cap[x] = named;
    if (!m->removed[x]) m->removal[x] = (lkv_causal_event_id_t){.origin = ev->origin, .seq = ev->seq};
    m->removed[x] = 1;
    lift(m, (size_t)x);
    if (!LKV__CAUSAL_BUG(m, APPLY_REMOVED)) lkv_causal_pending_drop_above(&m->pending, mu.member, m->cap[x]);
  }
}

int lkv__causal_removals_check(const lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) return LKV_EBADMSG;
  while (lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_MEMBER_REMOVE && lkv__causal_index(m, mu.member) < 0) return LKV_EBADMSG;
  return 0;
}

int lkv__causal_refused(const lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  int x = lkv__causal_index(m, ev->origin);
  return x >= 0 && m->removed[x] && ev->seq > m->cap[x] && !LKV__CAUSAL_BUG(m, APPLY_REMOVED);
}

void lkv__causal_removals_heard(lkv_causal_member_t *m) {
  for (size_t x = 0; x < m->cfg.n_members; x++)
    if (m->removed[x]) lift(m, x);
}

int lkv__causal_removals_settled(const lkv_causal_member_t *m) {
  for (size_t x = 0; x < m->cfg.n_members; x++) {
    if (!m->removed[x]) continue;
    uint64_t id = m->members[x].id;
    /* Every member still in applied a removal of x, so x's events it may still take are bounded by what
     * it reported, and this member has them all: no write of x concurrent with a tombstone here can come
     * later. */
    for (size_t i = 0; i < m->cfg.n_members; i++) {
      if (i == m->self || m->removed[i]) continue;
      const lkv_causal_vv_t *r = &m->reports[i];
      if (!lkv_causal_vv_covers(r, m->removal[x].origin, m->removal[x].seq) ||
          lkv_causal_vv_get(&m->vv, id) < lkv_causal_vv_get(r, id))
        return 0;
    }
  }
  return 1;
}

size_t lkv__causal_removals_count(const lkv_causal_member_t *m) {
  size_t n = 0;
  for (size_t x = 0; x < m->cfg.n_members; x++) n += m->removed[x];
  return n;
}

int lkv_causal_member_remove(lkv_causal_member_t *m, uint64_t now, uint64_t id, uint64_t token,
                             uint64_t *rev) {
  int x = lkv__causal_index(m, id);
  if (x < 0) return LKV_ENOENT;
  if (m->removed[x]) return LKV_EMEMBERREMOVED;
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_MEMBER_REMOVE, .member = id};
  return lkv__causal_write(m, now, &mu, 1, &m->vv, token, rev);
}

int lkv_causal_member_is_removed(const lkv_causal_member_t *m, uint64_t id) {
  int x = lkv__causal_index(m, id);
  return x >= 0 && m->removed[x];
}

uint64_t lkv_causal_member_removal_cap(const lkv_causal_member_t *m, uint64_t id) {
  int x = lkv__causal_index(m, id);
  return x >= 0 && m->removed[x] ? m->cap[x] : UINT64_MAX;
}
