/* Expiry: the timer thread, and revokes of expired leases proposed through the replicator. */
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "lease/internal.h"

/* Leases taken per lock hold; the timer comes straight back for more. */
#define EXPIRE_BATCH 256

#define CONTAINER(n) ((lkv__lease_t *)((char *)(n)-offsetof(lkv__lease_t, node)))

/* A revoke the lessor proposed: the request lives inside the proposal's own allocation. */
typedef struct revoke_s {
  lkv_proposal_t p;
  Etcdserverpb__LeaseRevokeRequest req;
  lkv_lessor_t *l;
} revoke_t;

/* The revoke of id ended with err: forget the lease once it is gone, else try again later. */
static void revoke_finished(lkv_lessor_t *l, int64_t id, int err) {
  pthread_mutex_lock(&l->mu);
  lkv__lease_t *e = lkv__lessor_find(l, id);
  if (e && e->revoking) {
    if (err == 0 || err == LKV_ELEASENOTFOUND) {
      lkv__lessor_drop(l, e);
    } else if (!l->stopping) {
      e->revoking = 0;
      /* Without memory for the heap slot the lease waits for the next restart; nothing better to do. */
      (void)lkv__lessor_schedule(l, e, lkv__lessor_now(l) + LKV_LEASE_RETRY_MS);
    }
  }
  if (--l->in_flight == 0) pthread_cond_broadcast(&l->idle);
  pthread_mutex_unlock(&l->mu);
}

/* Runs on the replicator's thread once the revoke is durable (or failed). */
static void revoke_done(lkv_proposal_t *p) {
  revoke_t *r = (revoke_t *)p;
  free(p->req.resp);
  revoke_finished(r->l, r->req.id, p->req.err);
  free(r);
}

static void propose_revoke(lkv_lessor_t *l, int64_t id) {
  revoke_t *r = calloc(1, sizeof(*r));
  if (!r) {
    revoke_finished(l, id, LKV_ENOMEM);
    return;
  }
  etcdserverpb__lease_revoke_request__init(&r->req);
  r->req.id = id;
  r->l = l;
  r->p.req.kind = LKV_OP_LEASE_REVOKE;
  r->p.req.no_claims = 1; /* expiry: no client asked for it */
  r->p.req.msg = &r->req.base;
  r->p.done = revoke_done;
  int rc = lkv_replicator_propose(l->replicator, &r->p);
  if (rc == 0) return;
  free(r);
  revoke_finished(l, id, rc);
}

int64_t lkv__lessor_full_expiry(const lkv_lessor_t *l, const lkv__lease_t *e, int64_t now) {
  return l->owns && !l->owns(l->owns_arg, e->id) ? INT64_MAX : now + e->ttl * 1000;
}

/* Only the leader expires leases (etcd's primary lessor): another member's clock and renewals do not
 * count. A member that becomes leader, or leads again in a later term (another may have led between),
 * gives every lease its full TTL again (etcd's Promote), since it never saw the renewals sent to the
 * previous leader; with handoff it waits for a majority's records instead (handoff.c). */
int lkv__lessor_check_primary(lkv_lessor_t *l) {
  lkv_replication_status_t st;
  lkv_replicator_status(l->replicator, &st);
  int primary = st.leader != 0 && st.leader == st.member_id;
  if (primary && (!l->primary || st.term != l->primary_term)) {
    l->primary_term = st.term;
    l->collecting = l->handoff;
    int64_t now = lkv__lessor_now(l);
    for (size_t i = 0; !l->handoff && i < l->n_buckets; i++)
      for (lkv__lease_t *e = l->buckets[i]; e; e = e->next)
        if (!e->revoking) (void)lkv__lessor_schedule(l, e, lkv__lessor_full_expiry(l, e, now));
  }
  l->primary = primary;
  return primary;
}

size_t lkv_lessor_expire(lkv_lessor_t *l) {
  int64_t ids[EXPIRE_BATCH];
  size_t total = 0, n;
  pthread_mutex_lock(&l->mu);
  int primary = lkv__lessor_check_primary(l) && !l->collecting;
  pthread_mutex_unlock(&l->mu);
  if (!primary) return 0;
  do {
    n = 0;
    pthread_mutex_lock(&l->mu);
    int64_t now = lkv__lessor_now(l);
    lkv_heap_node_t *m;
    while (n < EXPIRE_BATCH && !l->stopping && (m = lkv_heap_min(&l->heap)) && CONTAINER(m)->expiry <= now) {
      lkv__lease_t *e = CONTAINER(lkv_heap_pop(&l->heap));
      e->revoking = 1;
      ids[n++] = e->id;
    }
    l->in_flight += n;
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < n; i++) propose_revoke(l, ids[i]);
    total += n;
  } while (n == EXPIRE_BATCH);
  return total;
}

/* Sleeps until the earliest expiry (or a wake-up: an earlier expiry, stop), then expires what is due. */
void *lkv__lessor_timer(void *arg) {
  lkv_lessor_t *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stopping) {
    /* A follower looks again soon (it may be elected), and so does a leader still taking over. */
    if (!lkv__lessor_check_primary(l) || l->collecting) {
      struct timespec ts = lkv_clock_deadline(CLOCK_MONOTONIC, LKV_LEASE_FOLLOWER_POLL_MS);
      pthread_cond_timedwait(&l->wake, &l->mu, &ts);
      continue;
    }
    lkv_heap_node_t *m = lkv_heap_min(&l->heap);
    if (!m || CONTAINER(m)->expiry == INT64_MAX) { /* none, or only other members' (causal mode) */
      pthread_cond_wait(&l->wake, &l->mu);
      continue;
    }
    int64_t wait_ms = CONTAINER(m)->expiry - lkv__lessor_now(l);
    if (wait_ms > 0) {
      struct timespec ts = lkv_clock_deadline(CLOCK_MONOTONIC, (uint64_t)wait_ms);
      pthread_cond_timedwait(&l->wake, &l->mu, &ts);
      continue;
    }
    pthread_mutex_unlock(&l->mu);
    lkv_lessor_expire(l);
    pthread_mutex_lock(&l->mu);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}
