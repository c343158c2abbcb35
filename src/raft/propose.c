/* Proposals: a leader appends (with the transfer, size and membership checks), a follower forwards. */
#include "common/error.h"
#include "raft/internal.h"

void lkv__leader_append(lkv_raft_t *r, uint8_t type, const uint8_t *data, size_t len) {
  lkv__log_append(&r->log, r->term, type, data, len);
  r->uncommitted += len;
  if (LKV__BUG(r, ACK_BEFORE_DURABLE)) lkv__self_match(r, lkv__log_last(&r->log));
}

int lkv__leader_propose(lkv_raft_t *r, uint8_t type, const uint8_t *data, size_t len) {
  if (r->transferee) return LKV_EPROPOSALDROPPED;
  if (r->cfg.max_uncommitted_size && r->uncommitted > 0 && r->uncommitted + len > r->cfg.max_uncommitted_size)
    return LKV_EPROPOSALDROPPED;
  if (type == LKV_RAFT_ENTRY_CONF_CHANGE) {
    int rc = lkv__conf_check(r);
    if (rc != 0) return rc;
  }
  lkv__leader_append(r, type, data, len);
  if (type == LKV_RAFT_ENTRY_CONF_CHANGE) r->pending_conf_index = lkv__log_last(&r->log);
  return 0;
}

int lkv_raft_propose(lkv_raft_t *r, const uint8_t *data, size_t len, uint64_t *index, uint64_t *term) {
  if (len && !data) return LKV_EINVAL;
  if (index) *index = 0;
  if (term) *term = 0;
  if (r->role == LKV_RAFT_LEADER) {
    int rc = lkv__leader_propose(r, LKV_RAFT_ENTRY_NORMAL, data, len);
    if (rc != 0) return rc;
    if (index) *index = lkv__log_last(&r->log);
    if (term) *term = r->term;
    lkv__bcast_later(r);
    return 0;
  }
  if (!lkv__is_voter(&r->conf, r->cfg.id)) return LKV_EPROPOSALDROPPED;
  if (r->leader == LKV_RAFT_NONE || r->role != LKV_RAFT_FOLLOWER) return LKV_ENOLEADER;
  lkv_raft_entry_t e = {.type = LKV_RAFT_ENTRY_NORMAL, .data = data, .len = len};
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_PROP, .to = r->leader, .entries = &e, .n_entries = 1};
  lkv__send(r, &m, 1);
  return 0;
}

void lkv__step_prop(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  int any = 0;
  for (size_t i = 0; i < m->n_entries; i++) {
    const lkv_raft_entry_t *e = &m->entries[i];
    /* A forwarded change gets the same checks as a local one; a refused one is dropped. */
    any |= lkv__leader_propose(r, e->type, e->data, e->len) == 0;
  }
  if (any) lkv__bcast_later(r);
}
