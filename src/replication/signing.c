/* Timed signing of the ledger's tree head. */
#include "replication/signing.h"

#include <stdio.h>

#include "common/clock.h"
#include "common/error.h"

int lkv__signing_init(lkv__signing_t *s, lkv_ledger_t *ledger, unsigned interval_ms) {
  s->ledger = ledger;
  s->interval_ms = interval_ms ? interval_ms : 1;
  s->next_ms = lkv_clock_ms(CLOCK_MONOTONIC) + s->interval_ms;
  s->cb = NULL;
  s->arg = NULL;
  return pthread_mutex_init(&s->lock, NULL) == 0 ? 0 : LKV_ENOMEM;
}

void lkv__signing_destroy(lkv__signing_t *s) {
  pthread_mutex_destroy(&s->lock);
}

void lkv__signing_listen(lkv__signing_t *s, lkv_sign_cb cb, void *arg) {
  pthread_mutex_lock(&s->lock);
  s->cb = cb;
  s->arg = arg;
  pthread_mutex_unlock(&s->lock);
}

/* A failure is reported and retried at the next interval: the entries themselves are durable, only their
 * receipts wait. */
void lkv__signing_now(lkv__signing_t *s) {
  if (!s->ledger || !lkv_ledger_needs_sign(s->ledger)) return;
  lkv_ledger_signed_head_t head;
  int rc = lkv_ledger_sign(s->ledger, lkv_clock_ms(CLOCK_REALTIME), &head);
  if (rc != 0) fprintf(stderr, "ledgerkv: cannot sign the ledger's tree head: %s\n", lkv_strerror(rc));
  pthread_mutex_lock(&s->lock);
  if (s->cb) s->cb(s->arg, rc == 0 ? &head : NULL);
  pthread_mutex_unlock(&s->lock);
}

void lkv__signing_due(lkv__signing_t *s, uint64_t now_ms) {
  if (!s->ledger || now_ms < s->next_ms) return;
  lkv__signing_now(s);
  s->next_ms = now_ms + s->interval_ms;
}
