/* Message input: validation of what peers send, then dispatch by role after the term rules. */
#include "common/error.h"
#include "raft/internal.h"

int lkv__entries_follow(const lkv_raft_entry_t *e, size_t n, uint64_t index, uint64_t min_term,
                        uint64_t max_term) {
  if (n && !e) return 0;
  uint64_t prev_term = min_term;
  for (size_t i = 0; i < n; i++) {
    if (e[i].index != index + 1 + i || e[i].type > LKV_RAFT_ENTRY_CONF_CHANGE || (e[i].len && !e[i].data) ||
        e[i].term < prev_term || e[i].term > max_term)
      return 0;
    prev_term = e[i].term;
  }
  return 1;
}

static int validate(const lkv_raft_t *r, const lkv_raft_msg_t *m) {
  if (!m || m->to != r->cfg.id || m->from == LKV_RAFT_NONE || m->type < LKV_RAFT_MSG_APP ||
      m->type > LKV_RAFT_MSG_TIMEOUT_NOW)
    return LKV_EINVAL;
  if (m->context_len > LKV__READ_CTX_MAX || (m->context_len && !m->context)) return LKV_EINVAL;
  switch (m->type) {
    case LKV_RAFT_MSG_APP:
      if (m->log_term > m->term ||
          !lkv__entries_follow(m->entries, m->n_entries, m->index, m->log_term, m->term))
        return LKV_EINVAL;
      break;
    case LKV_RAFT_MSG_PROP:
      if (m->n_entries && !m->entries) return LKV_EINVAL;
      for (size_t i = 0; i < m->n_entries; i++)
        if (m->entries[i].type > LKV_RAFT_ENTRY_CONF_CHANGE || (m->entries[i].len && !m->entries[i].data))
          return LKV_EINVAL;
      break;
    case LKV_RAFT_MSG_SNAP: {
      const lkv_raft_snapshot_meta_t *s = &m->snapshot.meta;
      if (s->index == 0 || s->term == 0 || s->term > m->term || lkv__conf_validate(&s->conf) != 0 ||
          (m->snapshot.len && !m->snapshot.data))
        return LKV_EINVAL;
      break;
    }
    case LKV_RAFT_MSG_READ_INDEX:
      if (!m->context_len) return LKV_EINVAL;
      break;
    default:
      break;
  }
  if (m->n_entries && m->type != LKV_RAFT_MSG_APP && m->type != LKV_RAFT_MSG_PROP) return LKV_EINVAL;
  /* Only forwarded requests and answers may lack a term: a term-less APP or vote is nonsense. */
  if (m->term == 0 &&
      (m->type == LKV_RAFT_MSG_APP || m->type == LKV_RAFT_MSG_HEARTBEAT || m->type == LKV_RAFT_MSG_SNAP ||
       m->type == LKV_RAFT_MSG_VOTE || m->type == LKV_RAFT_MSG_PRE_VOTE ||
       m->type == LKV_RAFT_MSG_TIMEOUT_NOW || m->type == LKV_RAFT_MSG_READ_INDEX_RESP))
    return LKV_EINVAL;
  return 0;
}

static void forward(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  if (r->leader == LKV_RAFT_NONE) return;
  lkv_raft_msg_t c = *m;
  c.to = r->leader;
  lkv__send(r, &c, 1);
}

static void step_leader(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  switch (m->type) {
    case LKV_RAFT_MSG_APP_RESP:
      lkv__handle_append_resp(r, m);
      break;
    case LKV_RAFT_MSG_HEARTBEAT_RESP:
      lkv__handle_heartbeat_resp(r, m);
      break;
    case LKV_RAFT_MSG_PROP:
      lkv__step_prop(r, m);
      break;
    case LKV_RAFT_MSG_READ_INDEX:
      lkv__read_request(r, m->context, m->context_len, m->from);
      break;
    case LKV_RAFT_MSG_TRANSFER_LEADER:
      lkv__transfer(r, m->from);
      break;
    default:
      break;
  }
}

static void step_follower(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  switch (m->type) {
    case LKV_RAFT_MSG_APP:
    case LKV_RAFT_MSG_HEARTBEAT:
    case LKV_RAFT_MSG_SNAP:
      r->election_elapsed = 0;
      r->leader = m->from;
      if (m->type == LKV_RAFT_MSG_APP)
        lkv__handle_append(r, m);
      else if (m->type == LKV_RAFT_MSG_HEARTBEAT)
        lkv__handle_heartbeat(r, m);
      else
        lkv__handle_snapshot(r, m);
      break;
    case LKV_RAFT_MSG_PROP:
    case LKV_RAFT_MSG_READ_INDEX:
    case LKV_RAFT_MSG_TRANSFER_LEADER:
      forward(r, m);
      break;
    case LKV_RAFT_MSG_TIMEOUT_NOW:
      lkv__hup(r, 1);
      break;
    case LKV_RAFT_MSG_READ_INDEX_RESP:
      if (m->context_len) lkv__push_read_state(r, m->index, m->context, m->context_len);
      break;
    default:
      break;
  }
}

static void step_candidate(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  switch (m->type) {
    case LKV_RAFT_MSG_APP:
    case LKV_RAFT_MSG_HEARTBEAT:
    case LKV_RAFT_MSG_SNAP:
      /* A leader of our term exists (or of a term we were only pre-voting for): follow it. */
      lkv__become_follower(r, m->term, m->from);
      step_follower(r, m);
      break;
    case LKV_RAFT_MSG_VOTE_RESP:
    case LKV_RAFT_MSG_PRE_VOTE_RESP:
      lkv__handle_vote_resp(r, m);
      break;
    default:
      break;
  }
}

int lkv_raft_step(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  int rc = validate(r, m);
  if (rc != 0) return rc;
  if (!lkv__step_term(r, m)) return 0;
  if (m->type == LKV_RAFT_MSG_VOTE || m->type == LKV_RAFT_MSG_PRE_VOTE) {
    lkv__handle_vote(r, m);
    return 0;
  }
  switch (r->role) {
    case LKV_RAFT_LEADER:
      step_leader(r, m);
      break;
    case LKV_RAFT_FOLLOWER:
      step_follower(r, m);
      break;
    default:
      step_candidate(r, m);
      break;
  }
  return 0;
}
