/* The store's checkpoints, taken on their own thread every --ledger-checkpoint-interval. */
#include "server/checkpointer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/sleeper.h"

struct lkv__checkpointer_s {
  lkv_mvcc_t *store;
  lkv_ledger_t *ledger;
  unsigned interval_s; /* 0: only when kicked */
  void (*published)(void *arg);
  void *published_arg;
  atomic_int kicked;
  pthread_t thread;
  lkv_sleeper_t sleeper; /* between copies; its stop flag also ends a copy in progress */
};

static int flush_ledger(void *arg) {
  return arg ? lkv_ledger_flush(arg) : 0;
}

/* Sleeps until the interval is over or a kick arrives (*kicked = 1); 1 when stopped. */
static int wait_round(lkv__checkpointer_t *c, int *kicked) {
  uint64_t slept = 0, limit = c->interval_s ? (uint64_t)c->interval_s * 1000u : UINT64_MAX;
  *kicked = 0;
  while (slept < limit && !(*kicked = atomic_exchange(&c->kicked, 0))) {
    if (lkv_sleeper_sleep_ms(&c->sleeper, 100)) return 1;
    slept += 100;
  }
  return atomic_load(&c->sleeper.stop);
}

static void *checkpointer_main(void *arg) {
  lkv__checkpointer_t *c = arg;
  int64_t last_rev = 0;
  int kicked;
  while (!wait_round(c, &kicked)) {
    /* A copy asked for is made even without a new revision: the asker's index moved (membership). */
    lkv_mvcc_stat_t st;
    if (lkv_mvcc_stat(c->store, &st) != 0 || (!kicked && st.revision == last_rev)) continue;
    int rc = lkv_mvcc_checkpoint_before(c->store, &c->sleeper.stop, flush_ledger, c->ledger);
    /* Retention drops only records a rebuild from this copy no longer replays (docs/ledger.md). */
    int retain = rc == 0 && c->ledger ? lkv_ledger_apply_retention(c->ledger, st.revision) : 0;
    if (retain)
      fprintf(stderr, "ledgerkv: cannot drop ledger records older than the retention: %s\n",
              lkv_strerror(retain));
    if (rc == 0) {
      last_rev = st.revision;
      if (c->published) c->published(c->published_arg);
    } else if (rc == LKV_ECANCELED) {
      fprintf(stderr,
              "ledgerkv: checkpoint abandoned: writes during the copy grew the store file by a quarter "
              "of the quota (a rebuild would start from the previous one)\n");
    } else if (rc != LKV_ESTOPPED && rc != LKV_EAGAIN) { /* EAGAIN: a newer copy was installed */
      fprintf(stderr,
              "ledgerkv: cannot checkpoint the store: %s (a rebuild would start from the previous one)\n",
              lkv_strerror(rc));
    }
  }
  return NULL;
}

void lkv__checkpointer_kick(lkv__checkpointer_t *c) {
  atomic_store(&c->kicked, 1);
}

int lkv__checkpointer_start(lkv__checkpointer_t **out, lkv_mvcc_t *store, lkv_ledger_t *ledger,
                            unsigned interval_s, void (*published)(void *arg), void *arg) {
  lkv__checkpointer_t *c = calloc(1, sizeof(*c));
  if (!c) return LKV_ENOMEM;
  c->store = store;
  c->ledger = ledger;
  c->interval_s = interval_s;
  c->published = published;
  c->published_arg = arg;
  if (lkv_sleeper_init(&c->sleeper) != 0) goto err_after_alloc;
  if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) goto err_after_sleeper;
  *out = c;
  return 0;
err_after_sleeper:
  lkv_sleeper_destroy(&c->sleeper);
err_after_alloc:
  free(c);
  return LKV_ENOMEM;
}

void lkv__checkpointer_stop(lkv__checkpointer_t *c) {
  if (!c) return;
  lkv_sleeper_stop(&c->sleeper);
  pthread_join(c->thread, NULL);
  lkv_sleeper_destroy(&c->sleeper);
  free(c);
}
