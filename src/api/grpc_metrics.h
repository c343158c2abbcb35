/* Internal to the API: grpc_server_started_total, grpc_server_handled_total and (--metrics extensive)
 * grpc_server_handling_seconds, as go-grpc-prometheus keeps them. */
#ifndef LKV_API_GRPC_METRICS_H
#define LKV_API_GRPC_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Registers the families once per process with one series per method (and per method and code for
 * handled, every code pre-initialised as go-grpc-prometheus does): method(i, &streaming) gives method i's
 * path ("/etcdserverpb.KV/Range") and whether clients stream (bidi_stream, else unary). With extensive
 * (etcd's --metrics extensive) also the handling-time histogram per method, Prometheus' default buckets.
 * Later calls do nothing. Any thread. */
void lkv__grpc_metrics_register(size_t n, const char *(*method)(size_t i, int *streaming), int extensive);

/* A call of method i started (its headers were accepted). Lock-free; any thread. */
void lkv__grpc_metrics_started(size_t i);

/* A call of method i was finished with grpc status code, elapsed_ns after it began (observed only with
 * extensive). Lock-free; any thread. */
void lkv__grpc_metrics_handled(size_t i, int code, uint64_t elapsed_ns);

#endif
