/* Leadership transfers: Maintenance.MoveLeader, and a stopping leader handing over. */
#include <stdlib.h>

#include "common/error.h"
#include "replication/raft_internal.h"

int lkv__raft_node_move_leader(lkv_replicator_t *base, uint64_t to, lkv_read_cb cb, void *arg) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv__raft_transfer_t *t = calloc(1, sizeof(*t));
  if (!t) return LKV_ENOMEM;
  t->to = to;
  t->cb = cb;
  t->arg = arg;
  pthread_mutex_lock(&n->mu);
  if (n->stopping) {
    pthread_mutex_unlock(&n->mu);
    free(t);
    return LKV_ESTOPPED;
  }
  t->next = n->in_transfers;
  n->in_transfers = t;
  pthread_cond_signal(&n->wake);
  pthread_mutex_unlock(&n->mu);
  return 0;
}

static int is_voter(const lkv_raft_status_t *st, uint64_t id) {
  for (uint32_t i = 0; i < st->conf.n_voters; i++)
    if (st->conf.voters[i] == id) return 1;
  return 0;
}

/* The voter (not this member) heard from lately whose log matches the leader's furthest: it can lead
 * soonest. 0 when no other voter is active (etcd then skips the hand-over too). */
static uint64_t most_caught_up(lkv__raft_node_t *n, const lkv_raft_status_t *st) {
  uint64_t best = 0, best_match = 0;
  for (uint32_t i = 0; i < st->conf.n_voters; i++) {
    lkv_raft_progress_t pr;
    uint64_t id = st->conf.voters[i];
    if (id == n->o.member_id || lkv_raft_progress(n->raft, id, &pr) != 0 || !pr.recent_active) continue;
    /* Heard from within an election timeout is not enough: a member stopping right now (a rolling restart
     * stops one after another) may still count as active; as etcd, only a peer still connected. */
    if (n->o.connected_since && n->o.connected_since(n->o.member_arg, id) == 0) continue;
    if (!best || pr.match > best_match) best = id, best_match = pr.match;
  }
  return best;
}

static void answer(lkv__raft_transfer_t *t, int err) {
  if (t->cb) t->cb(t->arg, err);
  free(t);
}

void lkv__raft_node_start_transfers(lkv__raft_node_t *n, lkv__raft_transfer_t *list, uint64_t now_ms) {
  while (list) {
    lkv__raft_transfer_t *t = list;
    list = t->next;
    lkv_raft_status_t st;
    lkv_raft_status(n->raft, &st);
    if (n->halted || st.role != LKV_RAFT_LEADER) {
      answer(t, n->halted ? LKV_EHALTED : LKV_ENOTLEADER);
      continue;
    }
    if (t->to == 0) {
      t->hand_over = 1;
      t->to = most_caught_up(n, &st);
    }
    if (t->to == n->o.member_id) { /* already leads */
      answer(t, 0);
      continue;
    }
    if (t->to == 0 || !is_voter(&st, t->to) || lkv_raft_transfer_leader(n->raft, t->to) != 0) {
      answer(t, LKV_EBADTRANSFEREE);
      continue;
    }
    t->deadline_ms = now_ms + n->o.request_timeout_ms;
    t->next = n->transfers;
    n->transfers = t;
  }
}

void lkv__raft_node_check_transfers(lkv__raft_node_t *n, uint64_t now_ms) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  lkv__raft_transfer_t **pp = &n->transfers;
  while (*pp) {
    lkv__raft_transfer_t *t = *pp;
    int err = 1;
    if (st.leader == t->to)
      err = 0;
    else if (t->hand_over && st.role != LKV_RAFT_LEADER)
      err = LKV_ENOTLEADER; /* stepped down (lost its quorum): nothing left to hand over */
    else if (n->halted)
      err = LKV_EHALTED;
    else if (t->deadline_ms <= now_ms)
      err = LKV_ETRANSFERTIMEOUT;
    if (err == 1) {
      pp = &t->next;
      continue;
    }
    *pp = t->next;
    answer(t, err);
  }
}

void lkv__raft_node_fail_transfers(lkv__raft_node_t *n, lkv__raft_transfer_t *list, int err) {
  (void)n;
  while (list) {
    lkv__raft_transfer_t *t = list;
    list = t->next;
    answer(t, err);
  }
}

/* The stopping thread waits for the hand-over's answer. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
} waiter_t;

static void handed_over(void *arg, int err) {
  waiter_t *w = arg;
  (void)err; /* not leading, or no one to hand to, or too slow: the member stops anyway */
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

void lkv_raft_node_hand_over(lkv_replicator_t *base) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv_replication_status_t st;
  base->ops->status(base, &st);
  if (st.leader != n->o.member_id) return;
  waiter_t w = {.done = 0};
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  /* Answered within the request timeout whatever happens (the node answers every transfer). */
  if (lkv__raft_node_move_leader(base, 0, handed_over, &w) == 0) {
    pthread_mutex_lock(&w.mu);
    while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
  }
  pthread_cond_destroy(&w.cv);
  pthread_mutex_destroy(&w.mu);
}
