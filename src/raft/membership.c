/* Membership: bootstrap, single-step changes proposed, checked and put in force when applied. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/codec.h"
#include "raft/internal.h"

static int has(const lkv_raft_id_t *ids, uint32_t n, lkv_raft_id_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] == id) return 1;
  return 0;
}

int lkv__is_voter(const lkv_raft_conf_state_t *c, lkv_raft_id_t id) {
  return has(c->voters, c->n_voters, id);
}

int lkv__is_learner(const lkv_raft_conf_state_t *c, lkv_raft_id_t id) {
  return has(c->learners, c->n_learners, id);
}

int lkv__conf_validate(const lkv_raft_conf_state_t *c) {
  if (c->n_voters > LKV_RAFT_MAX_MEMBERS || c->n_learners > LKV_RAFT_MAX_MEMBERS ||
      c->n_voters + c->n_learners > LKV_RAFT_MAX_MEMBERS)
    return LKV_EINVAL;
  for (uint32_t i = 0; i < c->n_voters; i++)
    if (!c->voters[i] || has(c->voters, i, c->voters[i])) return LKV_EINVAL;
  for (uint32_t i = 0; i < c->n_learners; i++)
    if (!c->learners[i] || has(c->learners, i, c->learners[i]) || lkv__is_voter(c, c->learners[i]))
      return LKV_EINVAL;
  return 0;
}

static void drop(lkv_raft_id_t *ids, uint32_t *n, lkv_raft_id_t id) {
  for (uint32_t i = 0; i < *n; i++) {
    if (ids[i] != id) continue;
    memmove(&ids[i], &ids[i + 1], (*n - i - 1) * sizeof(*ids));
    (*n)--;
    return;
  }
}

int lkv__conf_apply(lkv_raft_conf_state_t *c, const lkv_raft_conf_change_t *cc) {
  int voter = lkv__is_voter(c, cc->node), learner = lkv__is_learner(c, cc->node);
  int full = c->n_voters + c->n_learners >= LKV_RAFT_MAX_MEMBERS;
  switch (cc->type) {
    case LKV_RAFT_CC_ADD_NODE:
      if (voter || (!learner && full)) return 0;
      if (learner) drop(c->learners, &c->n_learners, cc->node);
      c->voters[c->n_voters++] = cc->node;
      return 1;
    case LKV_RAFT_CC_ADD_LEARNER:
      /* Demoting the last voter would leave nobody to elect a leader. */
      if (learner || (!voter && full) || (voter && c->n_voters == 1)) return 0;
      if (voter) drop(c->voters, &c->n_voters, cc->node);
      c->learners[c->n_learners++] = cc->node;
      return 1;
    case LKV_RAFT_CC_REMOVE_NODE:
      if (voter && c->n_voters == 1) return 0;
      if (voter) drop(c->voters, &c->n_voters, cc->node);
      if (learner) drop(c->learners, &c->n_learners, cc->node);
      return voter || learner;
  }
  return 0;
}

void lkv__conf_switch(lkv_raft_t *r) {
  lkv__tracker_set_conf(&r->trk, &r->conf, lkv__log_last(&r->log) + 1);
  if (r->role != LKV_RAFT_LEADER) return;
  if (!lkv__is_voter(&r->conf, r->cfg.id) && !LKV__BUG(r, REMOVED_LEADER_STAYS)) {
    /* A leader removed (or demoted) steps down; the rest elect a leader among themselves. First it tells
     * them the commit index once more: a member that never learns that the removal committed keeps
     * needing the removed leader's vote under the old membership. */
    lkv__bcast_heartbeat(r);
    lkv__become_follower(r, r->term, LKV_RAFT_NONE);
    return;
  }
  if (r->transferee && !lkv__is_voter(&r->conf, r->transferee)) r->transferee = LKV_RAFT_NONE;
  lkv__progress_t *self = lkv__tracker_get(&r->trk, r->cfg.id);
  if (self) self->recent_active = 1;
  /* A smaller quorum may already hold entries the old one did not. */
  lkv__maybe_commit(r);
  lkv__bcast_append(r);
}

int lkv__conf_check(lkv_raft_t *r) {
  if (r->pending_conf_index > r->log.applied && !LKV__BUG(r, TWO_CONF_PENDING)) return LKV_ECONFPENDING;
  /* Until an entry of its term commits, a new leader may not know the latest committed membership. */
  if (!lkv__committed_in_term(r) && !LKV__BUG(r, CONF_BEFORE_TERM_COMMIT)) return LKV_ECONFPENDING;
  return 0;
}

int lkv_raft_propose_conf_change(lkv_raft_t *r, const lkv_raft_conf_change_t *cc) {
  if (!cc || cc->type > LKV_RAFT_CC_REMOVE_NODE || cc->node == LKV_RAFT_NONE ||
      (cc->context_len && !cc->context))
    return LKV_EINVAL;
  size_t size = lkv_raft_conf_change_size(cc);
  uint8_t *buf = lkv__xmalloc(size);
  if (lkv_raft_conf_change_encode(cc, buf, size) != size) {
    free(buf);
    return LKV_EINVAL;
  }
  int rc = 0;
  if (r->role == LKV_RAFT_LEADER) {
    if (r->transferee)
      rc = LKV_EPROPOSALDROPPED;
    else if ((rc = lkv__conf_check(r)) == 0) {
      lkv__leader_append(r, LKV_RAFT_ENTRY_CONF_CHANGE, buf, size);
      r->pending_conf_index = lkv__log_last(&r->log);
      lkv__bcast_later(r);
    }
  } else if (!lkv__is_voter(&r->conf, r->cfg.id)) {
    rc = LKV_EPROPOSALDROPPED;
  } else if (r->leader == LKV_RAFT_NONE || r->role != LKV_RAFT_FOLLOWER) {
    rc = LKV_ENOLEADER;
  } else {
    lkv_raft_entry_t e = {.type = LKV_RAFT_ENTRY_CONF_CHANGE, .data = buf, .len = size};
    lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_PROP, .to = r->leader, .entries = &e, .n_entries = 1};
    lkv__send(r, &m, 1);
  }
  free(buf);
  return rc;
}

int lkv_raft_apply_conf_change(lkv_raft_t *r, const lkv_raft_entry_t *e, int accept,
                               lkv_raft_conf_state_t *conf) {
  lkv__batch_t *b = &r->batch;
  if (!e || !b->out) return LKV_EINVAL;
  /* e must be the next conf change of the batch not yet applied. */
  const lkv_raft_entry_t *want = NULL;
  size_t seen = 0;
  for (size_t i = 0; i < b->n_committed && !want; i++) {
    if (b->committed[i].type != LKV_RAFT_ENTRY_CONF_CHANGE) continue;
    if (seen++ == b->n_cc_applied) want = &b->committed[i];
  }
  if (!want || want->index != e->index || want->term != e->term) return LKV_EINVAL;
  lkv_raft_conf_change_t cc;
  if (lkv_raft_conf_change_decode(want->data, want->len, &cc) != 0) return LKV_ECORRUPT;
  b->n_cc_applied++;
  /* A snapshot installed since the batch left already holds this change in its membership. */
  if (accept && want->index > r->log.base_index && lkv__conf_apply(&r->conf, &cc)) lkv__conf_switch(r);
  if (conf) *conf = r->conf;
  return 0;
}

int lkv_raft_bootstrap(lkv_raft_t *r, const lkv_raft_id_t *voters, size_t n) {
  if (!voters || n == 0 || n > LKV_RAFT_MAX_MEMBERS) return LKV_EINVAL;
  if (r->term != 0 || lkv__log_last(&r->log) != 0 || r->conf.n_voters || r->conf.n_learners)
    return LKV_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!voters[i] || has(voters, (uint32_t)i, voters[i])) return LKV_EINVAL;
  lkv__become_follower(r, 1, LKV_RAFT_NONE);
  for (size_t i = 0; i < n; i++) {
    lkv_raft_conf_change_t cc = {.type = LKV_RAFT_CC_ADD_NODE, .node = voters[i]};
    uint8_t buf[64];
    size_t len = lkv_raft_conf_change_encode(&cc, buf, sizeof(buf));
    if (!len) lkv__fatal(r, "conf change encoding", 0, 0);
    lkv__log_append(&r->log, 1, LKV_RAFT_ENTRY_CONF_CHANGE, buf, len);
  }
  r->log.committed = n;
  return 0;
}
