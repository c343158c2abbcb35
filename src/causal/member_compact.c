/* The member's compaction: stable events dropped from the log, the checkpoint that replaces them at a
 * restart (docs/causal.md §7). */
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/error.h"
#include "common/le.h"

/*
 * Checkpoint encoding (little-endian):
 *   "lkvcckp1" ‖ revision u64 ‖ base u64 ‖ vector ‖ vector of the events up to base (vv.h's encoding) ‖
 *   hlc.wall u64 ‖ hlc.logical u32 ‖ n_keys u32 ‖ n_keys × key, in byte order of their names, a key being
 *     key_len u32 ‖ key ‖ create_rev u64 ‖ mod_rev u64 ‖ version u64 ‖ n u32 ‖ n × sibling, a sibling
 *       origin u64 ‖ seq u64 ‖ hlc.wall u64 ‖ hlc.logical u32 ‖ tombstone u8 ‖ lease i64 ‖ rev u64 ‖
 *       value_len u32 ‖ value ‖
 *   n_removed u32 ‖ n_removed × (member id u64 ‖ cap u64 ‖ removal origin u64 ‖ removal seq u64), the
 *     members removed (member_remove.c; absent in a checkpoint written before removals: none)
 * The revision is the sum of the vector's sequences (each applied event took one), the base that of the
 * second vector: restore checks both.
 */

static const uint8_t magic[8] = {'l', 'k', 'v', 'c', 'c', 'k', 'p', '1'};

#define SIB_FIXED (8 + 8 + 8 + 4 + 1 + 8 + 8 + 4)
#define KEY_FIXED (4 + 8 + 8 + 8 + 4)

uint64_t lkv_causal_member_first_rev(const lkv_causal_member_t *m) {
  return m->log_base + 1;
}

void lkv_causal_member_base_vv(const lkv_causal_member_t *m, lkv_causal_vv_t *out) {
  lkv_causal_vv_init(out);
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (lkv_causal_vv_set(out, m->members[i].id, m->pos_base[i])) abort(); /* members: room */
}

int lkv_causal_member_needs_snapshot(const lkv_causal_member_t *m, uint64_t id) {
  int idx = lkv__causal_index(m, id);
  if (idx < 0 || (size_t)idx == m->self || !m->reports[idx].n) return 0; /* no report yet: unknown */
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (lkv_causal_vv_get(&m->reports[idx], m->members[i].id) < m->pos_base[i]) return 1;
  return 0;
}

uint64_t lkv_causal_member_stable(const lkv_causal_member_t *m) {
  if (LKV__CAUSAL_BUG(m, COMPACT_UNSTABLE)) return m->log_base + m->persisted;
  lkv_causal_vv_t all = m->vv; /* per origin, what every member's report covers */
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    if (i == m->self) continue; /* a removed member too: it gets its removal by anti-entropy */
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
static int quiet(const lkv_causal_member_t *m) {
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

static size_t sib_size(const lkv_causal_sibling_t *s) {
  return SIB_FIXED + s->value_len;
}

int lkv_causal_member_checkpoint(const lkv_causal_member_t *m, uint64_t base, uint8_t **out, size_t *len) {
  if (!quiet(m)) return LKV_EAGAIN;
  uint64_t rev = lkv_causal_member_revision(m);
  if (base < m->log_base || base > rev) return LKV_EINVAL;
  lkv_causal_vv_t upto = vv_upto(m, base);
  size_t size =
      sizeof(magic) + 16 + lkv_causal_vv_encoded_size(&m->vv) + lkv_causal_vv_encoded_size(&upto) + 12 + 4;
  for (size_t i = 0; i < m->keys.n; i++) {
    const lkv_causal_key_t *k = m->keys.v[i];
    size += KEY_FIXED + k->key_len;
    for (size_t j = 0; j < k->n; j++) size += sib_size(&k->sib[j]);
  }
  size += 4 + lkv__causal_removals_count(m) * 32;
  uint8_t *p = malloc(size);
  if (!p) abort();
  *out = p, *len = size;
  memcpy(p, magic, sizeof(magic)), p += sizeof(magic);
  lkv_le64_put(p, rev), lkv_le64_put(p + 8, base), p += 16;
  lkv_causal_vv_encode(&m->vv, p), p += lkv_causal_vv_encoded_size(&m->vv);
  lkv_causal_vv_encode(&upto, p), p += lkv_causal_vv_encoded_size(&upto);
  lkv_le64_put(p, m->clock.wall), lkv_le32_put(p + 8, m->clock.logical), p += 12;
  lkv_le32_put(p, (uint32_t)m->keys.n), p += 4;
  for (size_t i = 0; i < m->keys.n; i++) {
    const lkv_causal_key_t *k = m->keys.v[i];
    lkv_le32_put(p, (uint32_t)k->key_len), p += 4;
    memcpy(p, k->key, k->key_len), p += k->key_len;
    lkv_le64_put(p, k->create_rev), lkv_le64_put(p + 8, k->mod_rev), lkv_le64_put(p + 16, k->version);
    lkv_le32_put(p + 24, (uint32_t)k->n), p += 28;
    for (size_t j = 0; j < k->n; j++) {
      const lkv_causal_sibling_t *s = &k->sib[j];
      lkv_le64_put(p, s->origin), lkv_le64_put(p + 8, s->seq), lkv_le64_put(p + 16, s->hlc.wall);
      lkv_le32_put(p + 24, s->hlc.logical);
      p[28] = (uint8_t)(s->tombstone != 0);
      lkv_le64_put(p + 29, (uint64_t)s->lease), lkv_le64_put(p + 37, s->rev);
      lkv_le32_put(p + 45, (uint32_t)s->value_len), p += SIB_FIXED;
      if (s->value_len) memcpy(p, s->value, s->value_len), p += s->value_len;
    }
  }
  lkv_le32_put(p, (uint32_t)lkv__causal_removals_count(m)), p += 4;
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (m->removed[i]) {
      lkv_le64_put(p, m->members[i].id), lkv_le64_put(p + 8, m->cap[i]);
      lkv_le64_put(p + 16, m->removal[i].origin), lkv_le64_put(p + 24, m->removal[i].seq), p += 32;
    }
  return 0;
}

int lkv_causal_member_compact(lkv_causal_member_t *m, uint64_t base) {
  if (!quiet(m)) return LKV_EAGAIN;
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

typedef struct {
  const uint8_t *p, *end;
  int bad;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *at = r->p;
  r->p += n;
  return at;
}

static uint64_t take64(reader_t *r) {
  const uint8_t *p = take(r, 8);
  return p ? lkv_le64_get(p) : 0;
}

static uint32_t take32(reader_t *r) {
  const uint8_t *p = take(r, 4);
  return p ? lkv_le32_get(p) : 0;
}

static void take_vv(reader_t *r, lkv_causal_vv_t *v) {
  size_t used;
  if (r->bad || lkv_causal_vv_decode(r->p, (size_t)(r->end - r->p), v, &used)) {
    r->bad = 1;
    return;
  }
  r->p += used;
}

static uint64_t vv_sum(const lkv_causal_vv_t *v) {
  uint64_t t = 0;
  for (uint32_t i = 0; i < v->n; i++) t += v->e[i].seq;
  return t;
}

/* Reads one key (into the member's table, which it appends to: names must come in increasing order). */
static void take_key(lkv_causal_member_t *m, reader_t *r, uint64_t rev) {
  uint32_t klen = take32(r);
  const uint8_t *name = take(r, klen);
  if (!name || !klen) {
    r->bad = 1;
    return;
  }
  const lkv_causal_key_t *prev = m->keys.n ? m->keys.v[m->keys.n - 1] : NULL;
  if (prev) {
    size_t n = prev->key_len < klen ? prev->key_len : klen;
    int c = memcmp(prev->key, name, n);
    if (c > 0 || (c == 0 && prev->key_len >= klen)) {
      r->bad = 1;
      return;
    }
  }
  lkv_causal_key_t *k = malloc(sizeof(*k));
  if (!k || lkv_causal_key_init(k, name, klen)) abort();
  *LKV__CAUSAL_PUSH(m->keys) = k; /* freed with the member, even when what follows is bad */
  k->create_rev = take64(r), k->mod_rev = take64(r), k->version = take64(r);
  uint32_t n = take32(r);
  for (uint32_t j = 0; j < n && !r->bad; j++) {
    const uint8_t *p = take(r, SIB_FIXED);
    if (!p) return;
    lkv_causal_sibling_t s = {.origin = lkv_le64_get(p),
                              .seq = lkv_le64_get(p + 8),
                              .hlc = {.wall = lkv_le64_get(p + 16), .logical = lkv_le32_get(p + 24)},
                              .tombstone = p[28],
                              .lease = (int64_t)lkv_le64_get(p + 29),
                              .rev = lkv_le64_get(p + 37),
                              .value_len = lkv_le32_get(p + 45)};
    const uint8_t *v = take(r, s.value_len);
    if (!v || s.tombstone > 1 || (s.tombstone && s.value_len) || s.rev == 0 || s.rev > rev ||
        !lkv_causal_vv_covers(&m->vv, s.origin, s.seq) || s.seq == 0) {
      r->bad = 1;
      return;
    }
    if (s.value_len) {
      s.value = malloc(s.value_len);
      if (!s.value) abort();
      memcpy(s.value, v, s.value_len);
    }
    lkv__causal_room((void **)&k->sib, &k->cap, k->n, sizeof(k->sib[0]));
    k->sib[k->n++] = s;
  }
}

int lkv_causal_member_restore(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev,
                              uint64_t *base) {
  if (m->started || m->out || m->log.n || m->restored || m->keys.n) return LKV_EAGAIN;
  reader_t r = {.p = buf, .end = buf + len};
  const uint8_t *mg = take(&r, sizeof(magic));
  if (!mg || memcmp(mg, magic, sizeof(magic))) return LKV_EBADMSG;
  uint64_t c = take64(&r), b = take64(&r);
  lkv_causal_vv_t vv, upto;
  take_vv(&r, &vv);
  take_vv(&r, &upto);
  lkv_causal_hlc_t clock = {.wall = take64(&r), .logical = take32(&r)};
  uint32_t n_keys = take32(&r);
  if (r.bad || b > c || vv_sum(&vv) != c || vv_sum(&upto) != b || !lkv_causal_vv_leq(&upto, &vv))
    return LKV_EBADMSG;
  for (uint32_t i = 0; i < vv.n; i++)
    if (lkv__causal_index(m, vv.e[i].origin) < 0) return LKV_EBADMSG;
  m->vv = vv;
  for (uint32_t i = 0; i < n_keys && !r.bad; i++) take_key(m, &r, c);
  uint32_t n_removed = r.p == r.end ? 0 : take32(&r);
  for (uint32_t i = 0; i < n_removed && !r.bad; i++) {
    uint64_t id = take64(&r), cap = take64(&r), origin = take64(&r), seq = take64(&r);
    int x = lkv__causal_index(m, id);
    if (x < 0 || lkv__causal_index(m, origin) < 0) r.bad = 1;
    if (r.bad) break;
    m->removed[x] = 1, m->cap[x] = cap;
    m->removal[x] = (lkv_causal_event_id_t){.origin = origin, .seq = seq};
  }
  if (r.bad || r.p != r.end) {
    memset(m->removed, 0, sizeof(m->removed));
    for (size_t i = 0; i < m->keys.n; i++) { /* back to a new member */
      lkv_causal_key_free(m->keys.v[i]);
      free(m->keys.v[i]);
    }
    m->keys.n = 0;
    lkv_causal_vv_init(&m->vv);
    return LKV_EBADMSG;
  }
  m->clock = clock;
  m->log_base = b;
  for (size_t i = 0; i < m->cfg.n_members; i++) m->pos_base[i] = lkv_causal_vv_get(&upto, m->members[i].id);
  m->restored = c;
  *rev = c, *base = b;
  return 0;
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
