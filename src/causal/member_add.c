/* The causal member's additions: members appended by applied MEMBER_ADD events (docs/causal.md §15b). */
#include <stdlib.h>
#include <string.h>

#include "causal/lease_id.h"
#include "causal/member_internal.h"
#include "common/error.h"
#include "common/le.h"

int lkv__causal_add_record(lkv_causal_member_t *m, uint64_t id, const uint8_t *urls, size_t len) {
  int x = lkv__causal_index(m, id);
  if (x < 0) {
    /* Only concurrent adds can overflow (a local add is refused when full): each member ignores the ones
     * applied when full (docs/causal.md §15b). */
    if (m->cfg.n_members == LKV_CAUSAL_MAX_ORIGINS) return -1;
    x = (int)m->cfg.n_members++;
    m->members[x] = (lkv_causal_peer_t){.id = id}; /* key unknown: trusted on first hello */
  }
  if (m->added[x]) return -1; /* the first add applied of an id holds */
  m->added[x] = 1;
  m->urls[x] = malloc(len);
  if (!m->urls[x]) abort();
  memcpy(m->urls[x], urls, len);
  m->urls_len[x] = len;
  return x;
}

void lkv__causal_adds_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort(); /* checked on arrival */
  while (lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_MEMBER_ADD) (void)lkv__causal_add_record(m, mu.member, mu.value, mu.value_len);
}

void lkv__causal_adds_free(lkv_causal_member_t *m) {
  for (size_t i = 0; i < m->cfg.n_members; i++) free(m->urls[i]);
}

int lkv_causal_member_add(lkv_causal_member_t *m, uint64_t now, uint64_t id, const uint8_t *urls, size_t len,
                          uint64_t token, uint64_t *rev) {
  if (id == 0 || len == 0) return LKV_EINVAL;
  int x = lkv__causal_index(m, id);
  if (x >= 0) return m->removed[x] ? LKV_EMEMBERREMOVED : LKV_EMEMBEREXIST;
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (!m->removed[i] && lkv_causal_lease_tag(m->members[i].id) == lkv_causal_lease_tag(id)) return LKV_EEXIST;
  if (m->cfg.n_members == LKV_CAUSAL_MAX_ORIGINS) return LKV_ENOSPC;
  lkv_causal_mutation_t mu = {.kind = LKV_CAUSAL_MEMBER_ADD, .member = id, .value = urls, .value_len = len};
  return lkv__causal_write(m, now, &mu, 1, &m->vv, token, rev);
}

size_t lkv_causal_member_count(const lkv_causal_member_t *m) {
  return m->cfg.n_members;
}

uint64_t lkv_causal_member_id_at(const lkv_causal_member_t *m, size_t i) {
  return i < m->cfg.n_members ? m->members[i].id : 0;
}

const uint8_t *lkv_causal_member_peer_urls(const lkv_causal_member_t *m, uint64_t id, size_t *len) {
  int x = lkv__causal_index(m, id);
  if (x < 0 || !m->added[x]) return NULL;
  *len = m->urls_len[x];
  return m->urls[x];
}

/* ---- The membership's codec (checkpoints and snapshots, member_internal.h). */

size_t lkv__causal_members_size(const lkv_causal_member_t *m, int all) {
  size_t size = 4;
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (all || m->added[i]) size += 8 + 4 + m->urls_len[i];
  return size;
}

uint8_t *lkv__causal_members_put(const lkv_causal_member_t *m, uint8_t *p, int all) {
  uint8_t *count = p;
  uint32_t n = 0;
  p += 4;
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    if (!all && !m->added[i]) continue;
    lkv_le64_put(p, m->members[i].id), lkv_le32_put(p + 8, (uint32_t)m->urls_len[i]), p += 12;
    if (m->urls_len[i]) memcpy(p, m->urls[i], m->urls_len[i]), p += m->urls_len[i];
    n++;
  }
  lkv_le32_put(count, n);
  return p;
}

size_t lkv__causal_members_take(lkv__causal_reader_t *r, lkv_causal_member_t *m, uint32_t *marked) {
  size_t before = m->cfg.n_members;
  *marked = 0;
  uint32_t n = lkv__causal_take32(r);
  if (n > LKV_CAUSAL_MAX_ORIGINS) r->bad = 1;
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    uint64_t id = lkv__causal_take64(r);
    uint32_t len = lkv__causal_take32(r);
    const uint8_t *urls = lkv__causal_take(r, len);
    if (r->bad || id == 0) {
      r->bad = 1;
      break;
    }
    int x = len ? lkv__causal_add_record(m, id, urls, len) : -1;
    if (x >= 0)
      *marked |= 1u << x;
    else if (!len && lkv__causal_index(m, id) < 0 && m->cfg.n_members < LKV_CAUSAL_MAX_ORIGINS)
      m->members[m->cfg.n_members++] = (lkv_causal_peer_t){.id = id}; /* an initial member of the sender */
  }
  return before;
}

void lkv__causal_members_undo(lkv_causal_member_t *m, size_t before, uint32_t marked) {
  for (size_t i = 0; i < m->cfg.n_members; i++) {
    if (i < before && !(marked & (1u << i))) continue;
    free(m->urls[i]);
    m->urls[i] = NULL, m->urls_len[i] = 0, m->added[i] = 0;
  }
  memset(m->members + before, 0, (m->cfg.n_members - before) * sizeof(m->members[0]));
  m->cfg.n_members = before;
}
