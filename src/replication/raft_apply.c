/* Applying committed Raft entries: one state-machine batch per run of entries, answers to local proposers. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/le.h"
#include "metrics/catalog.h"
#include "replication/ledger_append.h"
#include "replication/raft_entry.h"
#include "replication/raft_internal.h"

/* A run of committed entries applied as one store transaction. */
typedef struct {
  lkv_apply_req_t *reqs;
  lkv_proposal_t **owners; /* this member's proposal for reqs[i] (reqs[i].msg is its message), or NULL */
  size_t n, cap;
  uint64_t last_index; /* of the last entry of the run (those without a request included) */
} run_t;

/* Takes this member's proposal seq out of the pending list (NULL: it timed out, or was never ours). */
static lkv_proposal_t *take_pending(lkv__raft_node_t *n, uint64_t seq) {
  lkv_proposal_t *prev = NULL;
  for (lkv_proposal_t *p = n->pending; p; prev = p, p = p->next) {
    if (p->seq != seq) continue;
    if (prev)
      prev->next = p->next;
    else
      n->pending = p->next;
    if (n->pending_tail == p) n->pending_tail = prev;
    return p;
  }
  return NULL;
}

/* Appends the run's ledger entries; entries already in the ledger (a batch the store did not commit before
 * a crash, applied again) must be the very same leaves. */
static int ledger_log(void *arg, const lkv_ledger_entry_t *e, size_t count) {
  lkv__raft_node_t *n = arg;
  int rc = lkv__ledger_append_at(n->o.ledger, n->ledger_end, e, count, LKV__LEDGER_SAME_LEAF);
  if (rc == 0) n->ledger_end += count;
  return rc;
}

int lkv__raft_node_put_position(lkv_mvcc_txn_t *t, uint64_t applied, uint64_t ledger_len) {
  uint8_t v[16];
  lkv_le64_put(v, applied);
  lkv_le64_put(v + 8, ledger_len);
  return lkv_mvcc_repl_put(t, LKV__RAFT_POSITION_RECORD, v, sizeof(v));
}

int lkv__raft_node_decode_position(const uint8_t *v, size_t len, uint64_t *applied, uint64_t *ledger_len) {
  if (len != 16) return LKV_ECORRUPT;
  *applied = lkv_le64_get(v);
  *ledger_len = lkv_le64_get(v + 8);
  return 0;
}

/* Records where the store now stands, in the run's own transaction. */
static int record_position(void *arg, lkv_mvcc_txn_t *t) {
  lkv__raft_node_t *n = arg;
  return lkv__raft_node_put_position(t, n->applied, n->ledger_end);
}

static void tell_listeners(lkv__raft_node_t *n, const run_t *run) {
  pthread_mutex_lock(&n->listen_mu);
  if (n->on_commit) n->on_commit(n->on_commit_arg);
  if (n->on_applied)
    for (size_t i = 0; i < run->n; i++)
      if (lkv_apply_req_took_effect(&run->reqs[i])) n->on_applied(n->on_applied_arg, &run->reqs[i]);
  pthread_mutex_unlock(&n->listen_mu);
}

/* Answers the local proposers of the run with their response, stamped with this member and term. */
static void answer_owners(lkv__raft_node_t *n, run_t *run, int halt_rc) {
  lkv_raft_status_t st;
  lkv_raft_status(n->raft, &st);
  for (size_t i = 0; i < run->n; i++) {
    lkv_apply_req_t *req = &run->reqs[i];
    lkv_proposal_t *p = run->owners[i];
    if (p) {
      p->req.err = halt_rc ? halt_rc : req->err;
      p->req.resp = NULL;
      p->req.resp_len = 0;
      if (!p->req.err && lkv_apply_stamp_header(req->resp, req->resp_len, n->o.member_id, st.hard_state.term,
                                                &p->req.resp, &p->req.resp_len) != 0)
        p->req.err = LKV_ENOMEM; /* applied, but the answer cannot be made: the client retries or reads */
      lkv_metric_add(LKV_METRIC(proposals_pending), 0, -1);
      p->done(p);
    }
    free(req->resp);
    if (!p) protobuf_c_message_free_unpacked((ProtobufCMessage *)req->msg, NULL); /* else the proposer's */
  }
  run->n = 0;
}

static int flush_run(lkv__raft_node_t *n, run_t *run) {
  if (run->n == 0) {
    if (run->last_index > n->applied) n->applied = run->last_index;
    return 0;
  }
  uint64_t before = n->applied;
  n->applied = run->last_index;
  n->ledger_end = n->ledger_pos;
  /* The state machine answers with member 0 and term 0: the same bytes on every member. */
  lkv_apply_identity_t id = {.cluster_id = n->o.cluster_id};
  lkv_apply_hooks_t hooks = {
      .log = n->o.ledger ? ledger_log : NULL, .log_arg = n, .record = record_position, .record_arg = n};
  int rc = lkv_apply_batch_hooked(n->o.store, &id, run->reqs, run->n, &hooks);
  if (rc) {
    n->applied = before;
    answer_owners(n, run, LKV_EHALTED);
    lkv__raft_node_halt(n, "cannot apply committed entries", rc);
    return rc;
  }
  n->ledger_pos = n->ledger_end;
  tell_listeners(n, run);
  answer_owners(n, run, 0);
  return 0;
}

static int run_add(run_t *run, const lkv_apply_req_t *req, lkv_proposal_t *owner) {
  if (run->n == run->cap) {
    size_t cap = run->cap ? 2 * run->cap : 64;
    lkv_apply_req_t *r = realloc(run->reqs, cap * sizeof(*r));
    if (!r) return LKV_ENOMEM;
    run->reqs = r;
    lkv_proposal_t **o = realloc(run->owners, cap * sizeof(*o));
    if (!o) return LKV_ENOMEM;
    run->owners = o;
    run->cap = cap;
  }
  run->reqs[run->n] = *req;
  run->owners[run->n] = owner;
  run->n++;
  return 0;
}

/* Turns committed entry e, decoded into pl, into a request of the run. */
static int add_entry(lkv__raft_node_t *n, run_t *run, const lkv_raft_entry_payload_t *pl, uint64_t index) {
  lkv_proposal_t *owner = pl->origin == n->o.member_id ? take_pending(n, pl->seq) : NULL;
  /* The proposer's message is the entry's request before it was packed: decoding it again is only work. */
  ProtobufCMessage *msg = owner ? (ProtobufCMessage *)owner->req.msg
                                : protobuf_c_message_unpack(lkv_raft_entry_descriptor(pl->kind), NULL,
                                                            pl->request_len, pl->request);
  if (!msg) {
    /* Proposals are validated before they enter the log, so only memory can fail here. */
    if (owner) lkv__raft_node_fail(owner, LKV_EHALTED);
    lkv__raft_node_halt(n, "cannot decode a committed request", LKV_ENOMEM);
    return LKV_ENOMEM;
  }
  lkv_apply_req_t req = {.kind = pl->kind,
                         .msg = msg,
                         .raw = pl->request,
                         .raw_len = pl->request_len,
                         .no_claims = (pl->flags & LKV_RAFT_ENTRY_NO_CLAIMS) != 0,
                         .auth = pl->auth,
                         .index = index};
  int rc = run_add(run, &req, owner);
  if (rc) {
    if (!owner) protobuf_c_message_free_unpacked(msg, NULL);
    if (owner) lkv__raft_node_fail(owner, LKV_EHALTED);
    lkv__raft_node_halt(n, "cannot apply committed entries", rc);
  }
  return rc;
}

/* A normal entry: a request joins the run; a member's attributes are recorded after the run so far. */
static int apply_normal(lkv__raft_node_t *n, run_t *run, const lkv_raft_entry_t *e) {
  lkv_raft_entry_payload_t pl;
  if (lkv_raft_entry_decode(e->data, e->len, &pl) != 0) {
    lkv__raft_node_halt(n, "a committed entry this version cannot read (written by a newer ledgerkv?)",
                        LKV_EBADMSG);
    return LKV_EBADMSG;
  }
  if ((unsigned)pl.kind != LKV_RAFT_ENTRY_ATTRS && (unsigned)pl.kind != LKV_RAFT_ENTRY_PEER_URLS)
    return add_entry(n, run, &pl, e->index);
  int rc = flush_run(n, run);
  if (rc) return rc;
  if ((unsigned)pl.kind == LKV_RAFT_ENTRY_PEER_URLS)
    return lkv__raft_node_apply_peer_urls(n, pl.origin, pl.seq, pl.request, pl.request_len, e->index);
  rc = lkv__raft_node_apply_attrs(n, pl.origin, pl.request, pl.request_len, e->index);
  if (rc) lkv__raft_node_halt(n, "cannot record a member's attributes", rc);
  return rc;
}

int lkv__raft_node_apply(lkv__raft_node_t *n, const lkv_raft_ready_t *rd) {
  run_t run = {0};
  int rc = 0;
  for (size_t i = 0; i < rd->n_committed && rc == 0; i++) {
    const lkv_raft_entry_t *e = &rd->committed[i];
    if (e->type == LKV_RAFT_ENTRY_CONF_CHANGE) {
      rc = flush_run(n, &run);
      if (rc) break;
      rc = lkv__raft_node_apply_conf(n, e);
      continue;
    }
    run.last_index = e->index;
    n->log_bytes += e->len;    /* held in the core's memory until a snapshot covers it (raft_snap.c) */
    if (e->len == 0) continue; /* a new leader's empty entry */
    rc = apply_normal(n, &run, e);
  }
  if (rc == 0) rc = flush_run(n, &run);
  if (rc) answer_owners(n, &run, LKV_EHALTED);
  free(run.reqs);
  free(run.owners);
  return rc;
}

void lkv__raft_node_background(lkv__raft_node_t *n) {
  uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
  if (n->halted || now < n->compact_at_ms) return;
  n->compact_at_ms = lkv_apply_background_step(n->o.store) ? now + LKV_APPLY_BACKGROUND_PAUSE_MS : 0;
}
