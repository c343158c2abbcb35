/* The forwarder's answering side: requests from other members served by the leader's lessor. */
#include <stdlib.h>

#include "common/error.h"
#include "lease/fwd_internal.h"

/* Sends the answer to request `req` back to `to` (this member's own requests are completed directly). */
static void reply(lkv_lease_fwd_t *f, uint64_t to, const lkv_lease_fwd_msg_t *req, uint8_t status,
                  int64_t ttl, int64_t granted_ttl) {
  lkv_lease_fwd_msg_t a = {.kind = LKV_LEASE_FWD_ANSWER,
                           .op = req->op,
                           .status = status,
                           .request_id = req->request_id,
                           .lease_id = req->lease_id,
                           .ttl = ttl,
                           .granted_ttl = granted_ttl};
  if (to == f->self) {
    lkv__fwd_answered(f, &a);
    return;
  }
  uint8_t buf[LKV_LEASE_FWD_MAX_LEN];
  size_t n = lkv_lease_fwd_encode(&a, buf);
  (void)f->send(f->send_arg, to, buf, n); /* a lost answer: the asker sends its request again */
}

/* A request being answered later: after a read barrier (its lease was not found), or after a majority
 * recorded its renewal. */
typedef struct parked_s {
  lkv_lease_fwd_t *f;
  uint64_t from;
  lkv_lease_fwd_msg_t m;
  int64_t ttl; /* a renewal's, for its answer */
} parked_t;

/* Counts a request being answered later (stop waits for it); NULL when stopping or out of memory. */
static parked_t *park(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m) {
  parked_t *b = malloc(sizeof(*b));
  pthread_mutex_lock(&f->mu);
  int stopping = f->stopping;
  if (b && !stopping) f->serving++;
  pthread_mutex_unlock(&f->mu);
  if (!b || stopping) {
    free(b);
    return NULL;
  }
  *b = (parked_t){.f = f, .from = from, .m = *m};
  return b;
}

static void unpark(parked_t *b) {
  lkv_lease_fwd_t *f = b->f;
  free(b);
  pthread_mutex_lock(&f->mu);
  if (--f->serving == 0) pthread_cond_broadcast(&f->idle);
  pthread_mutex_unlock(&f->mu);
}

static void answer(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m, int after_barrier);

/* A majority recorded the renewal (err 0), or it could not be: the asker tries the leader of then. */
static void renewal_recorded(void *arg, int err) {
  parked_t *b = arg;
  reply(b->f, b->from, &b->m, err ? LKV_LEASE_FWD_NOT_LEADER : LKV_LEASE_FWD_OK, err ? 0 : b->ttl, 0);
  unpark(b);
}

/* On the replicator's thread: the grant the asker may have seen is applied now, if it was committed. */
static void barrier_done(void *arg, int err) {
  parked_t *b = arg;
  if (err) /* no leader (any more) or timed out: the asker tries the leader of then */
    reply(b->f, b->from, &b->m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
  else
    answer(b->f, b->from, &b->m, 1);
  unpark(b);
}

/* Not found may mean not applied yet: a grant the asker applied (and answered) is committed, so it is
 * applied here once a read barrier passes (etcd's leader waits for its applied index the same way). */
static void after_barrier(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m) {
  parked_t *b = park(f, from, m);
  if (b && lkv_replicator_read_barrier(f->replicator, barrier_done, b) == 0) return;
  if (b) unpark(b);
  reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
}

/* A renewal the lessor made: answered once a majority recorded it (without a handoff module, at once). */
static void after_renewal(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m, int64_t ttl,
                          uint64_t term) {
  if (!f->sync) {
    reply(f, from, m, LKV_LEASE_FWD_OK, ttl, 0);
    return;
  }
  parked_t *b = park(f, from, m);
  if (b) b->ttl = ttl;
  if (b && lkv_lease_sync_renewed(f->sync, term, m->lease_id, ttl, renewal_recorded, b) == 0) return;
  if (b) unpark(b);
  reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
}

/* Runs m on the local lessor and answers it, now or later. */
static void answer(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m, int after_barrier_done) {
  int64_t ttl = 0, granted = 0;
  uint64_t term = 0;
  int rc = m->op == LKV_LEASE_FWD_RENEW ? lkv_lessor_renew(f->lessor, m->lease_id, &ttl, &term)
                                        : lkv_lessor_lookup(f->lessor, m->lease_id, &granted, &ttl);
  if (rc == 0 && m->op == LKV_LEASE_FWD_RENEW)
    after_renewal(f, from, m, ttl, term);
  else if (rc == 0)
    reply(f, from, m, LKV_LEASE_FWD_OK, ttl, granted);
  else if (rc == LKV_ELEASENOTFOUND && !after_barrier_done)
    after_barrier(f, from, m);
  else if (rc == LKV_ELEASENOTFOUND)
    reply(f, from, m, LKV_LEASE_FWD_NOT_FOUND, 0, 0);
  else /* this member no longer leads, or a later term fenced it */
    reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
}

void lkv__fwd_serve(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m) {
  lkv_replication_status_t st;
  lkv_replicator_status(f->replicator, &st);
  if (f->owner && f->owner(f->owner_arg, m->lease_id) != f->self) { /* causal: only its owner answers */
    reply(f, from, m, LKV_LEASE_FWD_NOT_FOUND, 0, 0);
    return;
  }
  if (!f->owner && st.leader != f->self) { /* etcd's ErrNotPrimary: the asker looks for the leader again */
    reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
    return;
  }
  answer(f, from, m, 0);
}

void lkv_lease_fwd_receive(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv_lease_fwd_t *f = arg;
  lkv_lease_fwd_msg_t m;
  if (lkv_lease_fwd_decode(data, len, &m) != 0) return;
  if (m.kind == LKV_LEASE_FWD_REQUEST)
    lkv__fwd_serve(f, from, &m);
  else
    lkv__fwd_answered(f, &m);
}
