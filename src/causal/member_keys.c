/* The member's keys: a table sorted by name, write sets applied to it, the winner, tombstone purging. */
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/error.h"

int lkv__causal_name_cmp(const lkv_causal_key_t *k, const uint8_t *key, size_t len) {
  size_t n = k->key_len < len ? k->key_len : len;
  int c = n ? memcmp(k->key, key, n) : 0;
  if (c) return c;
  return k->key_len < len ? -1 : k->key_len > len;
}

/* The table index of (key, len), or where it would go (*found says which). */
static size_t locate(const lkv_causal_member_t *m, const uint8_t *key, size_t len, int *found) {
  size_t lo = 0, hi = m->keys.n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (lkv__causal_name_cmp(m->keys.v[mid], key, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < m->keys.n && lkv__causal_name_cmp(m->keys.v[lo], key, len) == 0;
  return lo;
}

lkv_causal_key_t *lkv__causal_key_get(lkv_causal_member_t *m, const uint8_t *key, size_t len, int create) {
  int found;
  size_t i = locate(m, key, len, &found);
  if (found) return m->keys.v[i];
  if (!create) return NULL;
  lkv_causal_key_t *k = malloc(sizeof(*k));
  if (!k || lkv_causal_key_init(k, key, len)) abort();
  LKV__CAUSAL_PUSH(m->keys);
  memmove(&m->keys.v[i + 1], &m->keys.v[i], (m->keys.n - 1 - i) * sizeof(m->keys.v[0]));
  m->keys.v[i] = k;
  return k;
}

void lkv__causal_keys_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev, uint64_t rev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort(); /* checked on arrival */
  while (lkv_causal_mutations_next(&it, &mu)) {
    if (mu.kind != LKV_CAUSAL_PUT && mu.kind != LKV_CAUSAL_DEL) continue; /* leases: the caller's table */
    lkv_causal_write_t w = {.origin = ev->origin,
                            .seq = ev->seq,
                            .hlc = ev->hlc,
                            .deps = &ev->deps,
                            .tombstone = mu.kind == LKV_CAUSAL_DEL,
                            .value = mu.value,
                            .value_len = mu.value_len,
                            .lease = mu.lease,
                            .rev = rev};
    lkv_causal_key_t *k = lkv__causal_key_get(m, mu.key, mu.key_len, 1);
#ifdef LKV_CAUSAL_TESTING
    if (ev->origin == m->cfg.id) lkv__causal_cache_drop(m, k); /* READ_CACHE: remote events keep it */
#endif
    uint64_t view[3] = {k->create_rev, k->mod_rev, k->version};
    if (lkv_causal_key_apply(k, &w)) abort();
    if (m->cfg.on_change) {
      const lkv_causal_sibling_t *win = lkv_causal_key_winner(k);
      int won = win && win->origin == ev->origin && win->seq == ev->seq; /* also a key written twice */
      if (won || view[0] != k->create_rev || view[1] != k->mod_rev || view[2] != k->version)
        m->cfg.on_change(m->cfg.change_arg, rev, k);
    }
    if (m->cfg.on_write) m->cfg.on_write(m->cfg.change_arg, rev, k);
  }
}

#ifdef LKV_CAUSAL_TESTING
void lkv__causal_cache_drop(lkv_causal_member_t *m, const lkv_causal_key_t *k) {
  if (!m->cache) return;
  size_t kept = 0;
  for (size_t i = 0; i < m->cache->n; i++) {
    if (!k || m->cache->v[i].k == k)
      free(m->cache->v[i].w.value);
    else
      m->cache->v[kept++] = m->cache->v[i];
  }
  m->cache->n = kept;
}

/* The READ_CACHE bug's winner: the cached copy, else the winner now, cached (valid until the next read). */
static const lkv_causal_sibling_t *cached_winner(const lkv_causal_member_t *m, const lkv_causal_key_t *k) {
  for (size_t i = 0; i < m->cache->n; i++)
    if (m->cache->v[i].k == k) return &m->cache->v[i].w;
  const lkv_causal_sibling_t *w = lkv_causal_key_winner(k);
  if (!w) return NULL;
  lkv__causal_cached_t *c = LKV__CAUSAL_PUSH(*m->cache);
  *c = (lkv__causal_cached_t){.k = k, .w = *w};
  if (w->value_len && !(c->w.value = malloc(w->value_len))) abort();
  if (w->value_len) memcpy(c->w.value, w->value, w->value_len);
  return &c->w;
}
#endif

const lkv_causal_sibling_t *lkv_causal_member_winner(const lkv_causal_member_t *m,
                                                     const lkv_causal_key_t *k) {
#ifdef LKV_CAUSAL_TESTING
  if (LKV__CAUSAL_BUG(m, READ_CACHE)) return cached_winner(m, k);
#endif
  if (!LKV__CAUSAL_BUG(m, WINNER_NOT_TOTAL)) return lkv_causal_key_winner(k);
  const lkv_causal_sibling_t *w = NULL;
  for (size_t i = 0; i < k->n; i++)
    if (!w || k->sib[i].hlc.wall > w->hlc.wall) w = &k->sib[i];
  return w;
}

/* A sole tombstone t is stable here when every other member reported a vector covering t and this member
 * applied every event that member had originated by then: a write concurrent with t was made before its
 * origin applied t, so it is among those and already here; every later write saw t. */
static int stable(const lkv_causal_member_t *m, const lkv_causal_sibling_t *t) {
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    if (i == m->self || m->removed[i]) continue; /* its removal covers its part (member_remove.c) */
    const lkv_causal_vv_t *r = &m->reports[i];
    uint64_t id = m->members[i].id;
    if (!lkv_causal_vv_covers(r, t->origin, t->seq) ||
        (!LKV__CAUSAL_BUG(m, PURGE_COVERED_ONLY) && lkv_causal_vv_get(&m->vv, id) < lkv_causal_vv_get(r, id)))
      return 0;
  }
  return lkv__causal_removals_settled(m);
}

void lkv__causal_keys_purge(lkv_causal_member_t *m) {
  size_t kept = 0;
  for (size_t i = 0; i < m->keys.n; i++) {
    lkv_causal_key_t *k = m->keys.v[i];
    if (lkv_causal_key_sole_tombstone(k) && (LKV__CAUSAL_BUG(m, PURGE_UNSTABLE) || stable(m, &k->sib[0]))) {
      lkv_causal_key_free(k);
      free(k);
      continue;
    }
    m->keys.v[kept++] = k;
  }
  m->keys.n = kept;
}

const lkv_causal_key_t *lkv_causal_member_key(const lkv_causal_member_t *m, const uint8_t *key, size_t len) {
  int found;
  size_t i = locate(m, key, len, &found);
  return found ? m->keys.v[i] : NULL;
}

size_t lkv_causal_member_n_keys(const lkv_causal_member_t *m) {
  return m->keys.n;
}

const lkv_causal_key_t *lkv_causal_member_key_at(const lkv_causal_member_t *m, size_t i) {
  return i < m->keys.n ? m->keys.v[i] : NULL;
}
