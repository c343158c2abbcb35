/* The metrics listener (--listen-metrics-urls): /metrics, /health, /livez, /readyz and /version over
 * HTTP/1.1, in cleartext or TLS; the same answers on the client port. */
#ifndef LKV_SERVER_METRICS_HTTP_H
#define LKV_SERVER_METRICS_HTTP_H

#include <stddef.h>

#include "ledger/ledger.h"
#include "mvcc/mvcc.h"
#include "pool/pool.h"
#include "replication/replication.h"
#include "server/config.h"
#include "transport/http_server.h"

typedef struct lkv__metrics_http_s lkv__metrics_http_t;

/* What the answers are built from. Everything must outlive the listener (stop it first). */
typedef struct lkv__metrics_http_options_s {
  const lkv_config_url_t *urls; /* where to listen (http:// or https://, parsed by the config) */
  size_t n_urls;
  lkv_tls_t *tls; /* the https:// URLs' context (lkv__server_metrics_tls), or NULL without any; the
                   * listener owns it from a successful start and frees it when it stops */
  lkv_mvcc_t *store;
  lkv_replicator_t *replicator;
  int causal;           /* the replicator is a causal node (its peers' silence is shown) */
  lkv_ledger_t *ledger; /* NULL with --ledger=false */
  lkv_pool_t *pool;
  int threads;          /* loop threads serving clients */
  const char *version;  /* the etcd version reported (/version, etcd_server_version) */
  const char *data_dir; /* ledgerkv_disk_bytes and _free_bytes look here */
  const char *wal_dir;  /* and the Raft log's part here */
} lkv__metrics_http_options_t;

/* Registers the server's collector (scrape-time gauges: leader, sizes, keys, ledger, pool) in the process
 * registry and, with n_urls > 0, starts the listener's thread (without, only lkv__metrics_http_handle
 * serves the answers: the client port's). Returns 0 and sets *out, or LKV_ENOMEM or a negative errno from
 * bind (-EADDRINUSE); on failure nothing is left running. */
int lkv__metrics_http_start(lkv__metrics_http_t **out, const lkv__metrics_http_options_t *opts);

/* Answers one request as the metrics listener does (app = the lkv__metrics_http_t): /metrics, /version,
 * /health, /livez, /readyz, else 404. Any thread; /health may wait up to a second for a linearizable
 * read. An lkv_http_handle_fn, also the client port's answer to these paths (the gateway's `other`). */
void lkv__metrics_http_handle(void *app, const lkv_http_request_t *req, lkv_http_response_t *resp);

/* The port bound for opts->urls[i] (port 0 asks the kernel), or -1. */
int lkv__metrics_http_port(const lkv__metrics_http_t *m, size_t i);

/* Stops the listener, removes the collector, frees opts->tls and m. NULL is accepted. */
void lkv__metrics_http_stop(lkv__metrics_http_t *m);

#endif
