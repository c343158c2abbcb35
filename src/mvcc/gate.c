/* The store's gate: every user of the LMDB environment passes it, so a defragment can swap the file. */
#include <errno.h>
#include <time.h>

#include "common/error.h"
#include "mvcc/internal.h"

/*
 * A defragment replaces the environment (a new, compact file) and must first see it unused: no read or
 * write transaction, no copy. Users count themselves in `active` (one atomic add: readers never take a
 * lock), and the closer raises `closing`, then waits for the count to drop to zero. Both sides write their
 * own variable before reading the other's (sequentially consistent atomics), so either the user sees the
 * gate closing and steps back, or the closer sees the user and waits for it.
 *
 * A thread that opens a second transaction while holding one would wait for a closer that waits for it:
 * the closer's wait is bounded (lkv__gate_close gives up and reopens), which also bounds how long a long
 * reader (a snapshot copy) can make everybody else wait.
 */

void lkv__gate_enter(lkv_mvcc_t *s) {
  for (;;) {
    atomic_fetch_add(&s->gate_active, 1);
    if (!atomic_load(&s->gate_closing)) return;
    lkv__gate_leave(s); /* wakes the closer if this was the last one */
    pthread_mutex_lock(&s->gate_mu);
    while (atomic_load(&s->gate_closing)) pthread_cond_wait(&s->gate_cv, &s->gate_mu);
    pthread_mutex_unlock(&s->gate_mu);
  }
}

void lkv__gate_leave(lkv_mvcc_t *s) {
  if (atomic_fetch_sub(&s->gate_active, 1) == 1 && atomic_load(&s->gate_closing)) {
    pthread_mutex_lock(&s->gate_mu);
    pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate_mu);
  }
}

int lkv__gate_close(lkv_mvcc_t *s, unsigned timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->gate_mu);
  atomic_store(&s->gate_closing, 1);
  int rc = 0;
  while (atomic_load(&s->gate_active) != 0 && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&s->gate_cv, &s->gate_mu, &until);
  int drained = atomic_load(&s->gate_active) == 0;
  pthread_mutex_unlock(&s->gate_mu);
  if (drained) return 0;
  lkv__gate_open(s);
  return LKV_EAGAIN;
}

void lkv__gate_open(lkv_mvcc_t *s) {
  pthread_mutex_lock(&s->gate_mu);
  atomic_store(&s->gate_closing, 0);
  pthread_cond_broadcast(&s->gate_cv);
  pthread_mutex_unlock(&s->gate_mu);
}
