/* The controller thread: every period, sample, decide, and set the gate's limit. */
#include "pool/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "pool/cpu_budget.h"

/* The budget is re-read every this many periods: a handful of small files, but no need to do it 10x/s. */
#define LKV__POOL_BUDGET_EVERY 10

struct lkv_pool_s {
  lkv_cpu_gate_t gate;
  lkv_pool_ctl_t ctl;
  const char *root;
  int period_ms;
  int neighbour_aware;
  int running; /* the thread was started and not yet joined */
  pthread_t thread;
  pthread_mutex_t mu; /* guards stop */
  pthread_cond_t wake;
  int stop;
};

static int read_budget(const lkv_pool_t *p) {
  lkv_cpu_budget_t b;
  int aff = lkv_cpu_budget_affinity();
  if (aff < 1 || lkv_cpu_budget_read(p->root, aff, &b) != 0) return p->ctl.budget;
  return b.cpus;
}

/* Sleeps one period; returns 1 when asked to stop. */
static int wait_period(lkv_pool_t *p) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += (long)p->period_ms * 1000000L;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  pthread_mutex_lock(&p->mu);
  while (!p->stop && pthread_cond_timedwait(&p->wake, &p->mu, &until) != ETIMEDOUT) {
  }
  int stop = p->stop;
  pthread_mutex_unlock(&p->mu);
  return stop;
}

/* Reads the CPU clocks and stamps the reading with the time and the gate's waiting. */
static int read_sample(lkv_pool_t *p, lkv_cpu_sample_t *out) {
  int rc = lkv_cpu_sample_read(p->root, out);
  out->at_ns = lkv_clock_ns(CLOCK_MONOTONIC);
  out->gate_wait_ns = lkv_cpu_gate_waited_ns(&p->gate);
  return rc;
}

static void *controller_main(void *arg) {
  lkv_pool_t *p = arg;
  lkv_cpu_sample_t prev, cur;
  int have_prev = read_sample(p, &prev) == 0;
  for (unsigned n = 1; !wait_period(p); n++) {
    if (n % LKV__POOL_BUDGET_EVERY == 0) {
      p->ctl.budget = read_budget(p);
      if (!p->neighbour_aware) lkv_cpu_gate_set_limit(&p->gate, p->ctl.budget);
    }
    if (!p->neighbour_aware) continue;
    if (read_sample(p, &cur) != 0) continue; /* keep the last decision */
    if (have_prev) lkv_cpu_gate_set_limit(&p->gate, lkv_pool_ctl_step(&p->ctl, &prev, &cur));
    prev = cur;
    have_prev = 1;
  }
  return NULL;
}

int lkv_pool_start(lkv_pool_t **out, const lkv_pool_options_t *opts) {
  if (!out || !opts || opts->workers < 1) return LKV_EINVAL;
  lkv_pool_t *p = calloc(1, sizeof(*p));
  if (!p) return LKV_ENOMEM;
  p->root = opts->root ? opts->root : "/";
  p->period_ms = opts->period_ms > 0 ? opts->period_ms : LKV_POOL_DEFAULT_PERIOD_MS;
  if (lkv_cpu_gate_init(&p->gate, opts->workers) != 0) goto err_after_alloc;
  if (pthread_mutex_init(&p->mu, NULL) != 0) goto err_after_gate;
  if (pthread_cond_init(&p->wake, NULL) != 0) goto err_after_mutex;
  lkv_pool_ctl_init(&p->ctl, opts->workers, opts->workers, opts->overcommit);
  p->ctl.budget = read_budget(p);
  p->neighbour_aware = opts->neighbour_aware != 0;
  if (opts->neighbour_aware || opts->follow_budget) {
    if (pthread_create(&p->thread, NULL, controller_main, p) != 0) goto err_after_cond;
    p->running = 1;
  }
  *out = p;
  return 0;
err_after_cond:
  pthread_cond_destroy(&p->wake);
err_after_mutex:
  pthread_mutex_destroy(&p->mu);
err_after_gate:
  lkv_cpu_gate_destroy(&p->gate);
err_after_alloc:
  free(p);
  return LKV_ENOMEM;
}

lkv_cpu_gate_t *lkv_pool_gate(lkv_pool_t *p) {
  return &p->gate;
}

int lkv_pool_active(const lkv_pool_t *p) {
  return lkv_cpu_gate_limit(&p->gate);
}

void lkv_pool_stop(lkv_pool_t *p) {
  if (p->running) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->running = 0;
  }
  lkv_cpu_gate_set_limit(&p->gate, p->gate.workers);
}

void lkv_pool_free(lkv_pool_t *p) {
  if (!p) return;
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  lkv_cpu_gate_destroy(&p->gate);
  free(p);
}
