/* The Raft replicator's interface: replication.h's operations and raft_node.h's calls from other threads. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "replication/raft_internal.h"

static void wake_locked(lkv__raft_node_t *n) {
  pthread_cond_signal(&n->wake);
}

static int node_propose(lkv_replicator_t *base, lkv_proposal_t *p) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->mu);
  if (n->stopping) {
    pthread_mutex_unlock(&n->mu);
    return LKV_ESTOPPED;
  }
  p->next = NULL;
  if (n->in_props_tail)
    n->in_props_tail->next = p;
  else
    n->in_props = p;
  n->in_props_tail = p;
  /* until answered (raft_apply.c) or failed (raft_node.c) */
  lkv_metric_inc(LKV_METRIC(proposals_pending), 0);
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
  return 0;
}

static int node_read_barrier(lkv_replicator_t *base, lkv_read_cb cb, void *arg) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv__raft_read_t *rd = calloc(1, sizeof(*rd));
  if (!rd) return LKV_ENOMEM;
  rd->cb = cb;
  rd->arg = arg;
  pthread_mutex_lock(&n->mu);
  if (n->stopping) {
    pthread_mutex_unlock(&n->mu);
    free(rd);
    return LKV_ESTOPPED;
  }
  if (n->in_reads_tail)
    n->in_reads_tail->next = rd;
  else
    n->in_reads = rd;
  n->in_reads_tail = rd;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
  return 0;
}

static void node_status(lkv_replicator_t *base, lkv_replication_status_t *out) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  *out = (lkv_replication_status_t){.member_id = n->o.member_id,
                                    .leader = atomic_load(&n->st_leader),
                                    .term = atomic_load(&n->st_term),
                                    .commit_index = atomic_load(&n->st_commit),
                                    .applied_index = atomic_load(&n->st_applied),
                                    .is_learner = atomic_load(&n->st_learner),
                                    .single = atomic_load(&n->st_single)};
}

static void node_listen(lkv_replicator_t *base, lkv_commit_cb cb, void *arg) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->listen_mu);
  n->on_commit = cb;
  n->on_commit_arg = arg;
  pthread_mutex_unlock(&n->listen_mu);
}

static void node_on_sign(lkv_replicator_t *base, lkv_sign_cb cb, void *arg) {
  lkv__signing_listen(&((lkv__raft_node_t *)base)->signing, cb, arg);
}

static void node_on_applied(lkv_replicator_t *base, lkv_applied_cb cb, void *arg) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->listen_mu);
  n->on_applied = cb;
  n->on_applied_arg = arg;
  pthread_mutex_unlock(&n->listen_mu);
}

static int node_publish(lkv_replicator_t *base, const uint8_t *attrs, size_t len) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, attrs, len);
  pthread_mutex_lock(&n->mu);
  free(n->self.data);
  n->self = (lkv__raft_attrs_t){.id = n->o.member_id, .data = copy, .len = len};
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
  return 0;
}

/* Appends member id (with a copy of its recorded attributes) to out[*k]. Lock held. */
static int list_one(lkv__raft_node_t *n, uint64_t id, int learner, lkv_replication_member_t *out, size_t *k) {
  lkv_replication_member_t *m = &out[(*k)++];
  m->id = id;
  m->is_learner = learner;
  const lkv__raft_attrs_t *a = lkv__raft_node_shown_attrs(n, id);
  if (!a) return 0;
  m->attrs = malloc(a->len ? a->len : 1);
  if (!m->attrs) return LKV_ENOMEM;
  memcpy(m->attrs, a->data, a->len);
  m->attrs_len = a->len;
  return 0;
}

static int node_members(lkv_replicator_t *base, lkv_replication_member_t **out, size_t *count) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv_replication_member_t *m = calloc(2 * LKV_RAFT_MAX_MEMBERS, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  size_t k = 0;
  int rc = 0;
  pthread_mutex_lock(&n->mu);
  for (uint32_t i = 0; rc == 0 && i < n->conf.n_voters; i++) rc = list_one(n, n->conf.voters[i], 0, m, &k);
  for (uint32_t i = 0; rc == 0 && i < n->conf.n_learners; i++)
    rc = list_one(n, n->conf.learners[i], 1, m, &k);
  pthread_mutex_unlock(&n->mu);
  if (rc) {
    lkv_replication_members_free(m, k);
    return rc;
  }
  *out = m;
  *count = k;
  return 0;
}

void lkv__raft_node_free(lkv__raft_node_t *n) {
  lkv__raft_flusher_stop(n);
  lkv__raft_node_stop_snapshots(n);
  lkv_snap_receiver_close(&n->rx);
  pthread_mutex_destroy(&n->rx_mu);
  lkv__raft_node_free_attrs(n);
  lkv__signing_destroy(&n->signing);
  lkv_raft_free(n->raft);
  lkv_wal_close(n->wal);
  pthread_cond_destroy(&n->wake);
  pthread_mutex_destroy(&n->listen_mu);
  pthread_mutex_destroy(&n->mu);
  free(n->out.b);
  free((char *)n->o.snap_dir);
  free(n);
}

static void node_stop(lkv_replicator_t *base) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->mu);
  n->stopping = 1;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
  pthread_join(n->thread, NULL);
  while (n->in_msgs) {
    lkv__raft_inmsg_t *m = n->in_msgs;
    n->in_msgs = m->next;
    free(m);
  }
  while (n->in_member) {
    lkv__raft_inmsg_t *m = n->in_member;
    n->in_member = m->next;
    free(m);
  }
  while (n->in_peers) {
    lkv__raft_peer_event_t *ev = n->in_peers;
    n->in_peers = ev->next;
    free(ev);
  }
  lkv__raft_node_free(n);
}

static void node_on_restored(lkv_replicator_t *base, lkv_restored_cb cb, void *arg) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->listen_mu);
  n->on_restored = cb;
  n->on_restored_arg = arg;
  pthread_mutex_unlock(&n->listen_mu);
}

const lkv_replicator_ops_t lkv__raft_node_ops = {
    .propose = node_propose,
    .read_barrier = node_read_barrier,
    .status = node_status,
    .listen = node_listen,
    .on_applied = node_on_applied,
    .on_sign = node_on_sign,
    .on_restored = node_on_restored,
    .publish = node_publish,
    .move_leader = lkv__raft_node_move_leader,
    .change_member = lkv__raft_node_change_member,
    .members = node_members,
    .stop = node_stop,
};

/* Copies a message into one of the raft thread's inboxes. */
static void enqueue(lkv__raft_node_t *n, lkv__raft_inmsg_t **head, lkv__raft_inmsg_t **tail, uint64_t from,
                    const uint8_t *data, size_t len) {
  lkv__raft_inmsg_t *m = malloc(sizeof(*m) + len);
  if (!m) return; /* dropped: Raft retries, a forwarded promote times out */
  m->next = NULL;
  m->from = from;
  m->at_ms = lkv_clock_ms(CLOCK_MONOTONIC);
  m->len = len;
  memcpy(m->data, data, len);
  pthread_mutex_lock(&n->mu);
  if (*tail)
    (*tail)->next = m;
  else
    *head = m;
  *tail = m;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
}

void lkv_raft_node_receive(lkv_replicator_t *base, uint64_t from, const uint8_t *data, size_t len) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  enqueue(n, &n->in_msgs, &n->in_msgs_tail, from, data, len);
}

void lkv_raft_node_receive_member(lkv_replicator_t *base, uint64_t from, const uint8_t *data, size_t len) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  enqueue(n, &n->in_member, &n->in_member_tail, from, data, len);
}

void lkv_raft_node_receive_snap(lkv_replicator_t *base, uint64_t from, const uint8_t *data, size_t len) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv_snap_msg_t m;
  if (!n->o.snap_dir || lkv_snap_msg_decode(data, len, &m) != 0) return;
  if (m.type == LKV_SNAP_ACK) {
    pthread_mutex_lock(&n->mu);
    for (lkv__raft_snap_out_t *o = n->snap_outs; o; o = o->next)
      if (o->to == from && o->sender) lkv_snap_sender_ack(o->sender, &m);
    pthread_mutex_unlock(&n->mu);
    return;
  }
  lkv_snap_received_t got;
  pthread_mutex_lock(&n->rx_mu);
  int complete = lkv_snap_receiver_feed(&n->rx, from, &m, &got);
  pthread_mutex_unlock(&n->rx_mu);
  if (complete != 1) return; /* 0, or an offer refused (no max_size here: never) */
  lkv_snap_received_t *rs = malloc(sizeof(*rs));
  if (!rs) {
    unlink(got.path); /* the leader sends it again */
    lkv_snap_received_free(&got);
    return;
  }
  *rs = got;
  pthread_mutex_lock(&n->mu);
  if (n->in_snap) { /* a newer one replaces one the raft thread has not taken */
    unlink(n->in_snap->path);
    lkv_snap_received_free(n->in_snap);
    free(n->in_snap);
  }
  n->in_snap = rs;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
}

void lkv_raft_node_checkpointed(lkv_replicator_t *base) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->mu);
  n->in_checkpointed = 1;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
}

void lkv_raft_node_peer_state(lkv_replicator_t *base, uint64_t peer, int up) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  lkv__raft_peer_event_t *ev = malloc(sizeof(*ev));
  if (!ev) return;
  ev->peer = peer;
  ev->up = up;
  pthread_mutex_lock(&n->mu);
  ev->next = n->in_peers;
  n->in_peers = ev;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
}

void lkv_raft_node_wind_down(lkv_replicator_t *base, unsigned ms) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->mu);
  n->in_wind_down_ms = lkv_clock_ms(CLOCK_MONOTONIC) + ms;
  wake_locked(n);
  pthread_mutex_unlock(&n->mu);
}
