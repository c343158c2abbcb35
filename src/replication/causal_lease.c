/* The causal replicator's leases: owner checks of proposals, the lease operations of events, and a remote
 * event's changes checked against the store's leases before they are applied. */
#include <stdlib.h>
#include <string.h>

#include "causal/lease_id.h"
#include "common/error.h"
#include "common/grow.h"
#include "replication/causal_internal.h"

int lkv__causal_lease_refused(const lkv__causal_node_t *n, const lkv_apply_req_t *req, int after_dry_run) {
  int64_t id;
  if (req->kind == LKV_OP_LEASE_GRANT && !after_dry_run)
    id = ((const Etcdserverpb__LeaseGrantRequest *)req->msg)->id;
  else if (req->kind == LKV_OP_LEASE_REVOKE && after_dry_run)
    id = ((const Etcdserverpb__LeaseRevokeRequest *)req->msg)->id;
  else
    return 0;
  return lkv_causal_lease_owned(id, n->o.member_id) ? 0 : LKV_ELEASEOWNER;
}

/* ---- lease operations of events */

/* 1 when member id's leases have ended here (its removal is in the store), else 0. */
static int ended(const lkv__causal_node_t *n, uint64_t id) {
  for (size_t i = 0; i < n->n_leases_ended; i++)
    if (n->leases_ended[i] == id) return 1;
  return 0;
}

/* Marks member id's leases ended; 0 when they had already. */
static int end_leases(lkv__causal_node_t *n, uint64_t id) {
  if (ended(n, id)) return 0;
  if (n->n_leases_ended == LKV_CAUSAL_MAX_ORIGINS) abort(); /* the core knows no more members than that */
  n->leases_ended[n->n_leases_ended++] = id;
  return 1;
}

void lkv__causal_leases_collect(lkv__causal_node_t *n, uint64_t rev, const lkv_causal_event_t *ev) {
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  if (lkv_causal_mutations_open(ev->payload, ev->payload_len, &it)) abort(); /* the core checked it */
  while (lkv_causal_mutations_next(&it, &mu)) {
    int removal = mu.kind == LKV_CAUSAL_MEMBER_REMOVE;
    if (!removal && mu.kind != LKV_CAUSAL_LEASE_GRANT && mu.kind != LKV_CAUSAL_LEASE_REVOKE) continue;
    if (rev <= n->applied) { /* replayed into the core, already in the store */
      if (removal) end_leases(n, mu.member);
      continue;
    }
    if (lkv_grow((void **)&n->lease_ops, &n->cap_lease_ops, n->n_lease_ops + 1, sizeof(n->lease_ops[0])))
      abort(); /* as the core: a half-applied event is worse than a stop */
    n->lease_ops[n->n_lease_ops++] = (lkv__causal_lease_op_t){.rev = rev,
                                                              .kind = mu.kind,
                                                              .id = mu.lease,
                                                              .ttl = mu.ttl,
                                                              .member = removal ? mu.member : ev->origin};
  }
}

void lkv__causal_leases_start(lkv__causal_node_t *n) {
  n->n_leases_ended = 0;
  for (size_t i = 0; i < lkv_causal_member_count(n->m); i++) {
    uint64_t id = lkv_causal_member_id_at(n->m, i);
    if (lkv_causal_member_is_removed(n->m, id)) end_leases(n, id);
  }
}

static int count_lease(void *arg, int64_t id, int64_t ttl) {
  (void)id, (void)ttl;
  ++*(size_t *)arg;
  return 0;
}

int lkv__causal_leases_slots(lkv__causal_node_t *n, uint64_t last, size_t *extra) {
  size_t grants = 0, removals = 0;
  *extra = 0;
  for (size_t i = 0; i < n->n_lease_ops && n->lease_ops[i].rev <= last; i++) {
    grants += n->lease_ops[i].kind == LKV_CAUSAL_LEASE_GRANT;
    removals += n->lease_ops[i].kind == LKV_CAUSAL_MEMBER_REMOVE;
  }
  if (!removals) return 0;
  /* The removals revoke, in all, at most the leases the store has and those granted meanwhile. */
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(n->o.store, &t);
  if (rc) return rc;
  rc = lkv_mvcc_lease_list(t, count_lease, extra);
  lkv_mvcc_txn_end(t);
  *extra += grants;
  return rc;
}

void lkv__causal_leases_drop(lkv__causal_node_t *n, uint64_t last) {
  size_t k = 0;
  while (k < n->n_lease_ops && n->lease_ops[k].rev <= last) k++;
  if (k && k < n->n_lease_ops)
    memmove(n->lease_ops, n->lease_ops + k, (n->n_lease_ops - k) * sizeof(*n->lease_ops));
  n->n_lease_ops -= k;
}

const lkv__causal_lease_op_t *lkv__causal_lease_at(const lkv__causal_node_t *n, uint64_t rev, size_t *from) {
  while (*from < n->n_lease_ops && n->lease_ops[*from].rev < rev) (*from)++;
  return *from < n->n_lease_ops && n->lease_ops[*from].rev == rev ? &n->lease_ops[*from] : NULL;
}

int lkv__causal_needs_store(const lkv__causal_change_t *c, size_t k) {
  for (size_t i = 0; i < k; i++)
    if (c[i].deleted || c[i].lease) return 1;
  return 0;
}

/* ---- a remote event's changes against the store */

typedef struct {
  lkv__causal_change_t *v;
  size_t n, cap;
  uint8_t **keys; /* copies of the keys added */
  size_t n_keys, cap_keys;
} out_t;

static int push(out_t *o, lkv__causal_change_t c) {
  if (lkv_grow((void **)&o->v, &o->cap, o->n + 1, sizeof(c))) return LKV_ENOMEM;
  o->v[o->n++] = c;
  return 0;
}

static int live(lkv_mvcc_txn_t *t, const uint8_t *key, size_t len, int *yes) {
  lkv_mvcc_range_t q = {.key = key, .key_len = len, .flags = LKV_MVCC_RANGE_COUNT_ONLY};
  size_t count = 0;
  int rc = lkv_mvcc_range(t, &q, NULL, NULL, &count);
  *yes = count > 0;
  return rc;
}

static int lease_exists(lkv_mvcc_txn_t *t, int64_t id, int *yes) {
  int rc = lkv_mvcc_lease_get(t, id, NULL);
  *yes = rc == 0;
  return rc == LKV_ELEASENOTFOUND ? 0 : rc;
}

/* A key attached to the revoked lease: deleted with the others unless the event's changes name it. */
typedef struct {
  out_t *o;
  size_t k; /* the event's own changes: o->v[0..k) */
} attached_t;

static int add_attached(void *arg, const uint8_t *key, size_t len) {
  attached_t *a = arg;
  out_t *o = a->o;
  for (size_t i = 0; i < a->k; i++)
    if (o->v[i].key_len == len && memcmp(o->v[i].key, key, len) == 0) return 0;
  uint8_t *copy = malloc(len);
  if (!copy || lkv_grow((void **)&o->keys, &o->cap_keys, o->n_keys + 1, sizeof(*o->keys))) {
    free(copy);
    return LKV_ENOMEM;
  }
  memcpy(copy, key, len);
  o->keys[o->n_keys++] = copy;
  return push(o, (lkv__causal_change_t){.key = copy, .key_len = len, .deleted = 1});
}

/* Whether lease id lives once ops[0..n_ops) took effect: the last op naming it decides, else the store (a
 * grant that does not apply leaves it to the store: its lease is there already, or it is void). */
static int lease_lives(lkv_mvcc_txn_t *t, int64_t id, const lkv__causal_lease_op_t *ops, size_t n_ops,
                       const uint8_t *applies, int *yes) {
  for (size_t i = n_ops; i-- > 0;)
    if (ops[i].id == id && ops[i].kind != LKV_CAUSAL_MEMBER_REMOVE &&
        (ops[i].kind != LKV_CAUSAL_LEASE_GRANT || applies[i])) {
      *yes = ops[i].kind == LKV_CAUSAL_LEASE_GRANT;
      return 0;
    }
  return lease_exists(t, id, yes);
}

/* The first removal of member X here revokes every lease X owns and marks X's leases ended. A later removal
 * of X revokes nothing: a member added since may own leases of X's tag (its add follows a removal of X on
 * every member, so never the first). If this revision fails the member halts: the mark is never seen. */
static int removal_revokes(lkv__causal_node_t *n, lkv_mvcc_txn_t *t, uint64_t x, lkv_apply_lease_ids_t *r) {
  if (!end_leases(n, x)) return 0;
  return lkv_apply_leases_owned(t, x, r);
}

int lkv__causal_alone_changes(lkv__causal_node_t *n, const lkv__causal_change_t *c, size_t k,
                              const lkv__causal_lease_op_t *ops, size_t n_ops, lkv__causal_change_t **out,
                              size_t *n_out, uint8_t ***keys, size_t *n_keys, uint8_t *applies,
                              int64_t **gone, size_t *n_gone) {
  out_t o = {0};
  lkv_apply_lease_ids_t r = {0}; /* the leases the removals revoke */
  lkv_mvcc_txn_t *t = NULL;
  int rc = lkv_mvcc_read_begin(n->o.store, &t); /* this thread is the only writer: the store stays */
  for (size_t i = 0; !rc && i < n_ops; i++) {
    int exists = 0;
    applies[i] = 0;
    if (ops[i].kind == LKV_CAUSAL_MEMBER_REMOVE) {
      rc = removal_revokes(n, t, ops[i].member, &r);
      continue;
    }
    rc = lease_exists(t, ops[i].id, &exists);
    /* A removed member's grant, taken after its removal, is as if revoked at once (§15a). */
    applies[i] = ops[i].kind == LKV_CAUSAL_LEASE_GRANT ? !exists && !ended(n, ops[i].member) : exists;
  }
  for (size_t i = 0; !rc && i < k; i++) {
    lkv__causal_change_t x = c[i];
    int ok = 1;
    if (!x.deleted && x.lease) rc = lease_lives(t, x.lease, ops, n_ops, applies, &ok);
    if (!rc && !ok) x.deleted = 1, x.lease = 0, x.value_len = 0; /* its lease is gone: so is the key */
    if (!rc && x.deleted) rc = live(t, x.key, x.key_len, &ok);
    if (!rc && ok) rc = push(&o, x);
  }
  attached_t a = {.o = &o, .k = o.n};
  for (size_t i = 0; !rc && i < n_ops; i++)
    if (ops[i].kind == LKV_CAUSAL_LEASE_REVOKE && applies[i])
      rc = lkv_mvcc_lease_keys(t, ops[i].id, add_attached, &a);
  for (size_t i = 0; !rc && i < r.len; i++) rc = lkv_mvcc_lease_keys(t, r.ids[i], add_attached, &a);
  if (t) lkv_mvcc_txn_end(t);
  *out = o.v, *n_out = o.n, *keys = o.keys, *n_keys = o.n_keys, *gone = r.ids, *n_gone = r.len;
  return rc;
}
