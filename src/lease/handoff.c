/* The lessor's side of the lease handoff: renewals recorded from the leader, answers to a new leader's
 * query (with the fence), and a new leader's takeover from a majority's answers (lessor.h). */
#include <stdlib.h>

#include "common/error.h"
#include "lease/internal.h"

/* Drops the orphans whose expiry has passed: their renewals can no longer make anything later. */
static void sweep_orphans(lkv_lessor_t *l, int64_t now) {
  for (size_t i = 0; i < l->n_buckets; i++) {
    lkv__lease_t *e = l->buckets[i];
    while (e) {
      lkv__lease_t *next = e->next;
      if (e->orphan && e->expiry <= now) lkv__lessor_drop(l, e);
      e = next;
    }
  }
}

lkv__lease_t *lkv__lessor_orphan(lkv_lessor_t *l, int64_t id, int64_t expiry) {
  lkv__lease_t *e = lkv__lessor_find(l, id);
  if (e) return e;
  if (l->orphans >= LKV_LEASE_MAX_ORPHANS) sweep_orphans(l, lkv__lessor_now(l));
  if (l->orphans >= LKV_LEASE_MAX_ORPHANS) return NULL;
  e = calloc(1, sizeof(*e));
  if (!e) return NULL;
  e->id = id;
  e->orphan = 1;
  e->expiry = expiry;
  lkv_heap_node_init(&e->node);
  lkv__lessor_link(l, e);
  return e;
}

/* Lease id expires no earlier than `expiry`: the later of the two counts. An expired lease whose revoke
 * is under way stays so (it is no longer in the heap; its revoke decides). Lock held. */
static int extend(lkv_lessor_t *l, int64_t id, int64_t expiry) {
  lkv__lease_t *e = lkv__lessor_find(l, id);
  if (!e) return lkv__lessor_orphan(l, id, expiry) ? 0 : LKV_ENOMEM;
  if (e->expiry >= expiry || e->revoking) return 0;
  if (e->orphan) {
    e->expiry = expiry;
    return 0;
  }
  return lkv__lessor_schedule(l, e, expiry);
}

int lkv_lessor_record(lkv_lessor_t *l, uint64_t term, const lkv_lease_remaining_t *v, size_t n) {
  int rc = 0;
  pthread_mutex_lock(&l->mu);
  /* After answering a later term's query this member must not help an older leader reach a majority:
   * the later leader would not see the renewal. */
  if (term < l->fence) rc = LKV_ENOTLEADER;
  int64_t now = lkv__lessor_now(l);
  for (size_t i = 0; !rc && i < n; i++) rc = extend(l, v[i].id, now + v[i].ms);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int lkv_lessor_remaining(lkv_lessor_t *l, uint64_t term, lkv_lease_remaining_t **v, size_t *n,
                         int64_t *uptime_ms) {
  *v = NULL;
  *n = 0;
  pthread_mutex_lock(&l->mu);
  size_t count = l->count;
  lkv_lease_remaining_t *out = count ? malloc(count * sizeof(*out)) : NULL;
  if (count && !out) {
    pthread_mutex_unlock(&l->mu);
    return LKV_ENOMEM;
  }
  /* Fenced in the same hold as the listing: a renewal recorded before is in it, one after is refused. */
  if (term > l->fence) l->fence = term;
  int64_t now = lkv__lessor_now(l);
  size_t k = 0;
  for (size_t i = 0; i < l->n_buckets; i++)
    for (lkv__lease_t *e = l->buckets[i]; e; e = e->next)
      out[k++] = (lkv_lease_remaining_t){e->id, e->expiry - now};
  *uptime_ms = now - l->filled_at;
  pthread_mutex_unlock(&l->mu);
  *v = out;
  *n = k;
  return 0;
}

int lkv_lessor_takeover(lkv_lessor_t *l, uint64_t term, const lkv_lease_remaining_t *v, size_t n,
                        int64_t uptime_ms, int last) {
  int rc = 0;
  pthread_mutex_lock(&l->mu);
  /* The timer may not have looked since the election: look now, so that the term is the one we lead in. */
  if (!lkv__lessor_check_primary(l) || !l->collecting || l->primary_term != term) {
    pthread_mutex_unlock(&l->mu);
    return LKV_ENOTLEADER;
  }
  int64_t now = lkv__lessor_now(l);
  for (size_t i = 0; !rc && i < n; i++) rc = extend(l, v[i].id, now + v[i].ms);
  /* Renewals the answering member recorded before its table was last filled are lost, but each of them
   * was made before that moment: a full TTL from then covers them (for leases it had not applied too). */
  int64_t filled = now - uptime_ms;
  for (size_t i = 0; !rc && i < l->n_buckets; i++)
    for (lkv__lease_t *e = l->buckets[i]; !rc && e; e = e->next)
      if (!e->orphan) rc = extend(l, e->id, filled + e->ttl * 1000);
  if (!rc && last) {
    l->collecting = 0;
    pthread_cond_signal(&l->wake);
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}
