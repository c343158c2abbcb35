/* A Prometheus metrics registry: counters, gauges and histograms updated lock-free from any thread. */
#ifndef LKV_METRICS_METRICS_H
#define LKV_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/*
 * A registry holds metric families in registration order. A family has a name, a help text, a type, a fixed
 * list of label names and a fixed number of series (one per combination of label values the owner will
 * use), all chosen at registration: updating a series is an atomic operation on memory that never moves,
 * with no lock and no allocation, so any thread may update any series at any time.
 *
 * Values are doubles (integers are exact up to 2^53). Histograms count observations per bucket (upper
 * bounds ascending, +Inf implied) and keep their sum; a scrape racing an observation may see the bucket
 * count and the sum of slightly different moments, never a torn value.
 *
 * Scrape-time values (sizes read from the store, /proc readings) come from collectors: callbacks the
 * registry runs, under its scrape lock, before each rendering; they set gauges (or counters kept elsewhere).
 */

typedef struct lkv_metrics_s lkv_metrics_t;
typedef struct lkv_metric_s lkv_metric_t;

typedef enum { LKV_METRIC_COUNTER, LKV_METRIC_GAUGE, LKV_METRIC_HISTOGRAM } lkv_metric_type_t;

/* What lkv_metrics_add registers. Strings (name, help, label names) and bounds are not copied: they must
 * outlive the registry (static text in practice). */
typedef struct lkv_metric_desc_s {
  const char *name; /* Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]* */
  const char *help;
  lkv_metric_type_t type;
  const char *const *label_names; /* n_labels names, [a-zA-Z_][a-zA-Z0-9_]*, not "le" */
  size_t n_labels;
  size_t n_series;      /* with labels: how many label-value combinations (set each with lkv_metric_label);
                         * without: ignored (one series) */
  const double *bounds; /* histograms: n_bounds finite upper bounds, strictly ascending */
  size_t n_bounds;
} lkv_metric_desc_t;

/* etcd's buckets for disk durations (ExponentialBuckets(0.001, 2, 14): 1 ms .. 8.192 s), for the WAL fsync
 * and backend commit histograms; for peer round trips (ExponentialBuckets(0.0001, 2, 16): 0.1 ms ..
 * 3.2768 s); for lease TTLs (ExponentialBuckets(1, 2, 24): 1 s .. 97 days); and Prometheus' default
 * buckets (DefBuckets: 5 ms .. 10 s), go-grpc-prometheus' for handling times. */
#define LKV_METRICS_DISK_BUCKETS 14
extern const double lkv_metrics_disk_buckets[LKV_METRICS_DISK_BUCKETS];
#define LKV_METRICS_RTT_BUCKETS 16
extern const double lkv_metrics_rtt_buckets[LKV_METRICS_RTT_BUCKETS];
#define LKV_METRICS_TTL_BUCKETS 24
extern const double lkv_metrics_ttl_buckets[LKV_METRICS_TTL_BUCKETS];
/* etcd's for defragment durations: ExponentialBuckets(0.1, 2, 13), 0.1 s .. 409.6 s. */
#define LKV_METRICS_DEFRAG_BUCKETS 13
extern const double lkv_metrics_defrag_buckets[LKV_METRICS_DEFRAG_BUCKETS];
#define LKV_METRICS_DEF_BUCKETS 11
extern const double lkv_metrics_def_buckets[LKV_METRICS_DEF_BUCKETS];

/* Creates an empty registry. Returns 0 and sets *out, or LKV_ENOMEM. Free with lkv_metrics_free. */
int lkv_metrics_new(lkv_metrics_t **out);

/* Frees the registry and every family in it. Collectors must no longer be running (no scrape in
 * progress); updates through the family pointers must have ended. NULL is accepted. */
void lkv_metrics_free(lkv_metrics_t *reg);

/* The process's registry, created at the first call and never freed (what /metrics serves). Returns NULL
 * only when it could not be allocated. Any thread. */
lkv_metrics_t *lkv_metrics_global(void);

/* Registers a family described by d. Returns 0 and sets *out (valid until the registry is freed), or
 * LKV_EINVAL (bad name, label name, bounds, or a name already registered), LKV_ENOMEM. With labels every
 * series starts unlabelled and is not rendered until lkv_metric_label gave it its values. Any thread. */
int lkv_metrics_add(lkv_metrics_t *reg, const lkv_metric_desc_t *d, lkv_metric_t **out);

/* Gives series its label values (n_labels strings, copied; any bytes, escaped when rendered). Once per
 * series, before it is updated from other threads. Returns 0, LKV_EINVAL (series out of range, already
 * labelled, no labels) or LKV_ENOMEM. */
int lkv_metric_label(lkv_metric_t *m, size_t series, const char *const *values);

/* Adds v (>= 0 for counters) to a counter or gauge series. m may be NULL (no-op: a metric that could not be
 * registered), series out of range is ignored. Lock-free; any thread. */
void lkv_metric_add(lkv_metric_t *m, size_t series, double v);

/* lkv_metric_add(m, series, 1). */
void lkv_metric_inc(lkv_metric_t *m, size_t series);

/* Sets a gauge series (or a counter a collector mirrors from elsewhere). As lkv_metric_add. */
void lkv_metric_set(lkv_metric_t *m, size_t series, double v);

/* Records one observation in a histogram series. As lkv_metric_add. */
void lkv_metric_observe(lkv_metric_t *m, size_t series, double v);

/* Observes the seconds elapsed since start_ns (lkv_clock_ns(CLOCK_MONOTONIC) taken before the timed work). */
void lkv_metric_observe_since(lkv_metric_t *m, size_t series, uint64_t start_ns);

/* A counter's or gauge's current value (a histogram's sum). 0 for NULL. */
double lkv_metric_value(const lkv_metric_t *m, size_t series);

/* A histogram series' number of observations. 0 for NULL or other types. */
uint64_t lkv_metric_count(const lkv_metric_t *m, size_t series);

/* A collector runs before each rendering, on the scraping thread, under the registry's scrape lock (so one
 * collector never runs twice at once). It must not add families or collectors. */
typedef void (*lkv_metrics_collect_fn)(void *arg);

/* Adds a collector. Returns 0 or LKV_ENOMEM. */
int lkv_metrics_on_collect(lkv_metrics_t *reg, lkv_metrics_collect_fn fn, void *arg);

/* Removes the collector (fn, arg) added earlier; when it returns, it is not running and will not run
 * again. Unknown pairs are ignored. */
void lkv_metrics_remove_collector(lkv_metrics_t *reg, lkv_metrics_collect_fn fn, void *arg);

/* Runs the collectors and renders every family in Prometheus' text exposition format 0.0.4 ("# HELP",
 * "# TYPE", one line per series; histograms as _bucket{le=...} cumulative counts, _sum and _count).
 * Returns 0 and sets *out (malloc'd, NUL-terminated, owned by the caller) and *len, or LKV_ENOMEM. */
int lkv_metrics_render(lkv_metrics_t *reg, char **out, size_t *len);

#endif
