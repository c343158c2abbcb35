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

/* The term and vote a restarted member resumes with. */
static void restore_term(lkv_raft_t *r, const lkv_raft_restore_t *rs) {
  const lkv__log_t *l = &r->log;
  r->term = rs->hard_state.term;
  r->vote = rs->hard_state.vote;
  if (lkv__log_last_term(l) > r->term) {
    /* Entries of a later term were written but the crash lost the hard state of their batch: nothing of
     * that batch was acknowledged (acks wait for the flush), so no vote of that term left either. Take
     * the term the log shows, with no vote, as if a message of that term had just arrived. */
    r->term = lkv__log_last_term(l);
    r->vote = LKV_RAFT_NONE;
  }
  r->prev_hs = rs->hard_state;
}

static int restore(lkv_raft_t *r, const lkv_raft_restore_t *rs) {
  const lkv_raft_snapshot_meta_t *s = &rs->snapshot;
  if (lkv__conf_validate(&s->conf) != 0 || (s->index && !s->term)) return LKV_EINVAL;
  if (!lkv__entries_follow(rs->entries, rs->n_entries, s->index, s->term, UINT64_MAX)) return LKV_EINVAL;
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
  if (rs->conf) {
    if (lkv__conf_validate(rs->conf) != 0) return LKV_EINVAL;
    r->conf = *rs->conf;
  } else {
    /* The state machine applied these changes before the restart: the membership includes them. */
    r->conf = s->conf;
    for (uint64_t i = s->index + 1; i <= applied; i++) {
      const lkv_raft_entry_t *e = lkv__log_at(l, i);
      lkv_raft_conf_change_t cc;
      if (e->type != LKV_RAFT_ENTRY_CONF_CHANGE) continue;
      if (lkv_raft_conf_change_decode(e->data, e->len, &cc) != 0) return LKV_EINVAL;
      lkv__conf_apply(&r->conf, &cc);
    }
  }
  restore_term(r, rs);
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
  /* Without pre-vote, forgetting the leader would drop the vote lease and let a disruptive candidate in:
   * the fast path exists only with pre-vote. */
  if (r->role != LKV_RAFT_FOLLOWER || !r->cfg.pre_vote) return;
  r->leader = LKV_RAFT_NONE;
  if (lkv__promotable(r)) {
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
