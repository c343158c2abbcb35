/* The causal simulator's checks after quiescence: agreement, no lost acknowledged write, gap-free revisions,
 * replay equal to the live state, and the same state from another causal order of the same events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "csim.h"

/* 1 when member i is out of the final checks: it learned of its removal and stopped. */
static int gone(const lkv__csim_t *s, int i) {
  return s->nodes[i].gone;
}

int lkv__csim_agreed(const lkv__csim_t *s) {
  for (int i = 0; i < s->n; i++) {
    const lkv_causal_member_t *m = s->nodes[i].m;
    if (gone(s, i)) continue;
    /* a member removed must learn so and stop (member 1 is never removed) */
    if (!m || lkv_causal_member_held(m) ||
        (s->nodes[0].m && lkv_causal_member_is_removed(s->nodes[0].m, s->peers[i].id)))
      return 0;
    if (lkv_causal_vv_compare(lkv_causal_member_vv(m), lkv_causal_member_vv(s->nodes[0].m)) !=
        LKV_CAUSAL_EQUAL)
      return 0;
  }
  return 1;
}

#define SKIP_SOLE_TOMBSTONES 1 /* a sole tombstone means what an absent key means (purging is local) */
#define WITH_VIEW 2            /* the local etcd view too (create/mod revision, version) */

static int sib_order(const void *a, const void *b) {
  const lkv_causal_sibling_t *x = *(const lkv_causal_sibling_t *const *)a,
                             *y = *(const lkv_causal_sibling_t *const *)b;
  if (x->origin != y->origin) return x->origin < y->origin ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A key's state as one hash: winner, siblings in (origin, seq) order with values, and the view if asked. */
uint64_t lkv__csim_key_hash(const lkv_causal_member_t *m, const lkv_causal_key_t *k, int flags) {
  const lkv_causal_sibling_t *sorted[64];
  size_t n = k->n < 64 ? k->n : 64;
  for (size_t i = 0; i < n; i++) sorted[i] = &k->sib[i];
  qsort(sorted, n, sizeof(sorted[0]), sib_order);
  const lkv_causal_sibling_t *w = lkv_causal_member_winner(m, k);
  uint64_t h = lkv__sim_mix(lkv__sim_hash_bytes(k->key, k->key_len), k->n);
  h = lkv__sim_mix(lkv__sim_mix(h, w ? w->origin : 0), w ? w->seq : 0);
  for (size_t i = 0; i < n; i++) {
    h = lkv__sim_mix(lkv__sim_mix(h, sorted[i]->origin), sorted[i]->seq);
    h = lkv__sim_mix(h,
                     sorted[i]->tombstone ? 1 : lkv__sim_hash_bytes(sorted[i]->value, sorted[i]->value_len));
  }
  if (flags & WITH_VIEW)
    h = lkv__sim_mix(lkv__sim_mix(lkv__sim_mix(h, k->create_rev), k->mod_rev), k->version);
  return h;
}

static int skipped(const lkv_causal_key_t *k, int flags) {
  return (flags & SKIP_SOLE_TOMBSTONES) && lkv_causal_key_sole_tombstone(k);
}

/* The next key of m at or after *i that is not skipped, or NULL. */
static const lkv_causal_key_t *next_key(const lkv_causal_member_t *m, size_t *i, int flags) {
  for (; *i < lkv_causal_member_n_keys(m); (*i)++)
    if (!skipped(lkv_causal_member_key_at(m, *i), flags)) return lkv_causal_member_key_at(m, *i);
  return NULL;
}

static void describe(const lkv_causal_member_t *m, const lkv_causal_key_t *k, char *out, size_t cap) {
  if (!k) {
    snprintf(out, cap, "absent");
    return;
  }
  const lkv_causal_sibling_t *w = lkv_causal_member_winner(m, k);
  snprintf(out, cap, "%zu siblings, winner %llu:%llu%s, view %llu/%llu/%llu", k->n,
           (unsigned long long)(w ? w->origin : 0), (unsigned long long)(w ? w->seq : 0),
           w && w->tombstone ? " (tombstone)" : "", (unsigned long long)k->create_rev,
           (unsigned long long)k->mod_rev, (unsigned long long)k->version);
}

/* Compares two members' keys; on a difference fails with inv, naming the first key that differs. */
static void compare(lkv__csim_t *s, const char *inv, const char *what, const lkv_causal_member_t *a,
                    const lkv_causal_member_t *b, int flags) {
  size_t i = 0, j = 0;
  for (;; i++, j++) {
    const lkv_causal_key_t *ka = next_key(a, &i, flags), *kb = next_key(b, &j, flags);
    if (!ka && !kb) return;
    int same = ka && kb && ka->key_len == kb->key_len && memcmp(ka->key, kb->key, ka->key_len) == 0 &&
               lkv__csim_key_hash(a, ka, flags) == lkv__csim_key_hash(b, kb, flags);
    if (same) continue;
    const lkv_causal_key_t *named = ka ? ka : kb;
    char da[160], db[160];
    describe(a, ka, da, sizeof(da));
    describe(b, kb, db, sizeof(db));
    lkv__csim_fail(s, inv, "%s: key %.*s: %s vs %s", what, (int)named->key_len, (const char *)named->key, da,
                   db);
    return;
  }
}

static int index_of(const lkv__csim_t *s, uint64_t id) {
  for (int i = 0; i < s->n; i++)
    if (s->peers[i].id == id) return i;
  return -1;
}

/* The durable event (origin, seq) as its origin made it, decoded; 0 when there is none. */
static int event_of(const lkv__csim_t *s, uint64_t origin, uint64_t seq, lkv_causal_event_t *ev) {
  int i = index_of(s, origin);
  if (i < 0 || seq == 0 || seq > s->origin_log[i].n) return 0;
  const lkv__csim_rec_t *r = &s->origin_log[i].v[seq - 1];
  return lkv_causal_event_decode(r->bytes, r->len, ev) == 0;
}

/* 1 when event (origin, seq) deletes key (k, len). */
static int deletes(const lkv_causal_event_t *ev, const uint8_t *k, size_t len) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) return 0;
  while (lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_DEL && mu.key_len == len && memcmp(mu.key, k, len) == 0) return 1;
  return 0;
}

/* An acknowledged write of key `mu` by event (origin, seq) is kept: it is a sibling, a sibling's write saw
 * it, or the key is gone and a delete of it that saw it (or is it) was applied. */
static int kept(const lkv__csim_t *s, const lkv_causal_member_t *m, uint64_t origin, uint64_t seq,
                const lkv_causal_mutation_t *mu) {
  const lkv_causal_key_t *k = lkv_causal_member_key(m, mu->key, mu->key_len);
  lkv_causal_event_t ev;
  for (size_t i = 0; k && i < k->n; i++) {
    if (k->sib[i].origin == origin && k->sib[i].seq == seq) return 1;
    if (event_of(s, k->sib[i].origin, k->sib[i].seq, &ev) && lkv_causal_vv_covers(&ev.deps, origin, seq))
      return 1;
  }
  if (k && k->n) return 0;
  for (int o = 0; o < s->n; o++)
    for (uint64_t q = 1;
         q <= s->origin_log[o].n && q <= lkv_causal_vv_get(lkv_causal_member_vv(m), s->peers[o].id); q++) {
      if (!event_of(s, s->peers[o].id, q, &ev) || !deletes(&ev, mu->key, mu->key_len)) continue;
      if ((ev.origin == origin && ev.seq == seq) || lkv_causal_vv_covers(&ev.deps, origin, seq)) return 1;
    }
  return 0;
}

static void check_acked(lkv__csim_t *s) {
  const lkv_causal_member_t *m = s->nodes[0].m;
  for (size_t a = 0; a < s->n_acks && !s->failed; a++) {
    lkv_causal_event_t ev;
    /* A removed member's writes above the prefix every member took (removed_prefix) are refused
     * everywhere: acknowledged by it alone, as etcd's removed member's; exactly those are exempt. */
    if (lkv_causal_member_is_removed(m, s->acks[a].origin) &&
        s->acks[a].seq > lkv_causal_vv_get(lkv_causal_member_vv(m), s->acks[a].origin))
      continue;
    if (!event_of(s, s->acks[a].origin, s->acks[a].seq, &ev)) {
      lkv__csim_fail(s, "lost-write", "acknowledged event %llu:%llu is not durable at its origin",
                     (unsigned long long)s->acks[a].origin, (unsigned long long)s->acks[a].seq);
      return;
    }
    lkv_causal_mutation_iter_t it;
    lkv_causal_mutation_t mu;
    if (lkv_causal_mutations_open(ev.payload, ev.payload_len, &it)) abort();
    while (lkv_causal_mutations_next(&it, &mu))
      if (!kept(s, m, ev.origin, ev.seq, &mu)) {
        char d[160];
        describe(m, lkv_causal_member_key(m, mu.key, mu.key_len), d, sizeof(d));
        lkv__csim_fail(s, "lost-write",
                       "acknowledged %s %.*s by %llu:%llu is neither winner, sibling nor "
                       "superseded by a write that saw it (%s)",
                       mu.kind == LKV_CAUSAL_PUT ? "put" : "delete", (int)mu.key_len, (const char *)mu.key,
                       (unsigned long long)ev.origin, (unsigned long long)ev.seq, d);
        return;
      }
  }
}

/* A fresh member of slot i: restarted from its durable checkpoint and log (order NULL), or fed log's events
 * in the given order (indexes into log); NULL after a failure. */
static lkv_causal_member_t *rebuild(lkv__csim_t *s, int i, const lkv__csim_log_t *log, const size_t *order,
                                    lkv__csim_changes_t *changes) {
  lkv_causal_config_t cfg = lkv__csim_config(s, i);
  if (changes) {
    cfg.on_change = lkv__csim_on_change;
    cfg.change_arg = changes;
  }
  lkv_causal_member_t *m;
  if (lkv_causal_member_new(&cfg, &m)) abort();
  if (!order) {
    if (!lkv__csim_recover(s, i, m, "rebuilt")) return m;
    lkv_causal_member_free(m);
    return NULL;
  }
  for (size_t j = 0; j < log->n; j++) {
    const lkv__csim_rec_t *r = &log->v[order[j]];
    uint64_t rev;
    int rc = lkv_causal_member_replay(m, r->bytes, r->len, &rev);
    if (rc || rev != j + 1) {
      lkv__csim_fail(s, "replay", "m%d: event %zu of a rebuild: %s", i + 1, j + 1, lkv_err_name(rc));
      lkv_causal_member_free(m);
      return NULL;
    }
  }
  return m;
}

/* 1 when ev adds member id (docs/causal.md §15b). */
static int adds(const lkv_causal_event_t *ev, uint64_t id) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort(); /* the members took it */
  while (lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_MEMBER_ADD && mu.member == id) return 1;
  return 0;
}

/* A random causal order of log's events, rebuilt on member 1: at each step any event whose deps are all
 * placed and whose origin member 1 knows. An added member's events need its add first, which their deps need
 * not name (a resolve's deps are lowered below the siblings it spares: docs/causal.md §13); a member
 * refuses them until then as an unknown origin (§15b). */
static size_t *causal_order(lkv__csim_t *s, const lkv__csim_log_t *log, lkv__sim_rng_t *g) {
  uint64_t joiner = s->joiner ? s->peers[s->joiner].id : 0; /* 0: every origin is known from the start */
  size_t *order = malloc((log->n ? log->n : 1) * sizeof(*order)),
         *ready = malloc((log->n ? log->n : 1) * sizeof(*ready));
  uint8_t *placed = calloc(log->n ? log->n : 1, 1);
  if (!order || !ready || !placed) abort();
  lkv_causal_vv_t have;
  lkv_causal_vv_init(&have);
  for (size_t k = 0; k < log->n; k++) {
    size_t nr = 0;
    for (size_t j = 0; j < log->n; j++) {
      lkv_causal_event_t ev;
      if (placed[j] || lkv_causal_event_decode(log->v[j].bytes, log->v[j].len, &ev)) continue;
      if ((!joiner || ev.origin != joiner) && lkv_causal_pending_is_ready(&ev, &have)) ready[nr++] = j;
    }
    if (!nr) {
      lkv__csim_fail(s, "causal-order", "no event of the log is ready after %zu of %zu", k, log->n);
      break;
    }
    size_t pick = ready[lkv__sim_rng_below(g, nr)];
    lkv_causal_event_t ev;
    if (lkv_causal_event_decode(log->v[pick].bytes, log->v[pick].len, &ev) ||
        lkv_causal_vv_set(&have, ev.origin, ev.seq))
      abort();
    if (joiner && adds(&ev, joiner)) joiner = 0;
    placed[pick] = 1;
    order[k] = pick;
  }
  free(ready);
  free(placed);
  return order;
}

/* A removed member's events: every member took the same prefix of them (convergence checks that), exactly
 * the prefix its cap says, and no event some member applied only after it had applied a removal of it: the
 * prefix is at most the greatest any member's durable log holds before its first removal of it. */
static void check_removed(lkv__csim_t *s) {
  const lkv_causal_member_t *first = s->nodes[0].m;
  for (int x = 0; x < s->n && !s->failed; x++) {
    uint64_t id = s->peers[x].id, bound = 0;
    if (!lkv_causal_member_is_removed(first, id)) continue;
    for (int i = 0; i < s->n; i++)
      if (i != x && s->nodes[i].pre_removal[x] > bound) bound = s->nodes[i].pre_removal[x];
    for (int i = 0; i < s->n && !s->failed; i++) {
      if (gone(s, i)) continue;
      uint64_t have = lkv_causal_vv_get(lkv_causal_member_vv(s->nodes[i].m), id);
      uint64_t cap = lkv_causal_member_removal_cap(s->nodes[i].m, id);
      if (have > bound || have != cap)
        lkv__csim_fail(s, "removed-prefix",
                       "m%d holds removed m%d's events up to %llu (its cap %llu); no member had applied more "
                       "than %llu before a removal of it",
                       i + 1, x + 1, (unsigned long long)have, (unsigned long long)cap,
                       (unsigned long long)bound);
    }
  }
}

/* No member still in ever stops: each member that stopped (on a refusal or its own removal) is removed on
 * the members still in (member 1, never removed, stands for them: they converged). */
static void check_stopped(lkv__csim_t *s) {
  for (int i = 0; i < s->n && !s->failed; i++)
    if (gone(s, i) && !lkv_causal_member_is_removed(s->nodes[0].m, s->peers[i].id))
      lkv__csim_fail(s, "stopped", "m%d stopped, but the members still in did not remove it", i + 1);
}

void lkv__csim_check_final(lkv__csim_t *s) {
  const lkv_causal_member_t *first = s->nodes[0].m;
  check_stopped(s);
  /* Identical winners and sibling sets everywhere (purges included: every member heard every vector). */
  for (int i = 1; i < s->n && !s->failed; i++)
    if (!gone(s, i)) compare(s, "convergence", "members differ", first, s->nodes[i].m, 0);
  if (!s->failed) check_removed(s);
  /* Gap-free local revisions: each applied event once, all durable, revision = log length; the vector
   * holds as many events more as the installs brought beyond their one revision each (lead). */
  for (int i = 0; i < s->n && !s->failed; i++) {
    if (gone(s, i)) continue;
    const lkv_causal_vv_t *vv = lkv_causal_member_vv(s->nodes[i].m);
    uint64_t total = 0;
    for (uint32_t e = 0; e < vv->n; e++) total += vv->e[e].seq;
    uint64_t durable = s->nodes[i].log_base + s->nodes[i].log.n;
    if (lkv_causal_member_revision(s->nodes[i].m) != durable || total != durable + s->nodes[i].lead)
      lkv__csim_fail(
          s, "revisions", "m%d: revision %llu, %llu durable, %llu events in its vector (%llu by installs)",
          i + 1, (unsigned long long)lkv_causal_member_revision(s->nodes[i].m), (unsigned long long)durable,
          (unsigned long long)total, (unsigned long long)s->nodes[i].lead);
    else
      lkv__csim_watch_state(s, i, "at the end");
  }
  if (!s->failed) check_acked(s);
  /* The durable log replayed in its order gives the live state, local view included, and reports the
   * changes a watch from revision 1 saw live. */
  for (int i = 0; i < s->n && !s->failed; i++) {
    if (gone(s, i)) continue;
    lkv__csim_changes_t changes = {0};
    lkv_causal_member_t *m = rebuild(s, i, &s->nodes[i].log, NULL, &changes);
    if (m) compare(s, "replay", "replayed log differs", s->nodes[i].m, m, SKIP_SOLE_TOMBSTONES | WITH_VIEW);
    if (m && !s->failed) lkv__csim_watch_replayed(s, i, &changes, "at the end");
    lkv_causal_member_free(m);
    lkv__csim_changes_free(&changes);
  }
  /* The same events (every origin's durable ones: what the members agreed on, compacted or not) in another
   * causal order give the same winners and siblings. */
  lkv__csim_log_t all = {0};
  for (int o = 0; o < s->n; o++)
    for (size_t q = 0; q < s->origin_log[o].n; q++) { /* borrowed records: all.v only is freed */
      if (q + 1 > lkv_causal_vv_get(lkv_causal_member_vv(first), s->peers[o].id))
        break; /* a removed member's events refused everywhere (docs/causal.md §15a) */
      if (all.n == all.cap &&
          !(all.v = realloc(all.v, (all.cap = all.cap ? 2 * all.cap : 64) * sizeof(*all.v))))
        abort();
      all.v[all.n++] = s->origin_log[o].v[q];
    }
  lkv__sim_rng_t g;
  lkv__sim_rng_seed(&g, lkv__sim_mix(s->seed, 0x6f72646572ull));
  for (int round = 0; round < 2 && !s->failed; round++) {
    size_t *order = causal_order(s, &all, &g);
    lkv_causal_member_t *m = s->failed ? NULL : rebuild(s, 0, &all, order, NULL);
    if (m) compare(s, "causal-order", "another causal order differs", first, m, SKIP_SOLE_TOMBSTONES);
    lkv_causal_member_free(m);
    free(order);
  }
  free(all.v);
}
