/* The worker pool's controller thread: follows the CPU budget and the neighbours, and moves the gate. */
#ifndef LKV_POOL_POOL_H
#define LKV_POOL_POOL_H

#include "pool/controller.h"
#include "pool/gate.h"

/*
 * The pool does not own the worker threads (the transport's loop threads are the workers); it owns the
 * gate they pass before each round of work, and a small thread that every period samples the CPU clocks,
 * re-reads the CPU budget (quotas change at run time) and sets the gate's limit from lkv_pool_fit_step
 * (fit.h: the budget, plus workers while the quota has room the cores do not give; a quota lowered at run
 * time parks the workers beyond it at once); when neighbour-aware, lkv_pool_ctl_step may park more. With
 * neither the gate stays open and no thread runs. Give the pool more workers than the budget (say, one
 * per CPU of the affinity mask) so that both decisions have room above it.
 */

typedef struct lkv_pool_options_s {
  int workers;         /* worker threads that will use the gate, >= 1 */
  int neighbour_aware; /* 1: park workers while neighbours use the CPUs of the budget (controller.h) */
  int follow_budget;   /* 1: fit the running workers to the CPU budget (fit.h), re-read every 10 periods */
  int period_ms;       /* sampling period; <= 0 means LKV_POOL_DEFAULT_PERIOD_MS */
  double overcommit;   /* see lkv_pool_ctl_t; < 1.0 means 1.0 */
  const char *root;    /* filesystem root for /proc and cgroups; NULL means "/" */
} lkv_pool_options_t;

#define LKV_POOL_DEFAULT_PERIOD_MS 100

typedef struct lkv_pool_s lkv_pool_t;

/* Creates the gate and, when neighbour-aware or following the budget, starts the controller thread. The
 * gate starts open, or at the budget when following it. Returns 0 and sets *out, or LKV_EINVAL /
 * LKV_ENOMEM. */
int lkv_pool_start(lkv_pool_t **out, const lkv_pool_options_t *opts);

/* The gate workers pass; valid until lkv_pool_stop. */
lkv_cpu_gate_t *lkv_pool_gate(lkv_pool_t *p);

/* Workers currently allowed to run (the gate's limit). */
int lkv_pool_active(const lkv_pool_t *p);

/* Stops the controller thread and opens the gate for good, waking parked workers (so that they can see
 * a shutdown request). Workers may still use the gate afterwards. */
void lkv_pool_stop(lkv_pool_t *p);

/* Frees p after lkv_pool_stop, once no worker uses the gate any more. NULL is ignored. */
void lkv_pool_free(lkv_pool_t *p);

#endif
