/* Snapshots: recording and compacting on the caller's request, installing one sent by the leader. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/internal.h"

int lkv_raft_set_snapshot(lkv_raft_t *r, const lkv_raft_snapshot_meta_t *meta) {
  if (!meta || meta->index == 0 || meta->index > r->log.applied || lkv__conf_validate(&meta->conf) != 0)
    return LKV_EINVAL;
  if (meta->index <= r->snap.index) return LKV_ECOMPACTED;
  uint64_t term;
  int rc = lkv__log_term(&r->log, meta->index, &term);
  if (rc != 0) return rc;
  r->snap = *meta;
  r->snap.term = term;
  return 0;
}

int lkv_raft_compact(lkv_raft_t *r, uint64_t index) {
  if (index <= r->log.base_index) return LKV_ECOMPACTED;
  if (index > r->snap.index) return LKV_EINVAL;
  lkv__log_compact(&r->log, index, lkv__grave_free, r);
  return 0;
}

static void reply(lkv_raft_t *r, lkv_raft_id_t to, uint64_t index) {
  lkv_raft_msg_t resp = {.type = LKV_RAFT_MSG_APP_RESP, .to = to, .index = index};
  lkv__send(r, &resp, !LKV__BUG(r, ACK_BEFORE_DURABLE));
}

void lkv__handle_snapshot(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  const lkv_raft_snapshot_meta_t *s = &m->snapshot.meta;
  lkv__log_t *l = &r->log;
  if (s->index <= l->committed && !LKV__BUG(r, ACCEPT_STALE_SNAPSHOT)) {
    /* Old news (a duplicate or a late delivery): we already hold at least this much committed state. */
    reply(r, m->from, l->committed);
    return;
  }
  if (s->index > l->committed && lkv__log_match(l, s->index, s->term)) {
    /* Our log already holds the snapshot's last entry, so it holds all of it: just learn the commit. */
    lkv__commit_to(r, s->index);
    reply(r, m->from, l->committed);
    return;
  }
  if (r->batch.out && l->base_index + 1 < r->batch.trunc_from) r->batch.trunc_from = l->base_index + 1;
  lkv__log_reset(l, s->index, s->term, lkv__grave_free, r);
  r->snap = *s;
  r->conf = s->conf;
  lkv__tracker_set_conf(&r->trk, &r->conf, s->index + 1);
  free((void *)r->pending_snap.data);
  r->pending_snap = m->snapshot;
  r->pending_snap.data = NULL;
  if (m->snapshot.len) {
    uint8_t *copy = lkv__xmalloc(m->snapshot.len);
    memcpy(copy, m->snapshot.data, m->snapshot.len);
    r->pending_snap.data = copy;
  }
  r->snap_pending = 1;
  reply(r, m->from, s->index);
}
