/* The member's anti-entropy: vectors sent each round, peers' vectors answered with what they lack. */
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/error.h"

/* This member's vector encoded into the batch's scratch (freed at advance). */
static const uint8_t *encode_vv(lkv_causal_member_t *m, size_t *len) {
  *len = lkv_causal_vv_encoded_size(&m->vv);
  uint8_t *buf = malloc(*len);
  if (!buf) abort();
  lkv_causal_vv_encode(&m->vv, buf);
  *LKV__CAUSAL_PUSH(m->scratch) = buf;
  return buf;
}

int lkv_causal_member_tick(lkv_causal_member_t *m) {
  if (m->out) return LKV_EAGAIN;
  m->started = 1;
#ifdef LKV_CAUSAL_TESTING
  lkv__causal_cache_drop(m, NULL); /* READ_CACHE: refreshed each round (and purged keys are freed) */
#endif
  lkv__causal_keys_purge(m);
  lkv__causal_snapshot_tick(m);
  for (size_t i = 0; i < m->cfg.n_members; i++) lkv_causal_vv_init(&m->shipped[i]);
  if (m->cfg.n_members == 1) return 0; /* no peer: nothing to send (and no scratch to keep) */
  size_t len;
  const uint8_t *vv = encode_vv(m, &len);
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (i != m->self) /* a removed one too: with them it takes its removal, whoever it removed itself */
      lkv__causal_send(m, m->members[i].id, LKV_CAUSAL_MSG_VV, vv, len);
  return 0;
}

/* The first sequence of a missing range to ship (the SHIP_SKIPS_FIRST bug starts one later). */
static uint64_t first_missing(const lkv_causal_member_t *m, const lkv_causal_range_t *r) {
  return r->from + 1 + (LKV__CAUSAL_BUG(m, SHIP_SKIPS_FIRST) ? 1 : 0);
}

/* Ships to member `peer` the events neither its reported vector nor this tick's answers cover, in local
 * order (a causal order: each event's deps are at the peer or shipped before it), within the configured
 * bounds. Each origin's missing events sit at increasing log positions (m->pos), so the answer merges those
 * per-origin runs by position: it costs the events shipped times the origins, whatever the length of the
 * log behind them. Per origin the events shipped follow on from what the peer has, so the last one shipped
 * bounds them (m->shipped). */
static void ship(lkv_causal_member_t *m, size_t peer) {
  lkv_causal_range_t r[LKV_CAUSAL_MAX_ORIGINS];
  lkv_causal_vv_t theirs = m->reports[peer];
  if (lkv_causal_vv_merge(&theirs, &m->shipped[peer])) abort(); /* members only: always room */
  size_t n = lkv_causal_vv_missing(&m->vv, &theirs, r, LKV_CAUSAL_MAX_ORIGINS);
  const uint64_t *run[LKV_CAUSAL_MAX_ORIGINS]; /* each range's next revision - 1, up to its end */
  size_t left[LKV_CAUSAL_MAX_ORIGINS];
  for (size_t i = 0; i < n; i++) {
    int idx = lkv__causal_index(m, r[i].origin);
    uint64_t first = first_missing(m, &r[i]);
    /* Events compacted here (member_compact.c) were stable: every member's report covered them, so a
     * peer lacks one only when it lost state (a backup restored): it needs a snapshot, not events. */
    if (first <= m->pos_base[idx]) first = r[i].to + 1;
    left[i] = first <= r[i].to ? (size_t)(r[i].to - first + 1) : 0;
    run[i] = left[i] ? m->pos[idx].v + (first - 1 - m->pos_base[idx]) : NULL;
  }
  size_t events = 0, bytes = 0;
  for (;;) {
    size_t best = n;
    for (size_t i = 0; i < n; i++)
      if (left[i] && (best == n || *run[i] < *run[best])) best = i;
    if (best == n) return;
    const lkv_causal_held_t *h = &m->log.v[*run[best] - m->log_base];
    if (events && (events >= m->cfg.max_ship_events || bytes + h->len > m->cfg.max_ship_bytes)) return;
    lkv__causal_send(m, m->members[peer].id, LKV_CAUSAL_MSG_EVENT, h->bytes, h->len);
    if (lkv_causal_vv_set(&m->shipped[peer], h->ev.origin, h->ev.seq)) abort();
    events++;
    bytes += h->len;
    run[best]++;
    left[best]--;
  }
}

int lkv_causal_member_recv_vv(lkv_causal_member_t *m, uint64_t from, const uint8_t *buf, size_t len) {
  if (m->out) return LKV_EAGAIN;
  m->started = 1;
  int idx = lkv__causal_index(m, from);
  if (idx < 0 || (size_t)idx == m->self) return LKV_EINVAL;
  lkv_causal_vv_t theirs;
  size_t used;
  if (lkv_causal_vv_decode(buf, len, &theirs, &used) || used != len) return LKV_EBADMSG;
  /* An origin not a member here is one the peer added (docs/causal.md §15b) and this member has not applied
   * the add yet: left out. Refusing the whole vector would stop this member from shipping its events to a
   * peer whose snapshot (or whose events it lacks) waits for them. */
  uint32_t kept = 0;
  for (uint32_t i = 0; i < theirs.n; i++)
    if (lkv__causal_index(m, theirs.e[i].origin) >= 0) theirs.e[kept++] = theirs.e[i];
  theirs.n = kept;
  if (lkv_causal_vv_merge(&m->reports[idx], &theirs)) abort(); /* members only: always room */
  m->reported[idx] = 1, m->fresh[idx] = 1;
  if (!m->removed[idx]) lkv__causal_removals_heard(m);
  ship(m, (size_t)idx); /* a removed member too: so it gets its removal and stops */
  return 0;
}
