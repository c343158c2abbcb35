/* The store's checkpoints, taken on their own thread every --ledger-checkpoint-interval. */
#include "server/checkpointer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/error.h"

struct lkv__checkpointer_s {
  lkv_mvcc_t *store;
  unsigned interval_s;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  atomic_int stop;
};

/* Sleeps interval_s unless stopped; returns 1 when stopped. */
static int wait_interval(lkv__checkpointer_t *c) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += c->interval_s;
  pthread_mutex_lock(&c->mu);
  while (!atomic_load(&c->stop) && pthread_cond_timedwait(&c->wake, &c->mu, &until) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&c->mu);
  return atomic_load(&c->stop);
}

static void *checkpointer_main(void *arg) {
  lkv__checkpointer_t *c = arg;
  int64_t last_rev = 0;
  while (!wait_interval(c)) {
    lkv_mvcc_stat_t st;
    if (lkv_mvcc_stat(c->store, &st) != 0 || st.revision == last_rev) continue;
    int rc = lkv_mvcc_checkpoint(c->store, &c->stop);
    if (rc == 0)
      last_rev = st.revision;
    else if (rc == LKV_ECANCELED)
      fprintf(stderr,
              "ledgerkv: checkpoint abandoned: writes during the copy grew the store file by a quarter "
              "of the quota (a rebuild would start from the previous one)\n");
    else if (rc != LKV_ESTOPPED)
      fprintf(stderr,
              "ledgerkv: cannot checkpoint the store: %s (a rebuild would start from the previous one)\n",
              lkv_strerror(rc));
  }
  return NULL;
}

int lkv__checkpointer_start(lkv__checkpointer_t **out, lkv_mvcc_t *store, unsigned interval_s) {
  lkv__checkpointer_t *c = calloc(1, sizeof(*c));
  if (!c) return LKV_ENOMEM;
  c->store = store;
  c->interval_s = interval_s;
  if (pthread_mutex_init(&c->mu, NULL) != 0) goto err_after_alloc;
  if (pthread_cond_init(&c->wake, NULL) != 0) goto err_after_mutex;
  if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) goto err_after_cond;
  *out = c;
  return 0;
err_after_cond:
  pthread_cond_destroy(&c->wake);
err_after_mutex:
  pthread_mutex_destroy(&c->mu);
err_after_alloc:
  free(c);
  return LKV_ENOMEM;
}

void lkv__checkpointer_stop(lkv__checkpointer_t *c) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->stop, 1);
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->mu);
  free(c);
}
