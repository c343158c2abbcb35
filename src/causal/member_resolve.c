/* The conflicts service's pieces of the member: a resolve's write (deps lowered below the siblings it
 * spares), and the vectors members reported. */
#include <stdlib.h>

#include "causal/member_internal.h"
#include "common/error.h"

static int named_has(const lkv_causal_event_id_t *named, size_t n, uint64_t origin, uint64_t seq) {
  for (size_t i = 0; i < n; i++)
    if (named[i].origin == origin && named[i].seq == seq) return 1;
  return 0;
}

/*
 * Why lowering deps[o] to s - 1 for an unnamed sibling (o, s) spares exactly it: a sibling is superseded by
 * a write whose deps cover it, and the key has at most one sibling per origin. Any other write of the key
 * from o that the lowered entry leaves out came after (o, s) and would have superseded it, so none is
 * here. Tombstones are not spared (below), so every write after a tombstone saw it, as the purge rule
 * assumes (a later write saw every stable tombstone of its key).
 */
int lkv_causal_member_resolve(lkv_causal_member_t *m, uint64_t now, const lkv_causal_mutation_t *mu,
                              const lkv_causal_event_id_t *named, size_t n_named, uint64_t token,
                              uint64_t *rev) {
  if (m->out) return LKV_EAGAIN;
  if (!mu->key_len) return LKV_EINVAL;
  for (size_t i = 0; i < n_named; i++)
    if (!lkv_causal_vv_covers(&m->vv, named[i].origin, named[i].seq)) return LKV_ENOENT;
  lkv_causal_vv_t deps = m->vv;
  const lkv_causal_key_t *k = lkv_causal_member_key(m, mu->key, mu->key_len);
  for (size_t i = 0; k && i < k->n; i++) {
    const lkv_causal_sibling_t *s = &k->sib[i];
    /* A tombstone is never spared: the purge of a sole tombstone (member_keys.c) relies on every write
     * after it having seen it, and another member may have purged this one already; a resolve concurrent
     * with it would leave it beside the resolve here and not there. */
    if (named_has(named, n_named, s->origin, s->seq) || s->tombstone) continue;
    if (s->origin == m->cfg.id) return LKV_EEXIST;
    if (lkv_causal_vv_set(&deps, s->origin, s->seq - 1)) abort(); /* lowers or removes: cannot fail */
  }
  return lkv__causal_write(m, now, mu, 1, &deps, token, rev);
}

const lkv_causal_vv_t *lkv_causal_member_report(const lkv_causal_member_t *m, uint64_t id) {
  int idx = lkv__causal_index(m, id);
  if (idx < 0) return NULL;
  return (size_t)idx == m->self ? &m->vv : &m->reports[idx];
}
