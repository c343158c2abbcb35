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

/* The request's op on the local lessor: 0 with its results, or LKV_ELEASENOTFOUND. */
static int run_op(lkv_lease_fwd_t *f, const lkv_lease_fwd_msg_t *m, int64_t *ttl, int64_t *granted_ttl) {
  *ttl = *granted_ttl = 0;
  if (m->op == LKV_LEASE_FWD_RENEW) return lkv_lessor_renew(f->lessor, m->lease_id, ttl);
  return lkv_lessor_lookup(f->lessor, m->lease_id, granted_ttl, ttl);
}

/* A request whose lease was not found, waiting for everything committed to be applied here. */
typedef struct barrier_s {
  lkv_lease_fwd_t *f;
  uint64_t from;
  lkv_lease_fwd_msg_t m;
} barrier_t;

static void serving_done(lkv_lease_fwd_t *f) {
  pthread_mutex_lock(&f->mu);
  if (--f->serving == 0) pthread_cond_broadcast(&f->idle);
  pthread_mutex_unlock(&f->mu);
}

/* On the replicator's thread: the grant the asker may have seen is applied now, if it was committed. */
static void barrier_done(void *arg, int err) {
  barrier_t *b = arg;
  lkv_lease_fwd_t *f = b->f;
  int64_t ttl, granted;
  if (err) /* no leader (any more) or timed out: the asker tries the leader of then */
    reply(f, b->from, &b->m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
  else if (run_op(f, &b->m, &ttl, &granted) == 0)
    reply(f, b->from, &b->m, LKV_LEASE_FWD_OK, ttl, granted);
  else
    reply(f, b->from, &b->m, LKV_LEASE_FWD_NOT_FOUND, 0, 0);
  free(b);
  serving_done(f);
}

void lkv__fwd_serve(lkv_lease_fwd_t *f, uint64_t from, const lkv_lease_fwd_msg_t *m) {
  lkv_replication_status_t st;
  lkv_replicator_status(f->replicator, &st);
  if (st.leader != f->self) { /* etcd's ErrNotPrimary: the asker looks for the leader again */
    reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
    return;
  }
  int64_t ttl, granted;
  if (run_op(f, m, &ttl, &granted) == 0) {
    reply(f, from, m, LKV_LEASE_FWD_OK, ttl, granted);
    return;
  }
  /* Not found may mean not applied yet: a grant the asker applied (and answered) is committed, so it is
   * applied here once a read barrier passes (etcd's leader waits for its applied index the same way). */
  barrier_t *b = malloc(sizeof(*b));
  pthread_mutex_lock(&f->mu);
  int stopping = f->stopping;
  if (b && !stopping) f->serving++;
  pthread_mutex_unlock(&f->mu);
  if (!b || stopping) {
    free(b);
    reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
    return;
  }
  *b = (barrier_t){.f = f, .from = from, .m = *m};
  if (lkv_replicator_read_barrier(f->replicator, barrier_done, b) != 0) {
    free(b);
    serving_done(f);
    reply(f, from, m, LKV_LEASE_FWD_NOT_LEADER, 0, 0);
  }
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
