/* Messages through the simulated network: encoding, link faults, delivery, and the transport's reports. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/codec.h"
#include "sim.h"

/* A report from the "transport" to member `to` (its life `life` only), as a packet of its own so that it
 * reaches the core between batches, never inside one. */
void lkv__sim_report(lkv__sim_t *s, uint8_t kind, int to, uint64_t life, int peer, int ok) {
  lkv__sim_pkt_t p;
  memset(&p, 0, sizeof(p));
  p.kind = kind;
  p.ok = (uint8_t)ok;
  p.from = peer;
  p.to = to;
  p.life = life;
  p.at = s->now + 1 + lkv__sim_rng_below(&s->rng, LKV_SIM_TICK);
  lkv__sim_net_push(&s->net, &p);
}

void lkv__sim_send(lkv__sim_t *s, int from, const lkv_raft_msg_t *msgs, size_t count) {
  lkv__sim_node_t *src = &s->nodes[from];
  for (size_t i = 0; i < count && !s->failed; i++) {
    lkv_raft_msg_t m = msgs[i];
    int to = lkv__sim_slot(s, m.to);
    /* from may name another member: a relayed proposal or read keeps its origin, a forwarded transfer
     * names the transferee (raft.h). */
    if (to < 0 || lkv__sim_slot(s, m.from) < 0) {
      lkv__sim_fail(s, "message-address", "n%llu sends %s from %llu to %llu", (unsigned long long)src->id,
                    lkv_raft_msg_type_name(m.type), (unsigned long long)m.from, (unsigned long long)m.to);
      return;
    }
    lkv__sim_check_promise(s, from, &m);
    uint8_t snap[LKV_SIM_SNAPDATA_SIZE];
    if (m.type == LKV_RAFT_MSG_SNAP) {
      /* The transport attaches the state machine's snapshot the metadata describes. */
      const lkv__sim_store_t *st = &src->disk.durable;
      if (st->snap.index != m.snapshot.meta.index || st->snap.term != m.snapshot.meta.term) {
        lkv__sim_fail(s, "snapshot-data", "n%llu sends snapshot %llu/%llu but holds %llu/%llu",
                      (unsigned long long)src->id, (unsigned long long)m.snapshot.meta.index,
                      (unsigned long long)m.snapshot.meta.term, (unsigned long long)st->snap.index,
                      (unsigned long long)st->snap.term);
        return;
      }
      lkv__sim_snapdata_encode(&st->snap_data, snap);
      m.snapshot.data = snap;
      m.snapshot.len = sizeof(snap);
    }
    size_t len = lkv_raft_msg_size(&m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) abort();
    if (lkv_raft_msg_encode(&m, buf, len) != len) {
      free(buf);
      lkv__sim_fail(s, "codec", "%s from n%llu does not encode in its size", lkv_raft_msg_type_name(m.type),
                    (unsigned long long)src->id);
      return;
    }
    int snapmsg = m.type == LKV_RAFT_MSG_SNAP;
    const char *fate = NULL;
    if (s->net.cut[from][to]) {
      fate = "cut";
      if (snapmsg)
        lkv__sim_report(s, LKV_SIM_PKT_SNAP_STATUS, from, src->life, to, 0);
      else if (lkv__sim_rng_chance(&s->rng, 300))
        lkv__sim_report(s, LKV_SIM_PKT_UNREACHABLE, from, src->life, to, 0);
    } else if (lkv__sim_rng_chance(&s->rng, s->net.loss_pm)) {
      fate = "lost";
      if (snapmsg) lkv__sim_report(s, LKV_SIM_PKT_SNAP_STATUS, from, src->life, to, 0);
    }
    lkv__sim_trace(s, "send %s n%llu->n%llu t%llu lt%llu i%llu c%llu rej%u n%zu%s%s",
                   lkv_raft_msg_type_name(m.type), (unsigned long long)m.from, (unsigned long long)m.to,
                   (unsigned long long)m.term, (unsigned long long)m.log_term, (unsigned long long)m.index,
                   (unsigned long long)m.commit, m.reject, m.n_entries, fate ? " " : "", fate ? fate : "");
    if (fate) {
      free(buf);
      continue;
    }
    int copies = 1 + lkv__sim_rng_chance(&s->rng, s->net.dup_pm);
    for (int c = 0; c < copies; c++) {
      lkv__sim_pkt_t p;
      memset(&p, 0, sizeof(p));
      p.kind = LKV_SIM_PKT_MSG;
      p.from = from;
      p.to = to;
      p.life = src->life;
      p.at = s->now + 1 + lkv__sim_rng_below(&s->rng, s->net.delay_max);
      if (lkv__sim_rng_chance(&s->rng, s->net.long_pm))
        p.at += lkv__sim_rng_below(&s->rng, s->net.long_delay_max);
      p.len = len;
      p.buf = buf;
      if (c == 1) {
        p.buf = malloc(len ? len : 1);
        if (!p.buf) abort();
        memcpy(p.buf, buf, len);
      }
      lkv__sim_net_push(&s->net, &p);
    }
  }
}

static void deliver_report(lkv__sim_t *s, const lkv__sim_pkt_t *p) {
  lkv__sim_node_t *n = &s->nodes[p->to];
  if (!n->up || n->life != p->life) return;
  lkv_raft_id_t peer = (lkv_raft_id_t)p->from + 1;
  if (p->kind == LKV_SIM_PKT_UNREACHABLE) {
    lkv__sim_trace(s, "n%llu: n%llu unreachable", (unsigned long long)n->id, (unsigned long long)peer);
    lkv_raft_report_unreachable(n->raft, peer);
  } else if (p->kind == LKV_SIM_PKT_SNAP_STATUS) {
    lkv__sim_trace(s, "n%llu: snapshot to n%llu %s", (unsigned long long)n->id, (unsigned long long)peer,
                   p->ok ? "done" : "failed");
    lkv_raft_report_snapshot(n->raft, peer, p->ok);
  } else {
    lkv__sim_work_new_leader(s, p->to);
  }
  lkv__sim_node_process(s, p->to);
}

void lkv__sim_node_deliver(lkv__sim_t *s, lkv__sim_pkt_t *p) {
  lkv__sim_node_t *n = &s->nodes[p->to];
  if (n->up && n->paused_until > s->now) {
    /* A paused process: the packet waits in its socket buffer. */
    lkv__sim_pkt_t later = *p; /* keeps the buffer */
    later.at = n->paused_until + lkv__sim_rng_below(&s->rng, LKV_SIM_TICK / 4 + 1);
    lkv__sim_net_push(&s->net, &later);
    return;
  }
  if (p->kind != LKV_SIM_PKT_MSG) {
    deliver_report(s, p);
    return;
  }
  lkv_raft_msg_t m;
  lkv_raft_entry_t *ents = NULL;
  int rc = lkv_raft_msg_decode(p->buf, p->len, &m, &ents);
  if (rc) {
    lkv__sim_fail(s, "codec", "a packet from n%d does not decode: %s", p->from + 1, lkv_err_name(rc));
  } else if (!n->up || n->retired || s->net.cut[p->from][p->to]) {
    lkv__sim_trace(s, "drop %s n%d->n%d (%s)", lkv_raft_msg_type_name(m.type), p->from + 1, p->to + 1,
                   s->net.cut[p->from][p->to] ? "cut" : "down");
    if (m.type == LKV_RAFT_MSG_SNAP) lkv__sim_report(s, LKV_SIM_PKT_SNAP_STATUS, p->from, p->life, p->to, 0);
  } else {
    lkv__sim_trace(s, "recv %s n%llu->n%llu t%llu lt%llu i%llu c%llu rej%u n%zu",
                   lkv_raft_msg_type_name(m.type), (unsigned long long)m.from, (unsigned long long)m.to,
                   (unsigned long long)m.term, (unsigned long long)m.log_term, (unsigned long long)m.index,
                   (unsigned long long)m.commit, m.reject, m.n_entries);
    s->n_delivered++;
    rc = lkv_raft_step(n->raft, &m);
    if (rc)
      lkv__sim_fail(s, "contract", "n%llu refused a well-formed %s from n%llu: %s", (unsigned long long)n->id,
                    lkv_raft_msg_type_name(m.type), (unsigned long long)m.from, lkv_err_name(rc));
    else
      lkv__sim_node_process(s, p->to);
    if (m.type == LKV_RAFT_MSG_SNAP) lkv__sim_report(s, LKV_SIM_PKT_SNAP_STATUS, p->from, p->life, p->to, 1);
  }
  free(ents);
  free(p->buf);
  p->buf = NULL;
}
