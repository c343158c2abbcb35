/* The causal replicator's thread (rounds: reads, a proposal, peers' messages, ticks, the batch) and start-up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causal/lease_id.h"
#include "common/clock.h"
#include "common/error.h"
#include "replication/causal_internal.h"

/* ---- one round's inputs */

/* Local writes taken in one round (one flush for all): beyond this many, the next round takes the rest. */
#define MAX_GROUP 64

/* An auth op other than Authenticate: a write of auth records, dry-run and made an event alone. */
static int is_auth(const lkv_proposal_t *p) {
  return lkv_apply_auth_descriptor(p->req.kind) && p->req.kind != LKV_OP_AUTH_AUTHENTICATE;
}

/* A lease grant or revoke: dry-run and made an event alone (its owner checked before and after). */
static int is_lease(const lkv_proposal_t *p) {
  return p->req.kind == LKV_OP_LEASE_GRANT || p->req.kind == LKV_OP_LEASE_REVOKE;
}

static int is_write(const lkv_proposal_t *p) {
  return p->req.kind == LKV_OP_PUT || p->req.kind == LKV_OP_DELETE_RANGE || p->req.kind == LKV_OP_TXN ||
         is_auth(p) || is_lease(p);
}

/* Answers a proposal that is not a write here: compactions and alarms applied as they are, Authenticate
 * too (a token of this member's, docs/causal.md §16, named by its revision), the rest refused
 * (causal_node.h). */
static void take_other(lkv__causal_node_t *n, lkv_proposal_t *p) {
  lkv_apply_req_t *req = &p->req;
  int rc;
  req->err = 0, req->resp = NULL, req->resp_len = 0;
  if (n->halted)
    req->err = n->halted;
  else if (req->kind == LKV_OP_COMPACT || req->kind == LKV_OP_ALARM) {
    if ((rc = lkv__causal_apply_alone(n, req))) /* this member's own history and alarms */
      lkv__causal_halt(n, "cannot apply a compaction or an alarm to the store", rc);
  } else if (req->kind == LKV_OP_AUTH_AUTHENTICATE) {
    if ((rc = lkv__causal_authenticate(n, req)))
      lkv__causal_halt(n, "cannot apply an Authenticate to the store", rc);
  } else
    req->err = LKV_EUNSUPPORTED;
  p->done(p);
}

/* Takes the queued proposals up to the first write that follows a non-write (answering the non-writes
 * before it) and at most MAX_GROUP writes into group (an auth op or a lease op alone); returns how many. */
static size_t take_group(lkv__causal_node_t *n, lkv_proposal_t **group) {
  size_t k = 0;
  for (;;) {
    pthread_mutex_lock(&n->mu);
    lkv_proposal_t *p = n->props;
    int write = p && is_write(p) && !n->halted;
    if (p && (k == 0 || (write && !is_auth(p) && !is_auth(group[0]) && !is_lease(p))) && k < MAX_GROUP) {
      if (!(n->props = p->next)) n->props_tail = NULL;
    } else {
      p = NULL; /* a non-write after writes waits for the next round: proposals keep their order */
    }
    pthread_mutex_unlock(&n->mu);
    if (!p) return k;
    if (!write)
      take_other(n, p);
    else if ((group[k++] = p) != NULL && is_lease(p))
      return k;
  }
}

/* Puts group[0..k) back at the head of the queue, in order. */
static void put_back(lkv__causal_node_t *n, lkv_proposal_t **group, size_t k) {
  if (!k) return;
  pthread_mutex_lock(&n->mu);
  group[k - 1]->next = n->props;
  if (!n->props) n->props_tail = group[k - 1];
  for (size_t i = k - 1; i-- > 0;) group[i]->next = group[i + 1];
  n->props = group[0];
  pthread_mutex_unlock(&n->mu);
}

/* Makes group[0..k)'s writes the core's next local events, dry-run together so that each sees the ones
 * before it; they are answered once the batch is durable (the acks), the others of the group after it
 * (later[], *n_later: their outcome may depend on the writes before them). At the first write that took
 * effect in the dry run but cannot become an event, the rest of the group goes back to the queue. */
static void take_writes(lkv__causal_node_t *n, lkv_proposal_t **group, size_t k, uint64_t now,
                        lkv_proposal_t **later, size_t *n_later) {
  lkv__causal_dry_t out[MAX_GROUP];
  lkv_apply_req_t *reqs[MAX_GROUP];
  for (size_t i = 0; i < k; i++) {
    reqs[i] = &group[i]->req;
    reqs[i]->err = 0, reqs[i]->resp = NULL, reqs[i]->resp_len = 0;
  }
  int rc = lkv__causal_lease_refused(n, reqs[0], 0); /* a lease's group is that lease alone */
  if (!rc) rc = lkv__causal_dry_run(n, reqs, k, out);
  if (rc == LKV_EAGAIN) { /* not dry-run together (lkv__causal_dry_run): the first alone, the rest later */
    put_back(n, group + 1, k - 1);
    k = 1;
    rc = lkv__causal_dry_run(n, reqs, 1, out);
  }
  size_t i = 0;
  for (; i < k; i++) {
    lkv_proposal_t *p = group[i];
    if (!rc && !out[i].answered && !out[i].err) out[i].err = lkv__causal_lease_refused(n, reqs[i], 1);
    if (rc || out[i].answered || out[i].err) {
      if (rc || out[i].err) p->req.err = rc ? rc : out[i].err;
      later[(*n_later)++] = p;
      if (!rc && (out[i].err == LKV_EUNSUPPORTED || out[i].err == LKV_EPERMDENIED))
        break; /* it may have taken effect in the dry run */
      continue;
    }
    uint64_t rev;
    p->req.err = lkv_causal_member_write(n->m, now, out[i].muts, out[i].cnt, (uintptr_t)p, &rev);
    if (p->req.err) {
      later[(*n_later)++] = p;
      break;
    }
  }
  if (i < k) put_back(n, group + i + 1, k - i - 1);
  if (!rc) lkv__causal_dry_free(out, k);
}

/* Hands a peer's message to the core; refused ones are dropped (anti-entropy offers events again). */
static void take_message(lkv__causal_node_t *n, const lkv__causal_in_t *in, uint64_t now) {
  if (in->len < 1) return;
  if (in->data[0] == LKV_CAUSAL_MSG_EVENT)
    lkv_causal_member_recv_event(n->m, now, in->data + 1, in->len - 1);
  else if (in->data[0] == LKV_CAUSAL_MSG_VV)
    lkv_causal_member_recv_vv(n->m, in->from, in->data + 1, in->len - 1);
  else if (in->data[0] == LKV__CAUSAL_MSG_HELLO)
    lkv__causal_keys_take_hello(n, in->from, in->data + 1, in->len - 1);
}

/* ---- the batch */

void lkv__causal_halt(lkv__causal_node_t *n, const char *what, int rc) {
  fprintf(stderr, "ledgerkv: causal member %016llx halted: %s: %s\n", (unsigned long long)n->o.member_id,
          what, lkv_strerror(rc));
  pthread_mutex_lock(&n->mu);
  n->halted = LKV_EHALTED;
  pthread_mutex_unlock(&n->mu);
}

static void send_all(lkv__causal_node_t *n, const lkv_causal_batch_t *rb) {
  uint8_t *buf = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < rb->n_msgs; i++) {
    const lkv_causal_msg_t *m = &rb->msgs[i];
    if (m->len + 1 > cap) {
      free(buf);
      cap = m->len + 1;
      if (!(buf = malloc(cap))) return; /* dropped: anti-entropy sends them again */
    }
    buf[0] = m->kind;
    memcpy(buf + 1, m->data, m->len);
    n->o.send(n->o.send_arg, m->to, buf, m->len + 1);
  }
  free(buf);
}

/* Handles the core's batch: durable, applied to the store, sent, answered (member.h's order). The round's
 * local writes are proposals (their acks) or a resolve (rs), not both: the store applies a resolve by its
 * winner changes, as a remote event. */
static void handle_batch(lkv__causal_node_t *n, lkv_causal_resolve_t *rs, lkv__causal_mchange_t *mc) {
  lkv_causal_batch_t rb;
  if (!lkv_causal_member_batch(n->m, &rb)) return;
  int rc = 0, mc_acked = 0;
  lkv__causal_local_t *locals = rb.n_acks ? malloc(rb.n_acks * sizeof(*locals)) : NULL;
  size_t n_locals = 0;
  if (rb.n_acks && !locals) rc = LKV_ENOMEM;
  for (size_t i = 0; !rc && i < rb.n_acks; i++)
    if ((!rs || rb.acks[i].token != (uintptr_t)rs) && (!mc || rb.acks[i].token != (uintptr_t)mc))
      locals[n_locals++] =
          (lkv__causal_local_t){.rev = rb.acks[i].rev, .req = &((lkv_proposal_t *)rb.acks[i].token)->req};
  if (!rc && rb.n_applied) {
    const uint8_t **ev = malloc(rb.n_applied * sizeof(*ev));
    size_t *len = malloc(rb.n_applied * sizeof(*len));
    rc = ev && len ? 0 : LKV_ENOMEM;
    for (size_t i = 0; !rc && i < rb.n_applied; i++) {
      ev[i] = rb.applied[i].bytes, len[i] = rb.applied[i].len;
      lkv__causal_leases_collect(n, rb.first_rev + i, &rb.applied[i].ev);
    }
    if (!rc) rc = lkv__causal_log_append(n->log, ev, len, rb.n_applied);
    free(ev);
    free(len);
  }
  if (rc) lkv__causal_halt(n, "cannot make events durable", rc);
  if (!rc && rb.n_applied) {
    rc = lkv__causal_store_catch_up(n, rb.first_rev + rb.n_applied - 1, locals, n_locals);
    if (rc) lkv__causal_halt(n, "cannot apply events to the store", rc);
  } else {
    lkv__causal_changes_clear(n);
    lkv__causal_leases_drop(n, UINT64_MAX);
  }
  if (!rc) send_all(n, &rb);
  lkv__causal_batch_done(n, &rb, rs, rc);
  for (size_t i = 0; i < rb.n_acks; i++) {
    if (rs && rb.acks[i].token == (uintptr_t)rs) continue; /* answered by lkv__causal_batch_done */
    if (mc && rb.acks[i].token == (uintptr_t)mc) {
      mc_acked = 1; /* answered below, once the member table shows an add */
      continue;
    }
    lkv_proposal_t *p = (lkv_proposal_t *)rb.acks[i].token;
    if (rc) p->req.err = LKV_EHALTED;
    p->done(p);
  }
  free(locals);
  lkv_causal_member_advance(n->m);
  if (!rc) lkv__causal_removals_tell(n);
  if (!rc) lkv__causal_adds_tell(n);
  if (mc_acked) lkv__causal_change_done(mc, rc ? LKV_EHALTED : 0);
  pthread_mutex_lock(&n->mu);
  n->st_vv = *lkv_causal_member_vv(n->m);
  n->st_rev = lkv_causal_member_revision(n->m);
  pthread_mutex_unlock(&n->mu);
}

/* ---- the thread */

static int has_input(const lkv__causal_node_t *n) {
  return n->props || n->in || n->reads || n->queries || n->resolves || n->mchanges;
}

void *lkv__causal_thread(void *arg) {
  lkv__causal_node_t *n = arg;
  unsigned sync_ms = n->o.sync_ms ? n->o.sync_ms : 100;
  uint64_t next_tick = lkv_clock_ms(CLOCK_MONOTONIC) + sync_ms;
  n->next_check = next_tick - sync_ms + n->o.check_ms;
  int background = 0; /* a compaction's removal of history is pending: rest only briefly */
  pthread_mutex_lock(&n->mu);
  for (;;) {
    uint64_t mono = lkv_clock_ms(CLOCK_MONOTONIC);
    uint64_t wake_at = background && mono + LKV_APPLY_BACKGROUND_PAUSE_MS < next_tick
                           ? mono + LKV_APPLY_BACKGROUND_PAUSE_MS
                           : next_tick;
    if (n->o.ledger && n->signing.next_ms < wake_at) wake_at = n->signing.next_ms;
    struct timespec until = lkv_clock_deadline(CLOCK_MONOTONIC, wake_at > mono ? wake_at - mono : 0);
    while (!has_input(n) && !n->stopping && lkv_clock_ms(CLOCK_MONOTONIC) < wake_at)
      pthread_cond_timedwait(&n->wake, &n->mu, &until);
    if (n->stopping && !has_input(n)) break;
    lkv__causal_read_t *reads = n->reads;
    lkv__causal_in_t *in = n->in;
    lkv_causal_query_t *queries = n->queries;
    n->queries = n->queries_tail = NULL;
    n->reads = n->reads_tail = NULL;
    n->in = n->in_tail = NULL;
    pthread_mutex_unlock(&n->mu);

    uint64_t now = lkv_clock_ms(CLOCK_REALTIME);
    for (lkv__causal_read_t *rd; (rd = reads) != NULL; free(rd)) {
      reads = rd->next;
      rd->cb(rd->arg, 0); /* reads are local: everything acknowledged here is applied here */
    }
    /* Proposals first: a dry run needs the store as the core is (nothing of this round received yet). */
    lkv_proposal_t *group[MAX_GROUP], *later[MAX_GROUP];
    size_t k = take_group(n, group), n_later = 0;
    if (k) take_writes(n, group, k, now, later, &n_later);
    lkv_causal_resolve_t *rs = NULL;
    lkv__causal_mchange_t *mc = NULL;
    if (!k) lkv__causal_take_resolve(n, now, &rs); /* the next round's dry run sees it */
    if (!k && !rs) lkv__causal_take_change(n, now, &mc);
    for (lkv__causal_in_t *m; (m = in) != NULL;) {
      in = m->next;
      if (m->refusal) {
        lkv__causal_refusal_take(n, m);
        free(m);
        continue;
      }
      lkv_causal_member_heard(n->m, m->from, now); /* anything it sends, checks included: it is alive */
      if (lkv__causal_check_keep(n, m) || lkv__causal_stream_keep(n, m, lkv_clock_ms(CLOCK_MONOTONIC)))
        continue;
      if (!n->halted) take_message(n, m, now);
      free(m);
    }
    int ticked = lkv_clock_ms(CLOCK_MONOTONIC) >= next_tick;
    if (ticked) {
      if (!n->halted) lkv_causal_member_tick(n->m);
      lkv__causal_keys_hello(n);
      lkv__causal_silence_check(n, now);
      next_tick = lkv_clock_ms(CLOCK_MONOTONIC) + sync_ms;
    }
    handle_batch(n, rs, mc);
    for (size_t i = 0; i < n_later; i++) later[i]->done(later[i]);
    lkv__causal_snap_round(n, now, lkv_clock_ms(CLOCK_MONOTONIC), ticked); /* quiet: after the batch */
    if (!n->halted) lkv__causal_adds_tell(n);                              /* a snapshot's members */
    lkv__causal_compact_round(n);        /* the store reflects the core, every event is durable */
    lkv__causal_run_queries(n, queries); /* they see what this round made durable */
    lkv__causal_check_round(n, lkv_clock_ms(CLOCK_MONOTONIC)); /* the store reflects the core now */
    if (!n->halted) lkv__signing_due(&n->signing, lkv_clock_ms(CLOCK_MONOTONIC));
    background = !n->halted && lkv_apply_background_step(n->o.store); /* the writer's thread does it */
    pthread_mutex_lock(&n->mu);
  }
  pthread_mutex_unlock(&n->mu);
  if (!n->halted) lkv__signing_now(&n->signing); /* the last head covers everything applied */
  return NULL;
}

/* ---- start-up */

/* The event log's replay: after a checkpoint (its base: ckpt_base), the events above its base. */
typedef struct {
  lkv__causal_node_t *n;
  uint64_t ckpt_base;
} replay_t;

static int replay_one(void *arg, uint64_t log_rev, const uint8_t *ev, size_t len) {
  const replay_t *r = arg;
  lkv__causal_node_t *n = r->n;
  uint64_t rev;
  lkv_causal_event_t e;
  if (log_rev <= r->ckpt_base) return 0; /* compacted: a crash came before the log's rewrite */
  if (lkv_causal_member_replay(n->m, ev, len, &rev) || rev != log_rev || lkv_causal_event_decode(ev, len, &e))
    return LKV_ECORRUPT;
  lkv__causal_leases_collect(n, rev, &e); /* for the store's catch-up below */
  return 0;
}

/* The core revision the store reflects: its record, or 0 for a fresh store. */
static int store_position(lkv__causal_node_t *n, char *err, size_t errlen) {
  uint8_t *val;
  size_t len;
  lkv_mvcc_stat_t st;
  int rc = lkv_mvcc_stat(n->o.store, &st);
  if (rc) return rc;
  rc = lkv_mvcc_repl_read(n->o.store, LKV__CAUSAL_APPLIED, &val, &len);
  if (rc == LKV_ENOENT) {
    if (st.revision == 1) return 0;
    snprintf(err, errlen, "the store holds data that was not written in causal mode");
    return LKV_ECORRUPT;
  }
  if (rc) return rc;
  if (len != 8) rc = LKV_ECORRUPT;
  for (size_t i = 0; !rc && i < 8; i++) n->applied |= (uint64_t)val[i] << (8 * i);
  free(val);
  if (!rc && (int64_t)n->applied + 1 != st.revision) rc = LKV_ECORRUPT;
  if (rc) snprintf(err, errlen, "the store's causal position does not match its revision");
  return rc;
}

static int valid(const lkv_causal_node_options_t *o) {
  return o->store && o->dir && o->member_id && o->sk && o->members && o->n_members &&
         o->n_members <= LKV_CAUSAL_MAX_ORIGINS && o->send;
}

/* Every member's leases must be told apart by their ids (causal/lease_id.h). */
static int tags_distinct(const lkv_causal_node_options_t *o, char *err, size_t errlen) {
  uint64_t ids[LKV_CAUSAL_MAX_ORIGINS], a, b;
  for (size_t i = 0; i < o->n_members; i++) ids[i] = o->members[i].id;
  if (lkv_causal_lease_tags_distinct(ids, o->n_members, &a, &b)) return 1;
  snprintf(err, errlen,
           "members %016llx and %016llx have the same lease owner tag (the low 15 bits of their ids): their "
           "leases could not be told apart; change --initial-cluster-token or a member's peer URLs",
           (unsigned long long)a, (unsigned long long)b);
  return 0;
}

int lkv_causal_node_start(lkv_replicator_t **out, const lkv_causal_node_options_t *opts, char *err,
                          size_t errlen) {
  snprintf(err, errlen, "cannot start the causal replicator");
  if (!valid(opts)) return LKV_EINVAL;
  if (!tags_distinct(opts, err, errlen)) return LKV_EINVAL;
  lkv__causal_node_t *n = calloc(1, sizeof(*n));
  if (!n) return LKV_ENOMEM;
  n->base.ops = &lkv__causal_ops;
  n->snap_rx.fd = -1; /* nothing being received (lkv__causal_node_free closes it) */
  n->o = *opts;
  memcpy(n->members, opts->members, opts->n_members * sizeof(n->members[0]));
  memcpy(n->sk, opts->sk, sizeof(n->sk));
  n->o.members = n->members;
  n->o.sk = n->sk;
  /* First: every later failure goes through lkv__causal_node_free, which destroys it. */
  if (lkv__signing_init(&n->signing, opts->ledger, opts->sign_interval_ms)) {
    free(n);
    return LKV_ENOMEM;
  }
  pthread_mutex_init(&n->mu, NULL);
  pthread_mutex_init(&n->listen_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&n->wake, &ca);
  pthread_condattr_destroy(&ca);
  for (size_t i = 0; opts->attrs && i < opts->n_members; i++) {
    const lkv_causal_node_attrs_t *a = &opts->attrs[i];
    if (a->data && (n->peer_attrs[i] = malloc(a->len ? a->len : 1)) != NULL)
      memcpy(n->peer_attrs[i], a->data, a->len), n->peer_attrs_len[i] = a->len;
  }
  n->o.attrs = NULL; /* the caller's: copied into peer_attrs */
  lkv_causal_config_t cfg = {.id = opts->member_id,
                             .members = n->members,
                             .n_members = opts->n_members,
                             .max_ahead = opts->max_ahead_ms ? opts->max_ahead_ms : 60000,
                             .max_held_events = 4096,
                             .max_held_bytes = 64u << 20,
                             .max_ship_events = 256,
                             .max_ship_bytes = 4u << 20,
                             .on_change = lkv__causal_collect,
                             .on_write = lkv__causal_auth_collect,
                             .change_arg = n,
                             .joining = opts->joining};
  memcpy(cfg.sk, n->sk, sizeof(cfg.sk));
  n->o.dir = n->dir = strdup(opts->dir); /* the keys' files are written after start */
  int rc = n->dir ? store_position(n, err, errlen) : LKV_ENOMEM;
  if (!rc && lkv_mvcc_rebuilt(opts->store))
    fprintf(stderr,
            "ledgerkv: the store was not flushed before the machine restarted: it starts from its checkpoint "
            "at event %llu and the event log and ledger apply the rest\n",
            (unsigned long long)n->applied);
  if (!rc && (rc = lkv__causal_stream_init(n)) != 0)
    snprintf(err, errlen, "cannot make %s/%s: %s", opts->dir, LKV__CAUSAL_STREAM_DIR, lkv_strerror(rc));
  if (!rc) rc = lkv__causal_keys_load(n, err, errlen);
  if (!rc && (rc = lkv_causal_member_new(&cfg, &n->m)) != 0) snprintf(err, errlen, "bad causal membership");
  uint64_t ckpt_rev = 0;
  replay_t rp = {.n = n};
  if (!rc) rc = lkv__causal_checkpoint_load(n, &ckpt_rev, &rp.ckpt_base, err, errlen);
  if (!rc) lkv__causal_leases_start(n); /* the checkpoint's removals are in the store */
  if (!rc && ckpt_rev > n->applied) {
    snprintf(err, errlen, "the store is at event %llu, behind the causal checkpoint's %llu",
             (unsigned long long)n->applied, (unsigned long long)ckpt_rev);
    rc = LKV_ECORRUPT;
  }
  if (!rc && (rc = lkv__causal_log_open(opts->dir, replay_one, &rp, &n->log)) != 0)
    snprintf(err, errlen, "cannot recover the causal event log in %s: %s", opts->dir, lkv_strerror(rc));
  uint64_t logged = n->log ? lkv__causal_log_last(n->log) : 0;
  if (!rc && logged < rp.ckpt_base) { /* a snapshot installed in the store, the log not restarted yet */
    if ((rc = lkv__causal_snap_log_restart(n, rp.ckpt_base)) != 0)
      snprintf(err, errlen, "cannot restart the event log after the snapshot installed: %s",
               lkv_strerror(rc));
    logged = rp.ckpt_base;
  }
  if (!rc && (logged < n->applied || logged < ckpt_rev || lkv__causal_log_base(n->log) > rp.ckpt_base)) {
    snprintf(err, errlen,
             "the store holds %llu events, the checkpoint %llu from %llu on, the event log %llu from %llu on",
             (unsigned long long)n->applied, (unsigned long long)ckpt_rev,
             (unsigned long long)rp.ckpt_base + 1, (unsigned long long)logged,
             (unsigned long long)lkv__causal_log_base(n->log) + 1);
    rc = LKV_ECORRUPT;
  }
  if (!rc) rc = lkv__causal_ledger_start(n, logged, err, errlen);
  if (!rc && logged > n->applied && (rc = lkv__causal_store_catch_up(n, logged, NULL, 0)) != 0)
    snprintf(err, errlen, "cannot apply the event log's tail to the store: %s", lkv_strerror(rc));
  if (!rc) rc = lkv__causal_snap_recover(n, lkv_clock_ms(CLOCK_REALTIME), err, errlen);
  if (!rc && lkv_causal_member_is_removed(n->m, opts->member_id)) {
    snprintf(err, errlen, "the member has been permanently removed from the cluster");
    rc = LKV_EMEMBERREMOVED;
  }
  if (!rc) lkv__causal_adds_tell(n);     /* the members added before: the table as the core has it */
  if (!rc) lkv__causal_removals_tell(n); /* the transport refuses the peers removed before */
  if (!rc) {
    n->st_vv = *lkv_causal_member_vv(n->m);
    n->st_rev = lkv_causal_member_revision(n->m);
    rc = pthread_create(&n->thread, NULL, lkv__causal_thread, n) ? LKV_ENOMEM : 0;
  }
  if (rc) {
    lkv__causal_node_free(n);
    return rc;
  }
  *out = &n->base;
  return 0;
}

void lkv__causal_node_free(lkv__causal_node_t *n) {
  lkv__causal_stream_stop(n);
  lkv__causal_changes_clear(n);
  free(n->changes);
  free(n->lease_ops);
  lkv_causal_member_free(n->m);
  lkv__causal_log_close(n->log);
  free(n->attrs);
  free(n->dir);
  for (size_t i = 0; i < LKV_CAUSAL_MAX_ORIGINS; i++) free(n->peer_attrs[i]);
  lkv__signing_destroy(&n->signing);
  pthread_cond_destroy(&n->wake);
  pthread_mutex_destroy(&n->mu);
  pthread_mutex_destroy(&n->listen_mu);
  free(n);
}
