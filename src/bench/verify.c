/* verify's timed phase: receipts already in memory verified offline, as many as the limits allow. */
#include <time.h>

#include "bench/internal.h"

void *lkv__bench_verify_main(void *arg) {
  lkv__bench_thread_t *t = arg;
  const lkv__bench_shared_t *sh = t->sh;
  atomic_fetch_add(&t->sh->ready, 1);
  while (!atomic_load(&t->sh->go)) { /* the runner releases every thread at once */
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  uint64_t now = lkv__bench_now_ns(), ticket;
  while (lkv__bench_claim(t, now, &ticket)) {
    /* What is timed is exactly the check a client makes: leaf hash, inclusion proof, head signature. */
    const lkv_ledger_receipt_t *r = &sh->receipts[ticket % sh->n_receipts];
    t->stats.sent++;
    int rc = lkv_ledger_receipt_verify(r, sh->trusted_key);
    lkv__bench_record(t, rc == 0 ? LKV_GRPC_OK : LKV_BENCH_BAD_RECEIPT,
                      rc == 0 ? NULL : "receipt does not verify", now);
    now = t->last_ns; /* one clock read per verification: this one's end is the next one's start */
  }
  atomic_store(&t->finished, 1);
  return NULL;
}
