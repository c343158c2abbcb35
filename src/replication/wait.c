/* Blocking forms of propose and read barrier for the server's background threads (replication.h). */
#include <pthread.h>
#include <stdlib.h>

#include "replication/replication.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int err;
} waiter_t;

static void waiter_signal(waiter_t *w, int err) {
  pthread_mutex_lock(&w->mu);
  w->err = err;
  w->done = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static int waiter_wait(waiter_t *w) {
  pthread_mutex_lock(&w->mu);
  while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  return w->err;
}

static void proposal_done(lkv_proposal_t *p) {
  free(p->req.resp);
  p->req.resp = NULL;
  p->req.resp_len = 0;
  waiter_signal(p->data, p->req.err);
}

int lkv_replicator_propose_wait(lkv_replicator_t *r, lkv_proposal_t *p) {
  waiter_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  p->done = proposal_done;
  p->data = &w;
  int rc = lkv_replicator_propose(r, p);
  return rc ? rc : waiter_wait(&w);
}

static void barrier_done(void *arg, int err) {
  waiter_signal(arg, err);
}

int lkv_replicator_read_barrier_wait(lkv_replicator_t *r) {
  waiter_t w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  int rc = lkv_replicator_read_barrier(r, barrier_done, &w);
  return rc ? rc : waiter_wait(&w);
}
