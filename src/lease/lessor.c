/* The lessor's table of leases: recovery, grants and revokes applied, renewals, lookups, listing, ids. */
#include <stdlib.h>

#include "common/clock.h"
#include "common/error.h"
#include "lease/internal.h"
#include "metrics/catalog.h"

#define CONTAINER(n) ((lkv__lease_t *)((char *)(n)-offsetof(lkv__lease_t, node)))

static int64_t monotonic_ms(void *arg) {
  (void)arg;
  return (int64_t)lkv_clock_ms(CLOCK_MONOTONIC);
}

int64_t lkv__lessor_now(const lkv_lessor_t *l) {
  return l->clock(l->clock_arg);
}

int64_t lkv_lessor_now(const lkv_lessor_t *l) {
  return lkv__lessor_now(l);
}

/* Earlier expiry first; ids break ties so that the order is total. */
static int expiry_less(const lkv_heap_node_t *a, const lkv_heap_node_t *b) {
  const lkv__lease_t *x = CONTAINER(a), *y = CONTAINER(b);
  return x->expiry != y->expiry ? x->expiry < y->expiry : x->id < y->id;
}

static size_t bucket_of(const lkv_lessor_t *l, int64_t id) {
  uint64_t h = (uint64_t)id * UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(h >> 32) & (l->n_buckets - 1);
}

lkv__lease_t *lkv__lessor_find(const lkv_lessor_t *l, int64_t id) {
  lkv__lease_t *e = l->buckets[bucket_of(l, id)];
  while (e && e->id != id) e = e->next;
  return e;
}

/* Doubles the bucket array once the table is as large as it; on failure the chains just grow longer. */
static void maybe_grow(lkv_lessor_t *l) {
  if (l->count < l->n_buckets) return;
  size_t old_n = l->n_buckets;
  lkv__lease_t **old = l->buckets;
  lkv__lease_t **b = calloc(2 * old_n, sizeof(*b));
  if (!b) return;
  l->buckets = b;
  l->n_buckets = 2 * old_n;
  for (size_t i = 0; i < old_n; i++) {
    while (old[i]) {
      lkv__lease_t *e = old[i];
      old[i] = e->next;
      size_t k = bucket_of(l, e->id);
      e->next = b[k];
      b[k] = e;
    }
  }
  free(old);
}

int lkv__lessor_schedule(lkv_lessor_t *l, lkv__lease_t *e, int64_t expiry) {
  e->expiry = expiry;
  if (lkv_heap_contains(&e->node)) {
    lkv_heap_update(&l->heap, &e->node);
  } else {
    int rc = lkv_heap_insert(&l->heap, &e->node);
    if (rc) return rc;
  }
  if (lkv_heap_min(&l->heap) == &e->node) pthread_cond_signal(&l->wake);
  return 0;
}

void lkv__lessor_drop(lkv_lessor_t *l, lkv__lease_t *e) {
  lkv__lease_t **p = &l->buckets[bucket_of(l, e->id)];
  while (*p != e) p = &(*p)->next;
  *p = e->next;
  lkv_heap_remove(&l->heap, &e->node);
  l->count--;
  if (e->orphan) l->orphans--;
  free(e);
}

void lkv__lessor_link(lkv_lessor_t *l, lkv__lease_t *e) {
  size_t k = bucket_of(l, e->id);
  e->next = l->buckets[k];
  l->buckets[k] = e;
  l->count++;
  if (e->orphan) l->orphans++;
  maybe_grow(l);
}

/* Adds or refreshes id with ttl, expiring ttl seconds from now; a renewal recorded for it before its grant
 * was applied here (an orphan) counts when it is later. Lock held. */
static int put_lease(lkv_lessor_t *l, int64_t id, int64_t ttl) {
  lkv__lease_t *e = lkv__lessor_find(l, id);
  int fresh = e == NULL;
  if (fresh) {
    e = calloc(1, sizeof(*e));
    if (!e) return LKV_ENOMEM;
    e->id = id;
    lkv_heap_node_init(&e->node);
  }
  e->ttl = ttl;
  int64_t expiry = lkv__lessor_full_expiry(l, e, lkv__lessor_now(l));
  if (e->orphan && e->expiry > expiry) expiry = e->expiry;
  int rc = lkv__lessor_schedule(l, e, expiry);
  if (rc) {
    if (fresh) free(e);
    return rc;
  }
  e->revoking = 0;
  if (e->orphan) l->orphans--;
  e->orphan = 0;
  if (fresh) lkv__lessor_link(l, e);
  return 0;
}

static int recover_one(void *arg, int64_t id, int64_t ttl) {
  return put_lease(arg, id, ttl);
}

/* Every stored lease, each with its full TTL from now (etcd's Promote after a restart). */
static int recover(lkv_lessor_t *l, lkv_mvcc_t *store) {
  lkv_mvcc_txn_t *t;
  int rc = lkv_mvcc_read_begin(store, &t);
  if (rc) return rc;
  rc = lkv_mvcc_lease_list(t, recover_one, l);
  lkv_mvcc_txn_end(t);
  return rc;
}

static void free_table(lkv_lessor_t *l) {
  for (size_t i = 0; i < l->n_buckets; i++) {
    while (l->buckets[i]) {
      lkv__lease_t *e = l->buckets[i];
      l->buckets[i] = e->next;
      free(e);
    }
  }
  free(l->buckets);
  lkv_heap_free(&l->heap);
}

int lkv_lessor_reload(lkv_lessor_t *l, lkv_mvcc_t *store) {
  pthread_mutex_lock(&l->mu);
  for (size_t i = 0; i < l->n_buckets; i++)
    while (l->buckets[i]) lkv__lessor_drop(l, l->buckets[i]);
  l->filled_at = lkv__lessor_now(l);
  int rc = recover(l, store);
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int lkv_lessor_open(lkv_lessor_t **out, const lkv_lessor_options_t *opts) {
  if (!opts || !opts->store || !opts->replicator) return LKV_EINVAL;
  int rc = LKV_ENOMEM;
  lkv_lessor_t *l = calloc(1, sizeof(*l));
  if (!l) return LKV_ENOMEM;
  l->replicator = opts->replicator;
  l->min_ttl = opts->min_ttl > 0 ? opts->min_ttl : LKV_LEASE_MIN_TTL;
  l->clock = opts->clock ? opts->clock : monotonic_ms;
  l->clock_arg = opts->clock_arg;
  l->handoff = opts->handoff != 0;
  l->owns = opts->owns;
  l->owns_arg = opts->owns_arg;
  /* etcd's id generator: 16 bits of the member id, then a counter that starts from the wall clock, so
   * ids differ across restarts and members. */
  l->id_prefix = (opts->member_id & 0xffff) << 48;
  l->id_counter = (lkv_clock_ms(CLOCK_REALTIME) << 8) & ((UINT64_C(1) << 48) - 1);
  lkv_heap_init(&l->heap, expiry_less);
  l->n_buckets = 64;
  l->buckets = calloc(l->n_buckets, sizeof(*l->buckets));
  if (!l->buckets) goto err_after_alloc;
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) goto err_after_buckets;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int cond_rc = pthread_cond_init(&l->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (cond_rc != 0) goto err_after_buckets;
  if (pthread_cond_init(&l->idle, NULL) != 0) goto err_after_wake;
  if (pthread_mutex_init(&l->mu, NULL) != 0) goto err_after_idle;
  l->filled_at = lkv__lessor_now(l);
  rc = recover(l, opts->store);
  if (rc) goto err_after_mutex;
  /* A member that already leads (a single node always does) counts from the TTLs just given: becoming
   * primary later would give them again. With handoff it still takes over: other members may have
   * recorded later renewals, and older leaders must be fenced. */
  lkv_replication_status_t st;
  lkv_replicator_status(l->replicator, &st);
  l->primary = st.leader != 0 && st.leader == st.member_id;
  l->primary_term = st.term;
  l->collecting = l->primary && l->handoff;
  *out = l;
  return 0;

err_after_mutex:
  pthread_mutex_destroy(&l->mu);
err_after_idle:
  pthread_cond_destroy(&l->idle);
err_after_wake:
  pthread_cond_destroy(&l->wake);
err_after_buckets:
  free_table(l);
err_after_alloc:
  free(l);
  return rc;
}

int lkv_lessor_start(lkv_lessor_t *l) {
  if (pthread_create(&l->thread, NULL, lkv__lessor_timer, l) != 0) return LKV_ENOMEM;
  l->started = 1;
  return 0;
}

void lkv_lessor_close(lkv_lessor_t *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->stopping = 1;
  pthread_cond_signal(&l->wake);
  pthread_mutex_unlock(&l->mu);
  if (l->started) pthread_join(l->thread, NULL);
  /* Revokes in flight complete on the replicator's thread and touch the table: wait for them. */
  pthread_mutex_lock(&l->mu);
  while (l->in_flight > 0) pthread_cond_wait(&l->idle, &l->mu);
  pthread_mutex_unlock(&l->mu);
  free_table(l);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->idle);
  pthread_cond_destroy(&l->wake);
  free(l);
}

int64_t lkv_lessor_min_ttl(const lkv_lessor_t *l) {
  return l->min_ttl;
}

int64_t lkv_lessor_next_id(lkv_lessor_t *l) {
  int64_t id;
  pthread_mutex_lock(&l->mu);
  do {
    l->id_counter = (l->id_counter + 1) & ((UINT64_C(1) << 48) - 1);
    id = (int64_t)((l->id_prefix | l->id_counter) & (((uint64_t)1 << 63) - 1));
  } while (id == 0 || lkv__lessor_find(l, id));
  pthread_mutex_unlock(&l->mu);
  return id;
}

int lkv_lessor_granted(lkv_lessor_t *l, int64_t id, int64_t ttl) {
  pthread_mutex_lock(&l->mu);
  int rc = put_lease(l, id, ttl);
  pthread_mutex_unlock(&l->mu);
  lkv_metric_inc(LKV_METRIC(lease_granted), 0);
  lkv_metric_observe(LKV_METRIC(lease_ttl), 0, (double)ttl);
  return rc;
}

void lkv_lessor_revoked(lkv_lessor_t *l, int64_t id) {
  pthread_mutex_lock(&l->mu);
  lkv__lease_t *e = lkv__lessor_find(l, id);
  if (e) lkv__lessor_drop(l, e);
  pthread_mutex_unlock(&l->mu);
  if (e) lkv_metric_inc(LKV_METRIC(lease_revoked), 0);
}

int lkv_lessor_renew(lkv_lessor_t *l, int64_t id, int64_t *ttl, uint64_t *term) {
  int rc = LKV_ELEASENOTFOUND;
  pthread_mutex_lock(&l->mu);
  /* A member elected a moment ago renews only after every lease got its full TTL (the timer may not have
   * looked yet): the expiry times it kept as a follower are stale. With handoff a renewal needs a
   * leader that no later term has fenced: its majority of records must reach that term's takeover. */
  int primary = lkv__lessor_check_primary(l);
  if (l->handoff && (!primary || l->fence > l->primary_term)) {
    pthread_mutex_unlock(&l->mu);
    return LKV_ENOTLEADER;
  }
  int64_t now = lkv__lessor_now(l);
  lkv__lease_t *e = lkv__lessor_find(l, id);
  if (e && !e->orphan && l->owns && !l->owns(l->owns_arg, id)) rc = LKV_ELEASEOWNER; /* its owner renews */
  /* An expired lease is as good as revoked (etcd waits for the revoke, then answers "not found"). */
  if (rc != LKV_ELEASEOWNER && e && !e->orphan && !e->revoking && e->expiry > now) {
    rc = lkv__lessor_schedule(l, e, now + e->ttl * 1000);
    if (!rc) *ttl = e->ttl;
    if (!rc && term) *term = l->primary_term;
  }
  pthread_mutex_unlock(&l->mu);
  if (!rc) lkv_metric_inc(LKV_METRIC(lease_renewed), 0);
  return rc;
}

int lkv_lessor_lookup(lkv_lessor_t *l, int64_t id, int64_t *granted_ttl, int64_t *remaining) {
  int rc = LKV_ELEASENOTFOUND;
  pthread_mutex_lock(&l->mu);
  (void)lkv__lessor_check_primary(l); /* as in renew: a new leader's remaining TTLs start full */
  lkv__lease_t *e = lkv__lessor_find(l, id);
  if (e && !e->orphan) {
    if (granted_ttl) *granted_ttl = e->ttl;
    if (remaining) *remaining = (e->expiry - lkv__lessor_now(l)) / 1000;
    rc = 0;
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

typedef struct by_expiry_s {
  int64_t expiry, id;
} by_expiry_t;

static int by_expiry_cmp(const void *a, const void *b) {
  const by_expiry_t *x = a, *y = b;
  if (x->expiry != y->expiry) return x->expiry < y->expiry ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

int lkv_lessor_list(lkv_lessor_t *l, int64_t **ids, size_t *n) {
  int rc = 0;
  *ids = NULL;
  *n = 0;
  pthread_mutex_lock(&l->mu);
  size_t count = l->count - l->orphans;
  by_expiry_t *v = count ? malloc(count * sizeof(*v)) : NULL;
  if (count && !v) rc = LKV_ENOMEM;
  for (size_t i = 0, k = 0; !rc && i < l->n_buckets; i++)
    for (lkv__lease_t *e = l->buckets[i]; e; e = e->next)
      if (!e->orphan) v[k++] = (by_expiry_t){e->expiry, e->id};
  pthread_mutex_unlock(&l->mu);
  if (rc || count == 0) return rc;
  qsort(v, count, sizeof(*v), by_expiry_cmp);
  int64_t *out = malloc(count * sizeof(*out));
  if (!out) {
    free(v);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < count; i++) out[i] = v[i].id;
  free(v);
  *ids = out;
  *n = count;
  return 0;
}
