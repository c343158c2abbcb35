/* The metrics registry: families registered with their series fixed, lock-free updates, collectors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/grow.h"
#include "metrics/internal.h"

const double lkv_metrics_disk_buckets[LKV_METRICS_DISK_BUCKETS] = {
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192};
const double lkv_metrics_rtt_buckets[LKV_METRICS_RTT_BUCKETS] = {
    0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128,
    0.0256, 0.0512, 0.1024, 0.2048, 0.4096, 0.8192, 1.6384, 3.2768};
const double lkv_metrics_ttl_buckets[LKV_METRICS_TTL_BUCKETS] = {
    1,    2,    4,     8,     16,    32,     64,     128,    256,     512,     1024,    2048,
    4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608};
const double lkv_metrics_defrag_buckets[LKV_METRICS_DEFRAG_BUCKETS] = {
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6};
const double lkv_metrics_def_buckets[LKV_METRICS_DEF_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                 0.5,   1,    2.5,   5,    10};

static uint64_t to_bits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof(b));
  return b;
}

double lkv__metric_load(const _Atomic uint64_t *w) {
  uint64_t b = atomic_load_explicit(w, memory_order_relaxed);
  double v;
  memcpy(&v, &b, sizeof(v));
  return v;
}

int lkv_metrics_new(lkv_metrics_t **out) {
  lkv_metrics_t *reg = calloc(1, sizeof(*reg));
  if (!reg) return LKV_ENOMEM;
  pthread_mutex_init(&reg->mu, NULL);
  *out = reg;
  return 0;
}

static void free_metric(lkv_metric_t *m) {
  if (m->label_values)
    for (size_t i = 0; i < m->n_series * m->d.n_labels; i++) free(m->label_values[i]);
  free(m->label_values);
  free(m->words);
  free(m);
}

void lkv_metrics_free(lkv_metrics_t *reg) {
  if (!reg) return;
  for (lkv_metric_t *m = reg->head, *next; m; m = next) {
    next = m->next;
    free_metric(m);
  }
  free(reg->collectors);
  pthread_mutex_destroy(&reg->mu);
  free(reg);
}

static lkv_metrics_t *global;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void make_global(void) {
  if (lkv_metrics_new(&global) != 0) global = NULL;
}

lkv_metrics_t *lkv_metrics_global(void) {
  pthread_once(&global_once, make_global);
  return global;
}

static int valid_name(const char *s, int colon_ok) {
  if (!s || !*s) return 0;
  for (const char *p = s; *p; p++) {
    int alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (colon_ok && *p == ':');
    if (!alpha && !(p > s && *p >= '0' && *p <= '9')) return 0;
  }
  return 1;
}

static int valid_desc(const lkv_metric_desc_t *d) {
  if (!valid_name(d->name, 1) || !d->help) return 0;
  if (d->n_labels && !d->n_series) return 0;
  for (size_t i = 0; i < d->n_labels; i++)
    if (!valid_name(d->label_names[i], 0) || strcmp(d->label_names[i], "le") == 0) return 0;
  if (d->type != LKV_METRIC_HISTOGRAM) return d->n_bounds == 0;
  for (size_t i = 0; i < d->n_bounds; i++)
    if (!isfinite(d->bounds[i]) || (i > 0 && d->bounds[i] <= d->bounds[i - 1])) return 0;
  return 1;
}

static int name_taken(const lkv_metrics_t *reg, const char *name) {
  for (const lkv_metric_t *m = reg->head; m; m = m->next)
    if (strcmp(m->d.name, name) == 0) return 1;
  return 0;
}

int lkv_metrics_add(lkv_metrics_t *reg, const lkv_metric_desc_t *d, lkv_metric_t **out) {
  if (!valid_desc(d)) return LKV_EINVAL;
  lkv_metric_t *m = calloc(1, sizeof(*m));
  if (!m) return LKV_ENOMEM;
  m->d = *d;
  m->n_series = d->n_labels ? d->n_series : 1;
  m->stride = d->type == LKV_METRIC_HISTOGRAM ? d->n_bounds + 2 : 1;
  m->words = calloc(m->n_series * m->stride, sizeof(*m->words)); /* all zero: 0.0 and count 0 */
  if (d->n_labels) m->label_values = calloc(m->n_series * d->n_labels, sizeof(char *));
  if (!m->words || (d->n_labels && !m->label_values)) {
    free_metric(m);
    return LKV_ENOMEM;
  }
  pthread_mutex_lock(&reg->mu);
  int taken = name_taken(reg, d->name);
  if (!taken) {
    if (reg->tail)
      reg->tail->next = m;
    else
      reg->head = m;
    reg->tail = m;
  }
  pthread_mutex_unlock(&reg->mu);
  if (taken) {
    free_metric(m);
    return LKV_EINVAL;
  }
  *out = m;
  return 0;
}

int lkv_metric_label(lkv_metric_t *m, size_t series, const char *const *values) {
  if (!m || series >= m->n_series || m->d.n_labels == 0 || lkv__metric_labels(m, series)) return LKV_EINVAL;
  char **slot = &m->label_values[series * m->d.n_labels];
  for (size_t i = m->d.n_labels; i-- > 0;) { /* slot 0 last: it marks the series labelled (scrapes) */
    char *copy = strdup(values[i]);
    if (!copy) {
      for (size_t j = i + 1; j < m->d.n_labels; j++) {
        free(slot[j]);
        slot[j] = NULL;
      }
      return LKV_ENOMEM;
    }
    __atomic_store_n(&slot[i], copy, __ATOMIC_RELEASE);
  }
  return 0;
}

/* Adds v to the double in w (compare-and-swap: lock-free, and uncontended it costs one atomic add). */
static void add_double(_Atomic uint64_t *w, double v) {
  uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
  for (;;) {
    double cur;
    memcpy(&cur, &old, sizeof(cur));
    if (atomic_compare_exchange_weak_explicit(w, &old, to_bits(cur + v), memory_order_relaxed,
                                              memory_order_relaxed))
      return;
  }
}

void lkv_metric_add(lkv_metric_t *m, size_t series, double v) {
  if (!m || series >= m->n_series || m->d.type == LKV_METRIC_HISTOGRAM) return;
  add_double(&m->words[series], v);
}

void lkv_metric_inc(lkv_metric_t *m, size_t series) {
  lkv_metric_add(m, series, 1);
}

void lkv_metric_set(lkv_metric_t *m, size_t series, double v) {
  if (!m || series >= m->n_series || m->d.type == LKV_METRIC_HISTOGRAM) return;
  atomic_store_explicit(&m->words[series], to_bits(v), memory_order_relaxed);
}

void lkv_metric_observe(lkv_metric_t *m, size_t series, double v) {
  if (!m || series >= m->n_series || m->d.type != LKV_METRIC_HISTOGRAM) return;
  _Atomic uint64_t *w = &m->words[series * m->stride];
  size_t b = 0;
  while (b < m->d.n_bounds && v > m->d.bounds[b]) b++; /* Prometheus buckets: v <= le */
  atomic_fetch_add_explicit(&w[b], 1, memory_order_relaxed);
  add_double(&w[m->d.n_bounds + 1], v);
}

void lkv_metric_observe_since(lkv_metric_t *m, size_t series, uint64_t start_ns) {
  if (m) lkv_metric_observe(m, series, (double)(lkv_clock_ns(CLOCK_MONOTONIC) - start_ns) / 1e9);
}

double lkv_metric_value(const lkv_metric_t *m, size_t series) {
  if (!m || series >= m->n_series) return 0;
  if (m->d.type == LKV_METRIC_HISTOGRAM)
    return lkv__metric_load(&m->words[series * m->stride + m->d.n_bounds + 1]);
  return lkv__metric_load(&m->words[series]);
}

uint64_t lkv_metric_count(const lkv_metric_t *m, size_t series) {
  if (!m || series >= m->n_series || m->d.type != LKV_METRIC_HISTOGRAM) return 0;
  uint64_t n = 0;
  for (size_t b = 0; b <= m->d.n_bounds; b++)
    n += atomic_load_explicit(&m->words[series * m->stride + b], memory_order_relaxed);
  return n;
}

int lkv_metrics_on_collect(lkv_metrics_t *reg, lkv_metrics_collect_fn fn, void *arg) {
  pthread_mutex_lock(&reg->mu);
  int rc = lkv_grow((void **)&reg->collectors, &reg->cap_collectors, reg->n_collectors + 1,
                    sizeof(*reg->collectors));
  if (rc == 0) reg->collectors[reg->n_collectors++] = (lkv__collector_t){fn, arg};
  pthread_mutex_unlock(&reg->mu);
  return rc;
}

void lkv_metrics_remove_collector(lkv_metrics_t *reg, lkv_metrics_collect_fn fn, void *arg) {
  pthread_mutex_lock(&reg->mu);
  for (size_t i = 0; i < reg->n_collectors; i++) {
    if (reg->collectors[i].fn == fn && reg->collectors[i].arg == arg) {
      memmove(&reg->collectors[i], &reg->collectors[i + 1],
              (reg->n_collectors - i - 1) * sizeof(*reg->collectors));
      reg->n_collectors--;
      break;
    }
  }
  pthread_mutex_unlock(&reg->mu);
}
