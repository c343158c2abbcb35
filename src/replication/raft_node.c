/* The Raft replicator's thread: each round feeds the core (ticks, messages, proposals, reads) and hands
 * its ready batches on; failover suspicion; halting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "raft/codec.h"
#include "replication/raft_internal.h"

/* A paused process (SIGSTOP, a long GC-like stall) catches up at most this many election timeouts of
 * ticks at once: enough to campaign, not a storm of heartbeats. */
#define LKV_RAFT_NODE_MAX_CATCHUP_TIMEOUTS 2

uint64_t lkv__raft_node_rand(void *arg) {
  lkv__raft_node_t *n = arg;
  /* xorshift64*: Raft needs spread election timeouts, not secrecy. */
  n->rng ^= n->rng >> 12;
  n->rng ^= n->rng << 25;
  n->rng ^= n->rng >> 27;
  return n->rng * UINT64_C(2685821657736338717);
}

void lkv__raft_node_fail(lkv_proposal_t *p, int err) {
  lkv_metric_inc(LKV_METRIC(proposals_failed), 0);
  lkv_metric_add(LKV_METRIC(proposals_pending), 0, -1);
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

/* Marks leader as lost, to be reported after a random part of half a heartbeat (see peer_event). */
static void suspect(lkv__raft_node_t *n, uint64_t leader, uint64_t now) {
  n->lost_leader = leader;
  n->lost_at_ms = now + lkv__raft_node_rand(n) % (n->o.tick_ms / 2 + 1);
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
    suspect(n, ev->peer, now);
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
  suspect(n, st->leader, now);
}

/* One to two heartbeat intervals from now, drawn anew each time. */
static uint64_t retry_time(lkv__raft_node_t *n, uint64_t now) {
  return now + n->o.tick_ms + lkv__raft_node_rand(n) % n->o.tick_ms;
}

/* Followers that lost the same leader campaign within a few milliseconds of each other now and then
 * (the jitter is short so that failover is fast): each votes for itself and the vote splits. Raft's answer
 * is the next election timeout, one to two of them; here a member still campaigning a heartbeat or two
 * after its report campaigns again, with a fresh random delay, for one election timeout (then the core's
 * timer takes over). Pre-votes keep these retries from raising terms while no quorum answers. */
static void retry_campaign(lkv__raft_node_t *n, const lkv_raft_status_t *st, uint64_t now) {
  if (!n->retry_at_ms || now < n->retry_at_ms) return;
  int campaigning = st->role == LKV_RAFT_CANDIDATE || st->role == LKV_RAFT_PRE_CANDIDATE;
  if (!campaigning || now >= n->retry_until_ms) {
    n->retry_at_ms = 0;
    return;
  }
  lkv_raft_campaign(n->raft);
  n->retry_at_ms = retry_time(n, now);
}

static void report_lost_leader(lkv__raft_node_t *n, uint64_t now) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  suspect_silent_leader(n, &st, now);
  retry_campaign(n, &st, now);
  if (!n->lost_leader || now < n->lost_at_ms) return;
  if (st.leader == n->lost_leader) { /* still the one that went away */
    lkv_raft_report_leader_lost(n->raft);
    n->retry_at_ms = retry_time(n, now);
    n->retry_until_ms = now + (uint64_t)n->o.tick_ms * n->o.election_ticks;
  }
  n->lost_leader = 0;
}

static void wind_down(lkv__raft_node_t *n, uint64_t limit_ms);

/* A sole voter has no one to wait for: it leads at once, not an election timeout after it starts (etcd's
 * --initial-election-tick-advance has the same aim). */
static void lead_alone(lkv__raft_node_t *n) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  if (st.role != LKV_RAFT_FOLLOWER || st.conf.n_voters != 1 || st.conf.voters[0] != n->o.member_id) return;
  if (lkv_raft_campaign(n->raft) == 0) lkv__raft_node_drain_ready(n);
}

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

void lkv__raft_node_publish_status(lkv__raft_node_t *n) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  uint64_t lead = n->halted ? 0 : st.leader;
  /* etcd's count: a leader is known and it is not the one known before; logged as etcd's raft logs it */
  uint64_t before = atomic_exchange(&n->st_leader, lead);
  if (before != lead) {
    if (lead) lkv_metric_inc(LKV_METRIC(leader_changes), 0);
    if (lead)
      fprintf(stderr, "ledgerkv: raft member %016llx: elected leader %016llx at term %llu\n",
              (unsigned long long)n->o.member_id, (unsigned long long)lead,
              (unsigned long long)st.hard_state.term);
    else
      fprintf(stderr, "ledgerkv: raft member %016llx: lost leader %016llx at term %llu\n",
              (unsigned long long)n->o.member_id, (unsigned long long)before,
              (unsigned long long)st.hard_state.term);
  }
  atomic_store(&n->st_term, st.hard_state.term);
  atomic_store(&n->st_commit, st.hard_state.commit);
  atomic_store(&n->st_applied, n->applied);
  int learner = 0;
  for (uint32_t i = 0; i < st.conf.n_learners; i++) learner |= st.conf.learners[i] == n->o.member_id;
  atomic_store(&n->st_learner, learner);
  atomic_store(&n->st_single, !n->halted && st.leader == n->o.member_id && st.conf.n_voters == 1);
  pthread_mutex_lock(&n->mu);
  n->conf = st.conf;
  pthread_mutex_unlock(&n->mu);
}

/* Ticks the core for every tick due up to t (at most *budget of them in all: see
 * LKV_RAFT_NODE_MAX_CATCHUP_TIMEOUTS). */
static void tick_until(lkv__raft_node_t *n, uint64_t t, uint64_t *budget) {
  if (t < n->next_tick_ms) return;
  uint64_t due = (t - n->next_tick_ms) / n->o.tick_ms + 1;
  for (uint64_t i = 0; i < due && *budget; i++, (*budget)--) lkv_raft_tick(n->raft);
  n->next_tick_ms += due * n->o.tick_ms;
}

/* One round: wait for input or the next tick, feed the core, handle what it has ready. Returns 0 once
 * stopping. */
static int round_once(lkv__raft_node_t *n) {
  pthread_mutex_lock(&n->mu);
  while (!n->stopping && !n->in_props && !n->in_msgs && !n->in_reads && !n->in_peers && !n->in_transfers &&
         !n->in_member && !n->in_changes && !n->in_wind_down_ms && !n->in_snap && !n->in_checkpointed &&
         !n->in_snap_done) {
    uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
    uint64_t wake_ms = n->next_tick_ms;
    if (n->lost_leader && n->lost_at_ms < wake_ms) wake_ms = n->lost_at_ms;
    if (n->retry_at_ms && n->retry_at_ms < wake_ms) wake_ms = n->retry_at_ms;
    if (n->o.ledger && n->signing.next_ms < wake_ms) wake_ms = n->signing.next_ms;
    if (n->compact_at_ms && n->compact_at_ms < wake_ms) wake_ms = n->compact_at_ms;
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
  lkv__raft_inmsg_t *member_msgs = n->in_member;
  n->in_member = n->in_member_tail = NULL;
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
  /* A late round (the thread waited for the CPU or the disk) replays time in order: the ticks due before
   * each message arrived, the message, then the rest. Ticking first would make the leader's heartbeats
   * that waited here look like silence, and a follower campaign (or a leader fail CheckQuorum) although
   * its peers were heard all along. */
  uint64_t tick_budget = (uint64_t)n->o.election_ticks * LKV_RAFT_NODE_MAX_CATCHUP_TIMEOUTS;
  while (msgs) {
    lkv__raft_inmsg_t *m = msgs;
    msgs = m->next;
    if (!n->halted) {
      tick_until(n, m->at_ms, &tick_budget);
      step_message(n, m, now);
    }
    free(m);
  }
  if (!n->halted) tick_until(n, now, &tick_budget);
  while (peers) {
    lkv__raft_peer_event_t *ev = peers;
    peers = ev->next;
    if (!n->halted) peer_event(n, ev, now);
    free(ev);
  }
  if (!n->halted) report_lost_leader(n, now);
  lkv__raft_node_snap_round(n);
  lkv__raft_node_start_transfers(n, transfers, now);
  lkv__raft_node_start_changes(n, changes, now);
  while (member_msgs) {
    lkv__raft_inmsg_t *m = member_msgs;
    member_msgs = m->next;
    lkv__raft_node_member_message(n, m, now);
    free(m);
  }
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
    lkv__raft_node_propose(n, p, now);
  }
  while (props) {
    lkv_proposal_t *p = props;
    props = p->next;
    p->deadline_ms = now + n->o.request_timeout_ms;
    lkv__raft_node_propose(n, p, now);
  }
  while (reads) {
    lkv__raft_read_t *rd = reads;
    reads = rd->next;
    lkv__raft_node_ask_read(n, rd, now);
  }
  if (!n->halted) lkv__raft_node_drain_ready(n);
  lkv__raft_node_publish_due(n, now);
  if (!n->halted) lkv__raft_node_drain_ready(n); /* a leader's own proposal: appended at once */
  if (!n->halted) lead_alone(n);
  expire_pending(n, now);
  lkv__raft_node_expire_changes(n, now);
  lkv__raft_node_answer_reads(n, now);
  if (!n->halted) lkv__signing_due(&n->signing, now);
  lkv__raft_node_publish_status(n);
  lkv__raft_node_check_transfers(n, now);
  lkv__raft_node_background(n);
  return !stopping;
}

void *lkv__raft_node_main(void *arg) {
  lkv__raft_node_t *n = arg;
  lkv__raft_node_take_checkpoint(n); /* the snapshot lagging members get, until the next checkpoint */
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
  lkv__raft_node_fail_changes(n->forwarded, LKV_ESTOPPED);
  n->forwarded = NULL;
  lkv__raft_node_fail_transfers(n, n->transfers, LKV_ESTOPPED);
  n->transfers = NULL;
  fail_all(n, LKV_ESTOPPED);
  if (!n->halted) lkv__signing_now(&n->signing); /* the last head covers everything applied */
  return NULL;
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
