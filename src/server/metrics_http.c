/* The metrics answers (the listener's and the client port's): /metrics and /version here, the health
 * endpoints in health_http.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "metrics/catalog.h"
#include "server/metrics_internal.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PROMETHEUS_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define MAX_PATH 256 /* longer paths are none of ours: 404 */

void lkv__metrics_reply(lkv_http_response_t *resp, int status, const char *content_type, const char *headers,
                        const char *text) {
  size_t len = strlen(text);
  resp->status = status;
  resp->content_type = content_type;
  resp->headers = headers;
  resp->body = malloc(len ? len : 1);
  if (!resp->body) {
    resp->status = 500;
    resp->body_len = 0;
    return;
  }
  memcpy(resp->body, text, len);
  resp->body_len = len;
}

void lkv__metrics_error(lkv_http_response_t *resp, int status, const char *text) {
  char buf[512];
  snprintf(buf, sizeof(buf), "%s\n", text);
  lkv__metrics_reply(resp, status, TEXT_PLAIN, "X-Content-Type-Options: nosniff\r\n", buf);
}

/* etcd's /metrics is Prometheus' handler: any method, the whole registry. */
static void serve_metrics(lkv_http_response_t *resp) {
  char *text;
  size_t len;
  if (lkv_metrics_render(lkv_metrics_global(), &text, &len) != 0) {
    lkv__metrics_error(resp, 500, "out of memory");
    return;
  }
  resp->status = 200;
  resp->content_type = PROMETHEUS_TEXT;
  resp->body = text;
  resp->body_len = len;
}

/* etcd's /version: GET only; the cluster version is the API's minor release, as etcd decides it once every
 * member runs 3.4. */
static void serve_version(lkv__metrics_http_t *m, const char *method, lkv_http_response_t *resp) {
  if (strcmp(method, "GET") != 0) {
    lkv__metrics_error(resp, 405, "Method Not Allowed");
    resp->headers = "Allow: GET\r\nX-Content-Type-Options: nosniff\r\n";
    return;
  }
  char body[128];
  snprintf(body, sizeof(body), "{\"etcdserver\":\"%s\",\"etcdcluster\":\"3.4.0\"}", m->o.version);
  lkv__metrics_reply(resp, 200, "application/json", NULL, body);
}

void lkv__metrics_http_handle(void *app, const lkv_http_request_t *req, lkv_http_response_t *resp) {
  lkv__metrics_http_t *m = app;
  char path[MAX_PATH];
  if (req->path_len >= sizeof(path)) {
    lkv__metrics_error(resp, 404, "404 page not found");
    return;
  }
  memcpy(path, req->path, req->path_len);
  path[req->path_len] = '\0';
  if (strcmp(path, "/metrics") == 0)
    serve_metrics(resp);
  else if (strcmp(path, "/version") == 0)
    serve_version(m, req->method, resp);
  else if (lkv__health_answer(m, req->method, path, req->query, req->query_len, resp) != 0)
    lkv__metrics_error(resp, 404, "404 page not found"); /* Go's ServeMux */
}

int lkv__metrics_http_start(lkv__metrics_http_t **out, const lkv__metrics_http_options_t *opts) {
  lkv__metrics_http_t *m = calloc(1, sizeof(*m));
  lkv_listen_addr_t *addrs = calloc(opts->n_urls ? opts->n_urls : 1, sizeof(*addrs));
  int *tls = calloc(opts->n_urls ? opts->n_urls : 1, sizeof(*tls));
  lkv_metrics_t *reg = lkv_metrics_global();
  int rc = LKV_ENOMEM;
  if (!m || !addrs || !tls || !reg) goto err_after_alloc;
  m->o = *opts;
  lkv_metrics_catalog_version(opts->version);
  for (size_t i = 0; i < opts->n_urls; i++) {
    addrs[i].host = opts->urls[i].host;
    addrs[i].port = opts->urls[i].port;
    tls[i] = opts->urls[i].tls;
  }
  if ((rc = lkv_metrics_on_collect(reg, lkv__metrics_collect, m)) != 0) goto err_after_alloc;
  lkv_http_server_options_t hopts = {.addrs = addrs,
                                     .n_addrs = opts->n_urls,
                                     .handle = lkv__metrics_http_handle,
                                     .app = m,
                                     .tls = opts->tls,
                                     .listen_tls = tls};
  if (opts->n_urls && (rc = lkv_http_server_start(&m->http, &hopts)) != 0) goto err_after_collector;
  free(addrs);
  free(tls);
  *out = m;
  return 0;
err_after_collector:
  lkv_metrics_remove_collector(reg, lkv__metrics_collect, m);
err_after_alloc:
  free(addrs);
  free(tls);
  free(m);
  return rc;
}

int lkv__metrics_http_port(const lkv__metrics_http_t *m, size_t i) {
  return m->http ? lkv_http_server_bound_port(m->http, i) : -1;
}

void lkv__metrics_http_stop(lkv__metrics_http_t *m) {
  if (!m) return;
  lkv_http_server_stop(m->http);
  lkv_metrics_remove_collector(lkv_metrics_global(), lkv__metrics_collect, m);
  lkv_tls_free(m->o.tls); /* no connection uses it any more */
  free(m);
}
