/* The member's snapshot catch-up: its replicated state, signed, for a peer below its compacted prefix, and
 * the install of one as one revision (docs/causal.md §7a). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "causal/member_internal.h"
#include "common/error.h"
#include "common/le.h"

/*
 * Encoding (little-endian):
 *   body = "lkvcsnp1" ‖ sender u64 ‖ every member the sender knows (member_add.c's layout: an installer
 *          learns the added ones and those removed before it was added) ‖ vector (vv.h) ‖ hlc.wall u64 ‖ hlc.logical u32 ‖ the keys with their
 *          siblings ‖ the removals (member_codec.c's layouts, without local revisions or views) ‖
 *          extra_len u32 ‖ extra
 *   snapshot = body ‖ Ed25519 signature (64) of body by the sender's key
 * The magic separates these signatures from the events' and the tree heads' made with the same key.
 */

static const uint8_t magic[8] = {'l', 'k', 'v', 'c', 's', 'n', 'p', '1'};

/* Ticks in a row a peer reported while this member got none of the events it lacks from the peer's report,
 * before a snapshot goes to it although this member's vector does not cover that report (a merge). The
 * peer's answers to this member's vector arrive within a tick or two when it still holds those events. */
#define STALL_TICKS 3

void lkv__causal_snapshot_tick(lkv_causal_member_t *m) {
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    if (i == m->self || !m->fresh[i]) continue; /* not heard: its answers could not come */
    m->fresh[i] = 0;
    const lkv_causal_vv_t *r = &m->reports[i];
    int got = lkv_causal_vv_leq(r, &m->vv);
    for (uint32_t e = 0; e < r->n && !got; e++) {
      uint64_t before = lkv_causal_vv_get(&m->ticked_vv, r->e[e].origin);
      got = before < r->e[e].seq && lkv_causal_vv_get(&m->vv, r->e[e].origin) > before;
    }
    m->stalled[i] = got ? 0 : m->stalled[i] + (m->stalled[i] < UINT32_MAX);
  }
  m->ticked_vv = m->vv;
}

int lkv_causal_member_snapshot_due(const lkv_causal_member_t *m, uint64_t id) {
  int idx = lkv__causal_index(m, id);
  if (idx < 0 || (size_t)idx == m->self || m->removed[idx] || m->removed[m->self]) return 0;
  return lkv_causal_member_needs_snapshot(m, id) &&
         (lkv_causal_vv_leq(&m->reports[idx], &m->vv) || m->stalled[idx] >= STALL_TICKS);
}

int lkv_causal_member_snapshot(const lkv_causal_member_t *m, const uint8_t *extra, size_t extra_len,
                               uint8_t **out, size_t *len) {
  if (!lkv__causal_quiet(m)) return LKV_EAGAIN;
  if (m->removed[m->self]) return LKV_EMEMBERREMOVED;
  if (extra_len > UINT32_MAX) return LKV_EINVAL;
  size_t body = sizeof(magic) + 8 + lkv__causal_members_size(m, 1) + lkv_causal_vv_encoded_size(&m->vv) + 12 + lkv__causal_keys_size(m, 0) +
                lkv__causal_removals_size(m) + 4 + extra_len;
  uint8_t *buf = malloc(body + LKV_CAUSAL_SIG_LEN), *p = buf;
  if (!buf) abort();
  memcpy(p, magic, sizeof(magic)), p += sizeof(magic);
  lkv_le64_put(p, m->cfg.id), p += 8;
  p = lkv__causal_members_put(m, p, 1);
  lkv_causal_vv_encode(&m->vv, p), p += lkv_causal_vv_encoded_size(&m->vv);
  lkv_le64_put(p, m->clock.wall), lkv_le32_put(p + 8, m->clock.logical), p += 12;
  p = lkv__causal_keys_put(m, p, 0);
  p = lkv__causal_removals_put(m, p);
  lkv_le32_put(p, (uint32_t)extra_len), p += 4;
  if (extra_len) memcpy(p, extra, extra_len);
  crypto_sign_detached(buf + body, NULL, buf, (unsigned long long)body, m->cfg.sk);
  *out = buf, *len = body + LKV_CAUSAL_SIG_LEN;
  return 0;
}

int lkv_causal_snapshot_vv(const uint8_t *buf, size_t len, lkv_causal_vv_t *out) {
  if (len < sizeof(magic) + 8 + LKV_CAUSAL_SIG_LEN || memcmp(buf, magic, sizeof(magic))) return LKV_EBADMSG;
  lkv__causal_reader_t r = {.p = buf + sizeof(magic) + 8, .end = buf + len - LKV_CAUSAL_SIG_LEN};
  for (uint32_t i = 0, n = lkv__causal_take32(&r); i < n && !r.bad; i++) { /* the members: skipped */
    lkv__causal_take64(&r);
    lkv__causal_take(&r, lkv__causal_take32(&r));
  }
  lkv__causal_take_vv(&r, out);
  return r.bad ? LKV_EBADMSG : 0;
}

/* A snapshot decoded (its keys owned). */
typedef struct {
  int from;      /* the sender's index */
  size_t before; /* the members here before the snapshot's were recorded */
  uint32_t marked;
  lkv_causal_vv_t vv;
  lkv_causal_hlc_t clock;
  lkv__causal_keys_t keys;
  lkv__causal_removal_t removals[LKV_CAUSAL_MAX_ORIGINS];
  size_t n_removals;
  const uint8_t *extra;
  size_t extra_len;
} snap_t;

/* Verifies and decodes a snapshot: 0, LKV_EBADMSG or LKV_EVERIFY (sn->keys to free either way). The members
 * it names are recorded into m at once (the vector names them): sn->before and sn->marked undo that. */
static int decode(lkv_causal_member_t *m, const uint8_t *buf, size_t len, snap_t *sn) {
  if (len < sizeof(magic) + 8 + LKV_CAUSAL_SIG_LEN || memcmp(buf, magic, sizeof(magic))) return LKV_EBADMSG;
  sn->from = lkv__causal_index(m, lkv_le64_get(buf + sizeof(magic)));
  if (sn->from < 0 || (size_t)sn->from == m->self) return LKV_EBADMSG;
  const lkv_causal_peer_t *peer = &m->members[sn->from];
  size_t body = len - LKV_CAUSAL_SIG_LEN;
  if (!lkv__causal_key_known(peer) || crypto_sign_verify_detached(buf + body, buf, body, peer->pk) != 0)
    return LKV_EVERIFY;
  lkv__causal_reader_t r = {.p = buf + sizeof(magic) + 8, .end = buf + body};
  sn->before = lkv__causal_members_take(&r, m, &sn->marked);
  lkv__causal_take_vv(&r, &sn->vv);
  sn->clock.wall = lkv__causal_take64(&r), sn->clock.logical = lkv__causal_take32(&r);
  for (uint32_t i = 0; i < sn->vv.n && !r.bad; i++)
    if (lkv__causal_index(m, sn->vv.e[i].origin) < 0) r.bad = 1;
  lkv__causal_keys_take(&r, &sn->keys, &sn->vv, 0, 0);
  sn->n_removals = lkv__causal_removals_take(&r, m, sn->removals);
  sn->extra_len = lkv__causal_take32(&r);
  sn->extra = lkv__causal_take(&r, sn->extra_len);
  return r.bad || r.p != r.end ? LKV_EBADMSG : 0;
}

#ifdef LKV_CAUSAL_TESTING
/* The INSTALL_KEEPS_OLD_SIBLINGS bug: k's siblings that from lacks are copied into it (merged). */
static void keep_old(const lkv_causal_key_t *k, lkv_causal_key_t *from) {
  for (size_t i = 0; i < k->n; i++) {
    size_t j = 0;
    while (j < from->n && (from->sib[j].origin != k->sib[i].origin || from->sib[j].seq != k->sib[i].seq)) j++;
    if (j < from->n) continue;
    lkv__causal_room((void **)&from->sib, &from->cap, from->n, sizeof(from->sib[0]));
    lkv_causal_sibling_t *s = &from->sib[from->n++];
    *s = k->sib[i];
    if (s->value_len && !(s->value = malloc(s->value_len))) abort();
    if (s->value_len) memcpy(s->value, k->sib[i].value, s->value_len);
  }
}
#endif

/* Key k's siblings become from's at revision rev, and the callbacks hear of it. Returns k, or NULL when it
 * has no siblings left (freed). */
static lkv_causal_key_t *replace(lkv_causal_member_t *m, lkv_causal_key_t *k, lkv_causal_key_t *from,
                                 uint64_t rev) {
#ifdef LKV_CAUSAL_TESTING
  if (LKV__CAUSAL_BUG(m, INSTALL_KEEPS_OLD_SIBLINGS)) keep_old(k, from);
#endif
  uint64_t view[3] = {k->create_rev, k->mod_rev, k->version};
  int changed = lkv_causal_key_replace(k, from, rev);
  if (changed < 0) abort(); /* allocation failure (member.h) */
  if (m->cfg.on_change && (view[0] != k->create_rev || view[1] != k->mod_rev || view[2] != k->version))
    m->cfg.on_change(m->cfg.change_arg, rev, k);
  if (m->cfg.on_write && changed) m->cfg.on_write(m->cfg.change_arg, rev, k);
  if (k->n) return k;
  lkv_causal_key_free(k);
  free(k);
  return NULL;
}

/* 1 when k has the sibling (origin, seq). */
static int holds(const lkv_causal_key_t *k, uint64_t origin, uint64_t seq) {
  for (size_t i = 0; i < k->n; i++)
    if (k->sib[i].origin == origin && k->sib[i].seq == seq) return 1;
  return 0;
}

/* The join of k's siblings (under this member's vector, mine) and from's (under theirs), into from: each
 * side keeps what the other holds too or has not seen (a concurrent write), and loses what the other has
 * seen and dropped (superseded there, or purged as a stable sole tombstone). docs/causal.md §7a. */
static void join(const lkv_causal_member_t *m, const lkv_causal_key_t *k, lkv_causal_key_t *from,
                 const lkv_causal_vv_t *mine, const lkv_causal_vv_t *theirs) {
  size_t kept = 0;
  for (size_t j = 0; j < from->n; j++) {
    lkv_causal_sibling_t *s = &from->sib[j];
    if (lkv_causal_vv_covers(mine, s->origin, s->seq) && !holds(k, s->origin, s->seq))
      free(s->value);
    else
      from->sib[kept++] = *s;
  }
  from->n = kept;
  for (size_t i = 0; i < k->n; i++) {
    const lkv_causal_sibling_t *s = &k->sib[i];
    if (holds(from, s->origin, s->seq) ||
        (lkv_causal_vv_covers(theirs, s->origin, s->seq) && !LKV__CAUSAL_BUG(m, MERGE_RESURRECTS)))
      continue;
    lkv__causal_room((void **)&from->sib, &from->cap, from->n, sizeof(from->sib[0]));
    lkv_causal_sibling_t *c = &from->sib[from->n++];
    *c = *s;
    if (s->value_len && !(c->value = malloc(s->value_len))) abort();
    if (s->value_len) memcpy(c->value, s->value, s->value_len);
  }
}

/* The member's keys become the snapshot's, or, when mine is set (a concurrent snapshot), the join of both
 * under this member's vector mine and the snapshot's (both tables sorted by name: one merge). */
static void install_keys(lkv_causal_member_t *m, snap_t *sn, uint64_t rev, const lkv_causal_vv_t *mine) {
  lkv__causal_keys_t next = {0};
  size_t i = 0, j = 0;
  while (i < m->keys.n || j < sn->keys.n) {
    lkv_causal_key_t none = {0}, *k, *from;
    int c = i == m->keys.n ? 1
            : j == sn->keys.n
                ? -1
                : lkv__causal_name_cmp(m->keys.v[i], sn->keys.v[j]->key, sn->keys.v[j]->key_len);
    if (c > 0) { /* a key new here */
      from = sn->keys.v[j++];
      k = malloc(sizeof(*k));
      if (!k || lkv_causal_key_init(k, from->key, from->key_len)) abort();
    } else {
      k = m->keys.v[i++];
      from = c == 0 ? sn->keys.v[j++] : &none; /* c < 0: a key the snapshot has no state for */
    }
    if (mine) join(m, k, from, mine, &sn->vv);
    if ((k = replace(m, k, from, rev)) != NULL) *LKV__CAUSAL_PUSH(next) = k;
  }
  free(m->keys.v);
#ifdef LKV_CAUSAL_TESTING
  lkv__causal_cache_drop(m, NULL); /* keys replaced, some freed */
#endif
  m->keys = next;
}

/* The snapshot's removals join this member's (caps: the greater), then caps follow the vectors. */
static void install_removals(lkv_causal_member_t *m, const snap_t *sn) {
  for (size_t i = 0; i < sn->n_removals; i++) {
    const lkv__causal_removal_t *r = &sn->removals[i];
    int x = lkv__causal_index(m, r->id);
    if (!m->removed[x]) m->removed[x] = 1, m->cap[x] = r->cap, m->removal[x] = r->removal;
    if (r->cap > m->cap[x]) m->cap[x] = r->cap;
  }
  if (lkv_causal_vv_merge(&m->reports[sn->from], &sn->vv)) abort(); /* members only: room */
  m->reported[sn->from] = 1;
  lkv__causal_removals_heard(m);
  for (size_t x = 0; x < m->cfg.n_members; x++)
    if (m->removed[x]) lkv_causal_pending_drop_above(&m->pending, m->members[x].id, m->cap[x]);
}

/* Every event of the log compacted: the member holds none it could ship (it never had most of what the
 * snapshot covers as events); held events the new vector covers, or makes ready, dropped (anti-entropy
 * brings the ready ones again and they are applied then: the install applies no event itself). */
static void restart_log(lkv_causal_member_t *m, uint64_t rev) {
  for (size_t i = 0; i < m->log.n; i++) free(m->log.v[i].bytes);
  m->log.n = 0, m->persisted = 0, m->log_base = rev, m->restored = 0;
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    m->pos[i].n = 0;
    m->pos_base[i] = lkv_causal_vv_get(&m->vv, m->members[i].id);
    lkv_causal_vv_init(&m->shipped[i]);
  }
  lkv_causal_held_t h;
  while (lkv_causal_pending_take(&m->pending, &m->vv, &h)) free(h.bytes);
}

/* 1 when the sender is removed, here or by its own account: its state may hold its own events above the
 * prefix of them the members still in keep (docs/causal.md §15a). */
static int from_removed(const lkv_causal_member_t *m, const snap_t *sn) {
  if (m->removed[sn->from]) return 1;
  for (size_t i = 0; i < sn->n_removals; i++)
    if (sn->removals[i].id == m->members[sn->from].id) return 1;
  return 0;
}

int lkv_causal_member_install(lkv_causal_member_t *m, uint64_t now, const uint8_t *buf, size_t len,
                              uint64_t *rev, const uint8_t **extra, size_t *extra_len) {
  if (!lkv__causal_quiet(m)) return LKV_EAGAIN;
  snap_t sn = {.before = m->cfg.n_members};
  int rc = decode(m, buf, len, &sn);
  if (!rc && from_removed(m, &sn)) rc = LKV_EMEMBERREMOVED;
  /* A concurrent snapshot is joined with this member's state when this member compacted (or never had as
   * events) some of what the sender lacks: then neither can get what it lacks by events, and this member's
   * snapshot goes back once its vector covers the sender's (docs/causal.md §7a). Otherwise this member's
   * events reach the sender first and the sender's next snapshot covers this member. */
  lkv_causal_order_t order = rc ? LKV_CAUSAL_EQUAL : lkv_causal_vv_compare(&m->vv, &sn.vv);
  int join = order == LKV_CAUSAL_CONCURRENT && lkv__causal_lacks_compacted(m, &sn.vv);
  if (!rc && order != LKV_CAUSAL_BEFORE && !join) rc = LKV_EEXIST;
  if (!rc && lkv_causal_hlc_too_far(now, &sn.clock, m->cfg.max_ahead)) rc = LKV_ECLOCKAHEAD;
  if (rc) {
    lkv__causal_keys_free(&sn.keys);
    lkv__causal_members_undo(m, sn.before, sn.marked);
    return rc;
  }
  m->started = 1;
  *rev = lkv_causal_member_revision(m) + 1;
  lkv_causal_vv_t mine = m->vv;
  install_keys(m, &sn, *rev, join ? &mine : NULL);
  lkv__causal_keys_free(&sn.keys);
  if (lkv_causal_vv_merge(&m->vv, &sn.vv)) abort(); /* members only: room */
  if (lkv_causal_hlc_cmp(&sn.clock, &m->clock) > 0) m->clock = sn.clock;
  install_removals(m, &sn);
  restart_log(m, *rev);
  *extra = sn.extra, *extra_len = sn.extra_len;
  return 0;
}
