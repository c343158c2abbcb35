/* Running a bench: client threads, the start barrier, the progress line, the merged result. */
#ifndef LKV_BENCH_RUN_H
#define LKV_BENCH_RUN_H

#include <stdio.h>

#include "bench/args.h"
#include "bench/stats.h"

/* Runs the workload cfg describes and fills *res (initialised here; free it with lkv_bench_result_free,
 * also after a failure). Each thread connects, sets up (watchers, leases) and waits; the load starts on all
 * threads at once and ends after cfg->total requests or cfg->duration_ms, or at lkv_bench_interrupt (the
 * requests in flight are still awaited, up to 10 s). Failed requests are counted in the result, not returned.
 * When progress is not NULL, a progress line is written to it every second (refreshed in place on a
 * terminal). receipt and verify first wait (within the setup) for a signed head covering the store's
 * revision; verify then runs in two phases: its threads fetch the receipts (cfg->total and duration_ms do
 * not apply), and once all arrived, fresh threads verify them offline within cfg->total / duration_ms;
 * the result counts the verifications (fetch failures abort it and stay counted). Returns 0 when a
 * result was produced, also when the run was aborted because a connection or the setup failed
 * (res->aborted says why); LKV_ENOMEM or a negative errno code (thread creation) otherwise. */
int lkv_bench_run(const lkv_bench_config_t *cfg, lkv_bench_result_t *res, FILE *progress);

/* Asks the running bench to stop early (res->interrupted is then set). Async-signal-safe. */
void lkv_bench_interrupt(void);

#endif
