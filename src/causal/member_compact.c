/* The member's compaction: stable events dropped from the log, the checkpoint that replaces them at a
 * restart (docs/causal.md §7). */
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/error.h"
#include "common/le.h"

/*
 * Checkpoint encoding (little-endian):
 *   "lkvcckp1", or "lkvcckp2" ‖ the added members (member_add.c's layout) when an add was applied ‖
 *   revision u64 ‖ base u64 ‖ vector ‖ vector of the events up to base (vv.h's encoding) ‖
 *   hlc.wall u64 ‖ hlc.logical u32 ‖ the keys with their views and local revisions ‖ the removals (both in
 *   member_codec.c's layouts, LKV__CAUSAL_LOCAL; the removals are absent in a checkpoint written before
 *   them: none)
 * Each event applied takes one revision and a snapshot installed one (member_snapshot.c) for all it brings,
 * so the events between base and the revision are as many as the revisions: restore checks that.
 */

static const uint8_t magic[8] = {'l', 'k', 'v', 'c', 'c', 'k', 'p', '1'};
#define MAGIC_ADDS '2' /* the last byte of the magic of a checkpoint with added members */

/* 1 when an add was applied here (the checkpoint carries the added members). */
static int any_added(const lkv_causal_member_t *m) {
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (m->added[i]) return 1;
  return 0;
}

uint64_t lkv_causal_member_first_rev(const lkv_causal_member_t *m) {
  return m->log_base + 1;
}

void lkv_causal_member_base_vv(const lkv_causal_member_t *m, lkv_causal_vv_t *out) {
  lkv_causal_vv_init(out);
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (lkv_causal_vv_set(out, m->members[i].id, m->pos_base[i])) abort(); /* members: room */
}

int lkv__causal_lacks_compacted(const lkv_causal_member_t *m, const lkv_causal_vv_t *vv) {
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (lkv_causal_vv_get(vv, m->members[i].id) < m->pos_base[i]) return 1;
  return 0;
}

int lkv_causal_member_needs_snapshot(const lkv_causal_member_t *m, uint64_t id) {
  int idx = lkv__causal_index(m, id);
  /* No report yet: unknown (an empty one is a member that has nothing: one just added). */
  if (idx < 0 || (size_t)idx == m->self || !m->reported[idx]) return 0;
  if (lkv__causal_lacks_compacted(m, &m->reports[idx])) return 1;
  /* An added member lacking a removed member's events: it may never verify them (it learns keys from
   * hellos, and a removed member sends none; a member added after the removal does not even know the
   * origin), so events would never bring them: a replacement (remove, then add) catches up by a snapshot. */
  if (!m->added[idx]) return 0;
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (m->removed[i] &&
        lkv_causal_vv_get(&m->reports[idx], m->members[i].id) < lkv_causal_vv_get(&m->vv, m->members[i].id))
      return 1;
  return 0;
}

/* 1 when member b, by its last report, may count members[i] differently from this member (an add or a
 * removal in flight): a removal its report does not cover, an add it may not have applied (its report names
 * no event of the added member: an event of it is applied only after its add, member_add.c). */
static int in_flight_for(const lkv_causal_member_t *m, size_t b, size_t i) {
  const lkv_causal_vv_t *r = &m->reports[b];
  if (m->removed[i]) return !lkv_causal_vv_covers(r, m->removal[i].origin, m->removal[i].seq);
  return i != b && m->added[i] && !lkv_causal_vv_get(r, m->members[i].id);
}

/* Whether silent members may be left behind (docs/causal.md §7). Two sides of a partition that each left
 * the other behind would each compact writes the other lacks, and neither could catch up from the other (a
 * snapshot needs a vector covering the receiver's): the members heard here (this one and those not silent)
 * and those a silent member hears must share a member still in, which holds what both compacted. A heard
 * member that leaves this one behind is that member itself. A silent member b leaves behind only with a
 * strict majority of the membership it counts, which may differ from this member's by the adds and
 * removals in flight (b's report does not show them applied), so the heard here must be a majority of this
 * member's membership and at least half of each membership b may count, never counting a removed member as
 * heard (it is going: it cannot be the member shared). The worst of those holds every removal in flight
 * and every add in flight whose member is not heard here. Without the second condition, an add and a
 * removal the silent m3 had not applied let {m1, m4} of {m1, m3, m4} leave m3 behind while m3 had left m1
 * behind with {m2, m3} of {m1, m2, m3}, and m2 was removed: no member still in held both (causal-sim seed
 * 3277). */
static int may_leave(const lkv_causal_member_t *m) {
  if (LKV__CAUSAL_BUG(m, LEAVE_WITHOUT_MAJORITY)) return 1;
  size_t in = 0, heard = 0;
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (i == m->self || !m->removed[i]) in++, heard += i == m->self || !m->silent[i];
  if (2 * heard <= in) return 0;
  for (size_t b = 0; b < m->cfg.n_members; b++) {
    if (b == m->self || m->removed[b] || !m->silent[b]) continue;
    size_t counted = 0; /* the worst membership b may count, and the heard here among it */
    heard = 0;
    for (size_t i = 0; i < m->cfg.n_members; i++) {
      int h = i == m->self || (!m->silent[i] && !m->removed[i]);
      if (!in_flight_for(m, b, i))
        counted += i == m->self || !m->removed[i], heard += h;
      else /* counted by b or not: the worse for this member (a removed one is never heard here) */
        counted += !h;
    }
    if (2 * heard < counted) return 0;
  }
  return 1;
}

uint64_t lkv_causal_member_stable(const lkv_causal_member_t *m) {
  if (LKV__CAUSAL_BUG(m, COMPACT_UNSTABLE)) return m->log_base + m->persisted;
  lkv_causal_vv_t all = m->vv; /* per origin, what every counted member's report covers */
  int settled = lkv__causal_removals_settled(m), leave = may_leave(m);
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    /* A member left behind (silent, or removed once no event of it can still arrive) gets what it lacks
     * that is compacted here by a snapshot (member_snapshot.c), not by events. */
    if (i == m->self || (m->silent[i] && leave) || (m->removed[i] && settled)) continue;
    for (size_t o = 0; o < m->cfg.n_members; o++) {
      uint64_t id = m->members[o].id, r = lkv_causal_vv_get(&m->reports[i], id);
      if (r < lkv_causal_vv_get(&all, id) && lkv_causal_vv_set(&all, id, r)) abort(); /* lowers */
    }
  }
  /* The first event not covered, per origin, bounds the stable prefix: O(origins), not the log's length
   * (a silent member keeps the log long, and this runs every round meanwhile). */
  uint64_t stable = m->log_base + m->log.n;
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    uint64_t s = lkv_causal_vv_get(&all, m->members[i].id) + 1;
    if (s > lkv_causal_vv_get(&m->vv, m->members[i].id)) continue; /* all of it covered */
    if (s <= m->pos_base[i]) return m->log_base;                   /* a report below the compaction */
    uint64_t rev = m->pos[i].v[s - 1 - m->pos_base[i]] + 1;
    if (rev - 1 < stable) stable = rev - 1;
  }
  return stable;
}

/* Events are durable and no batch is out: the state is what the durable log gives. */
int lkv__causal_quiet(const lkv_causal_member_t *m) {
  return !m->out && m->persisted == m->log.n;
}

/* The vector of the events of revisions up to base (base within the log). */
static lkv_causal_vv_t vv_upto(const lkv_causal_member_t *m, uint64_t base) {
  lkv_causal_vv_t v;
  lkv_causal_vv_init(&v);
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    size_t n = 0; /* the origin's events still logged at revisions up to base: a prefix of pos */
    while (n < m->pos[i].n && m->pos[i].v[n] < base) n++;
    if (lkv_causal_vv_set(&v, m->members[i].id, m->pos_base[i] + n)) abort(); /* members: room */
  }
  return v;
}

int lkv_causal_member_checkpoint(const lkv_causal_member_t *m, uint64_t base, uint8_t **out, size_t *len) {
  if (!lkv__causal_quiet(m)) return LKV_EAGAIN;
  uint64_t rev = lkv_causal_member_revision(m);
  if (base < m->log_base || base > rev) return LKV_EINVAL;
  lkv_causal_vv_t upto = vv_upto(m, base);
  size_t size = sizeof(magic) + 16 + lkv_causal_vv_encoded_size(&m->vv) + lkv_causal_vv_encoded_size(&upto) +
                12 + lkv__causal_keys_size(m, LKV__CAUSAL_LOCAL) + lkv__causal_removals_size(m);
  int adds = any_added(m);
  if (adds) size += lkv__causal_members_size(m, 0);
  uint8_t *p = malloc(size);
  if (!p) abort();
  *out = p, *len = size;
  memcpy(p, magic, sizeof(magic)), p += sizeof(magic);
  if (adds) p[-1] = MAGIC_ADDS, p = lkv__causal_members_put(m, p, 0);
  lkv_le64_put(p, rev), lkv_le64_put(p + 8, base), p += 16;
  lkv_causal_vv_encode(&m->vv, p), p += lkv_causal_vv_encoded_size(&m->vv);
  lkv_causal_vv_encode(&upto, p), p += lkv_causal_vv_encoded_size(&upto);
  lkv_le64_put(p, m->clock.wall), lkv_le32_put(p + 8, m->clock.logical), p += 12;
  p = lkv__causal_keys_put(m, p, LKV__CAUSAL_LOCAL);
  lkv__causal_removals_put(m, p);
  return 0;
}

int lkv_causal_member_compact(lkv_causal_member_t *m, uint64_t base) {
  if (!lkv__causal_quiet(m)) return LKV_EAGAIN;
  if (base < m->log_base || base > lkv_causal_member_stable(m)) return LKV_EINVAL;
  size_t drop = (size_t)(base - m->log_base);
  for (size_t i = 0; i < drop; i++) {
    int idx = lkv__causal_index(m, m->log.v[i].ev.origin);
    m->pos_base[idx]++; /* an origin's events leave its positions from the front, in order */
    free(m->log.v[i].bytes);
  }
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    size_t n = 0;
    while (n < m->pos[i].n && m->pos[i].v[n] < base) n++;
    if (n) memmove(m->pos[i].v, m->pos[i].v + n, (m->pos[i].n - n) * sizeof(m->pos[i].v[0]));
    m->pos[i].n -= n;
  }
  if (drop) memmove(m->log.v, m->log.v + drop, (m->log.n - drop) * sizeof(m->log.v[0]));
  m->log.n -= drop;
  m->persisted -= drop;
  m->log_base = base;
  return 0;
}

/* ---- restore */

static uint64_t vv_sum(const lkv_causal_vv_t *v) {
  uint64_t t = 0;
  for (uint32_t i = 0; i < v->n; i++) t += v->e[i].seq;
  return t;
}

/* The checkpoint after its magic and added members. */
static int restore_state(lkv_causal_member_t *m, lkv__causal_reader_t *rd, uint64_t *rev, uint64_t *base) {
  lkv__causal_reader_t r = *rd;
  uint64_t c = lkv__causal_take64(&r), b = lkv__causal_take64(&r);
  lkv_causal_vv_t vv, upto;
  lkv__causal_take_vv(&r, &vv);
  lkv__causal_take_vv(&r, &upto);
  lkv_causal_hlc_t clock = {.wall = lkv__causal_take64(&r), .logical = lkv__causal_take32(&r)};
  if (r.bad || b > c || !lkv_causal_vv_leq(&upto, &vv) || vv_sum(&upto) < b ||
      vv_sum(&vv) - vv_sum(&upto) != c - b)
    return LKV_EBADMSG;
  for (uint32_t i = 0; i < vv.n; i++)
    if (lkv__causal_index(m, vv.e[i].origin) < 0) return LKV_EBADMSG;
  lkv__causal_keys_take(&r, &m->keys, &vv, c, LKV__CAUSAL_LOCAL);
  lkv__causal_removal_t rm[LKV_CAUSAL_MAX_ORIGINS];
  size_t n_removed = r.p == r.end ? 0 : lkv__causal_removals_take(&r, m, rm);
  if (r.bad || r.p != r.end) {
    lkv__causal_keys_free(&m->keys); /* back to a new member */
    return LKV_EBADMSG;
  }
  for (size_t i = 0; i < n_removed; i++) {
    int x = lkv__causal_index(m, rm[i].id);
    m->removed[x] = 1, m->cap[x] = rm[i].cap, m->removal[x] = rm[i].removal;
  }
  m->vv = vv;
  m->clock = clock;
  m->log_base = b;
  for (size_t i = 0; i < m->cfg.n_members; i++) m->pos_base[i] = lkv_causal_vv_get(&upto, m->members[i].id);
  m->restored = c;
  *rev = c, *base = b;
  return 0;
}

int lkv_causal_member_restore(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev,
                              uint64_t *base) {
  if (m->started || m->out || m->log.n || m->restored || m->keys.n) return LKV_EAGAIN;
  lkv__causal_reader_t r = {.p = buf, .end = buf + len};
  const uint8_t *mg = lkv__causal_take(&r, sizeof(magic));
  if (!mg || memcmp(mg, magic, sizeof(magic) - 1) || (mg[7] != magic[7] && mg[7] != MAGIC_ADDS))
    return LKV_EBADMSG;
  uint32_t marked = 0;
  size_t before = mg[7] == MAGIC_ADDS
                      ? lkv__causal_members_take(&r, m, &marked) /* first: vectors name them */
                      : m->cfg.n_members;
  int rc = restore_state(m, &r, rev, base);
  if (rc) lkv__causal_members_undo(m, before, marked);
  return rc;
}

int lkv__causal_replay_held(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev) {
  lkv_causal_event_t ev;
  if (lkv__causal_decode_checked(m, buf, len, &ev)) return LKV_EBADMSG;
  int idx = lkv__causal_index(m, ev.origin);
  if (ev.seq != m->pos_base[idx] + m->pos[idx].n + 1 || !lkv_causal_vv_covers(&m->vv, ev.origin, ev.seq))
    return LKV_EBADMSG;
  *LKV__CAUSAL_PUSH(m->log) = lkv__causal_copy_held(buf, len, &ev);
  *rev = m->log_base + m->log.n;
  *LKV__CAUSAL_PUSH(m->pos[idx]) = *rev - 1;
  m->persisted = m->log.n;
  return 0;
}
