/* Log replication: appends and heartbeats out, their answers in, the commit rule, follower appends. */
#include <stdio.h>

#include "common/error.h"
#include "raft/internal.h"

int lkv__committed_in_term(const lkv_raft_t *r) {
  return lkv__log_term_or0(&r->log, r->log.committed) == r->term;
}

void lkv__commit_to(lkv_raft_t *r, uint64_t index) {
  if (index <= r->log.committed) return;
  if (index > lkv__log_last(&r->log))
    lkv__fatal(r, "commit beyond the last index", index, lkv__log_last(&r->log));
  r->log.committed = index;
}

int lkv__maybe_commit(lkv_raft_t *r) {
  uint64_t q = lkv__tracker_committed(&r->trk);
  if (q <= r->log.committed) return 0;
  /* Figure 8: counting replicas proves an entry committed only for the leader's own term. */
  if (lkv__log_term_or0(&r->log, q) != r->term && !LKV__BUG(r, COMMIT_OLD_TERM)) return 0;
  int first_of_term = !lkv__committed_in_term(r);
  lkv__commit_to(r, q);
  if (first_of_term && lkv__committed_in_term(r)) lkv__read_on_term_commit(r);
  return 1;
}

static int send_snapshot(lkv_raft_t *r, lkv__progress_t *pr) {
  /* etcd's rule: a snapshot is big; send it only to a follower known to be alive. */
  if (!pr->recent_active || r->snap.index == 0) return 0;
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_SNAP, .to = pr->id};
  m.snapshot.meta = r->snap;
  lkv__send(r, &m, 0);
  lkv__pr_become_snapshot(pr, r->snap.index);
  return 1;
}

int lkv__send_append(lkv_raft_t *r, lkv_raft_id_t to, int send_if_empty) {
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, to);
  if (!pr || to == r->cfg.id) return 0;
  if (lkv__pr_paused(pr, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes)) return 0;
  const lkv__log_t *l = &r->log;
  uint64_t prev = pr->next - 1, prev_term;
  if (lkv__log_term(l, prev, &prev_term) != 0) return send_snapshot(r, pr);
  size_t bytes = 0;
  size_t n = lkv__log_slice(l, pr->next, r->cfg.max_size_per_msg, &bytes);
  if (n == 0 && !send_if_empty) return 0;
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_APP,
                      .to = to,
                      .index = prev,
                      .log_term = prev_term,
                      .commit = l->committed,
                      .entries = n ? lkv__log_at(l, pr->next) : NULL,
                      .n_entries = n};
  lkv__send(r, &m, 0);
  if (pr->sent_commit < m.commit) pr->sent_commit = m.commit;
  if (pr->state == LKV_RAFT_PROGRESS_REPLICATE) {
    if (n) {
      pr->next += n;
      lkv__infl_add(&pr->infl, r->cfg.max_inflight_msgs, pr->next - 1, bytes);
    }
  } else {
    pr->probe_sent = 1;
  }
  return 1;
}

void lkv__bcast_append(lkv_raft_t *r) {
  for (uint32_t i = 0; i < r->trk.n; i++)
    if (r->trk.prs[i].id != r->cfg.id) lkv__send_append(r, r->trk.prs[i].id, 1);
}

void lkv__bcast_later(lkv_raft_t *r) {
  r->bcast_pending = 1;
}

void lkv__bcast_heartbeat(lkv_raft_t *r) {
  uint8_t ctx[8];
  size_t ctx_len = lkv__read_round_ctx(r, ctx);
  for (uint32_t i = 0; i < r->trk.n; i++) {
    lkv__progress_t *pr = &r->trk.prs[i];
    if (pr->id == r->cfg.id) continue;
    /* A follower may not hold entries up to our commit yet: never tell it to commit what it lacks. */
    uint64_t commit = pr->match < r->log.committed ? pr->match : r->log.committed;
    lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_HEARTBEAT,
                        .to = pr->id,
                        .commit = commit,
                        .context = ctx,
                        .context_len = ctx_len};
    lkv__send(r, &m, 0);
    if (pr->sent_commit < commit) pr->sent_commit = commit;
  }
}

void lkv__self_match(lkv_raft_t *r, uint64_t index) {
  lkv__progress_t *self = lkv__tracker_get(&r->trk, r->cfg.id);
  if (self && lkv__pr_maybe_update(self, index) && lkv__maybe_commit(r)) lkv__bcast_later(r);
}

void lkv__handle_append_resp(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, m->from);
  if (!pr) return;
  pr->recent_active = 1;
  if (m->reject) {
    uint64_t hint = m->reject_hint;
    /* Skip the follower's whole conflicting term at once: find our last entry at or below its term. */
    if (m->log_term > 0) {
      uint64_t t;
      hint = lkv__log_conflict_by_term(&r->log, hint, m->log_term, &t);
    }
    if (lkv__pr_maybe_decr(pr, m->index, hint)) {
      if (pr->state == LKV_RAFT_PROGRESS_REPLICATE) lkv__pr_become_probe(pr);
      lkv__send_append(r, m->from, 1);
    }
    return;
  }
  int was_paused = lkv__pr_paused(pr, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes);
  if (!lkv__pr_maybe_update(pr, m->index)) {
    if (was_paused && pr->state == LKV_RAFT_PROGRESS_PROBE) lkv__send_append(r, m->from, 0);
    return;
  }
  switch (pr->state) {
    case LKV_RAFT_PROGRESS_PROBE:
      lkv__pr_become_replicate(pr);
      break;
    case LKV_RAFT_PROGRESS_SNAPSHOT:
      if (pr->match >= pr->pending_snapshot) lkv__pr_become_replicate(pr);
      break;
    default:
      lkv__infl_free_le(&pr->infl, m->index);
  }
  if (lkv__maybe_commit(r)) {
    lkv__bcast_later(r);
  } else if (was_paused) {
    lkv__send_append(r, m->from, 0);
  }
  /* Pipeline: fill the window while there is something to send. */
  while (lkv__send_append(r, m->from, 0)) {
  }
  /* A follower whose window was full when the commit moved has not heard of it: tell it now, not at the
   * next heartbeat. */
  if (pr->sent_commit < r->log.committed) lkv__send_append(r, m->from, 1);
  lkv__transfer_check(r, m->from);
}

void lkv__handle_heartbeat_resp(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, m->from);
  if (!pr) return;
  pr->recent_active = 1;
  pr->probe_sent = 0; /* one probe per heartbeat round */
  if (pr->state == LKV_RAFT_PROGRESS_REPLICATE &&
      lkv__infl_full(&pr->infl, r->cfg.max_inflight_msgs, r->cfg.max_inflight_bytes))
    lkv__infl_free_le(&pr->infl, pr->infl.count ? pr->infl.buf[pr->infl.start].index : 0);
  if (pr->match < lkv__log_last(&r->log)) lkv__send_append(r, m->from, 1);
  if (m->context_len) lkv__read_ack(r, m->from, m->context, m->context_len);
}

static void reply_append(lkv_raft_t *r, lkv_raft_id_t to, uint64_t index) {
  lkv_raft_msg_t resp = {.type = LKV_RAFT_MSG_APP_RESP, .to = to, .index = index};
  lkv__send(r, &resp, !LKV__BUG(r, ACK_BEFORE_DURABLE));
}

static void truncate_from(lkv_raft_t *r, uint64_t from) {
  if (from <= r->log.committed) lkv__fatal(r, "truncation at or below commit", from, r->log.committed);
  if (r->batch.out && from < r->batch.trunc_from) r->batch.trunc_from = from;
  lkv__log_truncate(&r->log, from, lkv__grave_free, r);
}

static void append_from(lkv_raft_t *r, const lkv_raft_msg_t *m, uint64_t from) {
  truncate_from(r, from);
  for (size_t i = from - m->index - 1; i < m->n_entries; i++) {
    const lkv_raft_entry_t *e = &m->entries[i];
    lkv__log_append(&r->log, e->term, e->type, e->data, e->len);
  }
}

void lkv__handle_append(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  lkv__log_t *l = &r->log;
  if (m->index < l->committed) {
    reply_append(r, m->from, l->committed);
    return;
  }
  if (!lkv__log_match(l, m->index, m->log_term)) {
    uint64_t hint_term;
    uint64_t hint = lkv__log_conflict_by_term(l, m->index, m->log_term, &hint_term);
    lkv_raft_msg_t resp = {.type = LKV_RAFT_MSG_APP_RESP,
                           .to = m->from,
                           .index = m->index,
                           .reject = 1,
                           .reject_hint = hint,
                           .log_term = hint_term};
    lkv__send(r, &resp, !LKV__BUG(r, ACK_BEFORE_DURABLE));
    return;
  }
  uint64_t last_new = m->index + m->n_entries;
  if (LKV__BUG(r, TRUNCATE_STALE_APPEND) && m->n_entries) {
    /* The bug: replace everything after the match point, even entries that agree with the append. */
    uint64_t from = m->index + 1 > l->committed + 1 ? m->index + 1 : l->committed + 1;
    if (from <= last_new && from <= lkv__log_last(l) + 1) append_from(r, m, from);
  } else {
    uint64_t conflict = lkv__log_find_conflict(l, m->entries, m->n_entries);
    if (conflict) append_from(r, m, conflict);
  }
  lkv__commit_to(r, m->commit < last_new ? m->commit : last_new);
  reply_append(r, m->from, last_new);
}

void lkv__handle_heartbeat(lkv_raft_t *r, const lkv_raft_msg_t *m) {
  /* The leader sends commit <= our match, so these entries are ours; guard anyway against our log being
   * shorter after a restart that lost unsynced entries. */
  uint64_t last = lkv__log_last(&r->log);
  lkv__commit_to(r, m->commit < last ? m->commit : last);
  lkv_raft_msg_t resp = {.type = LKV_RAFT_MSG_HEARTBEAT_RESP,
                         .to = m->from,
                         .context = m->context,
                         .context_len = m->context_len};
  lkv__send(r, &resp, 1);
}
