/* The causal replicator and the store: proposals' dry runs, events applied at their revisions. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/grow.h"
#include "replication/causal_internal.h"

/* ---- winner changes the core reports */

lkv__causal_change_t *lkv__causal_change_push(lkv__causal_node_t *n, uint64_t rev, const uint8_t *key,
                                              size_t key_len, int deleted, const uint8_t *value,
                                              size_t value_len) {
  lkv__causal_change_t c = {.rev = rev, .deleted = deleted};
  c.key = malloc(key_len);
  c.value = malloc(deleted || !value_len ? 1 : value_len);
  if (!c.key || !c.value) abort(); /* as the core: a half-applied event is worse than a stop */
  memcpy(c.key, key, key_len);
  c.key_len = key_len;
  if (!deleted && value_len) memcpy(c.value, value, value_len);
  c.value_len = deleted ? 0 : value_len;
  /* A key told twice for one event: the last holds. An install tells each key once, and may tell every key
   * of the store: not searched (quadratic). */
  for (size_t i = n->n_changes; !n->installing && i-- > 0 && n->changes[i].rev == rev;) {
    lkv__causal_change_t *o = &n->changes[i];
    if (o->key_len == c.key_len && memcmp(o->key, c.key, c.key_len) == 0) {
      free(o->key);
      free(o->value);
      *o = c;
      return o;
    }
  }
  if (lkv_grow((void **)&n->changes, &n->cap_changes, n->n_changes + 1, sizeof(c))) abort();
  n->changes[n->n_changes] = c;
  return &n->changes[n->n_changes++];
}

void lkv__causal_collect(void *arg, uint64_t rev, const lkv_causal_key_t *k) {
  lkv__causal_node_t *n = arg;
  /* replayed into the core, already in the store; auth records follow all their siblings (causal_auth.c) */
  if (rev <= n->applied || lkv_causal_node_reserved_key(k->key, k->key_len)) return;
  const lkv_causal_sibling_t *w = lkv_causal_key_winner(k);
  int deleted = !w || w->tombstone;
  lkv__causal_change_push(n, rev, k->key, k->key_len, deleted, deleted ? NULL : w->value,
                          deleted ? 0 : w->value_len)
      ->lease = deleted ? 0 : w->lease;
}

/* Frees the buffered changes of revisions up to last, keeping the later ones (in order). */
static void changes_drop(lkv__causal_node_t *n, uint64_t last) {
  size_t k = 0;
  for (; k < n->n_changes && n->changes[k].rev <= last; k++) {
    free(n->changes[k].key);
    free(n->changes[k].value);
  }
  if (k && k < n->n_changes) memmove(n->changes, n->changes + k, (n->n_changes - k) * sizeof(*n->changes));
  n->n_changes -= k;
}

void lkv__causal_changes_clear(lkv__causal_node_t *n) {
  changes_drop(n, UINT64_MAX);
}

/* ---- dry runs */

typedef struct {
  int called, rc;
  int alone; /* the write sets cannot be taken from this run: the first request must be dry-run alone */
  const lkv_apply_req_t *copies; /* the dry run's requests: their outcomes are read before the rollback */
  size_t k;
  lkv__causal_dry_t *out;
  lkv__causal_auth_snap_t *before; /* an auth op's: the auth state it was dry-run on */
} dry_t;

#define DRY_ABORT LKV_ECANCELED /* what the capture returns: the dry run's transaction is rolled back */

/* The ledger entries that make an event's write set, one per request that succeeded: a revision's writes,
 * a lease's grant, a lease's revoke with the deletes of its keys (docs/causal.md §5). */
static int captured(const lkv_ledger_entry_t *e) {
  return e->kind == LKV_LEDGER_REVISION || e->kind == LKV_LEDGER_LEASE_GRANT ||
         e->kind == LKV_LEDGER_LEASE_REVOKE;
}

/* One captured entry's write set into *o: its writes (a put keeps its lease), then a lease's grant or
 * revoke itself. */
static int write_set(const lkv_ledger_entry_t *e, lkv__causal_dry_t *o) {
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  size_t ops = e->kind != LKV_LEDGER_REVISION, bytes = 0;
  for (lkv_ledger_ops_begin(e, &it); lkv_ledger_ops_next(&it, &op) == 1; ops++) {
    if (lkv_causal_node_reserved_key(op.key, op.key_len)) o->err = LKV_EPERMDENIED; /* the auth records' */
    bytes += op.key_len + op.value_len;
  }
  if (o->err) return 0;
  if (!ops) return LKV_ECORRUPT; /* a revision without a write set cannot be */
  lkv_causal_mutation_t *muts = calloc(ops, sizeof(*muts));
  uint8_t *p = malloc(bytes ? bytes : 1);
  if (!muts || !p) {
    free(muts);
    free(p);
    return LKV_ENOMEM;
  }
  o->muts = muts, o->keep = p;
  for (lkv_ledger_ops_begin(e, &it); lkv_ledger_ops_next(&it, &op) == 1;) {
    lkv_causal_mutation_t *m = &muts[o->cnt++];
    m->kind = op.type == LKV_LEDGER_OP_PUT ? LKV_CAUSAL_PUT : LKV_CAUSAL_DEL;
    m->lease = op.type == LKV_LEDGER_OP_PUT ? op.lease : 0;
    memcpy(p, op.key, op.key_len);
    m->key = p;
    m->key_len = op.key_len;
    p += op.key_len;
    if (op.type == LKV_LEDGER_OP_PUT && op.value_len) memcpy(p, op.value, op.value_len);
    m->value = m->kind == LKV_CAUSAL_PUT ? p : NULL;
    m->value_len = m->kind == LKV_CAUSAL_PUT ? op.value_len : 0;
    p += m->value_len;
  }
  if (e->kind != LKV_LEDGER_REVISION) /* after a revoke's deletes: the lease goes last */
    muts[o->cnt++] = (lkv_causal_mutation_t){
        .kind = e->kind == LKV_LEDGER_LEASE_GRANT ? LKV_CAUSAL_LEASE_GRANT : LKV_CAUSAL_LEASE_REVOKE,
        .lease = e->lease_id,
        .ttl = e->lease_ttl};
  return 0;
}

/* Gives each request that succeeded its captured entry's write set, then rolls the batch back. Each
 * request makes at most one such entry, so when as many succeeded as there are entries, the i-th entry is
 * the i-th successful request's; otherwise one of them wrote nothing and the mapping is ambiguous. A
 * request refused for space raised NOSPACE in this transaction (as etcd's quota check does), which the
 * rollback would undo: alone, that request writes nothing and its run is kept. Either way, the first
 * request is dry-run alone. */
static int capture(void *arg, const lkv_ledger_entry_t *e, size_t n) {
  dry_t *d = arg;
  size_t ok = 0, revs = 0, ei = 0;
  int nospace = 0;
  d->called = 1;
  for (size_t i = 0; i < d->k; i++) {
    ok += (d->out[i].err = d->copies[i].err) == 0;
    nospace |= d->copies[i].err == LKV_ENOSPACE;
  }
  for (size_t i = 0; i < n; i++) revs += captured(&e[i]);
  if (ok != revs || nospace) {
    d->alone = 1;
    return DRY_ABORT;
  }
  for (size_t i = 0; i < d->k && !d->rc; i++) {
    if (d->out[i].err) continue;
    while (!captured(&e[ei])) ei++;
    d->rc = write_set(&e[ei++], &d->out[i]);
  }
  return DRY_ABORT;
}

static lkv_apply_identity_t identity(const lkv__causal_node_t *n) {
  return (lkv_apply_identity_t){.cluster_id = n->o.cluster_id, .member_id = n->o.member_id};
}

/* Tells the listeners of applied requests (after the commit listener). */
static void tell(lkv__causal_node_t *n, lkv_apply_req_t *reqs, size_t cnt) {
  pthread_mutex_lock(&n->listen_mu);
  if (n->on_commit) n->on_commit(n->on_commit_arg);
  if (n->on_applied)
    for (size_t i = 0; i < cnt; i++)
      if (lkv_apply_req_took_effect(&reqs[i])) n->on_applied(n->on_applied_arg, &reqs[i]);
  pthread_mutex_unlock(&n->listen_mu);
}

/* An auth op's write set: the auth records it changed, then the batch rolled back (when there are any). */
static int capture_auth(void *arg, lkv_mvcc_txn_t *t) {
  dry_t *d = arg;
  lkv__causal_dry_t *o = &d->out[0];
  uint8_t *keep = NULL;
  d->rc = lkv__causal_auth_diff(d->before, t, &o->muts, &o->cnt, &keep);
  o->keep = keep;
  d->called = o->cnt > 0;
  return d->rc ? d->rc : d->called ? DRY_ABORT : 0;
}

void lkv__causal_dry_free(lkv__causal_dry_t *out, size_t k) {
  for (size_t i = 0; i < k; i++) {
    free(out[i].muts);
    free(out[i].keep);
    out[i].muts = NULL, out[i].keep = NULL, out[i].cnt = 0;
  }
}

int lkv__causal_dry_run(lkv__causal_node_t *n, lkv_apply_req_t *const *reqs, size_t k,
                        lkv__causal_dry_t *out) {
  lkv_apply_req_t *copies = malloc(k * sizeof(*copies));
  if (!copies) return LKV_ENOMEM;
  memset(out, 0, k * sizeof(*out));
  for (size_t i = 0; i < k; i++) copies[i] = *reqs[i];
  dry_t d = {.copies = copies, .k = k, .out = out};
  lkv_apply_identity_t id = identity(n);
  lkv_apply_hooks_t hooks = {.log = capture, .log_arg = &d};
  int rc = 0;
  if (k == 1 && lkv_apply_auth_descriptor(reqs[0]->kind)) { /* its writes are auth records, not revisions */
    lkv_mvcc_txn_t *t;
    if (!(rc = lkv_mvcc_read_begin(n->o.store, &t))) {
      rc = lkv__causal_auth_snap(t, &d.before);
      lkv_mvcc_txn_end(t);
    }
    hooks = (lkv_apply_hooks_t){.record = capture_auth, .record_arg = &d};
  }
  if (!rc) rc = lkv_apply_batch_hooked(n->o.store, &id, copies, k, &hooks);
  lkv__causal_auth_snap_free(d.before);
  if (d.called) { /* something wrote: rolled back, the write sets captured */
    rc = d.alone ? (k > 1 ? LKV_EAGAIN : LKV_ECORRUPT) : d.rc;
    if (rc) lkv__causal_dry_free(out, k);
  } else if (!rc) {
    /* Nothing wrote: the dry run was their application (read-only txns, deletes of no key, refusals). */
    int any = 0;
    for (size_t i = 0; i < k; i++) {
      reqs[i]->err = copies[i].err, reqs[i]->resp = copies[i].resp, reqs[i]->resp_len = copies[i].resp_len;
      out[i].answered = 1;
      any |= !copies[i].err;
    }
    if (any) tell(n, copies, k);
  }
  free(copies);
  return rc;
}

/* A request applied alone (a compaction) changes the ledger's length, not the core revision. */
static int record_alone(void *arg, lkv_mvcc_txn_t *t) {
  return lkv__causal_ledger_record(arg, t, 0, 0);
}

int lkv__causal_apply_alone(lkv__causal_node_t *n, lkv_apply_req_t *req) {
  lkv_apply_identity_t id = identity(n);
  lkv_apply_hooks_t hooks = {.log = n->o.ledger ? lkv__causal_ledger_log : NULL,
                             .log_arg = n,
                             .record = record_alone,
                             .record_arg = n};
  int rc = lkv_apply_batch_hooked(n->o.store, &id, req, 1, &hooks);
  if (rc && !req->err) req->err = rc;
  tell(n, req, 1);
  return rc;
}

int lkv__causal_authenticate(lkv__causal_node_t *n, lkv_apply_req_t *req) {
  req->index = n->applied; /* the token's number: this member's revision (no log here) */
  return lkv__causal_apply_alone(n, req);
}

/* ---- events into the store */

/* The record hook of a chunk of events: the empty revision of a last event that changed nothing, the check
 * that the store is at the chunk's last revision, the core revision it now reflects and the ledger. */
typedef struct {
  lkv__causal_node_t *n;
  uint64_t last;
  int empty;
  int fill; /* the last event may have changed nothing: it then takes an empty revision here */
  const lkv__causal_change_t *auth; /* the last event's changes, auth records among them (n_auth) */
  size_t n_auth;
  uint64_t auth_rev;   /* a local auth op last: the auth revision it ends at; else 0 */
  const uint8_t *ckpt; /* a snapshot installed: the core's checkpoint at last, in the same commit */
  size_t ckpt_len;
} chunk_t;

static int record(void *arg, lkv_mvcc_txn_t *t) {
  const chunk_t *c = arg;
  int rc, empty = c->empty || (c->fill && lkv_mvcc_txn_rev(t) == (int64_t)c->last);
  if ((empty || c->n_auth || c->auth_rev) &&
      ((rc = lkv_mvcc_req_begin(t)) || (empty && (rc = lkv_mvcc_req_take_rev(t))) ||
       ((c->n_auth || c->auth_rev) && (rc = lkv__causal_auth_apply(t, c->auth, c->n_auth, c->auth_rev))) ||
       (rc = lkv_mvcc_req_end(t, 1))))
    return rc;
  if (lkv_mvcc_txn_rev(t) != (int64_t)c->last + 1) return LKV_ECORRUPT; /* store and core disagree */
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(c->last >> (8 * i));
  rc = lkv_mvcc_repl_put(t, LKV__CAUSAL_APPLIED, le, sizeof(le));
  if (!rc && c->ckpt) rc = lkv__causal_checkpoint_put(t, c->ckpt, c->ckpt_len, c->last);
  return rc ? rc : lkv__causal_ledger_record(c->n, t, empty, c->last);
}

/* The requests one event's (or an installed snapshot's) store changes take (lease grants, a Txn of winner
 * changes without compares and auth records left out, lease revokes), with their storage: the Txn's, the
 * lease requests, and what a change list checked against the store (lkv__causal_alone_changes) owns. Zeroed
 * before use. */
typedef struct {
  Etcdserverpb__TxnRequest txn;
  Etcdserverpb__RequestOp **ops, *op;
  Etcdserverpb__PutRequest *put;
  Etcdserverpb__DeleteRangeRequest *del;
  Etcdserverpb__LeaseGrantRequest *grant;
  Etcdserverpb__LeaseRevokeRequest *revoke;
  uint8_t *applies; /* applies[i]: the lease operation i still applies here */
  int64_t *ended;   /* a removed member's leases its removal revokes (n_ended), and their requests */
  size_t n_ended;
  Etcdserverpb__LeaseRevokeRequest *ended_revokes;
  lkv__causal_change_t *checked;
  uint8_t **keys;
  size_t n_keys;
} synth_t;

static int synth_build(synth_t *s, const lkv__causal_change_t *c, size_t k) {
  etcdserverpb__txn_request__init(&s->txn);
  s->ops = calloc(k, sizeof(*s->ops));
  s->op = calloc(k, sizeof(*s->op));
  s->put = calloc(k, sizeof(*s->put));
  s->del = calloc(k, sizeof(*s->del));
  if (!s->ops || !s->op || !s->put || !s->del) return LKV_ENOMEM;
  size_t j = 0;
  for (size_t i = 0; i < k; i++) {
    if (lkv_causal_node_reserved_key(c[i].key, c[i].key_len)) continue;
    etcdserverpb__request_op__init(&s->op[j]);
    s->ops[j] = &s->op[j];
    if (c[i].deleted) {
      etcdserverpb__delete_range_request__init(&s->del[j]);
      s->del[j].key = (ProtobufCBinaryData){.data = c[i].key, .len = c[i].key_len};
      s->op[j].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
      s->op[j].request_delete_range = &s->del[j];
    } else {
      etcdserverpb__put_request__init(&s->put[j]);
      s->put[j].key = (ProtobufCBinaryData){.data = c[i].key, .len = c[i].key_len};
      s->put[j].value = (ProtobufCBinaryData){.data = c[i].value, .len = c[i].value_len};
      s->put[j].lease = c[i].lease;
      s->op[j].request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
      s->op[j].request_put = &s->put[j];
    }
    j++;
  }
  s->txn.n_success = j;
  s->txn.success = s->ops;
  return 0;
}

static void synth_free(synth_t *s) {
  free(s->ops), free(s->op), free(s->put), free(s->del), free(s->checked);
  free(s->grant), free(s->revoke), free(s->applies), free(s->ended), free(s->ended_revokes);
  for (size_t i = 0; i < s->n_keys; i++) free(s->keys[i]);
  free(s->keys);
}

/* A request a remote event makes here: decided on its origin, applied whatever this member's alarms
 * (CORRUPT, NOSPACE) refuse clients. */
static lkv_apply_req_t synth_req(lkv_op_kind_t kind, const ProtobufCMessage *msg) {
  return (lkv_apply_req_t){.kind = kind, .msg = msg, .no_claims = 1, .no_alarms = 1};
}

/* A remote event's (or a snapshot's) requests, decided on the store as it is (the event is alone in its
 * chunk): its lease grants, its winner changes checked against the leases, its lease revokes (ops[0..n_ops)),
 * and those of a removed member's leases (§15a). Appends to reqs at *k (room for 2 * n_ops + 1, and one
 * per lease the store has for a removal: lkv__causal_leases_slots). */
static int alone_reqs(lkv__causal_node_t *n, synth_t *s, const lkv__causal_change_t *c, size_t cnt,
                      const lkv__causal_lease_op_t *ops, size_t n_ops, lkv_apply_req_t *reqs, size_t *k) {
  size_t m;
  synth_free(s); /* an alone event before it that made no request (a void grant) left its storage here */
  *s = (synth_t){0};
  s->grant = calloc(n_ops + 1, sizeof(*s->grant));
  s->revoke = calloc(n_ops + 1, sizeof(*s->revoke));
  s->applies = calloc(n_ops + 1, 1);
  if (!s->grant || !s->revoke || !s->applies) return LKV_ENOMEM;
  int rc = lkv__causal_alone_changes(n, c, cnt, ops, n_ops, &s->checked, &m, &s->keys, &s->n_keys, s->applies,
                                     &s->ended, &s->n_ended);
  for (size_t i = 0; !rc && i < n_ops; i++)
    if (s->applies[i] && ops[i].kind == LKV_CAUSAL_LEASE_GRANT) {
      etcdserverpb__lease_grant_request__init(&s->grant[i]);
      s->grant[i].id = ops[i].id, s->grant[i].ttl = ops[i].ttl;
      reqs[(*k)++] = synth_req(LKV_OP_LEASE_GRANT, &s->grant[i].base);
    }
  if (!rc && m && !(rc = synth_build(s, s->checked, m))) reqs[(*k)++] = synth_req(LKV_OP_TXN, &s->txn.base);
  /* Its revokes' keys are deleted by the Txn: a revoke removes the lease. */
  for (size_t i = 0; !rc && i < n_ops; i++)
    if (s->applies[i] && ops[i].kind == LKV_CAUSAL_LEASE_REVOKE) {
      etcdserverpb__lease_revoke_request__init(&s->revoke[i]);
      s->revoke[i].id = ops[i].id;
      reqs[(*k)++] = synth_req(LKV_OP_LEASE_REVOKE, &s->revoke[i].base);
    }
  if (!rc && s->n_ended && !(s->ended_revokes = calloc(s->n_ended, sizeof(*s->ended_revokes))))
    rc = LKV_ENOMEM;
  for (size_t i = 0; !rc && i < s->n_ended; i++) { /* a removed member's: likewise */
    etcdserverpb__lease_revoke_request__init(&s->ended_revokes[i]);
    s->ended_revokes[i].id = s->ended[i];
    reqs[(*k)++] = synth_req(LKV_OP_LEASE_REVOKE, &s->ended_revokes[i].base);
  }
  return rc;
}

/* Applies reqs[0..k) (the chunk's events up to c->last) and checks that each took effect. */
static int apply_chunk(lkv__causal_node_t *n, lkv_apply_req_t *reqs, size_t k, chunk_t *c) {
  lkv_apply_identity_t id = identity(n);
  lkv_apply_hooks_t hooks = {.log = n->o.ledger ? lkv__causal_ledger_log : NULL,
                             .log_arg = n,
                             .record = record,
                             .record_arg = c,
                             .no_quota = 1};
  int rc = lkv_apply_batch_hooked(n->o.store, &id, reqs, k, &hooks);
  if (rc) return rc;
  n->applied = c->last;
  tell(n, reqs, k);
  return 0;
}

/* The requests of the events being applied (lkv__causal_store_catch_up), in revision order, with cursors
 * into the buffered changes, the local events and the lease operations. */
typedef struct {
  lkv__causal_node_t *n;
  const lkv__causal_local_t *locals;
  size_t n_locals;
  size_t ci, li, oi; /* cursors: n->changes, locals, the lease operations */
  /* An event takes at most three requests (a lease grant, a Txn, a lease revoke), a removal more (one
   * revoke per lease of its member): cap in all. */
  size_t cap, k;
  lkv_apply_req_t *reqs;
  lkv_apply_req_t **dest;  /* a local event's request, else NULL */
  synth_t *syn;            /* the storage of reqs[i] when made here */
  uint64_t local_auth_rev; /* a local auth op's: the auth revision it ends at */
} plan_t;

/* A Txn of the winner changes c[0..cnt) (auth records left out) as the next request. */
static int plan_txn(plan_t *p, const lkv__causal_change_t *c, size_t cnt) {
  synth_t *s = &p->syn[p->k];
  int rc = synth_build(s, c, cnt);
  if (!rc) p->reqs[p->k++] = synth_req(LKV_OP_TXN, &s->txn.base);
  return rc;
}

enum { EV_MORE, EV_LAST, EV_NEXT }; /* after an event: its chunk goes on, ends, or ended before it */

/* Adds the requests of the event at core revision r to chunk c (whose requests start at p->reqs[first])
 * and says in *after whether the chunk goes on; EV_NEXT: the event must start a chunk (nothing added).
 * Returns 0 or a code that must halt the member. */
static int plan_event(plan_t *p, uint64_t r, size_t first, chunk_t *c, int *after) {
  lkv__causal_node_t *n = p->n;
  size_t cj, kv = 0;
  while (p->ci < n->n_changes && n->changes[p->ci].rev < r) p->ci++; /* a local event's own changes */
  for (cj = p->ci; cj < n->n_changes && n->changes[cj].rev == r; cj++)
    kv += !lkv_causal_node_reserved_key(n->changes[cj].key, n->changes[cj].key_len);
  const lkv__causal_change_t *ch = &n->changes[p->ci];
  size_t cnt = cj - p->ci;
  while (p->li < p->n_locals && p->locals[p->li].rev < r) p->li++;
  int local = p->li < p->n_locals && p->locals[p->li].rev == r;
  const lkv__causal_lease_op_t *op = lkv__causal_lease_at(n, r, &p->oi);
  int alone = op || (!local && kv == cnt && lkv__causal_needs_store(ch, cnt));
  *after = EV_NEXT;
  if (alone && p->k > first) return 0; /* the store must reflect the events before it */
  c->last = r;
  p->ci = cj;
  *after = EV_LAST;
  if (local) {
    lkv_apply_req_t *req = p->locals[p->li].req;
    p->dest[p->k] = req;
    p->reqs[p->k++] = *req;
    if (lkv_apply_auth_descriptor(req->kind)) /* no revision of its own: an empty one */
      c->empty = 1, c->auth_rev = p->local_auth_rev;
    else if (op) /* a lease grant takes no revision of its own, a revoke of no key neither */
      c->fill = 1;
    else
      *after = EV_MORE;
    return 0;
  }
  if (alone) {
    c->fill = 1; /* everything it would do may already be done here */
    return alone_reqs(n, &p->syn[p->k], ch, cnt, op, op ? 1 : 0, p->reqs, &p->k);
  }
  if (kv < cnt) { /* auth records: applied last in the chunk, by the record hook */
    c->empty = !kv, c->auth = ch, c->n_auth = cnt;
    return kv ? plan_txn(p, ch, cnt) : 0;
  }
  if (!cnt) {
    c->empty = 1; /* it changed no winner: an empty revision ends the chunk */
    return 0;
  }
  *after = EV_MORE;
  return plan_txn(p, ch, cnt);
}

/* *out: the auth revision a local auth op among locals[0..n_locals) ends at (one auth event: one auth
 * revision), untouched without one. Returns 0 or the store's codes. */
static int auth_rev_after(lkv__causal_node_t *n, const lkv__causal_local_t *locals, size_t n_locals,
                          uint64_t *out) {
  int rc = 0, enabled;
  for (size_t i = 0; !rc && i < n_locals; i++)
    if (lkv_apply_auth_descriptor(locals[i].req->kind) &&
        !(rc = lkv_apply_auth_status(n->o.store, &enabled, out)))
      ++*out;
  return rc;
}

/*
 * Events are applied in chunks, one store transaction each. An event that changed no winner ends its chunk
 * (its empty revision is taken last), as does one with auth records. An event whose effect depends on the
 * store's leases (a lease grant or revoke; remote puts with a lease and deletes, lkv__causal_needs_store) is
 * applied alone, in a chunk of its own, after the store reflects every event before it. Local events are
 * applied by their requests.
 */
static int catch_up_to(lkv__causal_node_t *n, uint64_t last, const lkv__causal_local_t *locals,
                       size_t n_locals) {
  plan_t p = {.n = n, .locals = locals, .n_locals = n_locals};
  int rc = lkv__causal_leases_slots(n, last, &p.cap);
  p.cap += 3 * (size_t)(last - n->applied) + 1;
  p.reqs = calloc(p.cap, sizeof(*p.reqs));
  p.dest = calloc(p.cap, sizeof(*p.dest));
  p.syn = calloc(p.cap, sizeof(*p.syn));
  if (!rc)
    rc = p.reqs && p.dest && p.syn ? auth_rev_after(n, locals, n_locals, &p.local_auth_rev) : LKV_ENOMEM;
  for (uint64_t r = n->applied + 1; !rc && r <= last;) {
    chunk_t c = {.n = n, .last = n->applied};
    size_t first = p.k;
    for (int after = EV_MORE; !rc && after == EV_MORE && r <= last;) {
      rc = plan_event(&p, r, first, &c, &after);
      if (after != EV_NEXT) r++;
    }
    if (!rc) rc = apply_chunk(n, p.reqs + first, p.k - first, &c);
    for (size_t i = first; !rc && i < p.k; i++)
      if (p.reqs[i].err) rc = LKV_ECORRUPT; /* each applied on the state it was made for: cannot fail */
  }
  for (size_t i = 0; i < p.k; i++) {
    if (p.dest[i]) {
      p.dest[i]->err = rc ? rc : p.reqs[i].err, p.dest[i]->resp = p.reqs[i].resp,
      p.dest[i]->resp_len = p.reqs[i].resp_len;
      continue;
    }
    free(p.reqs[i].resp);
  }
  for (size_t i = 0; p.syn && i < p.cap; i++) synth_free(&p.syn[i]);
  free(p.reqs);
  free(p.dest);
  free(p.syn);
  changes_drop(n, last); /* a start-up that catches up in steps (the ledger's order) keeps the later ones */
  lkv__causal_leases_drop(n, last);
  return rc;
}

/* Events planned and applied at a time: a start-up's tail may be the whole event log (an empty store after
 * a machine restart), whose requests and one store transaction would otherwise all be held at once. */
#define CATCH_UP_STEP 4096

int lkv__causal_store_catch_up(lkv__causal_node_t *n, uint64_t last, const lkv__causal_local_t *locals,
                               size_t n_locals) {
  int rc = 0;
  for (uint64_t to = n->applied; !rc && to < last;) {
    to = last - to > CATCH_UP_STEP ? to + CATCH_UP_STEP : last;
    rc = catch_up_to(n, to, locals, n_locals);
  }
  return rc;
}

int lkv__causal_store_install(lkv__causal_node_t *n, uint64_t rev, const lkv__causal_lease_op_t *ops,
                              size_t n_ops, const uint8_t *ckpt, size_t ckpt_len) {
  size_t cnt = n->n_changes, kv = 0; /* the core reported the snapshot's changes alone, all at rev */
  for (size_t i = 0; i < cnt; i++)
    kv += !lkv_causal_node_reserved_key(n->changes[i].key, n->changes[i].key_len);
  chunk_t c = {.n = n, .last = rev, .fill = 1, .ckpt = ckpt, .ckpt_len = ckpt_len};
  if (kv < cnt) c.auth = n->changes, c.n_auth = cnt; /* the auth state recomputed from the merged records */
  synth_t s = {0};
  size_t k = 0;
  lkv_apply_req_t *reqs = calloc(2 * n_ops + 1, sizeof(*reqs));
  int rc = reqs ? alone_reqs(n, &s, n->changes, cnt, ops, n_ops, reqs, &k) : LKV_ENOMEM;
  if (!rc) rc = apply_chunk(n, reqs, k, &c);
  for (size_t i = 0; i < k; i++) {
    if (!rc && reqs[i].err) rc = LKV_ECORRUPT; /* each made for the store as it is: cannot fail */
    free(reqs[i].resp);
  }
  synth_free(&s);
  free(reqs);
  changes_drop(n, rev);
  return rc;
}
