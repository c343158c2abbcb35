/* The CPU gate: a counting limit on running workers, open (lock-free) when it limits nothing. */
#include "pool/gate.h"

#include "common/clock.h"
#include "common/error.h"

int lkv_cpu_gate_init(lkv_cpu_gate_t *g, int workers) {
  if (pthread_mutex_init(&g->mu, NULL) != 0) return LKV_ENOMEM;
  if (pthread_cond_init(&g->room, NULL) != 0) {
    pthread_mutex_destroy(&g->mu);
    return LKV_ENOMEM;
  }
  g->workers = workers < 1 ? 1 : workers;
  atomic_init(&g->limit, g->workers);
  atomic_init(&g->parked, 0);
  atomic_init(&g->waited_ns, 0);
  atomic_init(&g->lowered, 0);
  atomic_init(&g->raised, 0);
  g->inside = 0;
  g->next_ticket = 0;
  g->serving = 0;
  return 0;
}

void lkv_cpu_gate_destroy(lkv_cpu_gate_t *g) {
  pthread_cond_destroy(&g->room);
  pthread_mutex_destroy(&g->mu);
}

void lkv_cpu_gate_set_limit(lkv_cpu_gate_t *g, int limit) {
  if (limit < 1) limit = 1;
  if (limit > g->workers) limit = g->workers;
  pthread_mutex_lock(&g->mu);
  int old = atomic_exchange(&g->limit, limit);
  if (limit > old) pthread_cond_broadcast(&g->room);
  if (limit != old) atomic_fetch_add(limit > old ? &g->raised : &g->lowered, 1);
  pthread_mutex_unlock(&g->mu);
}

int lkv_cpu_gate_limit(const lkv_cpu_gate_t *g) {
  return atomic_load(&((lkv_cpu_gate_t *)g)->limit);
}

int lkv_cpu_gate_enter(lkv_cpu_gate_t *g) {
  if (atomic_load_explicit(&g->limit, memory_order_relaxed) >= g->workers) return 0;
  pthread_mutex_lock(&g->mu);
  if (g->inside >= atomic_load(&g->limit) || g->serving != g->next_ticket) {
    uint64_t ticket = g->next_ticket++;
    atomic_fetch_add(&g->parked, 1);
    uint64_t since = lkv_clock_ns(CLOCK_MONOTONIC);
    while (g->inside >= atomic_load(&g->limit) || g->serving != ticket) pthread_cond_wait(&g->room, &g->mu);
    atomic_fetch_add(&g->waited_ns, lkv_clock_ns(CLOCK_MONOTONIC) - since);
    atomic_fetch_sub(&g->parked, 1);
    g->serving++;
    /* The next ticket may fit too (the limit may have grown by more than one). */
    if (g->serving != g->next_ticket) pthread_cond_broadcast(&g->room);
  }
  g->inside++;
  pthread_mutex_unlock(&g->mu);
  return 1;
}

uint64_t lkv_cpu_gate_waited_ns(const lkv_cpu_gate_t *g) {
  return atomic_load(&((lkv_cpu_gate_t *)g)->waited_ns);
}

void lkv_cpu_gate_leave(lkv_cpu_gate_t *g) {
  pthread_mutex_lock(&g->mu);
  g->inside--;
  /* Every waiter checks its ticket; there are at most as many as loop threads. */
  if (g->serving != g->next_ticket) pthread_cond_broadcast(&g->room);
  pthread_mutex_unlock(&g->mu);
}
