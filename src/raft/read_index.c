/* Linearizable reads by ReadIndex: a leader confirms its leadership with a heartbeat round per batch. */
#include <string.h>

#include "common/error.h"
#include "common/le.h"
#include "raft/internal.h"

/*
 * Rounds: at most one is in flight (round_inflight). A request asked while none is in flight starts one;
 * requests asked meanwhile wait (round 0) and share the next one, which starts as soon as the current one
 * is confirmed. A round is confirmed when a quorum of voters echoed its id, or any later id, in a
 * heartbeat answer: the leader was still leader after the request arrived, so no other leader can have
 * committed beyond the index it recorded.
 */

size_t lkv__read_round_ctx(const lkv_raft_t *r, uint8_t buf[8]) {
  if (!r->round_inflight) return 0;
  lkv_le64_put(buf, r->round_inflight);
  return 8;
}

static void answer(lkv_raft_t *r, const lkv__read_req_t *q) {
  if (q->from == LKV_RAFT_NONE || q->from == r->cfg.id) {
    lkv__push_read_state(r, q->index, q->ctx, q->len);
    return;
  }
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_READ_INDEX_RESP,
                      .to = q->from,
                      .index = q->index,
                      .context = q->ctx,
                      .context_len = q->len};
  lkv__send(r, &m, 0);
}

static void push(lkv__read_req_t **v, size_t *n, size_t *cap, const lkv__read_req_t *q) {
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 8;
    *v = lkv__xrealloc(*v, *cap * sizeof(**v));
  }
  (*v)[(*n)++] = *q;
}

static void start_round(lkv_raft_t *r) {
  int any = 0;
  for (size_t i = 0; i < r->n_reads; i++) any |= r->reads[i].round == 0;
  if (!any || r->round_inflight) return;
  r->round_inflight = ++r->read_round;
  for (size_t i = 0; i < r->n_reads; i++)
    if (r->reads[i].round == 0) r->reads[i].round = r->round_inflight;
  lkv__bcast_heartbeat(r);
}

/* Answers every request whose round a quorum confirmed, then starts the next round if some wait. */
static void release(lkv_raft_t *r) {
  while (r->round_inflight && lkv__tracker_read_quorum(&r->trk, r->cfg.id, r->round_inflight)) {
    uint64_t done = r->round_inflight;
    size_t keep = 0;
    for (size_t i = 0; i < r->n_reads; i++) {
      if (r->reads[i].round != 0 && r->reads[i].round <= done)
        answer(r, &r->reads[i]);
      else
        r->reads[keep++] = r->reads[i];
    }
    r->n_reads = keep;
    r->round_inflight = 0;
    start_round(r);
  }
}

void lkv__read_request(lkv_raft_t *r, const uint8_t *ctx, size_t len, lkv_raft_id_t from) {
  lkv__read_req_t q = {.len = len, .index = r->log.committed, .from = from};
  memcpy(q.ctx, ctx, len);
  if (lkv__tracker_voters(&r->trk) == 1 && lkv__is_voter(&r->conf, r->cfg.id)) {
    answer(r, &q); /* the only voter: nobody else can lead */
    return;
  }
  if (LKV__BUG(r, LEASE_READ_NO_QUORUM) && !r->cfg.check_quorum) {
    answer(r, &q); /* the bug: trust a lease that nothing enforces */
    return;
  }
  if (!lkv__committed_in_term(r) && !LKV__BUG(r, READ_BEFORE_TERM_COMMIT)) {
    /* Our commit index may lag what earlier leaders committed until an entry of our term commits. */
    push(&r->waiting, &r->n_waiting, &r->cap_waiting, &q);
    return;
  }
  push(&r->reads, &r->n_reads, &r->cap_reads, &q);
  start_round(r);
  release(r); /* a round may already be confirmed (single voter in a cluster with learners) */
}

void lkv__read_on_term_commit(lkv_raft_t *r) {
  if (!r->n_waiting) return;
  for (size_t i = 0; i < r->n_waiting; i++) {
    lkv__read_req_t q = r->waiting[i];
    q.index = r->log.committed;
    q.round = 0;
    push(&r->reads, &r->n_reads, &r->cap_reads, &q);
  }
  r->n_waiting = 0;
  start_round(r);
  release(r);
}

void lkv__read_ack(lkv_raft_t *r, lkv_raft_id_t from, const uint8_t *ctx, size_t len) {
  if (len != 8) return;
  uint64_t round = lkv_le64_get(ctx);
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, from);
  if (!pr || round > r->read_round) return;
  if (round > pr->read_ack) pr->read_ack = round;
  release(r);
}

void lkv__read_reset(lkv_raft_t *r) {
  /* Requests die with the leadership that took them: callers retry after a timeout. */
  r->n_reads = 0;
  r->n_waiting = 0;
  r->round_inflight = 0;
}

int lkv_raft_read_index(lkv_raft_t *r, const uint8_t *context, size_t len) {
  if (!context || len == 0 || len > LKV__READ_CTX_MAX) return LKV_EINVAL;
  if (r->role == LKV_RAFT_LEADER) {
    lkv__read_request(r, context, len, LKV_RAFT_NONE);
    return 0;
  }
  if (r->leader == LKV_RAFT_NONE || r->role != LKV_RAFT_FOLLOWER) return LKV_ENOLEADER;
  lkv_raft_msg_t m = {
      .type = LKV_RAFT_MSG_READ_INDEX, .to = r->leader, .context = context, .context_len = len};
  lkv__send(r, &m, 1);
  return 0;
}
