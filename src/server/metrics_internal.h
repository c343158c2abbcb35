/* Internal to the metrics listener's answers: the listener's state shared by metrics_http.c, health_http.c
 * and metrics_collect.c. */
#ifndef LKV_SERVER_METRICS_INTERNAL_H
#define LKV_SERVER_METRICS_INTERNAL_H

#include "server/metrics_http.h"
#include "transport/http_server.h"

struct lkv__metrics_http_s {
  lkv__metrics_http_options_t o;
  lkv_http_server_t *http;
};

/* Answers /health, /livez and /readyz (health_http.c) for a request (method, NUL-terminated path, query q
 * of q_len bytes); returns 0, or -1 when path is none of them (resp untouched). Runs on the listener's
 * thread and may wait up to a second for a linearizable read. */
int lkv__health_answer(lkv__metrics_http_t *m, const char *method, const char *path, const char *q,
                       size_t q_len, lkv_http_response_t *resp);

/* Fills resp: status, content type and extra headers (static), a copy of text as the body. */
void lkv__metrics_reply(lkv_http_response_t *resp, int status, const char *content_type, const char *headers,
                        const char *text);

/* Go's http.Error, as etcd answers errors: text plus a newline, text/plain, nosniff. */
void lkv__metrics_error(lkv_http_response_t *resp, int status, const char *text);

/* The collector that sets the scrape-time gauges from m's objects (metrics_collect.c). */
void lkv__metrics_collect(void *m);

#endif
