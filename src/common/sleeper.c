/* A background thread's sleep between rounds that another thread can cut short to stop it. */
#include "common/sleeper.h"

#include <errno.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"

int lkv_sleeper_init(lkv_sleeper_t *s) {
  if (pthread_mutex_init(&s->mu, NULL) != 0) return LKV_ENOMEM;
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) goto err_after_mutex;
  int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0) rc = pthread_cond_init(&s->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (rc != 0) goto err_after_mutex;
  atomic_init(&s->stop, 0);
  return 0;
err_after_mutex:
  pthread_mutex_destroy(&s->mu);
  return LKV_ENOMEM;
}

void lkv_sleeper_destroy(lkv_sleeper_t *s) {
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->mu);
}

int lkv_sleeper_sleep_ms(lkv_sleeper_t *s, uint64_t ms) {
  uint64_t due = lkv_clock_ns(CLOCK_MONOTONIC) + ms * 1000000u;
  struct timespec until = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)};
  pthread_mutex_lock(&s->mu);
  while (!atomic_load(&s->stop) && pthread_cond_timedwait(&s->wake, &s->mu, &until) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&s->mu);
  return atomic_load(&s->stop);
}

void lkv_sleeper_stop(lkv_sleeper_t *s) {
  pthread_mutex_lock(&s->mu);
  atomic_store(&s->stop, 1);
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->mu);
}
