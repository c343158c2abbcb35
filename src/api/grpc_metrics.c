/* The gRPC server metrics: one started series per method, one handled series per method and status code. */
#include "api/grpc_metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

#define N_CODES 17 /* OK .. UNAUTHENTICATED */

static const char *const code_names[N_CODES] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

/* In Prometheus' Go client's order (sorted), so that the text reads like etcd's. */
static const char *const started_labels[] = {"grpc_method", "grpc_service", "grpc_type"};
static const char *const handled_labels[] = {"grpc_code", "grpc_method", "grpc_service", "grpc_type"};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static lkv_metric_t *started, *handled, *handling; /* handling: NULL without --metrics extensive */
static size_t n_methods;

/* Labels one method's series: its type, service and method name split from the path. */
static void label(size_t i, const char *path, int streaming) {
  const char *slash = strrchr(path, '/');
  char service[128];
  size_t len = slash && slash > path ? (size_t)(slash - path - 1) : 0;
  if (len >= sizeof(service)) len = sizeof(service) - 1;
  memcpy(service, path + 1, len);
  service[len] = '\0';
  const char *type = streaming ? "bidi_stream" : "unary";
  const char *name = slash ? slash + 1 : path;
  const char *s[] = {name, service, type};
  lkv_metric_label(started, i, s);
  lkv_metric_label(handling, i, s);
  for (size_t c = 0; c < N_CODES; c++) {
    const char *h[] = {code_names[c], name, service, type};
    lkv_metric_label(handled, i * N_CODES + c, h);
  }
}

void lkv__grpc_metrics_register(size_t n, const char *(*method)(size_t i, int *streaming), int extensive) {
  pthread_mutex_lock(&mu);
  lkv_metrics_t *reg = lkv_metrics_global();
  if (!started && reg) {
    lkv_metric_desc_t s = {"grpc_server_started_total",
                           "Total number of RPCs started on the server.",
                           LKV_METRIC_COUNTER,
                           started_labels,
                           3,
                           n,
                           NULL,
                           0};
    lkv_metric_desc_t h = {"grpc_server_handled_total",
                           "Total number of RPCs completed on the server, regardless of success or failure.",
                           LKV_METRIC_COUNTER,
                           handled_labels,
                           4,
                           n * N_CODES,
                           NULL,
                           0};
    lkv_metric_desc_t t = {"grpc_server_handling_seconds",
                           "Histogram of response latency (seconds) of gRPC that had been application-level "
                           "handled by the server.",
                           LKV_METRIC_HISTOGRAM,
                           started_labels,
                           3,
                           n,
                           lkv_metrics_def_buckets,
                           LKV_METRICS_DEF_BUCKETS};
    if (lkv_metrics_add(reg, &s, &started) == 0 && lkv_metrics_add(reg, &h, &handled) == 0 &&
        (!extensive || lkv_metrics_add(reg, &t, &handling) == 0)) {
      for (size_t i = 0; i < n; i++) {
        int streaming = 0;
        const char *path = method(i, &streaming);
        label(i, path, streaming);
      }
      __atomic_store_n(&n_methods, n, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&mu);
}

void lkv__grpc_metrics_started(size_t i) {
  if (i < __atomic_load_n(&n_methods, __ATOMIC_ACQUIRE)) lkv_metric_inc(started, i);
}

void lkv__grpc_metrics_handled(size_t i, int code, uint64_t elapsed_ns) {
  if (code < 0 || code >= N_CODES || i >= __atomic_load_n(&n_methods, __ATOMIC_ACQUIRE)) return;
  lkv_metric_inc(handled, i * N_CODES + (size_t)code);
  lkv_metric_observe(handling, i, (double)elapsed_ns / 1e9);
}
