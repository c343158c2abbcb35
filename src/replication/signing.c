/* Timed signing of the ledger's tree head: the head taken on the replicator's thread, flushed and signed on
 * a thread of its own. */
#include "replication/signing.h"

#include <stdio.h>

#include "common/clock.h"
#include "common/error.h"

int lkv__signing_init(lkv__signing_t *s, lkv_ledger_t *ledger, unsigned interval_ms) {
  *s = (lkv__signing_t){.ledger = ledger, .interval_ms = interval_ms ? interval_ms : 1};
  s->next_ms = lkv_clock_ms(CLOCK_MONOTONIC) + s->interval_ms;
  if (pthread_mutex_init(&s->lock, NULL)) return LKV_ENOMEM;
  if (pthread_mutex_init(&s->mu, NULL)) goto err_after_lock;
  if (pthread_cond_init(&s->cv, NULL)) goto err_after_mu;
  return 0;

err_after_mu:
  pthread_mutex_destroy(&s->mu);
err_after_lock:
  pthread_mutex_destroy(&s->lock);
  return LKV_ENOMEM;
}

void lkv__signing_destroy(lkv__signing_t *s) {
  if (s->started) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
  }
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->lock);
}

void lkv__signing_listen(lkv__signing_t *s, lkv_sign_cb cb, void *arg) {
  pthread_mutex_lock(&s->lock);
  s->cb = cb;
  s->arg = arg;
  pthread_mutex_unlock(&s->lock);
}

/* Tells the listener of an attempt (head NULL: it failed). A failure is reported and retried at the next
 * interval: the entries themselves are durable, only their receipts wait. A head prepared before a reset
 * (an installed snapshot, rc LKV_EAGAIN) is dropped without a word. */
static void tell(lkv__signing_t *s, int rc, const lkv_ledger_signed_head_t *head) {
  if (rc != 0 && rc != LKV_EAGAIN)
    fprintf(stderr, "ledgerkv: cannot sign the ledger's tree head: %s\n", lkv_strerror(rc));
  pthread_mutex_lock(&s->lock);
  if (s->cb) s->cb(s->arg, rc == 0 ? head : NULL);
  pthread_mutex_unlock(&s->lock);
}

static void finish(lkv__signing_t *s, const lkv_ledger_sign_job_t *job) {
  lkv_ledger_signed_head_t head;
  tell(s, lkv_ledger_sign_finish(s->ledger, job, &head), &head);
}

static void *signer_main(void *arg) {
  lkv__signing_t *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->state != 1 && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->state != 1) break;
    s->state = 2;
    lkv_ledger_sign_job_t job = s->job;
    pthread_mutex_unlock(&s->mu);
    finish(s, &job);
    pthread_mutex_lock(&s->mu);
    s->state = 0;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Prepares a head if one is needed; reports a failure to prepare as a failed signature. */
static int prepare(lkv__signing_t *s, lkv_ledger_sign_job_t *job) {
  if (!lkv_ledger_needs_sign(s->ledger)) return 0;
  int rc = lkv_ledger_sign_prepare(s->ledger, lkv_clock_ms(CLOCK_REALTIME), job);
  if (rc == 0) return 1;
  tell(s, rc, NULL);
  return 0;
}

void lkv__signing_now(lkv__signing_t *s) {
  if (!s->ledger) return;
  pthread_mutex_lock(&s->mu);
  while (s->state != 0) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  lkv_ledger_sign_job_t job;
  if (prepare(s, &job)) finish(s, &job);
}

void lkv__signing_due(lkv__signing_t *s, uint64_t now_ms) {
  if (!s->ledger || now_ms < s->next_ms) return;
  s->next_ms = now_ms + s->interval_ms;
  pthread_mutex_lock(&s->mu);
  int idle = s->state == 0;
  pthread_mutex_unlock(&s->mu);
  if (!idle) return; /* the previous head is still being flushed (a slow disk): the next interval signs */
  lkv_ledger_sign_job_t job;
  if (!prepare(s, &job)) return;
  if (!s->started) {
    if (pthread_create(&s->thread, NULL, signer_main, s) != 0) { /* no thread: sign here, as before */
      finish(s, &job);
      return;
    }
    s->started = 1;
  }
  pthread_mutex_lock(&s->mu);
  s->job = job;
  s->state = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}
