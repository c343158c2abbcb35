/* Single-node replicator: a writer thread drains the proposal queue into batches, one fsync per batch. */
#include "replication/local.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "metrics/catalog.h"
#include "replication/signing.h"

typedef struct local_s {
  lkv_replicator_t base; /* first: the interface's handle */
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
  lkv_ledger_t *ledger; /* NULL: no ledger */
  lkv__signing_t signing;
  lkv_applied_cb on_applied; /* guarded by listen_lock */
  void *on_applied_arg;
  uint8_t *attrs; /* published attributes, guarded by listen_lock */
  size_t attrs_len;
} local_t;

static void local_on_sign(lkv_replicator_t *base, lkv_sign_cb cb, void *arg) {
  lkv__signing_listen(&((local_t *)base)->signing, cb, arg);
}

static int append_to_ledger(void *arg, const lkv_ledger_entry_t *entries, size_t n) {
  local_t *r = arg;
  return lkv_ledger_append(r->ledger, entries, n);
}

static void local_listen(lkv_replicator_t *base, lkv_commit_cb cb, void *arg) {
  local_t *r = (local_t *)base;
  pthread_mutex_lock(&r->listen_lock);
  r->on_commit = cb;
  r->on_commit_arg = arg;
  pthread_mutex_unlock(&r->listen_lock);
}

static void local_on_applied(lkv_replicator_t *base, lkv_applied_cb cb, void *arg) {
  local_t *r = (local_t *)base;
  pthread_mutex_lock(&r->listen_lock);
  r->on_applied = cb;
  r->on_applied_arg = arg;
  pthread_mutex_unlock(&r->listen_lock);
}

static void tell_listeners(local_t *r, const lkv_apply_req_t *reqs, size_t n) {
  pthread_mutex_lock(&r->listen_lock);
  if (r->on_commit) r->on_commit(r->on_commit_arg);
  if (r->on_applied)
    for (size_t i = 0; i < n; i++)
      if (lkv_apply_req_took_effect(&reqs[i])) r->on_applied(r->on_applied_arg, &reqs[i]);
  pthread_mutex_unlock(&r->listen_lock);
}

static int local_propose(lkv_replicator_t *base, lkv_proposal_t *p) {
  local_t *r = (local_t *)base;
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
  lkv_metric_inc(LKV_METRIC(proposals_pending), 0);
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->lock);
  return 0;
}

/* Detaches up to LKV_LOCAL_MAX_BATCH queued proposals; blocks while the queue is empty and not stopping
 * (then *stop is set), busy with background work for a short rest at most. Returns the number taken. */
static size_t take_batch(local_t *r, lkv_proposal_t **batch, int busy, int *stop) {
  size_t n = 0;
  pthread_mutex_lock(&r->lock);
  while (!r->head && !r->stopping) {
    if (busy) { /* the next background step comes after the rest, or a proposal */
      struct timespec until = lkv_clock_deadline(CLOCK_MONOTONIC, LKV_APPLY_BACKGROUND_PAUSE_MS);
      pthread_cond_timedwait(&r->wake, &r->lock, &until);
      break;
    }
    if (!r->ledger) {
      pthread_cond_wait(&r->wake, &r->lock);
      continue;
    }
    /* Idle with a ledger: wake for the next signature. */
    uint64_t now = lkv_clock_ms(CLOCK_MONOTONIC);
    if (now >= r->signing.next_ms) {
      pthread_mutex_unlock(&r->lock);
      lkv__signing_due(&r->signing, now);
      pthread_mutex_lock(&r->lock);
      continue;
    }
    struct timespec until = {.tv_sec = (time_t)(r->signing.next_ms / 1000),
                             .tv_nsec = (long)(r->signing.next_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&r->wake, &r->lock, &until);
  }
  while (r->head && n < LKV_LOCAL_MAX_BATCH) {
    batch[n++] = r->head;
    r->head = r->head->next;
  }
  if (!r->head) r->tail = NULL;
  *stop = n == 0 && r->stopping;
  pthread_mutex_unlock(&r->lock);
  return n;
}

static void apply_and_complete(local_t *r, lkv_proposal_t **batch, lkv_apply_req_t *reqs, size_t n) {
  for (size_t i = 0; i < n; i++) reqs[i] = batch[i]->req;
  /* With a ledger, the batch's entries are durable in it before the store commits (docs/ledger.md §12). */
  int rc = r->ledger ? lkv_apply_batch_logged(r->store, &r->id, reqs, n, append_to_ledger, r)
                     : lkv_apply_batch(r->store, &r->id, reqs, n);
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
  if (rc == 0) tell_listeners(r, reqs, n);
  /* A single node commits and applies in one step; etcd's gauges count proposals (Raft indices here) */
  lkv_metric_add(LKV_METRIC(proposals_pending), 0, -(double)n);
  if (rc == 0) {
    lkv_metric_add(LKV_METRIC(proposals_committed), 0, (double)n);
    lkv_metric_add(LKV_METRIC(proposals_applied), 0, (double)n);
  } else {
    lkv_metric_add(LKV_METRIC(proposals_failed), 0, (double)n);
  }
  for (size_t i = 0; i < n; i++) batch[i]->done(batch[i]);
}

static void *writer_main(void *arg) {
  local_t *r = arg;
  lkv_proposal_t **batch = malloc(sizeof(*batch) * LKV_LOCAL_MAX_BATCH);
  lkv_apply_req_t *reqs = malloc(sizeof(*reqs) * LKV_LOCAL_MAX_BATCH);
  if (!batch || !reqs) abort(); /* two fixed allocations at start-up; nothing sensible to do without them */
  int stop = 0, busy = 1;       /* a compaction's removal may be pending from the previous run */
  while (!stop) {
    size_t n = take_batch(r, batch, busy, &stop);
    if (n > 0) apply_and_complete(r, batch, reqs, n);
    /* Between batches, and instead of sleeping while there is more: one bounded step. */
    if (!stop) busy = lkv_apply_background_step(r->store);
    lkv__signing_due(&r->signing, lkv_clock_ms(CLOCK_MONOTONIC));
  }
  lkv__signing_now(&r->signing); /* the last head covers everything acknowledged */
  free(batch);
  free(reqs);
  return NULL;
}

/* Single node: an acknowledged write is applied before its answer, so every read already sees it. */
static int local_read_barrier(lkv_replicator_t *base, lkv_read_cb cb, void *arg) {
  (void)base;
  cb(arg, 0);
  return 0;
}

static void local_status(lkv_replicator_t *base, lkv_replication_status_t *out) {
  local_t *r = (local_t *)base;
  *out = (lkv_replication_status_t){
      .member_id = r->id.member_id, .leader = r->id.member_id, .term = 1, .single = 1};
}

static int local_publish(lkv_replicator_t *base, const uint8_t *attrs, size_t len) {
  local_t *r = (local_t *)base;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return LKV_ENOMEM;
  memcpy(copy, attrs, len);
  pthread_mutex_lock(&r->listen_lock);
  free(r->attrs);
  r->attrs = copy;
  r->attrs_len = len;
  pthread_mutex_unlock(&r->listen_lock);
  return 0;
}

/* The only member: this one. */
static int local_members(lkv_replicator_t *base, lkv_replication_member_t **out, size_t *n) {
  local_t *r = (local_t *)base;
  lkv_replication_member_t *m = calloc(1, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  m->id = r->id.member_id;
  pthread_mutex_lock(&r->listen_lock);
  if (r->attrs && (m->attrs = malloc(r->attrs_len ? r->attrs_len : 1)) != NULL) {
    memcpy(m->attrs, r->attrs, r->attrs_len);
    m->attrs_len = r->attrs_len;
  }
  int rc = r->attrs && !m->attrs ? LKV_ENOMEM : 0;
  pthread_mutex_unlock(&r->listen_lock);
  if (rc) {
    free(m);
    return rc;
  }
  *out = m;
  *n = 1;
  return 0;
}

/* The only member leads already; there is no one else to lead. */
static int local_move_leader(lkv_replicator_t *base, uint64_t to, lkv_read_cb cb, void *arg) {
  local_t *r = (local_t *)base;
  cb(arg, to == r->id.member_id ? 0 : LKV_EBADTRANSFEREE);
  return 0;
}

static int local_change_member(lkv_replicator_t *base, const lkv_member_change_t *c, lkv_read_cb cb,
                               void *arg) {
  (void)base, (void)c, (void)cb, (void)arg;
  return LKV_ESINGLENODE;
}

static void local_stop(lkv_replicator_t *base);

static const lkv_replicator_ops_t local_ops = {
    .propose = local_propose,
    .read_barrier = local_read_barrier,
    .status = local_status,
    .listen = local_listen,
    .on_applied = local_on_applied,
    .on_sign = local_on_sign,
    .publish = local_publish,
    .move_leader = local_move_leader,
    .change_member = local_change_member,
    .members = local_members,
    .stop = local_stop,
};

int lkv_local_start(lkv_replicator_t **out, lkv_mvcc_t *store, const lkv_apply_identity_t *id) {
  return lkv_local_start_ledger(out, store, id, NULL, 0);
}

int lkv_local_start_ledger(lkv_replicator_t **out, lkv_mvcc_t *store, const lkv_apply_identity_t *id,
                           lkv_ledger_t *ledger, unsigned sign_interval_ms) {
  local_t *r = calloc(1, sizeof(*r));
  if (!r) return LKV_ENOMEM;
  r->base.ops = &local_ops;
  r->store = store;
  r->id = *id;
  r->ledger = ledger;

  pthread_condattr_t attr;
  if (pthread_mutex_init(&r->lock, NULL) != 0) goto err_after_alloc;
  if (pthread_mutex_init(&r->listen_lock, NULL) != 0) goto err_after_mutex;
  if (lkv__signing_init(&r->signing, ledger, sign_interval_ms) != 0) goto err_after_listen_lock;
  if (pthread_condattr_init(&attr) != 0) goto err_after_sign_lock;
  /* Signing deadlines are monotonic: a wall-clock jump must not stall or flood the signer. */
  int cond_rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (cond_rc == 0) cond_rc = pthread_cond_init(&r->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (cond_rc != 0) goto err_after_sign_lock;
  if (pthread_create(&r->thread, NULL, writer_main, r) != 0) goto err_after_cond;
  lkv_metric_inc(LKV_METRIC(leader_changes), 0); /* a single node leads from its start, as etcd's does */
  *out = &r->base;
  return 0;
err_after_cond:
  pthread_cond_destroy(&r->wake);
err_after_sign_lock:
  lkv__signing_destroy(&r->signing);
err_after_listen_lock:
  pthread_mutex_destroy(&r->listen_lock);
err_after_mutex:
  pthread_mutex_destroy(&r->lock);
err_after_alloc:
  free(r);
  return LKV_ENOMEM;
}

static void local_stop(lkv_replicator_t *base) {
  local_t *r = (local_t *)base;
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->lock);
  pthread_join(r->thread, NULL);
  pthread_cond_destroy(&r->wake);
  lkv__signing_destroy(&r->signing);
  pthread_mutex_destroy(&r->listen_lock);
  pthread_mutex_destroy(&r->lock);
  free(r->attrs);
  free(r);
}
