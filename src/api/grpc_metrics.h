/* Internal to the API: grpc_server_started_total and grpc_server_handled_total, as go-grpc-prometheus counts
 * them. */
#ifndef LKV_API_GRPC_METRICS_H
#define LKV_API_GRPC_METRICS_H

#include <stddef.h>

/* Registers both families once per process with one series per method (and per method and code for
 * handled, every code pre-initialised as go-grpc-prometheus does): method(i, &streaming) gives method i's
 * path ("/etcdserverpb.KV/Range") and whether clients stream (bidi_stream, else unary). Later calls do
 * nothing. Any thread. */
void lkv__grpc_metrics_register(size_t n, const char *(*method)(size_t i, int *streaming));

/* A call of method i started (its headers were accepted). Lock-free; any thread. */
void lkv__grpc_metrics_started(size_t i);

/* A call of method i was finished with grpc status code. Lock-free; any thread. */
void lkv__grpc_metrics_handled(size_t i, int code);

#endif
