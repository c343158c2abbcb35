/* A causal member's CAUSAL_EVENT records replayed: the lease grants, revokes and removals inside their events
 * (docs/causal.md §5, §14, §15a), applied as the member applied them. */
#include <stdlib.h>

#include "apply/internal.h"
#include "causal/event.h"
#include "causal/lease_id.h"
#include "causal/mutation.h"
#include "common/error.h"
#include "common/grow.h"

static int ended(const lkv__replay_ended_t *x, uint64_t id) {
  for (size_t i = 0; i < x->n; i++)
    if (x->ids[i] == id) return 1;
  return 0;
}

static int open_event(const lkv_ledger_entry_t *e, lkv_causal_event_t *ev, lkv_causal_mutation_iter_t *it) {
  if (lkv_causal_event_decode(e->event, e->event_len, ev) ||
      lkv_causal_mutations_open(ev->payload, ev->payload_len, it))
    return LKV_ECORRUPT;
  return 0;
}

int lkv__replay_event_grants(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e, const lkv__replay_ended_t *x) {
  lkv_causal_event_t ev;
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  int rc = open_event(e, &ev, &it);
  if (rc || ended(x, ev.origin)) return rc; /* a removed member's grant taken after its removal is void */
  while (!rc && lkv_causal_mutations_next(&it, &mu))
    if (mu.kind == LKV_CAUSAL_LEASE_GRANT &&
        (rc = lkv_mvcc_lease_get(t, mu.lease, NULL)) == LKV_ELEASENOTFOUND)
      rc = lkv_mvcc_lease_grant(t, mu.lease, mu.ttl);
  return rc == LKV_EINVAL ? LKV_ECORRUPT : rc;
}

/* Revokes lease id if the store has it; the record's ops deleted its keys, so none may be left. */
static int revoke(lkv_mvcc_txn_t *t, int64_t id) {
  int64_t deleted = 0;
  int rc = lkv_mvcc_lease_get(t, id, NULL);
  if (rc) return rc == LKV_ELEASENOTFOUND ? 0 : rc;
  rc = lkv_mvcc_lease_revoke(t, id, &deleted);
  return !rc && deleted ? LKV_ECORRUPT : rc;
}

typedef struct {
  uint64_t owner;
  lkv_apply_lease_ids_t *out;
} owned_t;

static int add_owned(void *arg, int64_t id, int64_t ttl) {
  (void)ttl;
  owned_t *o = arg;
  lkv_apply_lease_ids_t *r = o->out;
  if (!lkv_causal_lease_owned(id, o->owner)) return 0;
  if (lkv_grow((void **)&r->ids, &r->cap, r->len + 1, sizeof(*r->ids))) return LKV_ENOMEM;
  r->ids[r->len++] = id;
  return 0;
}

int lkv_apply_leases_owned(lkv_mvcc_txn_t *t, uint64_t member, lkv_apply_lease_ids_t *out) {
  owned_t o = {.owner = member, .out = out};
  return lkv_mvcc_lease_list(t, add_owned, &o);
}

/* The first removal of member id ends its leases: every lease it owns is revoked. */
static int end_leases(lkv_mvcc_txn_t *t, uint64_t id, lkv__replay_ended_t *x) {
  if (ended(x, id)) return 0; /* a member added since may own leases of its tag */
  if (x->n == LKV_CAUSAL_MAX_ORIGINS) return LKV_ECORRUPT;
  x->ids[x->n++] = id;
  lkv_apply_lease_ids_t o = {0};
  int rc = lkv_apply_leases_owned(t, id, &o);
  for (size_t i = 0; !rc && i < o.len; i++) rc = revoke(t, o.ids[i]);
  free(o.ids);
  return rc;
}

int lkv__replay_event_ends(lkv_mvcc_txn_t *t, const lkv_ledger_entry_t *e, lkv__replay_ended_t *x) {
  lkv_causal_event_t ev;
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t mu;
  int rc = open_event(e, &ev, &it);
  while (!rc && lkv_causal_mutations_next(&it, &mu)) {
    if (mu.kind == LKV_CAUSAL_LEASE_REVOKE) rc = revoke(t, mu.lease);
    if (mu.kind == LKV_CAUSAL_MEMBER_REMOVE) rc = end_leases(t, mu.member, x);
  }
  return rc;
}
