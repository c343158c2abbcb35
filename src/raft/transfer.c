/* Leadership transfer: catch the transferee up, then tell it to campaign at once. */
#include "common/error.h"
#include "raft/internal.h"

static void timeout_now(lkv_raft_t *r, lkv_raft_id_t to) {
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_TIMEOUT_NOW, .to = to};
  lkv__send(r, &m, 0);
}

void lkv__transfer(lkv_raft_t *r, lkv_raft_id_t to) {
  if (to == r->cfg.id || !lkv__is_voter(&r->conf, to)) return;
  if (r->transferee == to) return; /* already under way */
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, to);
  if (!pr) return;
  r->transferee = to;
  /* The transfer gets one election timeout, counted from now. */
  r->election_elapsed = 0;
  if (pr->match == lkv__log_last(&r->log))
    timeout_now(r, to);
  else
    lkv__send_append(r, to, 1);
}

void lkv__transfer_check(lkv_raft_t *r, lkv_raft_id_t from) {
  if (r->role != LKV_RAFT_LEADER || r->transferee != from) return;
  lkv__progress_t *pr = lkv__tracker_get(&r->trk, from);
  if (pr && pr->match == lkv__log_last(&r->log)) timeout_now(r, from);
}

int lkv_raft_transfer_leader(lkv_raft_t *r, lkv_raft_id_t to) {
  if (to == r->cfg.id || !lkv__is_voter(&r->conf, to)) return LKV_EINVAL;
  if (r->role == LKV_RAFT_LEADER) {
    lkv__transfer(r, to);
    return 0;
  }
  if (r->leader == LKV_RAFT_NONE || r->role != LKV_RAFT_FOLLOWER) return LKV_ENOLEADER;
  /* The forwarded request names the transferee as its sender (raft.h). */
  lkv_raft_msg_t m = {.type = LKV_RAFT_MSG_TRANSFER_LEADER, .from = to, .to = r->leader};
  lkv__send(r, &m, 1);
  return 0;
}
