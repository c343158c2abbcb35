/* The forwarder's asking side: parked requests, their deadlines and resends, and the timer thread. */
#include "lease/forward.h"

#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "lease/fwd_internal.h"

static int64_t now_ms(void) {
  return (int64_t)lkv_clock_ms(CLOCK_MONOTONIC);
}

static size_t bucket_of(const lkv_lease_fwd_t *f, uint64_t id) {
  return (size_t)(id & (f->n_buckets - 1));
}

/* Unlinks p from the hash and the deadline list. Lock held. */
static void unlink_pending(lkv_lease_fwd_t *f, lkv__fwd_pending_t *p) {
  lkv__fwd_pending_t **h = &f->buckets[bucket_of(f, p->id)];
  while (*h != p) h = &(*h)->hnext;
  *h = p->hnext;
  if (p->prev)
    p->prev->next = p->next;
  else
    f->head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    f->tail = p->prev;
  f->count--;
}

/* Sends p's request to `to` (another member, or this one: then it is served here). Lock held. */
static void send_request(lkv_lease_fwd_t *f, lkv__fwd_pending_t *p, uint64_t to, int64_t now) {
  lkv_lease_fwd_msg_t m = {
      .kind = LKV_LEASE_FWD_REQUEST, .op = p->op, .request_id = p->id, .lease_id = p->lease_id};
  p->sent_to = to;
  p->sent_at = now;
  if (to == f->self) {
    /* After the lock is released: serving takes the lessor's lock and may answer at once. */
    p->serve_here = 1;
    return;
  }
  uint8_t buf[LKV_LEASE_FWD_MAX_LEN];
  size_t n = lkv_lease_fwd_encode(&m, buf);
  (void)f->send(f->send_arg, to, buf, n); /* a lost request is sent again after resend_ms */
}

/* Serves the requests this member must answer itself (it became leader while they were parked). */
static void serve_here(lkv_lease_fwd_t *f) {
  for (;;) {
    lkv_lease_fwd_msg_t m = {0};
    int found = 0;
    pthread_mutex_lock(&f->mu);
    for (lkv__fwd_pending_t *p = f->head; p && !found; p = p->next) {
      if (!p->serve_here) continue;
      p->serve_here = 0;
      m = (lkv_lease_fwd_msg_t){
          .kind = LKV_LEASE_FWD_REQUEST, .op = p->op, .request_id = p->id, .lease_id = p->lease_id};
      found = 1;
    }
    pthread_mutex_unlock(&f->mu);
    if (!found) return;
    lkv__fwd_serve(f, f->self, &m); /* may complete the request at once: found again by its id */
  }
}

uint64_t lkv__fwd_target(const lkv_lease_fwd_t *f, const lkv_replication_status_t *st, int64_t lease_id) {
  return f->owner ? f->owner(f->owner_arg, lease_id) : st->leader;
}

static int submit(lkv_lease_fwd_t *f, uint8_t op, int64_t lease_id, lkv_lease_fwd_cb cb, void *arg) {
  lkv__fwd_pending_t *p = calloc(1, sizeof(*p));
  if (!p) return LKV_ENOMEM;
  lkv_replication_status_t st;
  lkv_replicator_status(f->replicator, &st);
  pthread_mutex_lock(&f->mu);
  int rc = f->stopping ? LKV_ESTOPPED : f->count >= f->max_pending ? LKV_EAGAIN : 0;
  uint64_t to = lkv__fwd_target(f, &st, lease_id);
  if (rc || (f->owner && !to)) { /* refused, or (causal mode) a lease that names no member */
    pthread_mutex_unlock(&f->mu);
    free(p);
    if (!rc) cb(arg, LKV_ELEASENOTFOUND, 0, 0);
    return rc;
  }
  int64_t now = now_ms();
  p->id = ++f->next_id;
  p->op = op;
  p->lease_id = lease_id;
  p->deadline = now + f->timeout_ms;
  p->cb = cb;
  p->arg = arg;
  size_t b = bucket_of(f, p->id);
  p->hnext = f->buckets[b];
  f->buckets[b] = p;
  p->prev = f->tail; /* deadlines grow with submission time: the list stays sorted */
  if (f->tail)
    f->tail->next = p;
  else
    f->head = p;
  f->tail = p;
  f->count++;
  /* A leader (owner) is known: ask it now (this member: served below, outside the lock). Otherwise the
   * timer looks for one within LKV_LEASE_FWD_POLL_MS. */
  if (to != 0) send_request(f, p, to, now);
  pthread_cond_signal(&f->wake);
  pthread_mutex_unlock(&f->mu);
  if (to == f->self) serve_here(f);
  return 0;
}

int lkv_lease_fwd_renew(lkv_lease_fwd_t *f, int64_t id, lkv_lease_fwd_cb cb, void *arg) {
  return submit(f, LKV_LEASE_FWD_RENEW, id, cb, arg);
}

int lkv_lease_fwd_time_to_live(lkv_lease_fwd_t *f, int64_t id, lkv_lease_fwd_cb cb, void *arg) {
  return submit(f, LKV_LEASE_FWD_TIME_TO_LIVE, id, cb, arg);
}

int lkv_lease_fwd_remote(lkv_lease_fwd_t *f, int64_t id) {
  lkv_replication_status_t st;
  lkv_replicator_status(f->replicator, &st);
  return lkv__fwd_target(f, &st, id) != f->self;
}

void lkv__fwd_answered(lkv_lease_fwd_t *f, const lkv_lease_fwd_msg_t *m) {
  pthread_mutex_lock(&f->mu);
  lkv__fwd_pending_t *p = f->buckets[bucket_of(f, m->request_id)];
  while (p && p->id != m->request_id) p = p->hnext;
  if (!p || p->op != m->op || p->lease_id != m->lease_id) { /* late, duplicated or not ours */
    pthread_mutex_unlock(&f->mu);
    return;
  }
  if (m->status == LKV_LEASE_FWD_NOT_LEADER) { /* ask again whoever leads at the next poll */
    p->sent_to = 0;
    pthread_mutex_unlock(&f->mu);
    return;
  }
  unlink_pending(f, p);
  pthread_mutex_unlock(&f->mu);
  if (m->status == LKV_LEASE_FWD_OK)
    p->cb(p->arg, 0, m->ttl, m->granted_ttl);
  else
    p->cb(p->arg, LKV_ELEASENOTFOUND, 0, 0);
  free(p);
}

/* Completes each request of the list (linked by next) with err, outside the lock. */
static void fail_all(lkv__fwd_pending_t *list, int err_no_leader, int err) {
  while (list) {
    lkv__fwd_pending_t *next = list->next;
    list->cb(list->arg, list->leaderless ? err_no_leader : err, 0, 0);
    free(list);
    list = next;
  }
}

/* One pass of the timer: requests past their deadline fail, the others go to the current leader when
 * they have not reached it, or have waited resend_ms for its answer. Lock held; returns the failed
 * requests (to complete outside the lock) and sets *serve when some are to be served by this member. */
static lkv__fwd_pending_t *poll_pending(lkv_lease_fwd_t *f, int *serve) {
  lkv_replication_status_t st;
  lkv_replicator_status(f->replicator, &st);
  int64_t now = now_ms();
  lkv__fwd_pending_t *failed = NULL, **tail = &failed;
  while (f->head && f->head->deadline <= now) {
    lkv__fwd_pending_t *p = f->head;
    unlink_pending(f, p);
    p->leaderless = lkv__fwd_target(f, &st, p->lease_id) == 0;
    p->next = NULL;
    *tail = p;
    tail = &p->next;
  }
  for (lkv__fwd_pending_t *p = f->head; p; p = p->next) {
    uint64_t to = lkv__fwd_target(f, &st, p->lease_id);
    if (to == 0 || (p->sent_to == to && now - p->sent_at < (int64_t)f->resend_ms)) continue;
    send_request(f, p, to, now);
    *serve |= p->serve_here;
  }
  return failed;
}

static void *timer_main(void *arg) {
  lkv_lease_fwd_t *f = arg;
  pthread_mutex_lock(&f->mu);
  while (!f->stopping) {
    if (!f->head) {
      pthread_cond_wait(&f->wake, &f->mu);
      continue;
    }
    int serve = 0;
    lkv__fwd_pending_t *failed = poll_pending(f, &serve);
    if (failed || serve) {
      pthread_mutex_unlock(&f->mu);
      /* causal mode: a lease whose owner was removed meanwhile names no member (not found) */
      fail_all(failed, f->owner ? LKV_ELEASENOTFOUND : LKV_ENOLEADER,
               f->owner ? LKV_ELEASEOWNERDOWN : LKV_ETIMEDOUT);
      if (serve) serve_here(f);
      pthread_mutex_lock(&f->mu);
      continue;
    }
    struct timespec ts = lkv_clock_deadline(CLOCK_MONOTONIC, LKV_LEASE_FWD_POLL_MS);
    pthread_cond_timedwait(&f->wake, &f->mu, &ts);
  }
  pthread_mutex_unlock(&f->mu);
  return NULL;
}

int lkv_lease_fwd_start(lkv_lease_fwd_t **out, const lkv_lease_fwd_options_t *opts) {
  if (!opts || !opts->lessor || !opts->replicator || !opts->send || !opts->timeout_ms || !opts->resend_ms ||
      (opts->owner && opts->sync))
    return LKV_EINVAL;
  lkv_lease_fwd_t *f = calloc(1, sizeof(*f));
  if (!f) return LKV_ENOMEM;
  f->lessor = opts->lessor;
  f->replicator = opts->replicator;
  f->sync = opts->sync;
  f->send = opts->send;
  f->send_arg = opts->send_arg;
  f->timeout_ms = opts->timeout_ms;
  f->resend_ms = opts->resend_ms;
  f->max_pending = opts->max_pending ? opts->max_pending : LKV_LEASE_FWD_DEFAULT_PENDING;
  f->owner = opts->owner;
  f->owner_arg = opts->owner_arg;
  lkv_replication_status_t st;
  lkv_replicator_status(f->replicator, &st);
  f->self = st.member_id;
  f->n_buckets = 64;
  while (f->n_buckets < f->max_pending) f->n_buckets *= 2;
  int rc = LKV_ENOMEM;
  f->buckets = calloc(f->n_buckets, sizeof(*f->buckets));
  if (!f->buckets) goto err_after_alloc;
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) goto err_after_buckets;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int cond_rc = pthread_cond_init(&f->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (cond_rc != 0) goto err_after_buckets;
  if (pthread_cond_init(&f->idle, NULL) != 0) goto err_after_wake;
  if (pthread_mutex_init(&f->mu, NULL) != 0) goto err_after_idle;
  if (pthread_create(&f->thread, NULL, timer_main, f) != 0) goto err_after_mutex;
  *out = f;
  return 0;

err_after_mutex:
  pthread_mutex_destroy(&f->mu);
err_after_idle:
  pthread_cond_destroy(&f->idle);
err_after_wake:
  pthread_cond_destroy(&f->wake);
err_after_buckets:
  free(f->buckets);
err_after_alloc:
  free(f);
  return rc;
}

void lkv_lease_fwd_stop(lkv_lease_fwd_t *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->stopping = 1;
  pthread_cond_signal(&f->wake);
  pthread_mutex_unlock(&f->mu);
  pthread_join(f->thread, NULL);
  pthread_mutex_lock(&f->mu);
  lkv__fwd_pending_t *all = f->head;
  f->head = f->tail = NULL;
  f->count = 0;
  for (size_t i = 0; i < f->n_buckets; i++) f->buckets[i] = NULL; /* late answers find nothing */
  for (lkv__fwd_pending_t *p = all; p; p = p->next) p->leaderless = 0;
  /* Answers being served wait for read barriers; their completions touch f. */
  while (f->serving > 0) pthread_cond_wait(&f->idle, &f->mu);
  pthread_mutex_unlock(&f->mu);
  fail_all(all, LKV_ESTOPPED, LKV_ESTOPPED);
  free(f->buckets);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->idle);
  pthread_cond_destroy(&f->wake);
  free(f);
}
