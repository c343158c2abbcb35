/* Timed signing of the ledger's tree head, shared by both replicators. */
#ifndef LKV_REPLICATION_SIGNING_H
#define LKV_REPLICATION_SIGNING_H

#include <pthread.h>
#include <stdint.h>

#include "ledger/ledger.h"
#include "replication/replication.h"

/* A head every interval when something was appended since the last one, and a last one when the
 * replicator stops (so the last head covers everything acknowledged). The replicator's thread, the only
 * one appending (ledger.h), takes the head; a signing thread of its own (started at the first signature)
 * flushes the ledger's files, signs and stores it, so that a write waits for none of those flushes: on the
 * replicator's thread they stalled every write for a few ms (tens on a busy disk) each interval
 * (docs/performance.md). Each member of a cluster signs its own heads over the common tree. */
typedef struct lkv__signing_s {
  lkv_ledger_t *ledger; /* NULL: nothing to sign */
  uint64_t interval_ms;
  uint64_t next_ms;     /* monotonic deadline of the next signature */
  pthread_mutex_t lock; /* guards cb and arg */
  lkv_sign_cb cb;
  void *arg;
  pthread_mutex_t mu; /* guards the fields below */
  pthread_cond_t cv;
  pthread_t thread;
  int started, stop;
  int state; /* 0 idle, 1 job handed over, 2 the thread is finishing it */
  lkv_ledger_sign_job_t job;
} lkv__signing_t;

/* ledger may be NULL; interval 0 counts as 1 ms. Returns 0 or LKV_ENOMEM. */
int lkv__signing_init(lkv__signing_t *s, lkv_ledger_t *ledger, unsigned interval_ms);
/* Stops the signing thread (after the signature it is finishing, if any). */
void lkv__signing_destroy(lkv__signing_t *s);

/* Sets (cb NULL: clears) the listener told of each signing attempt; see lkv_sign_cb. Any thread. */
void lkv__signing_listen(lkv__signing_t *s, lkv_sign_cb cb, void *arg);

/* Signs now, on the calling thread, if anything was appended since the last head (after the signature in
 * progress on the signing thread, if any). Replicator's thread. */
void lkv__signing_now(lkv__signing_t *s);

/* Hands a head to the signing thread if the interval has passed and the previous one is done (then starts
 * the next interval). Replicator's thread; now_ms: CLOCK_MONOTONIC. */
void lkv__signing_due(lkv__signing_t *s, uint64_t now_ms);

#endif
