/* A replicator double for the lease handoff's unit tests: who leads in which term is the test's, the
 * voters are members 1..n_voters, revokes are recorded and completed at once, barriers pass at once. */
#ifndef LKV_TESTS_LEASE_TESTUTIL_H
#define LKV_TESTS_LEASE_TESTUTIL_H

#include <pthread.h>
#include <stdlib.h>

#include "apply_testutil.h"
#include "lease/lessor.h"

#define LKVT_MAX_REVOKED 64

typedef struct lkvt_rep_s {
  lkv_replicator_t base;
  uint64_t self;
  _Atomic uint64_t leader, term;
  size_t n_voters;
  pthread_mutex_t mu;
  int64_t revoked[LKVT_MAX_REVOKED]; /* ids of the revokes proposed, in order */
  size_t n_revoked;
} lkvt_rep_t;

static int lkvt_rep_propose(lkv_replicator_t *r, lkv_proposal_t *p) {
  lkvt_rep_t *f = (lkvt_rep_t *)r;
  assert_int_equal(p->req.kind, LKV_OP_LEASE_REVOKE);
  pthread_mutex_lock(&f->mu);
  assert_true(f->n_revoked < LKVT_MAX_REVOKED);
  f->revoked[f->n_revoked++] = ((const Etcdserverpb__LeaseRevokeRequest *)p->req.msg)->id;
  pthread_mutex_unlock(&f->mu);
  p->req.err = 0; /* applied: the lessor forgets the lease */
  p->req.resp = NULL;
  p->done(p);
  return 0;
}

static int lkvt_rep_barrier(lkv_replicator_t *r, lkv_read_cb cb, void *arg) {
  (void)r;
  cb(arg, 0);
  return 0;
}

static void lkvt_rep_status(lkv_replicator_t *r, lkv_replication_status_t *out) {
  lkvt_rep_t *f = (lkvt_rep_t *)r;
  *out = (lkv_replication_status_t){.member_id = f->self, .leader = f->leader, .term = f->term};
}

static int lkvt_rep_members(lkv_replicator_t *r, lkv_replication_member_t **out, size_t *n) {
  lkvt_rep_t *f = (lkvt_rep_t *)r;
  *out = calloc(f->n_voters, sizeof(**out));
  if (!*out) return LKV_ENOMEM;
  for (size_t i = 0; i < f->n_voters; i++) (*out)[i].id = i + 1;
  *n = f->n_voters;
  return 0;
}

static const lkv_replicator_ops_t lkvt_rep_ops = {.propose = lkvt_rep_propose,
                                                  .read_barrier = lkvt_rep_barrier,
                                                  .status = lkvt_rep_status,
                                                  .members = lkvt_rep_members};

static inline void lkvt_rep_init(lkvt_rep_t *f, uint64_t self, uint64_t leader, uint64_t term,
                                 size_t n_voters) {
  f->base.ops = &lkvt_rep_ops;
  f->self = self;
  f->leader = leader;
  f->term = term;
  f->n_voters = n_voters;
  f->n_revoked = 0;
  pthread_mutex_init(&f->mu, NULL);
}

/* How many revokes were proposed so far. */
static inline size_t lkvt_rep_revokes(lkvt_rep_t *f) {
  pthread_mutex_lock(&f->mu);
  size_t n = f->n_revoked;
  pthread_mutex_unlock(&f->mu);
  return n;
}

#endif
