/* The corruption check's premise under every fault the simulator makes (docs/causal.md §6): two members hold
 * the same state of every key stable at their common vector on both, whatever each applied since. */

#include "csim.h"
#include "replication/causal_digest.h"

/* Every key of x with state (sole tombstones aside, as the digests leave them out) and not in skip holds the
 * same siblings on y. Returns how many were compared, or fails the run. */
static uint64_t same_on(lkv__csim_t *s, int ix, int iy, const lkv__causal_keyset_t *skip) {
  const lkv_causal_member_t *x = s->nodes[ix].m, *y = s->nodes[iy].m;
  uint64_t compared = 0;
  for (size_t i = 0; i < lkv_causal_member_n_keys(x) && !s->failed; i++) {
    const lkv_causal_key_t *k = lkv_causal_member_key_at(x, i);
    if (!k->n || lkv_causal_key_sole_tombstone(k) || lkv__causal_keyset_has(skip, k->key, k->key_len))
      continue;
    const lkv_causal_key_t *o = lkv_causal_member_key(y, k->key, k->key_len);
    if (!o || !o->n || lkv_causal_key_sole_tombstone(o) ||
        lkv__csim_key_hash(x, k, 0) != lkv__csim_key_hash(y, o, 0))
      lkv__csim_fail(s, "stable", "key %.*s, stable at m%d's common vector with m%d on both, differs",
                     (int)k->key_len, (const char *)k->key, ix + 1, iy + 1);
    compared++;
  }
  return compared;
}

/* Members i and j at C = i's vector lowered to j's last report to i, as i's check to j takes it. */
static void pair(lkv__csim_t *s, int i, int j) {
  const lkv_causal_member_t *a = s->nodes[i].m, *b = s->nodes[j].m;
  const lkv_causal_vv_t *own = lkv_causal_member_vv(a), *report = lkv_causal_member_report(a, s->peers[j].id);
  if (!lkv__causal_comparable(a, s->peers[i].id, s->peers[j].id) ||
      !lkv__causal_comparable(b, s->peers[j].id, s->peers[i].id))
    return;
  lkv_causal_vv_t c;
  lkv__causal_common(own, report, &c);
  lkv__causal_keyset_t ua = {0}, ub = {0}, skip = {0};
  /* Refused (b lost events C names in a crash, a snapshot installed): no comparison, as on a member. */
  if (!lkv__causal_unstable(a, &c, &ua) && !lkv__causal_unstable(b, &c, &ub) &&
      !lkv__causal_keyset_union(&skip, &ua, &ub))
    s->n_stable_compared += same_on(s, i, j, &skip) + same_on(s, j, i, &skip);
  lkv__causal_keyset_free(&ua);
  lkv__causal_keyset_free(&ub);
  lkv__causal_keyset_free(&skip);
}

void lkv__csim_check_stable(lkv__csim_t *s) {
  for (int i = 0; i < s->n; i++)
    for (int j = 0; j < s->n && !s->failed; j++)
      if (i != j && s->nodes[i].m && s->nodes[j].m && !s->nodes[i].gone && !s->nodes[j].gone) pair(s, i, j);
}
