/* Outgoing message and read-state queues, and the ready/advance hand-off with the caller. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "raft/internal.h"

/* Copies m, its entries and context into one block the queue owns until the batch is advanced. */
static void msgq_push(lkv__msgq_t *q, const lkv_raft_msg_t *m) {
  if (q->n == q->cap) {
    q->cap = q->cap ? 2 * q->cap : 16;
    q->v = lkv__xrealloc(q->v, q->cap * sizeof(*q->v));
    q->mem = lkv__xrealloc(q->mem, q->cap * sizeof(*q->mem));
  }
  size_t size = m->n_entries * sizeof(lkv_raft_entry_t) + m->context_len;
  for (size_t i = 0; i < m->n_entries; i++) size += m->entries[i].len;
  lkv_raft_msg_t *c = &q->v[q->n];
  *c = *m;
  void *block = NULL;
  if (size) {
    block = lkv__xmalloc(size);
    lkv_raft_entry_t *ents = block;
    uint8_t *p = (uint8_t *)(ents + m->n_entries);
    for (size_t i = 0; i < m->n_entries; i++) {
      ents[i] = m->entries[i];
      if (m->entries[i].len) {
        memcpy(p, m->entries[i].data, m->entries[i].len);
        ents[i].data = p;
        p += m->entries[i].len;
      } else {
        ents[i].data = NULL;
      }
    }
    c->entries = m->n_entries ? ents : NULL;
    if (m->context_len) {
      memcpy(p, m->context, m->context_len);
      c->context = p;
    } else {
      c->context = NULL;
    }
  } else {
    c->entries = NULL;
    c->context = NULL;
  }
  q->mem[q->n++] = block;
}

void lkv__msgq_free(lkv__msgq_t *q) {
  for (size_t i = 0; i < q->n; i++) free(q->mem[i]);
  q->n = 0;
}

void lkv__rsq_free(lkv__rsq_t *q) {
  for (size_t i = 0; i < q->n; i++) free((void *)q->v[i].context);
  q->n = 0;
}

void lkv__send(lkv_raft_t *r, const lkv_raft_msg_t *m, int after_persist) {
  lkv_raft_msg_t c = *m;
  c.from = c.from ? c.from : r->cfg.id;
  /* PROP, READ_INDEX and TRANSFER_LEADER are forwarded requests, not bound to the sender's term. */
  if (c.type != LKV_RAFT_MSG_PROP && c.type != LKV_RAFT_MSG_READ_INDEX &&
      c.type != LKV_RAFT_MSG_TRANSFER_LEADER && c.term == 0)
    c.term = r->term;
  msgq_push(after_persist ? &r->msgs_ap : &r->msgs, &c);
}

void lkv__push_read_state(lkv_raft_t *r, uint64_t index, const uint8_t *ctx, size_t len) {
  lkv__rsq_t *q = &r->rs;
  if (q->n == q->cap) {
    q->cap = q->cap ? 2 * q->cap : 8;
    q->v = lkv__xrealloc(q->v, q->cap * sizeof(*q->v));
  }
  uint8_t *c = lkv__xmalloc(len ? len : 1);
  memcpy(c, ctx, len);
  q->v[q->n++] = (lkv_raft_read_state_t){.index = index, .context = c, .context_len = len};
}

static void swap_msgq(lkv__msgq_t *a, lkv__msgq_t *b) {
  lkv__msgq_t t = *a;
  *a = *b;
  *b = t;
}

static void swap_rsq(lkv__rsq_t *a, lkv__rsq_t *b) {
  lkv__rsq_t t = *a;
  *a = *b;
  *b = t;
}

static lkv_raft_entry_t *copy_entries(const lkv__log_t *l, uint64_t lo, uint64_t hi, lkv_raft_entry_t *buf,
                                      size_t *cap) {
  size_t n = hi >= lo ? hi - lo + 1 : 0;
  if (n > *cap) {
    *cap = n;
    buf = lkv__xrealloc(buf, n * sizeof(*buf));
  }
  if (n) memcpy(buf, lkv__log_at(l, lo), n * sizeof(*buf));
  return buf;
}

static int hs_equal(const lkv_raft_hard_state_t *a, const lkv_raft_hard_state_t *b) {
  return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

int lkv_raft_ready(lkv_raft_t *r, lkv_raft_ready_t *rd) {
  lkv__batch_t *b = &r->batch;
  if (b->out) return 0;
  if (r->bcast_pending) {
    r->bcast_pending = 0;
    if (r->role == LKV_RAFT_LEADER) lkv__bcast_append(r);
  }
  lkv__log_t *l = &r->log;
  lkv_raft_hard_state_t hs = {r->term, r->vote, l->committed};
  uint64_t last = lkv__log_last(l);
  /* Entries of this batch are durable before the caller applies (contract step b before d). */
  uint64_t commit_hi = l->committed < last ? l->committed : last;
  int soft = r->leader != r->prev_leader || r->role != r->prev_role;
  int has_hs = !hs_equal(&hs, &r->prev_hs);
  if (!soft && !has_hs && !r->snap_pending && l->stable >= last && commit_hi <= l->applied && !r->msgs.n &&
      !r->msgs_ap.n && !r->rs.n)
    return 0;

  memset(rd, 0, sizeof(*rd));
  rd->leader = r->leader;
  rd->role = r->role;
  rd->soft_state_changed = soft;
  rd->has_hard_state = has_hs;
  rd->hard_state = hs;
  if (r->snap_pending) {
    rd->has_snapshot = 1;
    rd->snapshot = r->pending_snap;
    b->snap_data = (uint8_t *)r->pending_snap.data;
    r->snap_pending = 0;
    r->pending_snap.data = NULL;
  }
  b->n_ents = l->stable < last ? last - l->stable : 0;
  b->ents = copy_entries(l, l->stable + 1, last, b->ents, &b->cap_ents);
  rd->entries = b->n_ents ? b->ents : NULL;
  rd->n_entries = b->n_ents;
  b->n_committed = commit_hi > l->applied ? commit_hi - l->applied : 0;
  b->committed = copy_entries(l, l->applied + 1, commit_hi, b->committed, &b->cap_committed);
  rd->committed = b->n_committed ? b->committed : NULL;
  rd->n_committed = b->n_committed;
  rd->must_sync = rd->n_entries || rd->has_snapshot ||
                  (has_hs && (hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote));

  swap_msgq(&b->msgs, &r->msgs);
  swap_msgq(&b->msgs_ap, &r->msgs_ap);
  swap_rsq(&b->rs, &r->rs);
  rd->msgs = b->msgs.n ? b->msgs.v : NULL;
  rd->n_msgs = b->msgs.n;
  rd->msgs_after_persist = b->msgs_ap.n ? b->msgs_ap.v : NULL;
  rd->n_msgs_after_persist = b->msgs_ap.n;
  rd->read_states = b->rs.n ? b->rs.v : NULL;
  rd->n_read_states = b->rs.n;

  b->last_index = last > l->stable ? last : l->stable;
  b->applied_to = commit_hi > l->applied ? commit_hi : l->applied;
  b->hs = hs;
  b->leader = r->leader;
  b->role = r->role;
  b->n_cc_applied = 0;
  b->trunc_from = UINT64_MAX;
  b->out = 1;
  return 1;
}

static void grave_empty(lkv_raft_t *r) {
  for (size_t i = 0; i < r->n_grave; i++) free(r->grave[i]);
  r->n_grave = 0;
}

void lkv__batch_free(lkv_raft_t *r) {
  lkv__batch_t *b = &r->batch;
  lkv__msgq_free(&b->msgs);
  lkv__msgq_free(&b->msgs_ap);
  lkv__rsq_free(&b->rs);
  free(b->snap_data);
  b->snap_data = NULL;
  b->out = 0;
  grave_empty(r);
}

int lkv_raft_advance(lkv_raft_t *r, const lkv_raft_ready_t *rd) {
  lkv__batch_t *b = &r->batch;
  if (!rd || !b->out || rd->n_entries != b->n_ents || rd->n_committed != b->n_committed ||
      rd->n_msgs != b->msgs.n || rd->n_msgs_after_persist != b->msgs_ap.n || rd->n_read_states != b->rs.n)
    return LKV_EINVAL;
  /* The arrays are the batch's own: a copied or stale rd does not acknowledge this batch. */
  if ((b->n_ents && rd->entries != b->ents) || (b->n_committed && rd->committed != b->committed) ||
      (b->msgs.n && rd->msgs != b->msgs.v) || (b->msgs_ap.n && rd->msgs_after_persist != b->msgs_ap.v))
    return LKV_EINVAL;
  size_t n_cc = 0;
  size_t payload = 0;
  for (size_t i = 0; i < b->n_committed; i++) {
    n_cc += b->committed[i].type == LKV_RAFT_ENTRY_CONF_CHANGE;
    payload += b->committed[i].len;
  }
  if (n_cc != b->n_cc_applied) return LKV_EINVAL;

  lkv__log_t *l = &r->log;
  /* Entries the log dropped after the batch left were replaced: the durable copies are not theirs. */
  uint64_t stable = b->last_index;
  if (b->trunc_from != UINT64_MAX && stable >= b->trunc_from) stable = b->trunc_from - 1;
  if (stable > lkv__log_last(l)) stable = lkv__log_last(l);
  if (stable > l->stable) l->stable = stable;
  if (b->applied_to > l->applied) l->applied = b->applied_to;
  r->prev_hs = b->hs;
  r->prev_leader = b->leader;
  r->prev_role = b->role;
  lkv__batch_free(r);

  if (r->role == LKV_RAFT_LEADER) {
    r->uncommitted = payload < r->uncommitted ? r->uncommitted - payload : 0;
    lkv__self_match(r, l->stable);
  }
  return 0;
}

void lkv__grave_free(void *arg, void *p) {
  lkv_raft_t *r = arg;
  if (!p) return;
  if (!r->batch.out) {
    free(p);
    return;
  }
  if (r->n_grave == r->cap_grave) {
    r->cap_grave = r->cap_grave ? 2 * r->cap_grave : 64;
    r->grave = lkv__xrealloc(r->grave, r->cap_grave * sizeof(*r->grave));
  }
  r->grave[r->n_grave++] = p;
}
