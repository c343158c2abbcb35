/* The causal member: configuration, local writes, remote events through the causal-ready buffer, batches. */
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/error.h"
#include "common/grow.h"

void lkv__causal_room(void **arr, size_t *cap, size_t n, size_t size) {
  if (lkv_grow(arr, cap, n + 1, size)) abort();
}

int lkv__causal_index(const lkv_causal_member_t *m, uint64_t id) {
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (m->members[i].id == id) return (int)i;
  return -1;
}

int lkv__causal_key_known(const lkv_causal_peer_t *p) {
  static const uint8_t unknown[LKV_CAUSAL_PK_LEN];
  return memcmp(p->pk, unknown, sizeof(unknown)) != 0;
}

int lkv_causal_member_set_key(lkv_causal_member_t *m, uint64_t id, const uint8_t pk[LKV_CAUSAL_PK_LEN]) {
  int idx = lkv__causal_index(m, id);
  if (idx < 0) return LKV_EINVAL;
  lkv_causal_peer_t *p = &m->members[idx];
  if (lkv__causal_key_known(p)) return memcmp(p->pk, pk, LKV_CAUSAL_PK_LEN) == 0 ? 0 : LKV_EEXIST;
  memcpy(p->pk, pk, LKV_CAUSAL_PK_LEN);
  return 0;
}

void lkv__causal_send(lkv_causal_member_t *m, uint64_t to, uint8_t kind, const uint8_t *data, size_t len) {
  *LKV__CAUSAL_PUSH(m->msgs) = (lkv_causal_msg_t){.to = to, .kind = kind, .data = data, .len = len};
}

#ifdef LKV_CAUSAL_TESTING
const char *lkv_causal_bug_name(unsigned bug) {
  switch (bug) {
    case LKV_CAUSAL_BUG_APPLY_UNREADY:
      return "APPLY_UNREADY";
    case LKV_CAUSAL_BUG_WINNER_NOT_TOTAL:
      return "WINNER_NOT_TOTAL";
    case LKV_CAUSAL_BUG_SHIP_SKIPS_FIRST:
      return "SHIP_SKIPS_FIRST";
    case LKV_CAUSAL_BUG_PURGE_UNSTABLE:
      return "PURGE_UNSTABLE";
    case LKV_CAUSAL_BUG_PURGE_COVERED_ONLY:
      return "PURGE_COVERED_ONLY";
    case LKV_CAUSAL_BUG_COMPACT_UNSTABLE:
      return "COMPACT_UNSTABLE";
    case LKV_CAUSAL_BUG_APPLY_REMOVED:
      return "APPLY_REMOVED";
    case LKV_CAUSAL_BUG_INSTALL_KEEPS_OLD_SIBLINGS:
      return "INSTALL_KEEPS_OLD_SIBLINGS";
    case LKV_CAUSAL_BUG_LEAVE_WITHOUT_MAJORITY:
      return "LEAVE_WITHOUT_MAJORITY";
    case LKV_CAUSAL_BUG_READ_CACHE:
      return "READ_CACHE";
    case LKV_CAUSAL_BUG_MERGE_RESURRECTS:
      return "MERGE_RESURRECTS";
    default:
      return NULL;
  }
}
#endif

static int valid_config(const lkv_causal_config_t *c) {
  if (!c->members || c->n_members == 0 || c->n_members > LKV_CAUSAL_MAX_ORIGINS || c->id == 0) return 0;
  if (!c->max_held_events || !c->max_held_bytes || !c->max_ship_events || !c->max_ship_bytes) return 0;
  int self = 0;
  for (size_t i = 0; i < c->n_members; i++) {
    if (c->members[i].id == 0) return 0;
    for (size_t j = 0; j < i; j++)
      if (c->members[j].id == c->members[i].id) return 0;
    self += c->members[i].id == c->id;
  }
  return self == 1;
}

int lkv_causal_member_new(const lkv_causal_config_t *cfg, lkv_causal_member_t **out) {
  if (!valid_config(cfg)) return LKV_EINVAL;
  lkv_causal_member_t *m = calloc(1, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  m->cfg = *cfg;
  memcpy(m->members, cfg->members, cfg->n_members * sizeof(cfg->members[0]));
  m->cfg.members = m->members;
  m->self = (size_t)lkv__causal_index(m, cfg->id);
  lkv_causal_vv_init(&m->vv);
  lkv_causal_vv_init(&m->ticked_vv);
  for (size_t i = 0; i < LKV_CAUSAL_MAX_ORIGINS; i++) {
    lkv_causal_vv_init(&m->reports[i]);
    lkv_causal_vv_init(&m->shipped[i]);
  }
  lkv_causal_pending_init(&m->pending, cfg->max_held_events, cfg->max_held_bytes);
#ifdef LKV_CAUSAL_TESTING
  if (LKV__CAUSAL_BUG(m, READ_CACHE) && !(m->cache = calloc(1, sizeof(*m->cache)))) abort();
#endif
  *out = m;
  return 0;
}

static void free_batch_scratch(lkv_causal_member_t *m) {
  for (size_t i = 0; i < m->scratch.n; i++) free(m->scratch.v[i]);
  m->scratch.n = 0;
}

void lkv_causal_member_free(lkv_causal_member_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->log.n; i++) free(m->log.v[i].bytes);
  free(m->log.v);
  for (size_t i = 0; i < LKV_CAUSAL_MAX_ORIGINS; i++) free(m->pos[i].v);
  for (size_t i = 0; i < m->keys.n; i++) {
    lkv_causal_key_free(m->keys.v[i]);
    free(m->keys.v[i]);
  }
  free(m->keys.v);
  lkv_causal_pending_free(&m->pending);
  free_batch_scratch(m);
  free(m->scratch.v);
  free(m->msgs.v);
  free(m->acks.v);
  lkv__causal_adds_free(m);
#ifdef LKV_CAUSAL_TESTING
  lkv__causal_cache_drop(m, NULL);
  if (m->cache) free(m->cache->v);
  free(m->cache);
#endif
  free(m);
}

/* Applies a causally ready event whose held copy the member now owns: the next revision, the vector, the
 * keys. A remote stamp moves the clock (never refused here: the bound was checked on arrival). */
uint64_t lkv__causal_apply(lkv_causal_member_t *m, lkv_causal_held_t *h, int observe, uint64_t now) {
  int idx = lkv__causal_index(m, h->ev.origin);
  *LKV__CAUSAL_PUSH(m->log) = *h;
  uint64_t rev = m->log_base + m->log.n;
  const lkv_causal_event_t *ev = &m->log.v[m->log.n - 1].ev;
  /* Positions by seq; with APPLY_UNREADY an origin's events still come in order (the bug ignores the rest
   * of the deps only). */
  *LKV__CAUSAL_PUSH(m->pos[idx]) = rev - 1;
  if (lkv_causal_vv_set(&m->vv, ev->origin, ev->seq)) abort(); /* origins are members: always room */
  if (observe) lkv_causal_hlc_recv(&m->clock, now, &ev->hlc, UINT64_MAX);
  lkv__causal_keys_apply(m, ev, rev);
  lkv__causal_removals_apply(m, ev);
  lkv__causal_adds_apply(m, ev);
  return rev;
}

/* Applies every held event that became ready, in arrival order, until none is; a removed member's events
 * above its cap (its removal applied while they waited) are dropped. */
static void drain(lkv_causal_member_t *m, uint64_t now) {
  lkv_causal_held_t h;
  while (lkv_causal_pending_take(&m->pending, &m->vv, &h)) {
    if (lkv__causal_refused(m, &h.ev))
      free(h.bytes);
    else
      lkv__causal_apply(m, &h, 1, now);
  }
}

lkv_causal_held_t lkv__causal_copy_held(const uint8_t *buf, size_t len, const lkv_causal_event_t *ev) {
  lkv_causal_held_t h = {.bytes = malloc(len), .len = len, .ev = *ev};
  if (!h.bytes) abort();
  memcpy(h.bytes, buf, len);
  h.ev.payload = h.bytes + (ev->payload - buf);
  return h;
}

int lkv__causal_decode_checked(const lkv_causal_member_t *m, const uint8_t *buf, size_t len,
                               lkv_causal_event_t *ev) {
  if (lkv_causal_event_decode(buf, len, ev) || lkv__causal_removals_check(m, ev)) return LKV_EBADMSG;
  return lkv__causal_index(m, ev->origin) < 0 ? LKV_EVERIFY : 0;
}

int lkv_causal_member_replay(lkv_causal_member_t *m, const uint8_t *buf, size_t len, uint64_t *rev) {
  if (m->started || m->out) return LKV_EAGAIN;
  if (m->log_base + m->log.n < m->restored) return lkv__causal_replay_held(m, buf, len, rev);
  lkv_causal_event_t ev;
  if (lkv__causal_decode_checked(m, buf, len, &ev) || !lkv_causal_pending_is_ready(&ev, &m->vv))
    return LKV_EBADMSG;
  lkv_causal_held_t h = lkv__causal_copy_held(buf, len, &ev);
  *rev = lkv__causal_apply(m, &h, 1, 0);
  m->persisted = m->log.n; /* durable already: not part of any batch */
  return 0;
}

int lkv_causal_member_write(lkv_causal_member_t *m, uint64_t now, const lkv_causal_mutation_t *muts, size_t n,
                            uint64_t token, uint64_t *rev) {
  return lkv__causal_write(m, now, muts, n, &m->vv, token, rev);
}

/* 1 when a peer reported more of this member's own events than it holds: its durable log lost some (a data
 * dir restored from an older copy). A write now would reuse a sequence number its peers already hold for
 * another event (an equivocation they refuse for ever), so writes wait until anti-entropy brings the
 * member's own events back. */
static int own_behind(const lkv_causal_member_t *m) {
  uint64_t own = lkv_causal_vv_get(&m->vv, m->cfg.id);
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (i != m->self && lkv_causal_vv_get(&m->reports[i], m->cfg.id) > own) return 1;
  return 0;
}

int lkv__causal_write(lkv_causal_member_t *m, uint64_t now, const lkv_causal_mutation_t *muts, size_t n,
                      const lkv_causal_vv_t *deps, uint64_t token, uint64_t *rev) {
  if (m->out) return LKV_EAGAIN;
  if (n == 0) return LKV_EINVAL;
  if (m->removed[m->self]) return LKV_EMEMBERREMOVED;
  if (own_behind(m)) return LKV_EOWNBEHIND;
  if (m->cfg.joining && !m->added[m->self]) return LKV_EUNHEALTHY; /* member_add.c: not added yet */
  size_t plen = lkv_causal_mutations_size(muts, n);
  if (plen > LKV_CAUSAL_EVENT_MAX_PAYLOAD) return LKV_ETOOLARGE;
  uint8_t *payload = malloc(plen);
  if (!payload) abort();
  int rc = lkv_causal_mutations_encode(muts, n, payload, plen, &plen);
  if (rc) {
    free(payload);
    return rc;
  }
  m->started = 1;
  lkv_causal_event_t ev = {.origin = m->cfg.id,
                           .seq = lkv_causal_vv_get(&m->vv, m->cfg.id) + 1,
                           .deps = *deps,
                           .payload = payload,
                           .payload_len = plen};
  lkv_causal_hlc_now(&m->clock, now, &ev.hlc);
  size_t len = lkv_causal_event_size(&ev);
  lkv_causal_held_t h = {.bytes = malloc(len), .len = len};
  if (!h.bytes) abort();
  if (lkv_causal_event_encode_signed(&ev, m->cfg.sk, h.bytes, len, &len) ||
      lkv_causal_event_decode(h.bytes, len, &h.ev))
    abort(); /* the member built a canonical event: cannot fail */
  free(payload);
  *rev = lkv__causal_apply(m, &h, 0, now);
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (i != m->self && !m->removed[i])
      lkv__causal_send(m, m->members[i].id, LKV_CAUSAL_MSG_EVENT, h.bytes, len);
  *LKV__CAUSAL_PUSH(m->acks) = (lkv_causal_ack_t){.token = token, .rev = *rev};
  return 0;
}

/* Where an event with ev's origin and seq already is (applied or held): its bytes, or NULL. */
static const lkv_causal_held_t *known(const lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  uint64_t rev;
  const lkv_causal_held_t *h = lkv_causal_member_event(m, ev->origin, ev->seq, &rev);
  return h ? h : lkv_causal_pending_find(&m->pending, ev->origin, ev->seq);
}

/* Readiness on arrival; the APPLY_UNREADY bug looks at the origin's order only. */
static int ready_now(const lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  if (LKV__CAUSAL_BUG(m, APPLY_UNREADY)) return lkv_causal_vv_get(&m->vv, ev->origin) == ev->seq - 1;
  return lkv_causal_pending_is_ready(ev, &m->vv);
}

int lkv_causal_member_recv_event(lkv_causal_member_t *m, uint64_t now, const uint8_t *buf, size_t len) {
  if (m->out) return LKV_EAGAIN;
  m->started = 1;
  lkv_causal_event_t ev;
  int rc = lkv__causal_decode_checked(m, buf, len, &ev);
  if (rc) return rc;
  if (lkv__causal_refused(m, &ev)) return LKV_EMEMBERREMOVED;
  const lkv_causal_held_t *here = known(m, &ev);
  if (here && here->len == len && memcmp(here->bytes, buf, len) == 0) return 0; /* a copy */
  int idx = lkv__causal_index(m, ev.origin);
  if (!lkv__causal_key_known(&m->members[idx]) || lkv_causal_event_verify(buf, len, m->members[idx].pk))
    return LKV_EVERIFY;
  if (here) return LKV_EEXIST;
  /* Applied and compacted since (member_compact.c): a copy, once its signature holds; an equivocation on it
   * goes unseen. */
  if (lkv_causal_vv_covers(&m->vv, ev.origin, ev.seq)) return 0;
  if (lkv_causal_hlc_too_far(now, &ev.hlc, m->cfg.max_ahead)) return LKV_ECLOCKAHEAD;
  if (!ready_now(m, &ev)) {
    rc = lkv_causal_pending_hold(&m->pending, buf, len, &ev);
    if (rc == LKV_ENOMEM) abort();
    return rc;
  }
  lkv_causal_held_t h = lkv__causal_copy_held(buf, len, &ev);
  lkv__causal_apply(m, &h, 1, now);
  drain(m, now);
  return 0;
}

int lkv_causal_member_batch(lkv_causal_member_t *m, lkv_causal_batch_t *rb) {
  if (m->out || (m->persisted == m->log.n && !m->msgs.n && !m->acks.n)) return 0;
  *rb = (lkv_causal_batch_t){.applied = m->log.v + m->persisted,
                             .n_applied = m->log.n - m->persisted,
                             .first_rev = m->log_base + m->persisted + 1,
                             .msgs = m->msgs.v,
                             .n_msgs = m->msgs.n,
                             .acks = m->acks.v,
                             .n_acks = m->acks.n};
  m->out = 1;
  return 1;
}

void lkv_causal_member_advance(lkv_causal_member_t *m) {
  if (!m->out) return;
  m->out = 0;
  m->persisted = m->log.n;
  m->msgs.n = 0;
  m->acks.n = 0;
  free_batch_scratch(m);
}

const lkv_causal_vv_t *lkv_causal_member_vv(const lkv_causal_member_t *m) {
  return &m->vv;
}

uint64_t lkv_causal_member_revision(const lkv_causal_member_t *m) {
  uint64_t r = m->log_base + m->log.n;
  return r > m->restored ? r : m->restored; /* a checkpoint's state is at its revision */
}

size_t lkv_causal_member_held(const lkv_causal_member_t *m) {
  return m->pending.n;
}

const lkv_causal_held_t *lkv_causal_member_event_at(const lkv_causal_member_t *m, uint64_t rev) {
  return rev > m->log_base && rev <= m->log_base + m->log.n ? &m->log.v[rev - 1 - m->log_base] : NULL;
}

const lkv_causal_held_t *lkv_causal_member_event(const lkv_causal_member_t *m, uint64_t origin, uint64_t seq,
                                                 uint64_t *rev) {
  int idx = lkv__causal_index(m, origin);
  if (idx < 0 || seq <= m->pos_base[idx] || seq - m->pos_base[idx] > m->pos[idx].n) return NULL;
  uint64_t at = m->pos[idx].v[seq - 1 - m->pos_base[idx]];
  *rev = at + 1;
  return &m->log.v[at - m->log_base];
}
