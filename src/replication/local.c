/* Single-node replicator: a writer thread drains the proposal queue into batches, one fsync per batch. */
#include "replication/local.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/error.h"

struct lkv_replicator_s {
  lkv_mvcc_t *store;
  lkv_apply_identity_t id;
  pthread_t thread;
  pthread_mutex_t lock; /* guards head, tail and stopping */
  pthread_cond_t wake;
  lkv_proposal_t *head;
  lkv_proposal_t *tail;
  int stopping;
  pthread_mutex_t listen_lock; /* guards on_commit: cleared listeners must not run afterwards */
  lkv_commit_cb on_commit;
  void *on_commit_arg;
};

void lkv_local_listen(lkv_replicator_t *r, lkv_commit_cb cb, void *arg) {
  pthread_mutex_lock(&r->listen_lock);
  r->on_commit = cb;
  r->on_commit_arg = arg;
  pthread_mutex_unlock(&r->listen_lock);
}

static void tell_listener(lkv_replicator_t *r) {
  pthread_mutex_lock(&r->listen_lock);
  if (r->on_commit) r->on_commit(r->on_commit_arg);
  pthread_mutex_unlock(&r->listen_lock);
}

int lkv_replicator_propose(lkv_replicator_t *r, lkv_proposal_t *p) {
  pthread_mutex_lock(&r->lock);
  if (r->stopping) {
    pthread_mutex_unlock(&r->lock);
    return LKV_ESTOPPED;
  }
  p->next = NULL;
  if (r->tail)
    r->tail->next = p;
  else
    r->head = p;
  r->tail = p;
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->lock);
  return 0;
}

/* Detaches up to LKV_LOCAL_MAX_BATCH queued proposals; blocks while the queue is empty and not stopping.
 * Returns the number taken (0 only when stopping with an empty queue). */
static size_t take_batch(lkv_replicator_t *r, lkv_proposal_t **batch) {
  size_t n = 0;
  pthread_mutex_lock(&r->lock);
  while (!r->head && !r->stopping) pthread_cond_wait(&r->wake, &r->lock);
  while (r->head && n < LKV_LOCAL_MAX_BATCH) {
    batch[n++] = r->head;
    r->head = r->head->next;
  }
  if (!r->head) r->tail = NULL;
  pthread_mutex_unlock(&r->lock);
  return n;
}

static void apply_and_complete(lkv_replicator_t *r, lkv_proposal_t **batch, lkv_apply_req_t *reqs, size_t n) {
  for (size_t i = 0; i < n; i++) reqs[i] = batch[i]->req;
  int rc = lkv_apply_batch(r->store, &r->id, reqs, n);
  for (size_t i = 0; i < n; i++) {
    batch[i]->req = reqs[i];
    if (rc != 0) {
      /* Nothing in the batch took effect: nobody may be told otherwise. */
      batch[i]->req.err = rc;
      batch[i]->req.resp = NULL;
      batch[i]->req.resp_len = 0;
    }
  }
  /* Before the answers: a client that saw its write acknowledged finds it in the history readers see. */
  if (rc == 0) tell_listener(r);
  for (size_t i = 0; i < n; i++) batch[i]->done(batch[i]);
}

static void *writer_main(void *arg) {
  lkv_replicator_t *r = arg;
  lkv_proposal_t **batch = malloc(sizeof(*batch) * LKV_LOCAL_MAX_BATCH);
  lkv_apply_req_t *reqs = malloc(sizeof(*reqs) * LKV_LOCAL_MAX_BATCH);
  if (!batch || !reqs) abort(); /* two fixed allocations at start-up; nothing sensible to do without them */
  size_t n;
  while ((n = take_batch(r, batch)) > 0) apply_and_complete(r, batch, reqs, n);
  free(batch);
  free(reqs);
  return NULL;
}

int lkv_local_start(lkv_replicator_t **out, lkv_mvcc_t *store, const lkv_apply_identity_t *id) {
  lkv_replicator_t *r = calloc(1, sizeof(*r));
  if (!r) return LKV_ENOMEM;
  r->store = store;
  r->id = *id;
  if (pthread_mutex_init(&r->lock, NULL) != 0) goto err_after_alloc;
  if (pthread_mutex_init(&r->listen_lock, NULL) != 0) goto err_after_mutex;
  if (pthread_cond_init(&r->wake, NULL) != 0) goto err_after_listen_lock;
  if (pthread_create(&r->thread, NULL, writer_main, r) != 0) goto err_after_cond;
  *out = r;
  return 0;
err_after_cond:
  pthread_cond_destroy(&r->wake);
err_after_listen_lock:
  pthread_mutex_destroy(&r->listen_lock);
err_after_mutex:
  pthread_mutex_destroy(&r->lock);
err_after_alloc:
  free(r);
  return LKV_ENOMEM;
}

void lkv_local_stop(lkv_replicator_t *r) {
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->lock);
  pthread_join(r->thread, NULL);
  pthread_cond_destroy(&r->wake);
  pthread_mutex_destroy(&r->listen_lock);
  pthread_mutex_destroy(&r->lock);
  free(r);
}
