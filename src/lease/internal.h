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
  int orphan;                /* a recorded renewal of a lease not granted here yet: not in the heap */
  lkv_heap_node_t node;      /* in the expiry heap unless revoking */
  struct lkv__lease_s *next; /* hash chain */
} lkv__lease_t;

struct lkv_lessor_s {
  pthread_mutex_t mu;  /* guards everything below except the constants */
  pthread_cond_t wake; /* timer: the earliest expiry moved earlier, or stopping */
  pthread_cond_t idle; /* in_flight dropped to 0 */
  lkv__lease_t **buckets;
  size_t n_buckets; /* power of two */
  size_t count;     /* entries, orphans included */
  size_t orphans;   /* entries with orphan set */
  lkv_heap_t heap;
  size_t in_flight; /* revokes proposed and not yet completed */
  int stopping;
  int started;
  int primary;           /* expiring leases: this member leads (it was when expiry last looked) */
  uint64_t primary_term; /* the Raft term it leads in */
  int collecting;        /* handoff: leads, but a majority's remaining TTLs are not all merged yet */
  uint64_t fence;        /* handoff: the latest term whose query this member answered */
  int64_t filled_at;     /* clock ms when the table was filled from the store (open, reload) */
  pthread_t thread;
  uint64_t id_prefix, id_counter;
  /* constants after open */
  lkv_replicator_t *replicator;
  int64_t min_ttl;
  int handoff;
  lkv_lessor_owns_fn owns;
  void *owns_arg;
  lkv_lessor_clock_fn clock;
  void *clock_arg;
};

/* When lease e expires if it gets its full TTL at `now`: never (INT64_MAX) for a lease another member owns
 * (causal mode). */
int64_t lkv__lessor_full_expiry(const lkv_lessor_t *l, const lkv__lease_t *e, int64_t now);

/* The lessor's clock now, in ms. */
int64_t lkv__lessor_now(const lkv_lessor_t *l);

/* The entry for id, or NULL. Lock held. */
lkv__lease_t *lkv__lessor_find(const lkv_lessor_t *l, int64_t id);

/* Unlinks and frees e (and takes it out of the heap). Lock held. */
void lkv__lessor_drop(lkv_lessor_t *l, lkv__lease_t *e);

/* (Re)schedules e to expire at `expiry` and wakes the timer when that is the new earliest expiry.
 * Lock held. Returns 0 or LKV_ENOMEM. */
int lkv__lessor_schedule(lkv_lessor_t *l, lkv__lease_t *e, int64_t expiry);

/* Whether this member leads now (expire.c); on becoming leader (or leading in a new term), every lease
 * first gets its full TTL from now (etcd's Promote), or with handoff the takeover starts. Lock held. */
int lkv__lessor_check_primary(lkv_lessor_t *l);

/* The entry for id, created as an orphan expiring at `expiry` when unknown (handoff.c). Lock held.
 * Returns it, or NULL (no memory, or LKV_LEASE_MAX_ORPHANS reached). */
lkv__lease_t *lkv__lessor_orphan(lkv_lessor_t *l, int64_t id, int64_t expiry);

/* Links a new entry into the hash table. Lock held. */
void lkv__lessor_link(lkv_lessor_t *l, lkv__lease_t *e);

/* The timer thread's body (expire.c). */
void *lkv__lessor_timer(void *arg);

#endif
