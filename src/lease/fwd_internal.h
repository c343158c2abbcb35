/* Forwarder internals shared by forward.c (asking side) and fwd_serve.c (answering side). */
#ifndef LKV_LEASE_FWD_INTERNAL_H
#define LKV_LEASE_FWD_INTERNAL_H

#include <pthread.h>

#include "lease/forward.h"
#include "lease/fwd_codec.h"

/* A request parked until its answer or deadline. */
typedef struct lkv__fwd_pending_s {
  uint64_t id;
  uint8_t op;
  int64_t lease_id;
  uint64_t sent_to; /* the member last asked; 0: not sent, or it said it does not lead */
  int64_t sent_at;  /* ms */
  int64_t deadline; /* ms */
  int serve_here;   /* sent to this member (it leads now): the timer serves it outside the lock */
  int leaderless;   /* failing at its deadline with no leader known */
  lkv_lease_fwd_cb cb;
  void *arg;
  struct lkv__fwd_pending_s *hnext;       /* hash chain by id */
  struct lkv__fwd_pending_s *prev, *next; /* by deadline */
} lkv__fwd_pending_t;

struct lkv_lease_fwd_s {
  pthread_mutex_t mu;
  pthread_cond_t wake; /* the timer: a request was parked, or stopping */
  pthread_cond_t idle; /* serving dropped to 0 */
  lkv__fwd_pending_t **buckets;
  size_t n_buckets; /* power of two */
  lkv__fwd_pending_t *head, *tail;
  size_t count;
  uint64_t next_id;
  size_t serving; /* answers waiting for a read barrier */
  int stopping;
  pthread_t thread;
  /* constants after start */
  uint64_t self;
  lkv_lessor_t *lessor;
  lkv_replicator_t *replicator;
  lkv_lease_sync_t *sync;
  lkv_lease_fwd_send_fn send;
  void *send_arg;
  unsigned timeout_ms, resend_ms;
  size_t max_pending;
  lkv_lease_fwd_owner_fn owner; /* causal mode, or NULL */
  void *owner_arg;
};

/* Where a request about lease_id goes now: its owner in causal mode, else the leader st names (0: none
 * known). */
uint64_t lkv__fwd_target(const lkv_lease_fwd_t *f, const lkv_replication_status_t *st, int64_t lease_id);

/* An answer arrived (from another member, or from this one's own serving): completes its request, or
 * sends it on again when the answerer does not lead. Takes the lock. */
void lkv__fwd_answered(lkv_lease_fwd_t *f, const lkv_lease_fwd_msg_t *m);

/* Answers request m from member `from` (possibly this member) with the local lessor, if this member
 * leads; a lease not found waits for a read barrier first, a renewal for its records (sync.h). Takes the
 * lock only briefly. */
void lkv__fwd_serve(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m);

#endif
