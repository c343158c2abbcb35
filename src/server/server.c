/* Wiring of one node: open the store, start the replicator, bind the services to the transport. */
#include "server/server.h"

#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/auth_jwt.h"
#include "api/auth_token.h"
#include "causal/lease_id.h"
#include "cluster/attrs.h"
#include "common/error.h"
#include "gateway/gateway.h"
#include "lease/lessor.h"
#include "mvcc/mvcc.h"
#include "pool/cpu_budget.h"
#include "pool/pool.h"
#include "replication/raft_node.h"
#include "server/compactor.h"
#include "server/corrupt.h"
#include "server/etcd_dir.h"
#include "server/ledger_open.h"
#include "server/member.h"
#include "server/member_api.h"
#include "server/member_causal.h"
#include "server/metrics_http.h"
#include "server/rate_limit.h"
#include "server/tls_setup.h"
#include "server/version.h"
#include "transport/transport.h"
#include "watch/watch.h"

/* etcd's grpcOverheadBytes: gRPC accepts messages this much larger than --max-request-bytes. */
#define LKV_GRPC_OVERHEAD_BYTES (512 * 1024)

/* How long a stopping server waits for answers to reach clients after GOAWAY. */
#define LKV_SERVER_GRACE_MS 2000

struct lkv_server_s {
  lkv_mvcc_t *store;
  lkv_replicator_t *replicator;
  lkv__member_t *member;         /* this member of its cluster: peers, the Raft replicator, checkpoints */
  lkv__member_api_t *member_api; /* lease forwarding to the leader, leader monitor */
  lkv_ledger_t *ledger;          /* NULL with --ledger=false */
  lkv_lessor_t *lessor;
  lkv_transport_t *transport;
  lkv_tls_t *client_tls; /* the https:// listen URLs' context; NULL without any */
  lkv_watch_hub_t *watch;
  lkv_pool_t *pool;
  lkv_api_t api;
  char **client_urls; /* advertised URLs with bound ports filled in */
  size_t n_client_urls;
  int threads;
  lkv__compactor_t *compactor;     /* NULL without --auto-compaction-retention */
  lkv__corrupt_checker_t *corrupt; /* NULL without --experimental-corrupt-check-time */
  lkv__metrics_http_t *metrics;    /* /metrics, /health, /version answers (a listener with */
  lkv_gateway_t *gateway;          /* --listen-metrics-urls); the client port's HTTP/1.1 side */
  lkv__rate_limit_t *rate_limit;   /* per-client rate limits (api->ratelimit), reloaded on SIGHUP */
};

/* A pinned count, or one thread per CPU we may be scheduled on: the pool's gate lets the budget's worth
 * run (pool/fit.h), and the rest are there for a quota raised at run time or cores shared with
 * neighbours. */
static int pick_threads(const lkv_config_t *cfg) {
  if (cfg->worker_threads > 0) return cfg->worker_threads;
  int affinity = lkv_cpu_budget_affinity();
  return affinity > 0 ? affinity : 1;
}

/* Advertised URLs that say port 0 take the port the matching listener got from the kernel. */
static int make_client_urls(lkv_server_t *s, const lkv_config_t *cfg) {
  s->client_urls = calloc(cfg->n_advertise_client_urls, sizeof(char *));
  if (!s->client_urls) return LKV_ENOMEM;
  s->n_client_urls = cfg->n_advertise_client_urls;
  for (size_t i = 0; i < cfg->n_advertise_client_urls; i++) {
    const lkv_config_url_t *u = &cfg->advertise_client_urls[i];
    if (u->port != 0) {
      s->client_urls[i] = strdup(u->url);
    } else {
      int port = lkv_transport_bound_port(s->transport, i < cfg->n_listen_client_urls ? i : 0);
      const char *fmt = strchr(u->host, ':') ? "%s://[%s]:%d" : "%s://%s:%d";
      size_t len = strlen(u->host) + 32;
      s->client_urls[i] = malloc(len);
      if (s->client_urls[i]) snprintf(s->client_urls[i], len, fmt, u->tls ? "https" : "http", u->host, port);
    }
    if (!s->client_urls[i]) return LKV_ENOMEM;
  }
  return 0;
}

/* This member's attributes for MemberList, now that its client URLs are known: name, the peer URLs the
 * cluster knows it by, client URLs, and its ledger's public key (a replaced node.key is published again at
 * the next start: the replicator publishes whenever what it recorded differs). */
static int publish(lkv_server_t *s, const lkv_config_t *cfg) {
  const lkv_cluster_member_t *me = lkv_cluster_initial_find(&cfg->cluster.initial, cfg->name);
  lkv_cluster_attrs_t a = {.name = cfg->name,
                           .peer_urls = me ? me->peer_urls : NULL,
                           .n_peer_urls = me ? me->n_peer_urls : 0,
                           .client_urls = s->client_urls,
                           .n_client_urls = s->n_client_urls,
                           .has_ledger_key = s->ledger != NULL};
  _Static_assert(LKV_CLUSTER_KEY_LEN == LKV_LEDGER_KEY_LEN, "the membership records a ledger key");
  if (s->ledger) memcpy(a.ledger_key, lkv_ledger_public_key(s->ledger), LKV_CLUSTER_KEY_LEN);
  uint8_t *data;
  size_t len;
  int rc = lkv_cluster_attrs_encode(&a, &data, &len);
  if (rc == 0) rc = lkv_replicator_publish(s->replicator, data, len);
  free(data);
  return rc;
}

static void free_client_urls(lkv_server_t *s) {
  for (size_t i = 0; i < s->n_client_urls; i++) free(s->client_urls[i]);
  free(s->client_urls);
}

static int gate_enter(void *gate) {
  return lkv_cpu_gate_enter(gate);
}

static void gate_leave(void *gate, int entered) {
  if (entered) lkv_cpu_gate_leave(gate);
}

static int start_transport(lkv_server_t *s, const lkv_config_t *cfg) {
  lkv_listen_addr_t *addrs = calloc(cfg->n_listen_client_urls, sizeof(*addrs));
  lkv_tls_t **tls = calloc(cfg->n_listen_client_urls, sizeof(*tls));
  if (!addrs || !tls) {
    free(addrs);
    free(tls);
    return LKV_ENOMEM;
  }
  for (size_t i = 0; i < cfg->n_listen_client_urls; i++) {
    addrs[i].host = cfg->listen_client_urls[i].host;
    addrs[i].port = cfg->listen_client_urls[i].port;
    tls[i] = cfg->listen_client_urls[i].tls ? s->client_tls : NULL;
  }
  lkv_transport_options_t topts = {
      .addrs = addrs,
      .n_addrs = cfg->n_listen_client_urls,
      .tls = tls,
      .n_loops = s->threads,
      /* gRPC's own limit sits above etcd's request limit by etcd's allowance for gRPC overhead; requests
       * between the two get etcd's "request is too large" from the API layer. */
      .max_recv_msg_bytes = cfg->max_request_bytes + LKV_GRPC_OVERHEAD_BYTES,
      .tick_ms = LKV_WATCH_TICK_MS,
      .max_concurrent_streams = cfg->max_concurrent_streams,
      .keepalive = {.interval_ms = cfg->grpc_keepalive_interval_ms,
                    .timeout_ms = cfg->grpc_keepalive_timeout_ms,
                    .min_time_ms = cfg->grpc_keepalive_min_time_ms},
  };
  if (cfg->cpu_neighbour_aware || cfg->worker_threads == 0) { /* a pinned count runs without the gate */
    topts.gate.arg = lkv_pool_gate(s->pool);
    topts.gate.enter = gate_enter;
    topts.gate.leave = gate_leave;
  }
  lkv_transport_handler_t handler;
  lkv_api_handler(&s->api, &handler);
  handler.on_http = lkv_gateway_on_http; /* HTTP/1.1 on the client port: etcd's JSON gateway */
  handler.http_app = s->gateway;
  int rc = lkv_transport_start(&s->transport, &topts, &handler);
  free(addrs);
  free(tls);
  return rc;
}

/* The metrics answers (and their listener with --listen-metrics-urls) and the gateway that also serves
 * them on the client port. */
static int start_http(lkv_server_t *s, const lkv_config_t *cfg, char *err, size_t errlen) {
  lkv__metrics_http_options_t mopts = {.causal = cfg->cluster.causal,
                                       .urls = cfg->listen_metrics_urls,
                                       .n_urls = cfg->n_listen_metrics_urls,
                                       .store = s->store,
                                       .replicator = s->replicator,
                                       .ledger = s->ledger,
                                       .pool = s->pool,
                                       .threads = s->threads,
                                       .version = LKV_ETCD_VERSION,
                                       .data_dir = cfg->data_dir,
                                       .wal_dir = cfg->wal_dir};
  int rc = lkv__server_metrics_tls(cfg, &mopts.tls, err, errlen);
  if (rc != 0) return rc;
  rc = lkv__metrics_http_start(&s->metrics, &mopts);
  if (rc != 0) {
    lkv_tls_free(mopts.tls);
    snprintf(err, errlen, "cannot listen on the metrics URLs: %s", lkv_strerror(rc));
    return rc;
  }
  lkv_gateway_options_t gopts = {.other = lkv__metrics_http_handle,
                                 .other_app = s->metrics,
                                 .cors = (const char *const *)cfg->cors,
                                 .n_cors = cfg->n_cors,
                                 .hosts = (const char *const *)cfg->host_whitelist,
                                 .n_hosts = cfg->n_host_whitelist,
                                 .web_view = cfg->enable_web_view};
  rc = lkv_gateway_new(&s->gateway, &gopts);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the gateway: %s", lkv_strerror(rc));
    lkv__metrics_http_stop(s->metrics);
  }
  return rc;
}

/* The watch hub's waker: shard i is served by loop i. */
static void wake_loop(void *ctx, int shard) {
  lkv_server_t *s = ctx;
  lkv_transport_wake(s->transport, shard);
}

static int start_watch(lkv_server_t *s, const lkv_config_t *cfg) {
  lkv_watch_options_t wopts = {
      .store = s->store,
      .n_shards = s->threads,
      .cluster_id = s->api.id.cluster_id,
      .member_id = s->api.id.member_id,
      .raft_term = s->api.id.raft_term,
      .progress_ms = cfg->watch_progress_notify_ms,
      .fragment_bytes = cfg->max_request_bytes + LKV_GRPC_OVERHEAD_BYTES,
  };
  int rc = lkv_watch_hub_new(&s->watch, &wopts);
  if (rc != 0) return rc;
  s->api.watch = s->watch;
  lkv_replicator_listen(s->replicator, lkv_watch_hub_committed, s->watch);
  return 0;
}

/* A cluster member installed a snapshot: the leases are the store's now. */
static void store_restored(void *arg) {
  lkv_server_t *s = arg;
  int rc = lkv_lessor_reload(s->lessor, s->store);
  if (rc) fprintf(stderr, "ledgerkv: cannot reload the leases after a snapshot: %s\n", lkv_strerror(rc));
}

/* The ledger and the Ledger service's receipt waiters. The Raft log is the write-ahead log; a data dir a
 * single node wrote before it ran on Raft (no Raft log yet) had the ledger as its write-ahead log,
 * so its store is first brought up to the ledger (replayed), then adopted by the one-member cluster. */
static int open_ledger(lkv_server_t *s, const lkv_config_t *cfg, char *err, size_t errlen) {
  if (!cfg->ledger) return 0;
  /* No Raft log yet: a new data dir, or one a single node wrote. Causal mode: the causal replicator brings
   * the store and the ledger in step itself (causal_node.h). */
  int adopt = !cfg->cluster.causal && access(cfg->wal_dir, F_OK) != 0;
  int rc = adopt ? lkv__server_ledger_open(&s->ledger, s->store, cfg->data_dir, err, errlen)
                 : lkv__server_ledger_open_member(&s->ledger, cfg->data_dir, err, errlen);
  if (rc != 0) return rc;
  lkv_ledger_retention_t keep = {cfg->ledger_retention_records, cfg->ledger_retention_bytes};
  lkv_ledger_set_retention(s->ledger, &keep);
  rc = lkv_api_ledger_new(&s->api.ledger_waiters);
  if (rc != 0) {
    snprintf(err, errlen, "out of memory");
    return rc;
  }
  s->api.ledger = s->ledger;
  return 0;
}

/* Every node is a member of a Raft cluster, of one member or of several: its identity from the data dir,
 * the cluster or the flags (server/member.h), the Raft log as the write-ahead log; the ledger records every
 * applied entry, identical on every member, and the member signs its own heads over it. */
/* etcd's request timeout, which bounds each question to a peer of the corruption checks. */
static unsigned corrupt_timeout_ms(const lkv_config_t *cfg) {
  return 5000u + 2u * cfg->cluster.election_ms;
}

/* Causal mode: whether this member (arg: its id) owns lease id (causal/lease_id.h). */
static int lease_owned_here(void *arg, int64_t id) {
  return lkv_causal_lease_owned(id, *(const uint64_t *)arg);
}

static int start_member(lkv_server_t *s, const lkv_config_t *cfg, char *err, size_t errlen) {
  lkv_api_t *api = &s->api;
  int rc = lkv__member_mode_check(cfg, err, errlen); /* before the ledger's own checks */
  if (rc == 0) rc = open_ledger(s, cfg, err, errlen);
  if (rc != 0) return rc;
  rc = lkv__member_start(&s->member, cfg, s->store, s->ledger, err, errlen);
  if (rc != 0) return rc;
  lkv__member_ids(s->member, &api->id.cluster_id, &api->id.member_id);
  s->replicator = lkv__member_replicator(s->member);
  if (cfg->cluster.initial_corrupt_check) { /* before serving, as etcd */
    rc = lkv__corrupt_initial_check(s->store, s->ledger, s->replicator, lkv__member_hashes(s->member),
                                    corrupt_timeout_ms(cfg), err, errlen);
    if (rc != 0) {
      lkv__member_stop(s->member);
      s->member = NULL;
      s->replicator = NULL;
    }
  }
  return rc;
}

int lkv_server_start(lkv_server_t **out, const lkv_config_t *cfg, char *err, size_t errlen) {
  lkv_server_t *s = calloc(1, sizeof(*s));
  if (!s) return LKV_ENOMEM;
  s->threads = pick_threads(cfg);
  /* Before the store opens: opening would create an empty store beside etcd's data. */
  int rc = lkv__server_etcd_dir_check(cfg->data_dir, err, errlen);
  if (rc != 0) goto err_after_alloc;
  if (!cfg->ledger) { /* entries applied without the ledger would leave it behind the store for good */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/ledger/ledger.log", cfg->data_dir);
    if (access(path, F_OK) == 0) {
      snprintf(err, errlen,
               "%s holds a ledger: --ledger=false would let the store go ahead of it; start with "
               "--ledger=true",
               cfg->data_dir);
      rc = LKV_EINVAL;
      goto err_after_alloc;
    }
  }
  /* Logged: the Raft log is the store's write-ahead log, so commits do not flush (mvcc.h). */
  lkv_mvcc_options_t mopts = {
      .dir = cfg->data_dir, .quota_bytes = (uint64_t)cfg->quota_backend_bytes, .logged = 1};
  rc = lkv_mvcc_open(&s->store, &mopts);
  if (rc != 0) {
    snprintf(err, errlen, "cannot open data dir %s: %s%s", cfg->data_dir, lkv_strerror(rc),
             rc == LKV_ETORN ? "; start with --ledger=true to rebuild it from the ledger" : "");
    goto err_after_alloc;
  }
  lkv_api_t *api = &s->api;
  api->limits.max_txn_ops = cfg->max_txn_ops;
  api->max_request_bytes = cfg->max_request_bytes;
  api->bcrypt_cost = (int)cfg->bcrypt_cost;
  api->metrics_extensive = cfg->metrics_extensive;
  api->store = s->store;
  api->version = LKV_ETCD_VERSION;
  api->member_name = cfg->name;
  api->causal = cfg->cluster.causal;
  api->client_cert_auth = cfg->client_tls.client_cert_auth;
  rc = lkv_api_tokens_new(&api->tokens, cfg->auth_token_ttl * 1000);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start: %s", lkv_strerror(rc));
    goto err_after_store;
  }
  const lkv_config_auth_token_t *at = &cfg->auth_token;
  char why[160];
  if (at->jwt && (rc = lkv_api_jwt_new(&api->jwt, at->sign_method, at->pub_key, at->priv_key, at->ttl_s, why,
                                       sizeof(why))) != 0) {
    snprintf(err, errlen, "--auth-token: %s", why);
    goto err_after_store;
  }
  rc = start_member(s, cfg, err, errlen);
  if (rc != 0) goto err_after_store;
  if (s->ledger) lkv_replicator_on_sign(s->replicator, lkv_api_ledger_signed, api);
  api->replicator = s->replicator;
  if ((rc = lkv_api_conflicts_start(api)) != 0) {
    snprintf(err, errlen, "cannot start the conflicts service: %s", lkv_strerror(rc));
    goto err_after_replicator;
  }
  /* member_api.c starts the handoff in Raft mode; in causal mode each member expires the leases it owns. */
  lkv_lessor_options_t lopts = {.store = s->store,
                                .replicator = s->replicator,
                                .member_id = api->id.member_id,
                                .handoff = s->member != NULL && !cfg->cluster.causal,
                                .owns = cfg->cluster.causal ? lease_owned_here : NULL,
                                .owns_arg = &api->id.member_id};
  rc = lkv_lessor_open(&s->lessor, &lopts);
  if (rc == 0) {
    rc = lkv_lessor_start(s->lessor);
    if (rc != 0) lkv_lessor_close(s->lessor);
  }
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the lessor: %s", lkv_strerror(rc));
    goto err_after_replicator;
  }
  api->lessor = s->lessor;
  lkv_replicator_on_applied(s->replicator, lkv_api_lease_applied, api);
  lkv_replicator_on_restored(s->replicator, store_restored, s);
  if ((rc = lkv__member_api_start(&s->member_api, s->member, api, cfg)) != 0) {
    snprintf(err, errlen, "cannot start lease forwarding: %s", lkv_strerror(rc));
    goto err_after_lessor;
  }
  rc = start_watch(s, cfg);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the watch hub: %s", lkv_strerror(rc));
    goto err_after_lessor;
  }
  lkv_pool_options_t popts = {.workers = s->threads,
                              .neighbour_aware = cfg->cpu_neighbour_aware,
                              .follow_budget = cfg->worker_threads == 0,
                              .period_ms = (int)cfg->cpu_sample_ms,
                              .overcommit = cfg->cpu_overcommit_percent / 100.0};
  rc = lkv_pool_start(&s->pool, &popts);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start the worker pool: %s", lkv_strerror(rc));
    goto err_after_watch;
  }
  rc = lkv__server_client_tls(cfg, &s->client_tls, err, errlen);
  if (rc != 0) goto err_after_pool;
  rc = start_http(s, cfg, err, errlen);
  if (rc != 0) goto err_after_tls;
  rc = lkv__rate_limit_start(&s->rate_limit, cfg, api, err, errlen);
  if (rc != 0) goto err_after_http;
  rc = start_transport(s, cfg);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen on the client URLs: %s", lkv_strerror(rc));
    goto err_after_http;
  }
  /* Until now commits could not wake the loops (there were none); streams opened in between are served by
   * the loops' ticks. */
  lkv_watch_hub_set_waker(s->watch, wake_loop, s);
  /* Only now are ports chosen by the kernel (port 0) known; a MemberList racing this very moment of
   * start-up would list no client URL, never a wrong one. */
  rc = make_client_urls(s, cfg);
  if (rc != 0) {
    snprintf(err, errlen, "out of memory");
    goto err_after_transport;
  }
  api->client_urls = s->client_urls;
  __atomic_store_n(&api->n_client_urls, s->n_client_urls, __ATOMIC_RELEASE);
  rc = publish(s, cfg);
  if (rc != 0) {
    snprintf(err, errlen, "out of memory");
    goto err_after_transport;
  }
  if (cfg->auto_compaction_mode != LKV_COMPACTION_OFF) {
    lkv__compactor_options_t copts = {.mode = cfg->auto_compaction_mode,
                                      .retention = cfg->auto_compaction_retention,
                                      .check_ms = cfg->auto_compaction_check_ms,
                                      .store = s->store,
                                      .replicator = s->replicator};
    rc = lkv__compactor_start(&s->compactor, &copts);
    if (rc != 0) {
      snprintf(err, errlen, "cannot start auto-compaction: %s", lkv_strerror(rc));
      goto err_after_transport;
    }
  }
  if (cfg->cluster.corrupt_check_ms) {
    rc = lkv__corrupt_checker_start(&s->corrupt, s->store, s->ledger, s->replicator,
                                    lkv__member_hashes(s->member), cfg->cluster.corrupt_check_ms,
                                    corrupt_timeout_ms(cfg));
    if (rc != 0) {
      snprintf(err, errlen, "cannot start the corruption checks: %s", lkv_strerror(rc));
      lkv__compactor_stop(s->compactor);
      goto err_after_transport;
    }
  }
  *out = s;
  return 0;
err_after_transport:
  lkv_watch_hub_set_waker(s->watch, NULL, NULL);
  lkv_pool_stop(s->pool);
  lkv_transport_stop(s->transport, 0);
  free_client_urls(s);
err_after_http:
  lkv__rate_limit_stop(s->rate_limit);
  lkv_gateway_free(s->gateway);
  lkv__metrics_http_stop(s->metrics);
err_after_tls:
  lkv_tls_free(s->client_tls);
err_after_pool:
  lkv_pool_stop(s->pool);
  lkv_pool_free(s->pool);
err_after_watch:
  lkv_replicator_listen(s->replicator, NULL, NULL);
  lkv_watch_hub_free(s->watch);
err_after_lessor:
  lkv__member_api_stop(s->member_api);
  lkv_replicator_on_applied(s->replicator, NULL, NULL);
  lkv_replicator_on_restored(s->replicator, NULL, NULL);
  lkv_lessor_close(s->lessor);
err_after_replicator:
  lkv__member_stop(s->member);
  lkv_api_conflicts_free(&s->api); /* after the replicator: its listings and keys listener use it */
err_after_store:
  lkv_api_tokens_free(s->api.tokens);
  lkv_api_jwt_free(s->api.jwt);
  lkv_api_ledger_free(s->api.ledger_waiters);
  lkv_ledger_close(s->ledger); /* after the replicator: it signed the last head */
  lkv_mvcc_close(s->store);
err_after_alloc:
  free(s);
  return rc;
}

void lkv_server_housekeeping(lkv_server_t *s) {
  (void)s;
  malloc_trim(0);
}

int lkv_server_reload(lkv_server_t *s) {
  return lkv__rate_limit_reload(s->rate_limit);
}

int lkv_server_threads(const lkv_server_t *s) {
  return s->threads;
}

int lkv_server_running_threads(const lkv_server_t *s) {
  return lkv_pool_active(s->pool);
}

uint64_t lkv_server_leader(const lkv_server_t *s) {
  lkv_replication_status_t st;
  lkv_replicator_status(s->replicator, &st);
  return st.leader;
}

void lkv_server_stop(lkv_server_t *s) {
  /* A leader hands over before it stops answering (etcd's TransferLeadership on SIGTERM). */
  lkv__member_hand_over(s->member, LKV_SERVER_GRACE_MS / 2);
  lkv__compactor_stop(s->compactor);     /* proposes through the replicator: stopped before it */
  lkv__corrupt_checker_stop(s->corrupt); /* so does this */
  /* Transport first: it waits for every accepted call to be finished, which includes writes the
   * replicator is still syncing; then nothing can propose any more. */
  /* No wakes once the transport begins to stop (it frees its loops); watch streams end with it. */
  lkv_watch_hub_set_waker(s->watch, NULL, NULL);
  /* Parked loop threads must wake to see the stop: open the gate for good. */
  lkv_pool_stop(s->pool);
  lkv_transport_stop(s->transport, LKV_SERVER_GRACE_MS);
  lkv_gateway_free(s->gateway);        /* no connection uses it any more */
  lkv__rate_limit_stop(s->rate_limit); /* no call uses it any more */
  lkv__metrics_http_stop(s->metrics);  /* before the store and the replicator its answers read */
  lkv_tls_free(s->client_tls);         /* no connection uses it any more */
  lkv_pool_free(s->pool);              /* no loop thread is left to pass the gate */
  lkv__member_api_stop(s->member_api); /* its forwarded requests use the lessor and the peers */
  /* Before the replicator: the lessor proposes revokes and waits for those in flight. It stops hearing of
   * applied grants and revokes first: it is about to be freed. */
  lkv_replicator_on_applied(s->replicator, NULL, NULL);
  lkv_replicator_on_restored(s->replicator, NULL, NULL);
  lkv_lessor_close(s->lessor);
  lkv__member_stop(s->member);
  lkv_api_conflicts_free(&s->api); /* after the replicator: its listings and keys listener use it */
  lkv_watch_hub_free(s->watch);    /* after the replicator: its commit listener is the hub */
  /* After the replicator: its last signature answered every receipt waiter and covers every write. */
  lkv_api_ledger_free(s->api.ledger_waiters);
  lkv_api_tokens_free(s->api.tokens); /* after the replicator: its applied listener records them */
  lkv_api_jwt_free(s->api.jwt);
  lkv_ledger_close(s->ledger);
  lkv_mvcc_close(s->store);
  free_client_urls(s);
  free(s);
}
