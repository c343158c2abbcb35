/* Timed signing of the ledger's tree head, shared by both replicators. */
#ifndef LKV_REPLICATION_SIGNING_H
#define LKV_REPLICATION_SIGNING_H

#include <pthread.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "replication/replication.h"

/* A head every interval when something was appended since the last one, and a last one when the
 * replicator stops (so the last head covers everything acknowledged). Signing runs on the replicator's
 * thread, the only one appending (ledger.h). Each member of a cluster signs its own heads over the
 * common tree. */
typedef struct lkv__signing_s {
  lkv_ledger_t *ledger; /* NULL: nothing to sign */
  uint64_t interval_ms;
  uint64_t next_ms;     /* monotonic deadline of the next signature */
  pthread_mutex_t lock; /* guards cb and arg */
  lkv_sign_cb cb;
  void *arg;
} lkv__signing_t;

/* ledger may be NULL; interval 0 counts as 1 ms. Returns 0 or LKV_ENOMEM. */
int lkv__signing_init(lkv__signing_t *s, lkv_ledger_t *ledger, unsigned interval_ms);
void lkv__signing_destroy(lkv__signing_t *s);

/* Sets (cb NULL: clears) the listener told of each signing attempt; see lkv_sign_cb. Any thread. */
void lkv__signing_listen(lkv__signing_t *s, lkv_sign_cb cb, void *arg);

/* Signs now if anything was appended since the last head. */
void lkv__signing_now(lkv__signing_t *s);

/* Signs if the interval has passed (then starts the next one). now_ms: CLOCK_MONOTONIC. */
void lkv__signing_due(lkv__signing_t *s, uint64_t now_ms);

#endif
