/* The Raft replicator's thread: inbox, ticks, start, stop, and the replication interface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/le.h"
#include "raft/codec.h"
#include "replication/raft_entry.h"
#include "replication/raft_internal.h"

/* A paused process (SIGSTOP, a long GC-like stall) catches up at most this many election timeouts of
 * ticks at once: enough to campaign, not a storm of heartbeats. */
#define LKV_RAFT_NODE_MAX_CATCHUP_TIMEOUTS 2

static uint64_t node_rand(void *arg) {
  lkv__raft_node_t *n = arg;
  /* xorshift64*: Raft needs spread election timeouts, not secrecy. */
  n->rng ^= n->rng >> 12;
  n->rng ^= n->rng << 25;
  n->rng ^= n->rng >> 27;
  return n->rng * UINT64_C(2685821657736338717);
}

void lkv__raft_node_fail(lkv_proposal_t *p, int err) {
  p->req.err = err;
  p->req.resp = NULL;
  p->req.resp_len = 0;
  p->done(p);
}

static void fail_all(lkv__raft_node_t *n, int err) {
  while (n->stalled) {
    lkv_proposal_t *p = n->stalled;
    n->stalled = p->next;
    lkv__raft_node_fail(p, err);
  }
  while (n->pending) {
    lkv_proposal_t *p = n->pending;
    n->pending = p->next;
    lkv__raft_node_fail(p, err);
  }
  n->pending_tail = NULL;
  while (n->reads) {
    lkv__raft_read_t *rd = n->reads;
    n->reads = rd->next;
    rd->cb(rd->arg, err);
    free(rd);
  }
}

void lkv__raft_node_halt(lkv__raft_node_t *n, const char *what, int rc) {
  if (!n->halted)
    fprintf(stderr, "ledgerkv: raft member %016llx halted: %s: %s; restart it to recover from its log\n",
            (unsigned long long)n->o.member_id, what, lkv_strerror(rc));
  n->halted = 1;
  fail_all(n, LKV_EHALTED);
  atomic_store(&n->st_leader, 0);
}

/* etcd's quota check before the log: a write that would take this member's store to its quota is
 * refused, and the NOSPACE alarm is raised through the log (so every member refuses writes alike). */
static int check_quota(lkv__raft_node_t *n, const lkv_proposal_t *p) {
  int rc = lkv_apply_quota_check(n->o.store, &p->req);
  if (rc != LKV_ENOSPACE) return rc;
  lkv_mvcc_stat_t st;
  if (lkv_mvcc_stat(n->o.store, &st) == 0 && (st.alarms & LKV_MVCC_ALARM_NOSPACE)) return rc;
  Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
  a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
  a.memberid = n->o.member_id;
  a.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
  uint8_t buf[64], *data;
  size_t len;
  lkv_raft_entry_payload_t e = {.kind = LKV_OP_ALARM,
                                .flags = LKV_RAFT_ENTRY_NO_CLAIMS,
                                .origin = n->o.member_id,
                                .seq = ++n->next_seq,
                                .request = buf,
                                .request_len = etcdserverpb__alarm_request__pack(&a, buf)};
  if (lkv_raft_entry_encode(&e, &data, &len) == 0) {
    lkv_raft_propose(n->raft, data, len, NULL, NULL); /* retried by the next refused write if lost */
    free(data);
  }
  return rc;
}

/* Encodes p's request as a log entry and proposes it; on failure answers it at once. */
static void propose_one(lkv__raft_node_t *n, lkv_proposal_t *p, uint64_t now) {
  if (n->halted) {
    lkv__raft_node_fail(p, LKV_EHALTED);
    return;
  }
  int quota = check_quota(n, p);
  if (quota != 0) {
    lkv__raft_node_fail(p, quota);
    return;
  }
  lkv_raft_entry_payload_t e = {.kind = p->req.kind,
                                .flags = p->req.no_claims ? LKV_RAFT_ENTRY_NO_CLAIMS : 0,
                                .origin = n->o.member_id,
                                .seq = ++n->next_seq,
                                .request = p->req.raw,
                                .request_len = p->req.raw_len};
  uint8_t *packed = NULL;
  if (!e.request) { /* proposed by the server itself: the bytes are the message packed */
    size_t len = protobuf_c_message_get_packed_size(p->req.msg);
    packed = malloc(len ? len : 1);
    if (!packed) {
      lkv__raft_node_fail(p, LKV_ENOMEM);
      return;
    }
    e.request_len = protobuf_c_message_pack(p->req.msg, packed);
    e.request = packed;
  }
  uint8_t *data;
  size_t len;
  int rc = lkv_raft_entry_encode(&e, &data, &len);
  free(packed);
  if (rc == 0) {
    rc = lkv_raft_propose(n->raft, data, len, NULL, NULL);
    free(data);
  }
  if (rc == LKV_EPROPOSALDROPPED && now < p->deadline_ms) {
    /* A leadership transfer is under way: tried again each round until the new leader takes it. */
    p->next = n->stalled;
    n->stalled = p;
    return;
  }
  if (rc != 0) {
    lkv__raft_node_fail(p, rc);
    return;
  }
  p->seq = e.seq;
  p->next = NULL;
  if (n->pending_tail)
    n->pending_tail->next = p;
  else
    n->pending = p;
  n->pending_tail = p;
}

static void ask_read(lkv__raft_node_t *n, lkv__raft_read_t *rd, uint64_t now) {
  if (n->halted) {
    rd->cb(rd->arg, LKV_EHALTED);
    free(rd);
    return;
  }
  rd->seq = ++n->next_seq;
  uint8_t ctx[8];
  lkv_le64_put(ctx, rd->seq);
  int rc = lkv_raft_read_index(n->raft, ctx, sizeof(ctx));
  if (rc != 0) {
    rd->cb(rd->arg, rc);
    free(rd);
    return;
  }
  rd->deadline_ms = now + n->o.request_timeout_ms;
  rd->next = n->reads;
  n->reads = rd;
}

static void step_message(lkv__raft_node_t *n, const lkv__raft_inmsg_t *m, uint64_t now) {
  lkv_raft_msg_t msg;
  lkv_raft_entry_t *entries = NULL;
  if (lkv_raft_msg_decode(m->data, m->len, &msg, &entries) != 0) return; /* malformed: dropped */
  if (msg.to == n->o.member_id && lkv_raft_step(n->raft, &msg) == 0) {
    lkv_raft_status_t st;
    lkv_raft_status(n->raft, &st);
    if (msg.from == st.leader) n->heard_leader = st.leader, n->heard_at_ms = now;
  }
  free(entries);
}

/* Fast failover: a follower whose connection to its leader broke campaigns without waiting out the
 * election timeout (the core needs pre-vote for it). Every follower sees the break at the same moment,
 * so each waits a random part of half a heartbeat interval first: campaigns at the same instant split
 * the vote and cost a whole election timeout. */
static void peer_event(lkv__raft_node_t *n, const lkv__raft_peer_event_t *ev, uint64_t now) {
  if (ev->up) return;
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (st.role == LKV_RAFT_LEADER) {
    lkv_raft_report_unreachable(n->raft, ev->peer);
  } else if (st.leader == ev->peer && n->lost_leader != ev->peer) {
    n->lost_leader = ev->peer;
    n->lost_at_ms = now + node_rand(n) % (n->o.tick_ms / 2 + 1);
  }
}

/* A leader silent for 2/5 of an election timeout (four heartbeats by default: paused, cut off, its
 * machine gone without closing connections) is suspected like one whose connection broke: the pre-vote
 * that follows cannot disrupt a leader the others still hear, and a paused leader is replaced in less
 * than half of etcd's time. The price: a leader stalled that long (a disk stall) may be replaced. */
static void suspect_silent_leader(lkv__raft_node_t *n, const lkv_raft_status_t *st, uint64_t now) {
  if (st->role != LKV_RAFT_FOLLOWER || st->leader == LKV_RAFT_NONE || n->lost_leader) return;
  if (n->heard_leader != st->leader) { /* a new leader: count from now */
    n->heard_leader = st->leader;
    n->heard_at_ms = now;
    return;
  }
  if (now - n->heard_at_ms < (uint64_t)n->o.tick_ms * n->o.election_ticks * 2 / 5) return;
  n->lost_leader = st->leader;
  n->lost_at_ms = now + node_rand(n) % (n->o.tick_ms / 2 + 1);
}

static void report_lost_leader(lkv__raft_node_t *n, uint64_t now) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  suspect_silent_leader(n, &st, now);
  if (!n->lost_leader || now < n->lost_at_ms) return;
  if (st.leader == n->lost_leader) lkv_raft_report_leader_lost(n->raft); /* still the one that went away */
  n->lost_leader = 0;
}

static void wind_down(lkv__raft_node_t *n, uint64_t limit_ms);

/* Fails proposals past their deadline: they may still be applied later (as with etcd, a timeout does
 * not say the write did not happen). */
static void expire_pending(lkv__raft_node_t *n, uint64_t now) {
  lkv_proposal_t **pp = &n->pending;
  lkv_proposal_t *last = NULL;
  while (*pp) {
    lkv_proposal_t *p = *pp;
    if (p->deadline_ms <= now) {
      *pp = p->next;
      lkv__raft_node_fail(p, LKV_ETIMEDOUT);
    } else {
      last = p;
      pp = &p->next;
    }
  }
  n->pending_tail = last;
}

static void publish_status(lkv__raft_node_t *n) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  atomic_store(&n->st_leader, n->halted ? 0 : st.leader);
  atomic_store(&n->st_term, st.hard_state.term);
  atomic_store(&n->st_commit, st.hard_state.commit);
  atomic_store(&n->st_applied, n->applied);
  int learner = 0;
  for (uint32_t i = 0; i < st.conf.n_learners; i++) learner |= st.conf.learners[i] == n->o.member_id;
  atomic_store(&n->st_learner, learner);
  pthread_mutex_lock(&n->mu);
  n->conf = st.conf;
  pthread_mutex_unlock(&n->mu);
}

/* One round: wait for input or the next tick, feed the core, handle what it has ready. Returns 0 once
 * stopping. */
static int round_once(lkv__raft_node_t *n) {
  pthread_mutex_lock(&n->mu);
  while (!n->stopping && !n->in_props && !n->in_msgs && !n->in_reads && !n->in_peers && !n->in_transfers &&
         !n->in_changes && !n->in_wind_down_ms) {
    uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
    uint64_t wake_ms = n->next_tick_ms;
    if (n->lost_leader && n->lost_at_ms < wake_ms) wake_ms = n->lost_at_ms;
    if (n->o.ledger && n->signing.next_ms < wake_ms) wake_ms = n->signing.next_ms;
    if (now >= wake_ms) break;
    struct timespec until = {.tv_sec = (time_t)(wake_ms / 1000),
                             .tv_nsec = (long)(wake_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&n->wake, &n->mu, &until);
  }
  int stopping = n->stopping;
  lkv_proposal_t *props = n->in_props;
  lkv__raft_inmsg_t *msgs = n->in_msgs;
  lkv__raft_read_t *reads = n->in_reads;
  lkv__raft_peer_event_t *peers = n->in_peers;
  lkv__raft_transfer_t *transfers = n->in_transfers;
  lkv__raft_change_t *changes = n->in_changes;
  n->in_props = n->in_props_tail = NULL;
  n->in_msgs = n->in_msgs_tail = NULL;
  n->in_reads = n->in_reads_tail = NULL;
  n->in_peers = NULL;
  n->in_transfers = NULL;
  n->in_changes = NULL;
  uint64_t wind_down_ms = n->in_wind_down_ms;
  n->in_wind_down_ms = 0;
  pthread_mutex_unlock(&n->mu);
  if (wind_down_ms) wind_down(n, wind_down_ms);

  uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
  if (!n->halted && now >= n->next_tick_ms) {
    uint64_t due = (now - n->next_tick_ms) / n->o.tick_ms + 1;
    uint64_t cap = (uint64_t)n->o.election_ticks * LKV_RAFT_NODE_MAX_CATCHUP_TIMEOUTS;
    for (uint64_t i = 0; i < (due < cap ? due : cap); i++) lkv_raft_tick(n->raft);
    n->next_tick_ms += due * n->o.tick_ms;
  }
  while (msgs) {
    lkv__raft_inmsg_t *m = msgs;
    msgs = m->next;
    if (!n->halted) step_message(n, m, now);
    free(m);
  }
  while (peers) {
    lkv__raft_peer_event_t *ev = peers;
    peers = ev->next;
    if (!n->halted) peer_event(n, ev, now);
    free(ev);
  }
  if (!n->halted) report_lost_leader(n, now);
  lkv__raft_node_start_transfers(n, transfers, now);
  lkv__raft_node_start_changes(n, changes, now);
  lkv_proposal_t *stalled = n->stalled; /* first: they came first (reversed: the oldest is last) */
  n->stalled = NULL;
  lkv_proposal_t *ordered = NULL;
  while (stalled) {
    lkv_proposal_t *p = stalled;
    stalled = p->next;
    p->next = ordered;
    ordered = p;
  }
  while (ordered) {
    lkv_proposal_t *p = ordered;
    ordered = p->next;
    propose_one(n, p, now);
  }
  while (props) {
    lkv_proposal_t *p = props;
    props = p->next;
    p->deadline_ms = now + n->o.request_timeout_ms;
    propose_one(n, p, now);
  }
  while (reads) {
    lkv__raft_read_t *rd = reads;
    reads = rd->next;
    ask_read(n, rd, now);
  }
  if (!n->halted) lkv__raft_node_drain_ready(n);
  lkv__raft_node_publish_due(n, now);
  if (!n->halted) lkv__raft_node_drain_ready(n); /* a leader's own proposal: appended at once */
  expire_pending(n, now);
  lkv__raft_node_expire_changes(n, now);
  lkv__raft_node_answer_reads(n, now);
  if (!n->halted) lkv__signing_due(&n->signing, now);
  publish_status(n);
  lkv__raft_node_check_transfers(n, now);
  return !stopping;
}

static void *raft_main(void *arg) {
  lkv__raft_node_t *n = arg;
  while (round_once(n)) {
  }
  /* Whatever was asked for is answered: nothing more will be applied by this process. */
  pthread_mutex_lock(&n->mu);
  lkv_proposal_t *props = n->in_props;
  lkv__raft_read_t *reads = n->in_reads;
  n->in_props = n->in_props_tail = NULL;
  n->in_reads = n->in_reads_tail = NULL;
  pthread_mutex_unlock(&n->mu);
  while (props) {
    lkv_proposal_t *p = props;
    props = p->next;
    lkv__raft_node_fail(p, LKV_ESTOPPED);
  }
  while (reads) {
    lkv__raft_read_t *rd = reads;
    reads = rd->next;
    rd->cb(rd->arg, LKV_ESTOPPED);
    free(rd);
  }
  pthread_mutex_lock(&n->mu);
  lkv__raft_transfer_t *transfers = n->in_transfers;
  lkv__raft_change_t *changes = n->in_changes;
  n->in_transfers = NULL;
  n->in_changes = NULL;
  pthread_mutex_unlock(&n->mu);
  lkv__raft_node_fail_transfers(n, transfers, LKV_ESTOPPED);
  lkv__raft_node_fail_changes(changes, LKV_ESTOPPED);
  lkv__raft_node_fail_changes(n->changes, LKV_ESTOPPED);
  n->changes = NULL;
  lkv__raft_node_fail_transfers(n, n->transfers, LKV_ESTOPPED);
  n->transfers = NULL;
  fail_all(n, LKV_ESTOPPED);
  if (!n->halted) lkv__signing_now(&n->signing); /* the last head covers everything applied */
  return NULL;
}

/* ---- the replication interface ---- */

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
                                    .is_learner = atomic_load(&n->st_learner)};
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

static void free_node(lkv__raft_node_t *n) {
  lkv__raft_node_free_attrs(n);
  lkv__signing_destroy(&n->signing);
  lkv_raft_free(n->raft);
  lkv_wal_close(n->wal);
  pthread_cond_destroy(&n->wake);
  pthread_mutex_destroy(&n->listen_mu);
  pthread_mutex_destroy(&n->mu);
  free(n->sendbuf);
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
  while (n->in_peers) {
    lkv__raft_peer_event_t *ev = n->in_peers;
    n->in_peers = ev->next;
    free(ev);
  }
  free_node(n);
}

static const lkv_replicator_ops_t raft_node_ops = {
    .propose = node_propose,
    .read_barrier = node_read_barrier,
    .status = node_status,
    .listen = node_listen,
    .on_applied = node_on_applied,
    .on_sign = node_on_sign,
    .publish = node_publish,
    .move_leader = lkv__raft_node_move_leader,
    .change_member = lkv__raft_node_change_member,
    .members = node_members,
    .stop = node_stop,
};

void lkv_raft_node_receive(lkv_replicator_t *base, uint64_t from, const uint8_t *data, size_t len) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  (void)from; /* the message names its sender; the transport checked the connection's */
  lkv__raft_inmsg_t *m = malloc(sizeof(*m) + len);
  if (!m) return; /* dropped: Raft retries */
  m->next = NULL;
  m->len = len;
  memcpy(m->data, data, len);
  pthread_mutex_lock(&n->mu);
  if (n->in_msgs_tail)
    n->in_msgs_tail->next = m;
  else
    n->in_msgs = m;
  n->in_msgs_tail = m;
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

/* Brings every waiting deadline forward to limit_ms (a stopping member). */
static void wind_down(lkv__raft_node_t *n, uint64_t limit_ms) {
  for (lkv_proposal_t *p = n->pending; p; p = p->next)
    if (p->deadline_ms > limit_ms) p->deadline_ms = limit_ms;
  for (lkv_proposal_t *p = n->stalled; p; p = p->next)
    if (p->deadline_ms > limit_ms) p->deadline_ms = limit_ms;
  for (lkv__raft_read_t *r = n->reads; r; r = r->next)
    if (r->deadline_ms > limit_ms) r->deadline_ms = limit_ms;
  n->o.request_timeout_ms = 1; /* and new ones give up at once: this member is going away */
}

void lkv_raft_node_membership(lkv_replicator_t *base, lkv_raft_conf_state_t *out) {
  lkv__raft_node_t *n = (lkv__raft_node_t *)base;
  pthread_mutex_lock(&n->mu);
  *out = n->conf;
  pthread_mutex_unlock(&n->mu);
}

/* ---- start ---- */

#define IDENTITY_RECORD "identity" /* cluster id (u64) ‖ member id (u64), little-endian */

int lkv_raft_node_identity(lkv_mvcc_t *store, uint64_t *cluster_id, uint64_t *member_id) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  uint8_t *v;
  size_t len;
  rc = lkv_mvcc_repl_get(t, IDENTITY_RECORD, &v, &len);
  lkv_mvcc_txn_end(t);
  if (rc) return rc;
  if (len != 16) rc = LKV_ECORRUPT;
  if (!rc) {
    *cluster_id = lkv_le64_get(v);
    *member_id = lkv_le64_get(v + 8);
  }
  free(v);
  return rc;
}

static int record_identity(void *arg, lkv_mvcc_txn_t *t) {
  lkv__raft_node_t *n = arg;
  uint8_t v[16];
  lkv_le64_put(v, n->o.cluster_id);
  lkv_le64_put(v + 8, n->o.member_id);
  return lkv_mvcc_repl_put(t, IDENTITY_RECORD, v, sizeof(v));
}

/* The first start records who this member is; later starts must be the same member. */
static int check_identity(lkv__raft_node_t *n, char *err, size_t errlen) {
  uint64_t cid, mid;
  int rc = lkv_raft_node_identity(n->o.store, &cid, &mid);
  if (rc == LKV_ENOENT) {
    lkv_apply_identity_t id = {.cluster_id = n->o.cluster_id};
    lkv_apply_hooks_t hooks = {.record = record_identity, .record_arg = n};
    rc = lkv_apply_batch_hooked(n->o.store, &id, NULL, 0, &hooks);
    if (rc) snprintf(err, errlen, "cannot record the member's identity in the store: %s", lkv_strerror(rc));
    return rc;
  }
  if (rc) {
    snprintf(err, errlen, "cannot read the member's identity from the store: %s", lkv_strerror(rc));
    return rc;
  }
  if (cid != n->o.cluster_id || mid != n->o.member_id) {
    snprintf(err, errlen, "the data dir belongs to member %016llx of cluster %016llx, not %016llx of %016llx",
             (unsigned long long)mid, (unsigned long long)cid, (unsigned long long)n->o.member_id,
             (unsigned long long)n->o.cluster_id);
    return LKV_EINVAL;
  }
  return 0;
}

/* Reads the store's applied index and ledger position (0, 0 on a store that never had a Raft member). */
static int read_position(lkv__raft_node_t *n, int *fresh) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(n->o.store, &t);
  if (rc) return rc;
  uint8_t *v;
  size_t len;
  rc = lkv_mvcc_repl_get(t, "applied", &v, &len);
  lkv_mvcc_txn_end(t);
  if (rc == LKV_ENOENT) {
    *fresh = 1;
    return 0;
  }
  if (rc) return rc;
  *fresh = 0;
  if (len != 16) rc = LKV_ECORRUPT;
  if (!rc) {
    n->applied = lkv_le64_get(v);
    n->ledger_pos = lkv_le64_get(v + 8);
  }
  free(v);
  return rc;
}

static int open_core(lkv__raft_node_t *n, char *err, size_t errlen) {
  int fresh;
  int rc = read_position(n, &fresh);
  if (rc) {
    snprintf(err, errlen, "cannot read the applied index from the store: %s", lkv_strerror(rc));
    return rc;
  }
  lkv_mvcc_stat_t st;
  rc = lkv_mvcc_stat(n->o.store, &st);
  if (rc) {
    snprintf(err, errlen, "cannot read the store: %s", lkv_strerror(rc));
    return rc;
  }
  uint64_t ledger_count = n->o.ledger ? lkv_ledger_log_count(lkv_ledger_log(n->o.ledger)) : 0;
  /* A store discarded after a machine crash (lkv_mvcc_rebuilt) starts over: the log applies it again. */
  if (fresh && !lkv_mvcc_rebuilt(n->o.store) &&
      (st.revision > 1 || ledger_count > 0 || st.compact_revision >= 0)) {
    snprintf(err, errlen,
             "the data dir holds data written by a single-member ledgerkv (revision %lld); a cluster member "
             "cannot adopt it yet: start the member from an empty data dir",
             (long long)st.revision);
    return LKV_EUNSUPPORTED;
  }
  if (ledger_count < n->ledger_pos) {
    snprintf(err, errlen,
             "the ledger holds %llu entries but the store accounts for %llu: the ledger lost entries",
             (unsigned long long)ledger_count, (unsigned long long)n->ledger_pos);
    return LKV_ECORRUPT;
  }
  lkv_wal_recovery_t rec;
  lkv_wal_options_t wopts = {.recovery = &rec};
  lkv_raft_restore_t restore;
  rc = lkv_wal_open(n->o.wal_dir, &wopts, &n->wal, &restore);
  if (rc) {
    snprintf(err, errlen, "cannot open the raft log in %s: %s%s%s", n->o.wal_dir, lkv_strerror(rc),
             rec.message[0] ? ": " : "", rec.message);
    return rc;
  }
  int empty_log = restore.n_entries == 0 && restore.snapshot.index == 0 && restore.hard_state.term == 0;
  if (empty_log && n->applied > 0) {
    snprintf(err, errlen,
             "the raft log in %s is empty but the store has applied entry %llu: the log was lost",
             n->o.wal_dir, (unsigned long long)n->applied);
    return LKV_ECORRUPT;
  }
  if (n->applied > restore.hard_state.commit) {
    snprintf(err, errlen, "the store has applied entry %llu beyond the raft log's commit index %llu",
             (unsigned long long)n->applied, (unsigned long long)restore.hard_state.commit);
    return LKV_ECORRUPT;
  }
  restore.applied = n->applied;
  lkv_raft_config_t cfg;
  lkv_raft_config_default(&cfg, n->o.member_id, node_rand, n);
  cfg.election_tick = n->o.election_ticks;
  cfg.heartbeat_tick = 1;
  cfg.pre_vote = n->o.pre_vote;
  rc = lkv_raft_new(&cfg, empty_log ? NULL : &restore, &n->raft);
  if (rc) {
    snprintf(err, errlen, "cannot restore the raft member from its log: %s", lkv_strerror(rc));
    return rc;
  }
  if (empty_log && !n->o.join) {
    rc = lkv_raft_bootstrap(n->raft, n->o.voters, n->o.n_voters);
    if (rc) {
      snprintf(err, errlen, "cannot found the cluster: %s", lkv_strerror(rc));
      return rc;
    }
  }
  return 0;
}

/* The member layer learns at start-up whom to dial (members added after the cluster was founded are not
 * in --initial-cluster) and whom to refuse. */
static void tell_membership(lkv__raft_node_t *n) {
  if (!n->o.on_member_change) return;
  for (size_t i = 0; i < n->n_removed; i++) n->o.on_member_change(n->o.member_arg, n->removed[i], 1, NULL, 0);
  for (size_t i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].id != n->o.member_id)
      n->o.on_member_change(n->o.member_arg, n->attrs[i].id, 0, n->attrs[i].data, n->attrs[i].len);
  for (size_t i = 0; i < n->n_seeds; i++)
    if (n->seeds[i].id != n->o.member_id && !lkv__raft_node_find_attrs(n, n->seeds[i].id))
      n->o.on_member_change(n->o.member_arg, n->seeds[i].id, 0, n->seeds[i].data, n->seeds[i].len);
}

int lkv_raft_node_start(lkv_replicator_t **out, const lkv_raft_node_options_t *opts, char *err,
                        size_t errlen) {
  if (!opts->store || !opts->wal_dir || !opts->member_id || !opts->send || opts->tick_ms == 0 ||
      opts->election_ticks < 2) {
    snprintf(err, errlen, "invalid raft member options");
    return LKV_EINVAL;
  }
  lkv__raft_node_t *n = calloc(1, sizeof(*n));
  if (!n) return LKV_ENOMEM;
  n->base.ops = &raft_node_ops;
  n->o = *opts;
  if (getrandom(&n->rng, sizeof(n->rng), 0) != sizeof(n->rng)) n->rng = lkv_clock_ns(CLOCK_MONOTONIC);
  n->rng ^= opts->member_id;
  if (!n->rng) n->rng = 1;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* tick deadlines are monotonic */
  if (pthread_mutex_init(&n->mu, NULL) || pthread_mutex_init(&n->listen_mu, NULL) ||
      pthread_cond_init(&n->wake, &attr) ||
      lkv__signing_init(&n->signing, opts->ledger, opts->sign_interval_ms)) {
    pthread_condattr_destroy(&attr);
    free(n);
    snprintf(err, errlen, "out of memory");
    return LKV_ENOMEM;
  }
  pthread_condattr_destroy(&attr);
  int rc = check_identity(n, err, errlen);
  if (rc == 0) rc = open_core(n, err, errlen);
  if (rc == 0) {
    rc = lkv__raft_node_load_attrs(n);
    if (rc) snprintf(err, errlen, "cannot read the members' attributes from the store: %s", lkv_strerror(rc));
  }
  for (size_t i = 0; rc == 0 && i < opts->n_seeds; i++) rc = lkv__raft_node_seed_attrs(n, &opts->seeds[i]);
  for (size_t i = 0; rc == 0 && i < n->n_removed; i++)
    if (n->removed[i] == opts->member_id) { /* etcd refuses to start a removed member alike */
      snprintf(err, errlen, "the member has been permanently removed from the cluster");
      rc = LKV_EPERM;
    }
  if (rc == 0) tell_membership(n);
  n->o.seeds = NULL; /* the caller's */
  n->o.n_seeds = 0;
  if (rc) {
    free_node(n);
    return rc;
  }
  /* The Raft log is the write-ahead log: ledger appends need no flush of their own (one flush per batch,
   * the log's); a tail lost in a machine crash is applied again from the log, identically. */
  if (n->o.ledger) lkv_ledger_defer_sync(n->o.ledger);
  n->next_tick_ms = lkv_clock_ms(CLOCK_MONOTONIC) + n->o.tick_ms;
  publish_status(n);
  if (pthread_create(&n->thread, NULL, raft_main, n) != 0) {
    free_node(n);
    snprintf(err, errlen, "cannot start the raft thread");
    return LKV_ENOMEM;
  }
  *out = &n->base;
  return 0;
}
