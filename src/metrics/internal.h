/* Internal to the metrics module: the registry's and a family's layout, shared by registration and rendering.
 */
#ifndef LKV_METRICS_INTERNAL_H
#define LKV_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "metrics/metrics.h"

/* Every value is a double's bits in an atomic word: updates are one atomic operation (a compare-and-swap
 * loop for sums), never a lock. */
struct lkv_metric_s {
  lkv_metric_desc_t d;
  size_t n_series;
  size_t stride;           /* words per series: 1, or a histogram's n_bounds + 1 bucket counts and its sum */
  _Atomic uint64_t *words; /* n_series * stride; histogram bucket counts are plain integers */
  char **label_values;     /* n_series * n_labels copies, or NULL until lkv_metric_label */
  lkv_metric_t *next;
};

typedef struct lkv__collector_s {
  lkv_metrics_collect_fn fn;
  void *arg;
} lkv__collector_t;

struct lkv_metrics_s {
  pthread_mutex_t mu; /* registration, collectors, rendering; never taken by an update */
  lkv_metric_t *head, *tail;
  lkv__collector_t *collectors;
  size_t n_collectors, cap_collectors;
};

/* A series' label values (n_labels strings), or NULL while it has none. */
static inline char **lkv__metric_labels(const lkv_metric_t *m, size_t series) {
  if (m->d.n_labels == 0) return NULL;
  char **slot = &m->label_values[series * m->d.n_labels];
  return __atomic_load_n(&slot[0], __ATOMIC_ACQUIRE) ? slot : NULL;
}

/* The double stored in word w. */
double lkv__metric_load(const _Atomic uint64_t *w);

#endif
