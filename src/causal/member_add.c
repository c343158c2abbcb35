/* The causal member's additions: members appended by applied MEMBER_ADD events (docs/causal.md §15b). */
#include <stdlib.h>
#include <string.h>

#include "causal/lease_id.h"
#include "causal/member_internal.h"
#include "common/error.h"

void lkv__causal_add_record(lkv_causal_member_t *m, uint64_t id, const uint8_t *urls, size_t len) {
  int x = lkv__causal_index(m, id);
  if (x < 0) {
    /* Only concurrent adds can overflow (a local add is refused when full): each member ignores the ones
     * applied when full (docs/causal.md §15b). */
    if (m->cfg.n_members == LKV_CAUSAL_MAX_ORIGINS) return;
    x = (int)m->cfg.n_members++;
    m->members[x] = (lkv_causal_peer_t){.id = id}; /* key unknown: trusted on first hello */
  }
  if (m->added[x]) return; /* the first add applied of an id holds */
  m->added[x] = 1;
  m->urls[x] = malloc(len);
  if (!m->urls[x]) abort();
  memcpy(m->urls[x], urls, len);
  m->urls_len[x] = len;
}

void lkv__causal_adds_apply(lkv_causal_member_t *m, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort(); /* checked on arrival */
  while (lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_MEMBER_ADD) lkv__causal_add_record(m, mu.member, mu.value, mu.value_len);
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
