/* Elections: term rules, randomized timeouts, pre-vote, votes, CheckQuorum, role changes. */
#include <limits.h>

#include "common/error.h"
#include "raft/internal.h"

static void set_term(lkv_raft_t *r, uint64_t term) {
  if (term == r->term) return;
  r->term = term;
  if (!LKV__BUG(r, KEEP_VOTE_ON_NEW_TERM)) r->vote = LKV_RAFT_NONE;
}

static void reset_timeout(lkv_raft_t *r) {
  unsigned e = r->cfg.election_tick;
  r->rand_timeout = e + (unsigned)(r->cfg.rand(r->cfg.rand_arg) % e);
}

void lkv__reset(lkv_raft_t *r, uint64_t term) {
  set_term(r, term);
  r->leader = LKV_RAFT_NONE;
  r->election_elapsed = 0;
  r->heartbeat_elapsed = 0;
  reset_timeout(r);
  r->transferee = LKV_RAFT_NONE;
  r->pending_conf_index = 0;
  r->uncommitted = 0;
  lkv__read_reset(r);
  uint64_t last = lkv__log_last(&r->log);
  for (uint32_t i = 0; i < r->trk.n; i++) {
    lkv__progress_t *pr = &r->trk.prs[i];
    pr->match = 0;
    pr->next = last + 1;
    pr->state = LKV_RAFT_PROGRESS_PROBE;
    pr->pending_snapshot = 0;
    pr->probe_sent = 0;
    pr->recent_active = 0;
    pr->read_ack = 0;
    pr->sent_commit = 0;
    pr->vote = 0;
    lkv__infl_reset(&pr->infl);
  }
}

void lkv__become_follower(lkv_raft_t *r, uint64_t term, lkv_raft_id_t leader) {
  lkv__reset(r, term);
  r->role = LKV_RAFT_FOLLOWER;
  r->leader = leader;
}

void lkv__become_leader(lkv_raft_t *r) {
  lkv__reset(r, r->term);
  r->role = LKV_RAFT_LEADER;
  r->leader = r->cfg.id;
  lkv__progress_t *self = lkv__tracker_get(&r->trk, r->cfg.id);
  if (self) {
    lkv__pr_become_replicate(self);
    self->match = r->log.stable;
    self->next = lkv__log_last(&r->log) + 1;
    self->recent_active = 1;
  }
  /* Anything in the log may be an unapplied membership change: none may be proposed until it is applied. */
  r->pending_conf_index = lkv__log_last(&r->log);
  /* The entry of this term that lets the leader commit what earlier terms left (Raft §5.4.2). */
  lkv__leader_append(r, LKV_RAFT_ENTRY_NORMAL, NULL, 0);
}

int lkv__has_unapplied_conf(const lkv_raft_t *r) {
  const lkv__log_t *l = &r->log;
  for (uint64_t i = l->applied + 1; i <= l->committed; i++) {
    const lkv_raft_entry_t *e = lkv__log_at(l, i);
    if (e && e->type == LKV_RAFT_ENTRY_CONF_CHANGE) return 1;
  }
  return 0;
}

int lkv__promotable(const lkv_raft_t *r) {
  return lkv__is_voter(&r->conf, r->cfg.id);
}

void lkv__campaign(lkv_raft_t *r, int kind) {
  uint64_t vote_term;
  uint8_t type;
  if (kind == LKV__CAMPAIGN_PRE) {
    /* A pre-candidate changes neither term nor vote: a lost pre-vote leaves no trace in the cluster. */
    r->role = LKV_RAFT_PRE_CANDIDATE;
    r->leader = LKV_RAFT_NONE;
    for (uint32_t i = 0; i < r->trk.n; i++) r->trk.prs[i].vote = 0;
    vote_term = r->term + 1;
    type = LKV_RAFT_MSG_PRE_VOTE;
  } else {
    lkv__reset(r, r->term + 1);
    r->role = LKV_RAFT_CANDIDATE;
    r->vote = r->cfg.id;
    vote_term = r->term;
    type = LKV_RAFT_MSG_VOTE;
  }
  lkv__progress_t *self = lkv__tracker_get(&r->trk, r->cfg.id);
  if (self) self->vote = 1;
  if (lkv__tracker_tally(&r->trk) == 1) {
    if (kind == LKV__CAMPAIGN_PRE)
      lkv__campaign(r, LKV__CAMPAIGN_ELECT);
    else
      lkv__become_leader(r);
    return;
  }
  for (uint32_t i = 0; i < r->trk.n; i++) {
    const lkv__progress_t *pr = &r->trk.prs[i];
    if (pr->is_learner || pr->id == r->cfg.id) continue;
    lkv_raft_msg_t m = {.type = type,
                        .to = pr->id,
                        .term = vote_term,
                        .index = lkv__log_last(&r->log),
                        .log_term = lkv__log_last_term(&r->log),
                        .flags = kind == LKV__CAMPAIGN_TRANSFER ? LKV_RAFT_MSG_FLAG_TRANSFER : 0};
    /* The candidate's own term and vote must be durable before it asks (it may restart mid-campaign). */
    lkv__send(r, &m, 1);
  }
}

int lkv__hup(lkv_raft_t *r, int transfer) {
  if (!lkv__promotable(r) || lkv__has_unapplied_conf(r)) return LKV_EPERM;
  if (r->role == LKV_RAFT_LEADER) return 0;
  if (transfer)
    lkv__campaign(r, LKV__CAMPAIGN_TRANSFER);
  else
    lkv__campaign(r, r->cfg.pre_vote ? LKV__CAMPAIGN_PRE : LKV__CAMPAIGN_ELECT);
  return 0;
}

int lkv__step_term(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  if (m->term == 0) {
    /* Forwarded requests carry no term; a term-less answer is from a member that never had one. */
    int fwd = m->type == LKV_RAFT_MSG_PROP || m->type == LKV_RAFT_MSG_READ_INDEX ||
              m->type == LKV_RAFT_MSG_TRANSFER_LEADER;
    return fwd || r->term == 0;
  }
  int is_vote = m->type == LKV_RAFT_MSG_VOTE || m->type == LKV_RAFT_MSG_PRE_VOTE;
  if (m->term > r->term) {
    if (is_vote) {
      int forced = (m->flags & LKV_RAFT_MSG_FLAG_TRANSFER) != 0;
      int in_lease =
          r->cfg.check_quorum && r->leader != LKV_RAFT_NONE && r->election_elapsed < r->cfg.election_tick;
      /* A member that heard a live leader recently ignores disruptive campaigns entirely. */
      if (in_lease && (!forced || LKV__BUG(r, TRANSFER_BLOCKED_BY_LEASE))) return 0;
    }
    if (m->type == LKV_RAFT_MSG_PRE_VOTE) {
      /* Never change term for a pre-vote. */
    } else if (m->type == LKV_RAFT_MSG_PRE_VOTE_RESP && !m->reject) {
      /* A granted pre-vote carries the pre-vote's term; the pre-candidate raises it only if it wins. */
    } else if (m->type == LKV_RAFT_MSG_APP || m->type == LKV_RAFT_MSG_HEARTBEAT ||
               m->type == LKV_RAFT_MSG_SNAP) {
      lkv__become_follower(r, m->term, m->from);
    } else if (m->type == LKV_RAFT_MSG_VOTE) {
      /* Raft's rule: only a leader's append or a granted vote restarts the election timer. A candidate
       * whose log we refuse must not hold our own campaign back: with a faster clock it would win every
       * race and keep the cluster leaderless (without pre-vote nothing else stops it). */
      unsigned elapsed = r->election_elapsed;
      lkv__become_follower(r, m->term, LKV_RAFT_NONE);
      r->election_elapsed = elapsed;
    } else {
      lkv__become_follower(r, m->term, LKV_RAFT_NONE);
    }
    return 1;
  }
  if (m->term < r->term) {
    if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
        (m->type == LKV_RAFT_MSG_APP || m->type == LKV_RAFT_MSG_HEARTBEAT)) {
      /* A stale leader cut off by our lease or pre-votes would never learn of the new term otherwise. */
      lkv_raft_msg_t resp = {.type = LKV_RAFT_MSG_APP_RESP, .to = m->from};
      lkv__send(r, &resp, 1);
    } else if (m->type == LKV_RAFT_MSG_PRE_VOTE || m->type == LKV_RAFT_MSG_VOTE) {
      /* Refuse with our term (Raft's RequestVote reply) so the candidate catches up: a member whose
       * membership is behind may never send it anything else, and each would wait for the other's vote. */
      lkv_raft_msg_t resp = {
          .type = m->type == LKV_RAFT_MSG_VOTE ? LKV_RAFT_MSG_VOTE_RESP : LKV_RAFT_MSG_PRE_VOTE_RESP,
          .to = m->from,
          .reject = 1};
      lkv__send(r, &resp, 1);
    }
    return 0;
  }
  return 1;
}

void lkv__handle_vote(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  int pre = m->type == LKV_RAFT_MSG_PRE_VOTE;
  int can = r->vote == m->from || (r->vote == LKV_RAFT_NONE && r->leader == LKV_RAFT_NONE) ||
            (pre && m->term > r->term);
  lkv_raft_msg_t resp = {.type = pre ? LKV_RAFT_MSG_PRE_VOTE_RESP : LKV_RAFT_MSG_VOTE_RESP, .to = m->from};
  if (can && lkv__log_up_to_date(&r->log, m->index, m->log_term)) {
    resp.term = m->term;
    if (!pre) {
      r->election_elapsed = 0;
      r->vote = m->from;
    }
  } else {
    resp.reject = 1;
  }
  lkv__send(r, &resp, !LKV__BUG(r, VOTE_BEFORE_DURABLE));
}

void lkv__handle_vote_resp(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  int pre = r->role == LKV_RAFT_PRE_CANDIDATE;
  if (m->type != (pre ? LKV_RAFT_MSG_PRE_VOTE_RESP : LKV_RAFT_MSG_VOTE_RESP)) return;
  if (pre && !m->reject && m->term != r->term + 1) return; /* from an older pre-vote round */
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, m->from);
  if (!pr || pr->is_learner) return;
  if (pr->vote == 0) pr->vote = m->reject ? -1 : 1;
  int res = lkv__tracker_tally(&r->trk);
  if (res > 0) {
    if (pre)
      lkv__campaign(r, LKV__CAMPAIGN_ELECT);
    else {
      lkv__become_leader(r);
      lkv__bcast_append(r);
    }
  } else if (res < 0) {
    lkv__become_follower(r, r->term, LKV_RAFT_NONE);
  }
}

void lkv__tick_election(lkv_raft_t *r) {
  if (r->election_elapsed < UINT_MAX) r->election_elapsed++;
  /* A member that may not campaign keeps counting: its lease on the leader it last heard must expire, or
   * it would ignore the votes of the members that now need it (a learner promoted while it was cut off). */
  if (r->election_elapsed >= r->rand_timeout && lkv__promotable(r)) {
    r->election_elapsed = 0;
    lkv__hup(r, 0);
  }
}

void lkv__tick_leader(lkv_raft_t *r) {
  r->heartbeat_elapsed++;
  r->election_elapsed++;
  if (r->election_elapsed >= r->cfg.election_tick) {
    r->election_elapsed = 0;
    if (r->cfg.check_quorum) {
      if (!lkv__tracker_quorum_active(&r->trk)) {
        lkv__become_follower(r, r->term, LKV_RAFT_NONE);
        return;
      }
      for (uint32_t i = 0; i < r->trk.n; i++) r->trk.prs[i].recent_active = r->trk.prs[i].id == r->cfg.id;
    }
    /* A transfer that did not finish within an election timeout is abandoned. */
    r->transferee = LKV_RAFT_NONE;
  }
  if (r->heartbeat_elapsed >= r->cfg.heartbeat_tick) {
    r->heartbeat_elapsed = 0;
    lkv__bcast_heartbeat(r);
  }
}
