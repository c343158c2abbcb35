/* The CPU gate: at most `limit` worker threads run at once; the others wait at the gate (parked). */
#ifndef LKV_POOL_GATE_H
#define LKV_POOL_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/*
 * A worker passes the gate (lkv_cpu_gate_enter) before it processes a round of work and leaves it
 * (lkv_cpu_gate_leave) when the round is finished, so a round always runs to completion and never competes
 * with more than `limit` runnable workers. The controller moves the limit; lowering it parks workers as they
 * finish their rounds, raising it wakes them. While the limit is at least the number of workers the gate is
 * open and costs an atomic load. A worker that passed an open gate is not counted inside, so right after
 * the limit drops, up to one extra round per such worker may overlap; from their next round on they count.
 *
 * Waiters pass in arrival order (tickets): a worker that leaves and comes straight back queues behind
 * those already waiting. Without that, a busy worker re-took the mutex before the one it woke, and a
 * connection on the other thread waited seconds (bench/pool, max latency 4.6 s in a 1-CPU cgroup).
 */
typedef struct lkv_cpu_gate_s {
  pthread_mutex_t mu;
  pthread_cond_t room;
  atomic_int limit;               /* workers allowed inside */
  int inside;                     /* workers inside (guarded by mu) */
  uint64_t next_ticket;           /* the ticket the next worker to wait takes (guarded by mu) */
  uint64_t serving;               /* the ticket of the waiter whose turn it is (guarded by mu) */
  int workers;                    /* workers that use the gate */
  atomic_int parked;              /* workers waiting at the gate right now (for metrics and tests) */
  atomic_uint_fast64_t waited_ns; /* all the time workers have waited at the gate (with work to do) */
  atomic_uint_fast64_t lowered;   /* lkv_cpu_gate_set_limit calls that lowered the limit (parked workers) */
  atomic_uint_fast64_t raised;    /* and that raised it (let parked workers run again) */
} lkv_cpu_gate_t;

/* Initialises g for `workers` threads with every worker allowed (an open gate). Returns 0 or LKV_ENOMEM. */
int lkv_cpu_gate_init(lkv_cpu_gate_t *g, int workers);

/* Destroys g; no thread may be at or inside the gate. */
void lkv_cpu_gate_destroy(lkv_cpu_gate_t *g);

/* Sets how many workers may be inside (clamped to [1, workers]) and wakes waiters if it grew; counts the
 * change in g->lowered or g->raised (the pool's decisions, read by the metrics). Any thread. */
void lkv_cpu_gate_set_limit(lkv_cpu_gate_t *g, int limit);

/* Current limit. */
int lkv_cpu_gate_limit(const lkv_cpu_gate_t *g);

/* Enters the gate, waiting while `limit` workers are inside or others wait before it. Returns 1 when the caller must call
 * lkv_cpu_gate_leave after its round (the gate was closed enough to count), 0 when the gate was open and
 * nothing is to be left. */
int lkv_cpu_gate_enter(lkv_cpu_gate_t *g);

/* Nanoseconds workers have spent waiting at the gate since init, summed over workers (a worker only
 * comes to the gate with work, so this is work held back). Any thread. */
uint64_t lkv_cpu_gate_waited_ns(const lkv_cpu_gate_t *g);

/* Leaves the gate after a round entered with a 1 from lkv_cpu_gate_enter. */
void lkv_cpu_gate_leave(lkv_cpu_gate_t *g);

#endif
