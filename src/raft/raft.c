/* The member: configuration, creation and restore, input validation, step dispatch, proposals, views. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/codec.h"
#include "raft/internal.h"

_Noreturn void lkv__fatal(const lkv_raft_t *r, const char *what, uint64_t a, uint64_t b) {
  /* A broken invariant of the log: continuing could lose committed data, so stop the member here. */
  fprintf(stderr, "raft member %llu: fatal: %s (%llu, %llu)\n", (unsigned long long)r->cfg.id, what,
          (unsigned long long)a, (unsigned long long)b);
  abort();
}

void *lkv__xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) abort(); /* raft.h: allocation failure aborts */
  return p;
}

void *lkv__xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) abort();
  return p;
}

void lkv_raft_config_default(lkv_raft_config_t *cfg, lkv_raft_id_t id, lkv_raft_rand_fn rand,
                             void *rand_arg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->id = id;
  cfg->election_tick = 10;
  cfg->heartbeat_tick = 1;
  cfg->pre_vote = 1;
  cfg->check_quorum = 1;
  cfg->max_size_per_msg = 1u << 20;
  cfg->max_inflight_msgs = 256;
  cfg->rand = rand;
  cfg->rand_arg = rand_arg;
}

int lkv_raft_config_validate(const lkv_raft_config_t *cfg) {
  if (!cfg || cfg->id == LKV_RAFT_NONE || cfg->heartbeat_tick < 1 ||
      cfg->election_tick <= cfg->heartbeat_tick || cfg->max_inflight_msgs < 1 || !cfg->rand)
    return LKV_EINVAL;
  return 0;
}

static int entries_follow(const lkv_raft_entry_t *e, size_t n, uint64_t index, uint64_t min_term,
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

static int restore(lkv_raft_t *r, const lkv_raft_restore_t *rs) {
  const lkv_raft_snapshot_meta_t *s = &rs->snapshot;
  if (lkv__conf_validate(&s->conf) != 0 || (s->index && !s->term)) return LKV_EINVAL;
  if (!entries_follow(rs->entries, rs->n_entries, s->index, s->term, rs->hard_state.term)) return LKV_EINVAL;
  uint64_t last = s->index + rs->n_entries;
  uint64_t commit = rs->hard_state.commit > s->index ? rs->hard_state.commit : s->index;
  uint64_t applied = rs->applied ? rs->applied : s->index;
  if (commit > last || applied < s->index || applied > commit) return LKV_EINVAL;
  lkv__log_t *l = &r->log;
  l->base_index = s->index;
  l->base_term = s->term;
  for (size_t i = 0; i < rs->n_entries; i++) {
    const lkv_raft_entry_t *e = &rs->entries[i];
    lkv__log_append(l, e->term, e->type, e->data, e->len);
  }
  l->stable = last;
  l->committed = commit;
  l->applied = applied;
  r->snap = *s;
  r->conf = s->conf;
  /* The state machine applied these changes before the restart: the membership includes them. */
  for (uint64_t i = s->index + 1; i <= applied; i++) {
    const lkv_raft_entry_t *e = lkv__log_at(l, i);
    lkv_raft_conf_change_t cc;
    if (e->type != LKV_RAFT_ENTRY_CONF_CHANGE) continue;
    if (lkv_raft_conf_change_decode(e->data, e->len, &cc) != 0) return LKV_EINVAL;
    lkv__conf_apply(&r->conf, &cc);
  }
  r->term = rs->hard_state.term;
  r->vote = rs->hard_state.vote;
  r->prev_hs = (lkv_raft_hard_state_t){r->term, r->vote, rs->hard_state.commit};
  return 0;
}

int lkv_raft_new(const lkv_raft_config_t *cfg, const lkv_raft_restore_t *rs, lkv_raft_t **out) {
  if (lkv_raft_config_validate(cfg) != 0 || !out) return LKV_EINVAL;
  lkv_raft_t *r = calloc(1, sizeof(*r));
  if (!r) abort();
  r->cfg = *cfg;
  if (rs) {
    int rc = restore(r, rs);
    if (rc != 0) {
      lkv_raft_free(r);
      return rc;
    }
  }
  lkv__tracker_set_conf(&r->trk, &r->conf, lkv__log_last(&r->log) + 1);
  lkv__become_follower(r, r->term, LKV_RAFT_NONE);
  r->prev_role = LKV_RAFT_FOLLOWER;
  r->prev_leader = LKV_RAFT_NONE;
  *out = r;
  return 0;
}

void lkv_raft_free(lkv_raft_t *r) {
  if (!r) return;
  lkv__batch_free(r);
  free(r->batch.ents);
  free(r->batch.committed);
  free(r->batch.msgs.v);
  free(r->batch.msgs.mem);
  free(r->batch.msgs_ap.v);
  free(r->batch.msgs_ap.mem);
  free(r->batch.rs.v);
  lkv__msgq_free(&r->msgs);
  lkv__msgq_free(&r->msgs_ap);
  lkv__rsq_free(&r->rs);
  free(r->msgs.v);
  free(r->msgs.mem);
  free(r->msgs_ap.v);
  free(r->msgs_ap.mem);
  free(r->rs.v);
  free(r->grave);
  free((void *)r->pending_snap.data);
  free(r->reads);
  free(r->waiting);
  lkv__tracker_free(&r->trk);
  lkv__log_free(&r->log);
  free(r);
}

void lkv_raft_tick(lkv_raft_t *r) {
  if (r->role == LKV_RAFT_LEADER)
    lkv__tick_leader(r);
  else
    lkv__tick_election(r);
}

/* ---- proposals ---- */

void lkv__leader_append(lkv_raft_t *r, uint8_t type, const uint8_t *data, size_t len) {
  lkv__log_append(&r->log, r->term, type, data, len);
  r->uncommitted += len;
  if (LKV__BUG(r, ACK_BEFORE_DURABLE)) lkv__self_match(r, lkv__log_last(&r->log));
}

static int leader_propose(lkv_raft_t *r, uint8_t type, const uint8_t *data, size_t len) {
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
    int rc = leader_propose(r, LKV_RAFT_ENTRY_NORMAL, data, len);
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

/* ---- step ---- */

static int validate(const lkv_raft_t *r, const lkv_raft_msg_t *m) {
  if (!m || m->to != r->cfg.id || m->from == LKV_RAFT_NONE || m->type < LKV_RAFT_MSG_APP ||
      m->type > LKV_RAFT_MSG_TIMEOUT_NOW)
    return LKV_EINVAL;
  if (m->context_len > LKV__READ_CTX_MAX || (m->context_len && !m->context)) return LKV_EINVAL;
  switch (m->type) {
    case LKV_RAFT_MSG_APP:
      if (m->log_term > m->term || !entries_follow(m->entries, m->n_entries, m->index, m->log_term, m->term))
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

static void leader_prop(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  int any = 0;
  for (size_t i = 0; i < m->n_entries; i++) {
    const lkv_raft_entry_t *e = &m->entries[i];
    /* A forwarded change gets the same checks as a local one; a refused one is dropped. */
    any |= leader_propose(r, e->type, e->data, e->len) == 0;
  }
  if (any) lkv__bcast_later(r);
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
      leader_prop(r, m);
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

/* ---- other inputs ---- */

int lkv_raft_campaign(lkv_raft_t *r) {
  return lkv__hup(r, 0);
}

void lkv_raft_report_unreachable(lkv_raft_t *r, lkv_raft_id_t id) {
  if (r->role != LKV_RAFT_LEADER) return;
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, id);
  /* Pipelined appends to an unreachable member were probably lost: find out where it is again. */
  if (pr && id != r->cfg.id && pr->state == LKV_RAFT_PROGRESS_REPLICATE) lkv__pr_become_probe(pr);
}

void lkv_raft_report_snapshot(lkv_raft_t *r, lkv_raft_id_t id, int ok) {
  if (r->role != LKV_RAFT_LEADER) return;
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, id);
  if (!pr || pr->state != LKV_RAFT_PROGRESS_SNAPSHOT) return;
  if (!ok) pr->pending_snapshot = 0;
  lkv__pr_become_probe(pr);
  /* Wait for the next heartbeat answer before probing: the follower may still be installing. */
  pr->probe_sent = 1;
}

void lkv_raft_report_leader_lost(lkv_raft_t *r) {
  if (r->role != LKV_RAFT_FOLLOWER) return;
  r->leader = LKV_RAFT_NONE;
  if (r->cfg.pre_vote && lkv__promotable(r)) {
    r->election_elapsed = 0;
    lkv__hup(r, 0);
  }
}

/* ---- views ---- */

void lkv_raft_status(const lkv_raft_t *r, lkv_raft_status_t *out) {
  memset(out, 0, sizeof(*out));
  out->id = r->cfg.id;
  out->leader = r->leader;
  out->role = r->role;
  out->hard_state = (lkv_raft_hard_state_t){r->term, r->vote, r->log.committed};
  out->applied = r->log.applied;
  out->first_index = r->log.base_index + 1;
  out->last_index = lkv__log_last(&r->log);
  out->snapshot_index = r->snap.index;
  out->conf = r->conf;
  out->transferee = r->role == LKV_RAFT_LEADER ? r->transferee : LKV_RAFT_NONE;
}

int lkv_raft_progress(const lkv_raft_t *r, lkv_raft_id_t id, lkv_raft_progress_t *out) {
  if (r->role != LKV_RAFT_LEADER) return LKV_EPERM;
  const lkv__progress_t *pr = lkv__tracker_get((lkv__tracker_t *)&r->trk, id);
  if (!pr) return LKV_ENOENT;
  *out = (lkv_raft_progress_t){.match = pr->match,
                               .next = pr->next,
                               .state = pr->state,
                               .recent_active = pr->recent_active,
                               .is_learner = pr->is_learner,
                               .inflight_msgs = pr->infl.count,
                               .inflight_bytes = pr->infl.bytes};
  return 0;
}

int lkv_raft_entry(const lkv_raft_t *r, uint64_t index, lkv_raft_entry_t *out) {
  if (index <= r->log.base_index) return LKV_ECOMPACTED;
  const lkv_raft_entry_t *e = lkv__log_at(&r->log, index);
  if (!e) return LKV_ENOENT;
  *out = *e;
  return 0;
}
