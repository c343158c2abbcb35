/* The causal member's side of a "removed" refusal (docs/causal.md §15a): the removal a member refuses a
 * removed peer with, and the refused member's check of it against its own view. */
#include "causal/member_internal.h"
#include "common/error.h"

const uint8_t *lkv_causal_member_removal_event(const lkv_causal_member_t *m, uint64_t id, size_t *len) {
  int x = lkv__causal_index(m, id);
  if (x < 0 || !m->removed[x]) return NULL;
  uint64_t rev;
  const lkv_causal_held_t *h = lkv_causal_member_event(m, m->removal[x].origin, m->removal[x].seq, &rev);
  if (!h) return NULL;
  *len = h->len;
  return h->bytes;
}

static int removes(const lkv_causal_event_t *ev, uint64_t id) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) return 0;
  while (lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_MEMBER_REMOVE && mu.member == id) return 1;
  return 0;
}

int lkv_causal_member_removal_proven(const lkv_causal_member_t *m, uint64_t by, const uint8_t *buf,
                                     size_t len) {
  uint64_t self = m->members[m->self].id;
  int b = lkv__causal_index(m, by);
  if (b < 0 || (size_t)b == m->self) return LKV_EINVAL;
  lkv_causal_event_t ev = {.origin = 0};
  if (len) {
    int rc = lkv__causal_decode_checked(m, buf, len, &ev);
    if (rc) return rc;
    if (!removes(&ev, self)) return LKV_EBADMSG;
    const lkv_causal_peer_t *origin = &m->members[lkv__causal_index(m, ev.origin)];
    if (!lkv__causal_key_known(origin) || lkv_causal_event_verify(buf, len, origin->pk)) return LKV_EVERIFY;
  }
  /* The refuser applied the removal. Its word counts only while it is a member still in here: a removed
   * member refuses the members it removed whether or not the members still in took that removal. */
  if (m->removed[b]) return LKV_EMEMBERREMOVED;
  /* Without the removal: the refuser compacted it, which it does only once every member still in there
   * applied it (member_remove.c's settled), or it is an older member. */
  if (!len || ev.origin != by) return 0;
  /* The remover alone: it may be removed by a removal not applied here yet (then the members still in
   * refuse its later events, this one too); wait for another member still in to apply it, unless there is
   * none. */
  for (size_t i = 0; i < m->cfg.n_members; i++)
    if (i != m->self && (int)i != b && !m->removed[i]) return LKV_EAGAIN;
  return 0;
}
