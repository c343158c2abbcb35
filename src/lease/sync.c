/* The handoff's recording side: renewals batched to the voters and acknowledged once a majority recorded
 * them, records kept on every member, the module's thread and its message dispatch. */
#include "lease/sync.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "lease/sync_internal.h"

/* A renewal waiting to be recorded by a majority. */
typedef struct lkv__sync_renewal_s {
  uint64_t term;
  int64_t id, ttl_ms;
  int64_t at; /* lessor clock ms, just after the renewal: the remaining TTL is counted from here */
  lkv_lease_sync_cb cb;
  void *arg;
  int err; /* its outcome, once completed */
  struct lkv__sync_renewal_s *next;
} renewal_t;

/* Renewals sent together, waiting for a majority of acknowledgements. */
typedef struct lkv__sync_batch_s {
  uint64_t seq, term;
  int64_t sent_at, deadline;
  renewal_t *renewals; /* linked by next */
  size_t n;
  lkv__sync_quorum_t quorum;
  struct lkv__sync_batch_s *next;
} batch_t;

int64_t lkv__sync_now(void) {
  return (int64_t)lkv_clock_ms(CLOCK_MONOTONIC);
}

int lkv__sync_quorum_init(lkv__sync_quorum_t *q, const lkv_lease_sync_t *s,
                          const lkv_replication_member_t *members, size_t n) {
  memset(q, 0, sizeof(*q));
  q->ids = malloc((n ? n : 1) * sizeof(*q->ids));
  q->done = calloc(n ? n : 1, 1);
  if (!q->ids || !q->done) {
    lkv__sync_quorum_free(q);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    if (members[i].is_learner) continue;
    q->done[q->n] = members[i].id == s->self;
    q->count += q->done[q->n];
    q->ids[q->n++] = members[i].id;
  }
  q->needed = q->n / 2 + 1;
  return 0;
}

int lkv__sync_quorum_mark(lkv__sync_quorum_t *q, uint64_t from) {
  for (size_t i = 0; i < q->n; i++) {
    if (q->ids[i] != from) continue;
    if (q->done[i]) return 0;
    q->done[i] = 1;
    q->count++;
    return 1;
  }
  return 0;
}

void lkv__sync_quorum_free(lkv__sync_quorum_t *q) {
  free(q->ids);
  free(q->done);
  memset(q, 0, sizeof(*q));
}

void lkv__sync_send_missing(lkv_lease_sync_t *s, const lkv__sync_quorum_t *q, const lkv_lease_sync_msg_t *m,
                            const lkv_lease_remaining_t *v) {
  size_t len = lkv_lease_sync_size(m);
  uint8_t *buf = len ? malloc(len) : NULL;
  if (!buf) return; /* sent again at the next resend */
  lkv_lease_sync_encode(m, v, buf);
  for (size_t i = 0; i < q->n; i++)
    if (!q->done[i]) (void)s->send(s->send_arg, q->ids[i], buf, len); /* a loss: sent again later */
  free(buf);
}

/* Completes a list of renewals (linked by next, each with its err) outside the lock. */
static void complete(renewal_t *list) {
  while (list) {
    renewal_t *next = list->next;
    list->cb(list->arg, list->err);
    free(list);
    list = next;
  }
}

/* Moves r to *done with err. */
static void done_with(renewal_t *r, int err, renewal_t **done) {
  r->err = err;
  r->next = *done;
  *done = r;
}

/* Moves b's renewals to *done with err, and frees b. Lock held. */
static void finish_batch(batch_t *b, int err, renewal_t **done) {
  while (b->renewals) {
    renewal_t *r = b->renewals;
    b->renewals = r->next;
    done_with(r, err, done);
  }
  lkv__sync_quorum_free(&b->quorum);
  free(b);
}

/* Sends (again) what b's voters have not acknowledged, each entry's remaining TTL measured now. */
static void send_batch(lkv_lease_sync_t *s, batch_t *b, int64_t now) {
  lkv_lease_remaining_t *v = malloc((b->n ? b->n : 1) * sizeof(*v));
  if (!v) return;
  int64_t clock = lkv_lessor_now(s->lessor);
  size_t i = 0;
  for (renewal_t *r = b->renewals; r; r = r->next)
    v[i++] = (lkv_lease_remaining_t){r->id, r->ttl_ms - (clock - r->at)};
  lkv_lease_sync_msg_t m = {.kind = LKV_LEASE_SYNC_RECORD, .term = b->term, .seq = b->seq, .n = b->n};
  lkv__sync_send_missing(s, &b->quorum, &m, v);
  free(v);
  b->sent_at = now;
}

/* Turns the pending renewals of `term` into one batch and sends it; other terms' fail. Lock held. */
static void start_batch(lkv_lease_sync_t *s, uint64_t term, const lkv_replication_member_t *members, size_t n,
                        int64_t now, renewal_t **done) {
  batch_t *b = calloc(1, sizeof(*b));
  if (!b || lkv__sync_quorum_init(&b->quorum, s, members, n) != 0) {
    free(b);
    return; /* the renewals stay pending: tried again at the next pass */
  }
  while (s->pending) {
    renewal_t *r = s->pending;
    s->pending = r->next;
    if (r->term == term) {
      r->next = b->renewals;
      b->renewals = r;
      b->n++;
    } else { /* renewed in a term this member no longer leads in */
      done_with(r, LKV_ENOTLEADER, done);
    }
  }
  s->pending_tail = &s->pending;
  b->seq = ++s->next_seq;
  b->term = term;
  b->deadline = now + s->timeout_ms;
  if (b->quorum.count >= b->quorum.needed) { /* this member alone is a majority */
    finish_batch(b, 0, done);
    return;
  }
  send_batch(s, b, now);
  b->next = s->batches;
  s->batches = b;
}

/* Fails everything pending and in flight with err. Lock held. */
static void fail_all(lkv_lease_sync_t *s, int err, renewal_t **done) {
  while (s->batches) {
    batch_t *b = s->batches;
    s->batches = b->next;
    finish_batch(b, err, done);
  }
  while (s->pending) {
    renewal_t *r = s->pending;
    s->pending = r->next;
    done_with(r, err, done);
  }
  s->pending_tail = &s->pending;
}

/* Whether a pass must know the voters: to start a batch or a takeover (not to resend). */
static int needs_voters(lkv_lease_sync_t *s, uint64_t term) {
  pthread_mutex_lock(&s->mu);
  int need = s->pending || (s->done_term != term && s->query_term != term);
  pthread_mutex_unlock(&s->mu);
  return need;
}

/* One pass of the thread: deadlines, resends, new batches, the takeover. */
static void pass(lkv_lease_sync_t *s) {
  lkv_replication_status_t st;
  lkv_replicator_status(s->replicator, &st);
  int leading = st.leader == s->self;
  lkv_replication_member_t *members = NULL; /* NULL: nothing is started this pass (retried at the next) */
  size_t n = 0;
  if (leading && needs_voters(s, st.term) && lkv_replicator_members(s->replicator, &members, &n) != 0)
    members = NULL;
  renewal_t *done = NULL;
  pthread_mutex_lock(&s->mu);
  int64_t now = lkv__sync_now();
  if (!leading) {
    fail_all(s, LKV_ENOTLEADER, &done);
    s->query_term = 0;
  } else {
    for (batch_t **p = &s->batches; *p;) {
      batch_t *b = *p;
      int err = b->term != st.term ? LKV_ENOTLEADER : now >= b->deadline ? LKV_ETIMEDOUT : 0;
      if (err) {
        *p = b->next;
        finish_batch(b, err, &done);
        continue;
      }
      if (now - b->sent_at >= (int64_t)s->resend_ms) send_batch(s, b, now);
      p = &b->next;
    }
    if (s->pending && members) start_batch(s, st.term, members, n, now, &done);
    lkv__sync_takeover_pass(s, st.term, members, n, now);
  }
  pthread_mutex_unlock(&s->mu);
  lkv_replication_members_free(members, n);
  complete(done);
}

static void *thread_main(void *arg) {
  lkv_lease_sync_t *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stopping) {
    pthread_mutex_unlock(&s->mu);
    pass(s);
    pthread_mutex_lock(&s->mu);
    if (s->pending || s->stopping) continue;
    struct timespec ts = lkv_clock_deadline(CLOCK_MONOTONIC, LKV_LEASE_SYNC_POLL_MS);
    pthread_cond_timedwait(&s->wake, &s->mu, &ts);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int lkv_lease_sync_renewed(lkv_lease_sync_t *s, uint64_t term, int64_t id, int64_t ttl, lkv_lease_sync_cb cb,
                           void *arg) {
  renewal_t *r = calloc(1, sizeof(*r));
  if (!r) return LKV_ENOMEM;
  *r = (renewal_t){
      .term = term, .id = id, .ttl_ms = ttl * 1000, .at = lkv_lessor_now(s->lessor), .cb = cb, .arg = arg};
  pthread_mutex_lock(&s->mu);
  if (s->stopping) {
    pthread_mutex_unlock(&s->mu);
    free(r);
    return LKV_ESTOPPED;
  }
  *s->pending_tail = r;
  s->pending_tail = &r->next;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

/* A leader's record: recorded and acknowledged, or refused (a later term's query was answered). */
static void on_record(lkv_lease_sync_t *s, uint64_t from, const lkv_lease_sync_msg_t *m) {
  lkv_lease_remaining_t *v = malloc((m->n ? m->n : 1) * sizeof(*v));
  if (!v) return; /* no answer: the leader sends it again */
  lkv_lease_sync_entries(m, v);
  int rc = lkv_lessor_record(s->lessor, m->term, v, m->n);
  free(v);
  if (rc != 0 && rc != LKV_ENOTLEADER) return; /* not recorded, not refused: the leader sends it again */
  lkv_lease_sync_msg_t ack = {.kind = LKV_LEASE_SYNC_ACK, .term = m->term, .seq = m->seq, .ok = rc == 0};
  uint8_t buf[32];
  size_t len = lkv_lease_sync_encode(&ack, NULL, buf);
  (void)s->send(s->send_arg, from, buf, len);
}

/* A voter's acknowledgement of one of this member's batches. */
static void on_ack(lkv_lease_sync_t *s, uint64_t from, const lkv_lease_sync_msg_t *m) {
  renewal_t *done = NULL;
  pthread_mutex_lock(&s->mu);
  for (batch_t **p = &s->batches; *p; p = &(*p)->next) {
    batch_t *b = *p;
    if (b->seq != m->seq || b->term != m->term) continue;
    if (!lkv__sync_quorum_mark(&b->quorum, from)) break;
    if (m->ok && b->quorum.count < b->quorum.needed) break;
    *p = b->next;
    finish_batch(b, m->ok ? 0 : LKV_ENOTLEADER, &done);
    break;
  }
  pthread_mutex_unlock(&s->mu);
  complete(done);
}

void lkv_lease_sync_receive(void *arg, uint64_t from, const uint8_t *data, size_t len) {
  lkv_lease_sync_t *s = arg;
  lkv_lease_sync_msg_t m;
  if (lkv_lease_sync_decode(data, len, &m) != 0) return;
  pthread_mutex_lock(&s->mu);
  int stopping = s->stopping;
  pthread_mutex_unlock(&s->mu);
  if (stopping) return;
  switch (m.kind) {
    case LKV_LEASE_SYNC_RECORD:
      on_record(s, from, &m);
      break;
    case LKV_LEASE_SYNC_ACK:
      on_ack(s, from, &m);
      break;
    case LKV_LEASE_SYNC_QUERY:
      lkv__sync_on_query(s, from, &m);
      break;
    default:
      lkv__sync_on_answer(s, from, &m);
  }
}

int lkv_lease_sync_start(lkv_lease_sync_t **out, const lkv_lease_sync_options_t *opts) {
  if (!opts || !opts->lessor || !opts->replicator || !opts->send || !opts->timeout_ms || !opts->resend_ms)
    return LKV_EINVAL;
  lkv_lease_sync_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->lessor = opts->lessor;
  s->replicator = opts->replicator;
  s->send = opts->send;
  s->send_arg = opts->send_arg;
  s->timeout_ms = opts->timeout_ms;
  s->resend_ms = opts->resend_ms;
  s->query_resend_ms = opts->query_resend_ms ? opts->query_resend_ms : opts->resend_ms;
  s->pending_tail = &s->pending;
  lkv_replication_status_t st;
  lkv_replicator_status(s->replicator, &st);
  s->self = st.member_id;
  int rc = LKV_ENOMEM;
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) goto err_after_alloc;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int cond_rc = pthread_cond_init(&s->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (cond_rc != 0) goto err_after_alloc;
  if (pthread_mutex_init(&s->mu, NULL) != 0) goto err_after_wake;
  if (pthread_create(&s->thread, NULL, thread_main, s) != 0) goto err_after_mutex;
  *out = s;
  return 0;

err_after_mutex:
  pthread_mutex_destroy(&s->mu);
err_after_wake:
  pthread_cond_destroy(&s->wake);
err_after_alloc:
  free(s);
  return rc;
}

void lkv_lease_sync_stop(lkv_lease_sync_t *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  int was = s->stopping;
  s->stopping = 1;
  pthread_cond_signal(&s->wake);
  pthread_mutex_unlock(&s->mu);
  if (was) return;
  pthread_join(s->thread, NULL);
  renewal_t *done = NULL;
  pthread_mutex_lock(&s->mu);
  fail_all(s, LKV_ESTOPPED, &done);
  pthread_mutex_unlock(&s->mu);
  complete(done);
}

void lkv_lease_sync_free(lkv_lease_sync_t *s) {
  if (!s) return;
  lkv_lease_sync_stop(s);
  lkv__sync_quorum_free(&s->query);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->wake);
  free(s);
}
