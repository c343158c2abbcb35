/* The simulated members: start and replay, crashes inside a batch, the batch contract, the lossy network. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "csim.h"

void lkv__csim_log_push(lkv__csim_log_t *l, const uint8_t *bytes, size_t len) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->v = realloc(l->v, l->cap * sizeof(*l->v));
    if (!l->v) abort();
  }
  lkv__csim_rec_t *r = &l->v[l->n++];
  r->bytes = malloc(len);
  if (!r->bytes) abort();
  memcpy(r->bytes, bytes, len);
  r->len = len;
}

void lkv__csim_log_free(lkv__csim_log_t *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i].bytes);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

uint64_t lkv__csim_clock(const lkv__csim_t *s, int i) {
  uint64_t t = (uint64_t)((int64_t)s->now + s->nodes[i].skew);
  return t - t % s->granularity; /* a coarse clock: stamps tie on the wall and the counter orders them */
}

lkv_causal_config_t lkv__csim_config(const lkv__csim_t *s, int i) {
  lkv_causal_config_t c = {.id = s->peers[i].id,
                           .members = s->peers,
                           .n_members = (size_t)lkv__csim_members_of(s, i),
                           .joining = s->joiner && i == s->joiner,
                           .max_ahead = s->max_ahead,
                           .max_held_events = s->max_held,
                           .max_held_bytes = 1u << 20,
                           .max_ship_events = s->max_ship,
                           .max_ship_bytes = 1u << 20,
                           .bugs = s->bugs};
  memcpy(c.sk, s->sk[i], LKV_CAUSAL_SK_LEN);
  return c;
}

/* Member i stops for good: removed, it learned so. */
static void stop(lkv__csim_t *s, int i, const char *how) {
  lkv__csim_node_t *n = &s->nodes[i];
  lkv_causal_member_free(n->m);
  n->m = NULL;
  n->gone = 1;
  lkv__csim_trace(s, "m%d: learned of its removal %s: stopped", i + 1, how);
}

/* A member that applied its own removal stops for good, as a server does (its messages are refused). */
static void stop_if_removed(lkv__csim_t *s, int i) {
  lkv__csim_node_t *n = &s->nodes[i];
  if (n->m && lkv_causal_member_is_removed(n->m, s->peers[i].id)) stop(s, i, "by applying it");
}

void lkv__csim_remove(lkv__csim_t *s) {
  lkv__csim_node_t *r = &s->nodes[s->remover], *v = &s->nodes[s->victim];
  if (s->remove_stage == 1) { /* cut the victim off; it keeps taking its clients' writes */
    for (int j = 0; j < s->n; j++)
      s->net.cut[s->victim][j] = s->net.cut[j][s->victim] = (uint8_t)(j != s->victim);
    lkv__csim_trace(s, "partition: m%d isolated before its removal", s->victim + 1);
    s->remove_stage = 2;
    s->remove_at = s->now + 50 + lkv__sim_rng_below(&s->rng, 300);
    return;
  }
  if (!r->m || (s->mutual && !v->m && !v->gone)) { /* a member down: later */
    s->remove_at = s->now + 100;
    return;
  }
  uint64_t rev;
  int rc = lkv_causal_member_remove(r->m, lkv__csim_clock(s, s->remover), s->peers[s->victim].id,
                                    LKV_CSIM_REMOVAL, &rev);
  lkv__csim_trace(s, "m%d: removes m%d: %s", s->remover + 1, s->victim + 1, lkv_err_name(rc));
  s->n_removals += rc == 0;
  lkv__csim_process(s, s->remover);
  if (s->mutual && v->m) {
    rc = lkv_causal_member_remove(v->m, lkv__csim_clock(s, s->victim), s->peers[s->remover].id,
                                  LKV_CSIM_REMOVAL, &rev);
    lkv__csim_trace(s, "m%d: removes m%d: %s", s->victim + 1, s->remover + 1, lkv_err_name(rc));
    s->n_removals += rc == 0;
    lkv__csim_process(s, s->victim);
  }
  s->remove_stage = 3;
}

void lkv__csim_start(lkv__csim_t *s, int i) {
  lkv__csim_node_t *n = &s->nodes[i];
  lkv_causal_config_t cfg = lkv__csim_config(s, i);
  cfg.on_change = lkv__csim_on_change;
  cfg.change_arg = &n->pending;
  if (lkv_causal_member_new(&cfg, &n->m)) abort();
  if (lkv__csim_recover(s, i, n->m, "restarted")) return;
  lkv__csim_watch_replayed(s, i, &n->pending, "restarted");
  n->pending.n = 0;
  lkv__csim_watch_state(s, i, "restarted");
  lkv__csim_join_keys(s, i);
  n->next_tick = s->now + 1 + lkv__sim_rng_below(&s->rng, n->period);
  lkv__csim_trace(s, "m%d: up, %zu durable events from revision %llu%s", i + 1, n->log.n,
                  (unsigned long long)n->log_base + 1, n->ckpt ? " and a checkpoint" : "");
  stop_if_removed(s, i);
}

void lkv__csim_crash(lkv__csim_t *s, int i, const char *why) {
  lkv__csim_node_t *n = &s->nodes[i];
  lkv_causal_member_free(n->m);
  n->m = NULL;
  n->pending.n = 0; /* the changes of revisions that were not durable: never served */
  n->down_until = s->now + 20 + lkv__sim_rng_below(&s->rng, 1500);
  s->n_crashes++;
  lkv__csim_trace(s, "m%d: crash %s", i + 1, why);
}

/* Records an own event made durable: each (origin, seq) once, without gaps; never another one later. */
static void record_own(lkv__csim_t *s, int i, const lkv_causal_held_t *h) {
  lkv__csim_log_t *own = &s->origin_log[i];
  if (own->n != h->ev.seq - 1) {
    lkv__csim_fail(s, "equivocation", "m%d made event seq %llu durable with %zu already durable", i + 1,
                   (unsigned long long)h->ev.seq, own->n);
    return;
  }
  lkv__csim_log_push(own, h->bytes, h->len);
  lkv__csim_history_write(s, &h->ev);
}

/* Follows a durable event for removed-prefix (check.c): x's events before the first removal of x. */
static void note_removals(lkv__csim_t *s, lkv__csim_node_t *n, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort();
  while (lkv_causal_mutations_next(&it, &mu))
    for (int x = 0; x < s->n; x++)
      if (mu.kind == LKV_CAUSAL_MEMBER_REMOVE && mu.member == s->peers[x].id) n->saw_removal[x] = 1;
  for (int x = 0; x < s->n; x++)
    if (ev->origin == s->peers[x].id && !n->saw_removal[x] && ev->seq > n->pre_removal[x])
      n->pre_removal[x] = ev->seq;
}

void lkv__csim_send(lkv__csim_t *s, int from, const lkv_causal_msg_t *msg) {
  int to = -1;
  for (int j = 0; j < s->n; j++)
    if (s->peers[j].id == msg->to) to = j;
  if (to < 0) {
    lkv__csim_fail(s, "message", "m%d sent to unknown member %llu", from + 1, (unsigned long long)msg->to);
    return;
  }
  if (s->net.cut[from][to] || lkv__sim_rng_chance(&s->rng, s->net.loss_pm)) return;
  int copies = lkv__sim_rng_chance(&s->rng, s->net.dup_pm) ? 2 : 1;
  for (int c = 0; c < copies; c++) {
    uint64_t delay = 1 + lkv__sim_rng_below(&s->rng, s->net.delay_max);
    if (lkv__sim_rng_chance(&s->rng, s->net.long_pm))
      delay += lkv__sim_rng_below(&s->rng, s->net.long_delay_max);
    lkv__sim_pkt_t p = {.at = s->now + delay, .kind = msg->kind, .from = from, .to = to, .len = msg->len};
    p.buf = malloc(msg->len);
    if (!p.buf) abort();
    memcpy(p.buf, msg->data, msg->len);
    if (msg->kind != LKV_CAUSAL_MSG_VV && lkv__sim_rng_chance(&s->rng, s->corrupt_pm)) {
      p.ok = 1; /* marks a corrupted packet: it must be refused */
      p.buf[lkv__sim_rng_below(&s->rng, p.len)] ^= (uint8_t)(1u << lkv__sim_rng_below(&s->rng, 8));
    }
    lkv__sim_net_push(&s->net, &p);
  }
}

/* The client learns its write's revision: the acknowledged event is the applied one at that revision. */
static void acknowledge(lkv__csim_t *s, int i, const lkv_causal_batch_t *rb, const lkv_causal_ack_t *a) {
  const lkv_causal_held_t *h = &rb->applied[a->rev - rb->first_rev];
  if (a->rev < rb->first_rev || a->rev - rb->first_rev >= rb->n_applied || h->ev.origin != s->peers[i].id) {
    lkv__csim_fail(s, "ack", "m%d acknowledged revision %llu outside its batch", i + 1,
                   (unsigned long long)a->rev);
    return;
  }
  if (s->n_acks == s->acks_cap) {
    s->acks_cap = s->acks_cap ? s->acks_cap * 2 : 64;
    s->acks = realloc(s->acks, s->acks_cap * sizeof(*s->acks));
    if (!s->acks) abort();
  }
  s->acks[s->n_acks++] = (lkv__csim_ack_t){.origin = h->ev.origin, .seq = h->ev.seq};
  s->n_acked++;
  lkv__csim_history_acked(s, (int)(a->token & LKV_CSIM_CLIENT_MASK), &h->ev);
  /* Read your writes, and a plain write supersedes every sibling its member had seen: each key written is
   * now this event alone. A resolve leaves the siblings it did not name, all concurrent with it. */
  int resolve = (a->token & LKV_CSIM_RESOLVE) != 0;
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(h->ev.payload, h->ev.payload_len, &it)) abort();
  while (lkv_causal_mutations_next(&it, &mu)) {
    const lkv_causal_key_t *k = lkv_causal_member_key(s->nodes[i].m, mu.key, mu.key_len);
    size_t self = 0, spared = 0;
    for (size_t j = 0; k && j < k->n; j++) {
      if (k->sib[j].origin == h->ev.origin && k->sib[j].seq == h->ev.seq)
        self++;
      else
        spared += resolve && !lkv_causal_vv_covers(&h->ev.deps, k->sib[j].origin, k->sib[j].seq);
    }
    if (!k || self != 1 || k->n != 1 + spared) {
      lkv__csim_fail(s, "own-write", "m%d: key %.*s after its write %llu:%llu has %zu siblings", i + 1,
                     (int)mu.key_len, (const char *)mu.key, (unsigned long long)h->ev.origin,
                     (unsigned long long)h->ev.seq, k ? k->n : 0);
      return;
    }
  }
}

void lkv__csim_process(lkv__csim_t *s, int i) {
  lkv__csim_node_t *n = &s->nodes[i];
  lkv_causal_batch_t rb;
  if (!n->m || !lkv_causal_member_batch(n->m, &rb)) return;
  /* A crash before the flush (the batch is lost), after it (nothing sent), or before the answers. */
  int crash_at =
      !s->healed && lkv__sim_rng_chance(&s->rng, s->crash_pm) ? 1 + (int)lkv__sim_rng_below(&s->rng, 3) : 0;
  if (crash_at == 1) {
    lkv__csim_crash(s, i, "before the flush");
    return;
  }
  if (rb.first_rev != n->log_base + n->log.n + 1) {
    lkv__csim_fail(s, "revision-gap", "m%d: batch starts at revision %llu after %llu durable", i + 1,
                   (unsigned long long)rb.first_rev, (unsigned long long)(n->log_base + n->log.n));
    return;
  }
  for (size_t j = 0; j < rb.n_applied; j++) {
    lkv__csim_log_push(&n->log, rb.applied[j].bytes, rb.applied[j].len);
    if (rb.applied[j].ev.origin == s->peers[i].id) record_own(s, i, &rb.applied[j]);
    note_removals(s, n, &rb.applied[j].ev);
  }
  lkv__csim_watch_durable(s, i, rb.first_rev, rb.n_applied);
  if (crash_at == 2) {
    lkv__csim_crash(s, i, "after the flush");
    return;
  }
  for (size_t j = 0; j < rb.n_msgs && !s->failed; j++) lkv__csim_send(s, i, &rb.msgs[j]);
  if (crash_at == 3) {
    lkv__csim_crash(s, i, "before the answers");
    return;
  }
  for (size_t j = 0; j < rb.n_acks && !s->failed; j++)
    if (!(rb.acks[j].token & LKV_CSIM_REMOVAL)) acknowledge(s, i, &rb, &rb.acks[j]);
  lkv_causal_member_advance(n->m);
  lkv__csim_join_keys(s, i);
  stop_if_removed(s, i);
}

/* Member `to`, which applied a removal of `from`, refuses its connection with that removal (none once
 * compacted there), and `from` stops only when its core finds the refusal proves it removed (docs/causal.md
 * §15a): the way a removed member learns of it once compaction left it behind. Either member of a mutual
 * removal refuses the other too, for a removal the members still in may refuse: the check keeps it running
 * then (check.c's "stopped" invariant: no member still in ever stops). */
static void refused(lkv__csim_t *s, int to, int from) {
  size_t len = 0;
  const uint8_t *proof = lkv_causal_member_removal_event(s->nodes[to].m, s->peers[from].id, &len);
  int rc = lkv_causal_member_removal_proven(s->nodes[from].m, s->peers[to].id, proof, proof ? len : 0);
  if (rc == 0) {
    stop(s, from, proof ? "from a refused connection" : "from a refused connection (its removal compacted)");
  } else {
    s->n_refusals_unproven++;
    lkv__csim_trace(s, "m%d refused m%d as removed; not proven there: %s", to + 1, from + 1,
                    lkv_err_name(rc));
  }
}

void lkv__csim_deliver(lkv__csim_t *s, lkv__sim_pkt_t *p) {
  lkv__csim_node_t *n = &s->nodes[p->to];
  if (!n->m) {
    free(p->buf);
    return;
  }
  if (s->nodes[p->from].m && lkv_causal_member_is_removed(n->m, s->peers[p->from].id)) {
    free(p->buf);
    refused(s, p->to, p->from);
    return;
  }
  s->n_delivered++;
  lkv__csim_join_keys(s, p->to); /* an install may have told it of the joiner (with no batch to process) */
  lkv_causal_member_heard(n->m, s->peers[p->from].id, lkv__csim_clock(s, p->to));
  int rc = p->kind == LKV_CSIM_MSG_SNAPSHOT ? lkv__csim_install(s, p)
           : p->kind == LKV_CAUSAL_MSG_EVENT
               ? lkv_causal_member_recv_event(n->m, lkv__csim_clock(s, p->to), p->buf, p->len)
               : lkv_causal_member_recv_vv(n->m, s->peers[p->from].id, p->buf, p->len);
  free(p->buf);
  if (p->ok) { /* corrupted on the way */
    if (rc != LKV_EVERIFY && rc != LKV_EBADMSG && rc != LKV_EMEMBERREMOVED)
      lkv__csim_fail(s, "tamper", "m%d took a corrupted %s from m%d (%s)", p->to + 1,
                     p->kind == LKV_CSIM_MSG_SNAPSHOT ? "snapshot" : "event", p->from + 1, lkv_err_name(rc));
    s->n_corrupt_refused++;
  } else if (p->kind == LKV_CSIM_MSG_SNAPSHOT &&
             (rc == LKV_EEXIST || rc == LKV_ECLOCKAHEAD || rc == LKV_EMEMBERREMOVED)) {
    s->n_refused_snapshots++; /* not useful now (it caught up otherwise, or wrote), or a clock ahead */
  } else if (rc == LKV_ECLOCKAHEAD) {
    s->n_refused_ahead++;
  } else if (rc == LKV_EBUFFERFULL) {
    s->n_refused_full++;
  } else if (rc == LKV_EMEMBERREMOVED) {
    s->n_refused_removed++;
  } else if (rc && lkv__csim_join_refused(s, p->to, rc)) {
    s->n_refused_unknown++;
  } else if (rc) {
    lkv__csim_fail(s, "refused", "m%d refused a message of m%d: %s", p->to + 1, p->from + 1,
                   lkv_err_name(rc));
  }
  lkv__csim_process(s, p->to);
  stop_if_removed(s, p->to); /* an install may tell it (with no batch to process) */
}
