/* Streams whose token names a log index this member has not applied yet (a simple token from an
 * Authenticate on another member): held back, as lkv__auth_defer holds a unary call, until a read barrier
 * passed; their messages, half-close and cancellation then replayed in order on the call's loop thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "common/error.h"

/* What one waiting stream may hold: a client that sends more meanwhile gets RESOURCE_EXHAUSTED. */
#define HELD_BYTES_MAX (4u << 20)

typedef struct held_msg_s {
  struct held_msg_s *next;
  size_t len;
  uint8_t data[];
} held_msg_t;

typedef struct waiting_s {
  struct waiting_s *next; /* the registry */
  lkv_api_t *api;
  lkv_call_t *call;
  const void *route;
  const lkv__auth_stream_ops_t *ops;
  held_msg_t *head, **last; /* last: where the next one goes */
  size_t bytes;
  int half_closed, cancelled, overflow;
  int err; /* the barrier's */
} waiting_t;

/* Every waiting stream, found by its call: a list, as streams wait only for the moments after their
 * client authenticated elsewhere; n_waiting lets every other stream message pass without the lock. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static waiting_t *waiting;
static atomic_int n_waiting;

/* The waiting stream of call (under mu), removed from the registry when take is set; NULL when it does
 * not wait. */
static waiting_t *find_locked(lkv_call_t *call, int take) {
  waiting_t **p = &waiting;
  while (*p && (*p)->call != call) p = &(*p)->next;
  waiting_t *w = *p;
  if (w && take) {
    *p = w->next;
    atomic_fetch_sub(&n_waiting, 1);
  }
  return w;
}

/* find_locked for a stream that is known to wait: the registry gives it up. */
static waiting_t *take(lkv_call_t *call) {
  pthread_mutex_lock(&mu);
  waiting_t *w = find_locked(call, 1);
  pthread_mutex_unlock(&mu);
  return w;
}

static void add(waiting_t *w) {
  pthread_mutex_lock(&mu);
  w->next = waiting;
  waiting = w;
  atomic_fetch_add(&n_waiting, 1);
  pthread_mutex_unlock(&mu);
}

/* Keeps a copy of a message (its order is the arrival order); beyond the bound, or without memory, the
 * stream is failed when it resumes. */
static void keep(waiting_t *w, const uint8_t *data, size_t len) {
  held_msg_t *m = w->overflow || w->bytes + len > HELD_BYTES_MAX ? NULL : malloc(sizeof(*m) + len);
  w->overflow = m == NULL;
  if (!m) return;
  *m = (held_msg_t){.len = len};
  if (len) memcpy(m->data, data, len);
  *w->last = m;
  w->last = &m->next;
  w->bytes += len;
}

static void waiting_free(waiting_t *w) {
  while (w->head) {
    held_msg_t *m = w->head;
    w->head = m->next;
    free(m);
  }
  free(w);
}

/* On the call's loop thread, once the barrier passed (or failed): what the stream received meanwhile, in
 * order. A client that left gets the route's cancellation alone (the handler finishes the call). */
static void resume(lkv_call_t *call, void *arg) {
  waiting_t *w = arg;
  (void)take(call); /* w: the registry held it until here */
  if (w->cancelled) {
    w->ops->cancel(w->api, w->route, call);
  } else if (w->err || w->overflow) {
    lkv__api_fail(call, w->err ? w->err : LKV_ENOMEM);
  } else {
    for (held_msg_t *m = w->head; m; m = m->next) w->ops->message(w->api, w->route, call, m->data, m->len);
    if (w->half_closed) w->ops->half_close(w->api, w->route, call);
  }
  waiting_free(w);
}

/* The replicator's thread: the stream goes back to its loop thread. */
static void barrier_passed(void *arg, int err) {
  waiting_t *w = arg;
  w->err = err;
  if (lkv_call_run(w->call, resume, w) == 0) return;
  /* No memory to go back: failed from here, as lkv__auth_defer fails (a message that arrives before the
   * finish is applied reaches the handler). Taken under the lock: the loop thread no longer adds to it. */
  lkv_call_t *call = w->call;
  waiting_free(take(call));
  lkv__api_fail(call, LKV_ENOMEM);
}

int lkv__auth_stream_hold(lkv_api_t *api, lkv_call_t *call, const lkv__auth_stream_ops_t *ops,
                          const void *route, const uint8_t *data, size_t len) {
  if (atomic_load(&n_waiting) > 0) {
    pthread_mutex_lock(&mu);
    waiting_t *w = find_locked(call, 0);
    if (w) keep(w, data, len); /* under the lock: the replicator's thread may take it on a failure */
    pthread_mutex_unlock(&mu);
    if (w) return 1;
  }
  if (!lkv__auth_token_ahead(api, call)) return 0;
  waiting_t *w = calloc(1, sizeof(*w));
  if (!w) return 0; /* then the stream runs now, and its token is unknown as yet */
  *w = (waiting_t){.api = api, .call = call, .route = route, .ops = ops};
  w->last = &w->head;
  keep(w, data, len);
  add(w);
  if (lkv_replicator_read_barrier(api->replicator, barrier_passed, w) == 0) return 1;
  waiting_free(take(call));
  return 0;
}

int lkv__auth_stream_end(lkv_call_t *call, int cancel) {
  if (atomic_load(&n_waiting) == 0) return 0;
  pthread_mutex_lock(&mu);
  waiting_t *w = find_locked(call, 0);
  if (w && cancel) w->cancelled = 1;
  if (w && !cancel) w->half_closed = 1;
  pthread_mutex_unlock(&mu);
  return w != NULL;
}
