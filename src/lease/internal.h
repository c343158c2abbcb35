/* Lessor internals shared by the files of src/lease: the lease table, the expiry heap, the lock. */
#ifndef LKV_LEASE_INTERNAL_H
#define LKV_LEASE_INTERNAL_H

#include <pthread.h>

#include "lease/heap.h"
#include "lease/lessor.h"

typedef struct lkv__lease_s {
  int64_t id;
  int64_t ttl;               /* granted, seconds */
  int64_t expiry;            /* clock ms */
  int revoking;              /* expired: a revoke is proposed, renewals fail */
  lkv_heap_node_t node;      /* in the expiry heap unless revoking */
  struct lkv__lease_s *next; /* hash chain */
} lkv__lease_t;

struct lkv_lessor_s {
  pthread_mutex_t mu;  /* guards everything below except the constants */
  pthread_cond_t wake; /* timer: the earliest expiry moved earlier, or stopping */
  pthread_cond_t idle; /* in_flight dropped to 0 */
  lkv__lease_t **buckets;
  size_t n_buckets; /* power of two */
  size_t count;
  lkv_heap_t heap;
  size_t in_flight; /* revokes proposed and not yet completed */
  int stopping;
  int started;
  int primary; /* expiring leases: this member leads (it was when expiry last looked) */
  pthread_t thread;
  uint64_t id_prefix, id_counter;
  /* constants after open */
  lkv_replicator_t *replicator;
  int64_t min_ttl;
  lkv_lessor_clock_fn clock;
  void *clock_arg;
};

/* The lessor's clock now, in ms. */
int64_t lkv__lessor_now(const lkv_lessor_t *l);

/* The entry for id, or NULL. Lock held. */
lkv__lease_t *lkv__lessor_find(const lkv_lessor_t *l, int64_t id);

/* Unlinks and frees e (and takes it out of the heap). Lock held. */
void lkv__lessor_drop(lkv_lessor_t *l, lkv__lease_t *e);

/* (Re)schedules e to expire at `expiry` and wakes the timer when that is the new earliest expiry.
 * Lock held. Returns 0 or LKV_ENOMEM. */
int lkv__lessor_schedule(lkv_lessor_t *l, lkv__lease_t *e, int64_t expiry);

/* Whether this member leads now (expire.c); on becoming leader, every lease first gets its full TTL from
 * now (etcd's Promote). Lock held. */
int lkv__lessor_check_primary(lkv_lessor_t *l);

/* The timer thread's body (expire.c). */
void *lkv__lessor_timer(void *arg);

#endif
