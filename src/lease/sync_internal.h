/* Handoff internals shared by sync.c (renewal batches, the thread) and sync_query.c (takeover, answers). */
#ifndef LKV_LEASE_SYNC_INTERNAL_H
#define LKV_LEASE_SYNC_INTERNAL_H

#include <pthread.h>

#include "lease/sync.h"
#include "lease/sync_codec.h"

/* The voters a batch or a query waits for, and which of them have answered. */
typedef struct lkv__sync_quorum_s {
  uint64_t *ids;
  uint8_t *done;
  size_t n, count, needed; /* count: done, this member included; needed: a majority */
} lkv__sync_quorum_t;

struct lkv_lease_sync_s {
  pthread_mutex_t mu;
  pthread_cond_t wake;                                 /* the thread: a renewal arrived, or stopping */
  struct lkv__sync_renewal_s *pending, **pending_tail; /* not sent yet */
  struct lkv__sync_batch_s *batches;                   /* sent, waiting for a majority */
  uint64_t next_seq;
  /* the takeover of the term this member leads in */
  uint64_t query_term; /* being collected; 0: none */
  uint64_t done_term;  /* collected (or not to be: the lessor said so) */
  uint64_t query_id;
  int64_t query_sent_at;
  lkv__sync_quorum_t query;
  int stopping;
  pthread_t thread;
  /* constants after start */
  uint64_t self;
  lkv_lessor_t *lessor;
  lkv_replicator_t *replicator;
  lkv_lease_sync_send_fn send;
  void *send_arg;
  unsigned timeout_ms, resend_ms, query_resend_ms;
};

/* A monotonic clock in ms for deadlines and resends. */
int64_t lkv__sync_now(void);

/* Fills q with the voters of `members` (learners left out), none done but this member. Returns 0 or
 * LKV_ENOMEM. */
int lkv__sync_quorum_init(lkv__sync_quorum_t *q, const lkv_lease_sync_t *s,
                          const lkv_replication_member_t *members, size_t n);

/* Marks voter `from` done; returns 1 when it was a voter not done before. */
int lkv__sync_quorum_mark(lkv__sync_quorum_t *q, uint64_t from);

void lkv__sync_quorum_free(lkv__sync_quorum_t *q);

/* Encodes m (entries from v) and sends it to every voter of q not done yet. Lock held. */
void lkv__sync_send_missing(lkv_lease_sync_t *s, const lkv__sync_quorum_t *q, const lkv_lease_sync_msg_t *m,
                            const lkv_lease_remaining_t *v);

/* One pass of the takeover: starts the query of `term` (this member leads in it; not when members is
 * NULL) or asks the voters that have not answered again. Lock held. */
void lkv__sync_takeover_pass(lkv_lease_sync_t *s, uint64_t term, const lkv_replication_member_t *members,
                             size_t n, int64_t now);

/* A query from `from`: answers it. An answer: merged into the takeover it belongs to. No lock held. */
void lkv__sync_on_query(lkv_lease_sync_t *s, uint64_t from, const lkv_lease_sync_msg_t *m);
void lkv__sync_on_answer(lkv_lease_sync_t *s, uint64_t from, const lkv_lease_sync_msg_t *m);

#endif
