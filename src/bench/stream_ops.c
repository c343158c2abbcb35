/* The streaming workloads: watch (watchers timing the events of the puts) and lease-keepalive. */
#include <string.h>

#include "bench/internal.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"

#define PATH_WATCH "/etcdserverpb.Watch/Watch"
#define PATH_GRANT "/etcdserverpb.Lease/LeaseGrant"
#define PATH_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"

/* Every bench key is a string of digits, so ["0", ":") holds them all. */
#define WATCH_FROM "0"
#define WATCH_TO ":"

/* ---- watch ---- */

/* Counts the events of one WatchResponse: each event's value starts with the time its put was due. */
static void count_events(lkv__bench_thread_t *t, const Etcdserverpb__WatchResponse *resp) {
  uint64_t n = 0, now = lkv__bench_now_ns();
  int started = atomic_load(&t->sh->go);
  for (size_t i = 0; i < resp->n_events; i++) {
    const Mvccpb__Event *ev = resp->events[i];
    uint64_t due;
    if (ev->type != MVCCPB__EVENT__EVENT_TYPE__PUT || !ev->kv || ev->kv->value.len < sizeof(due)) continue;
    memcpy(&due, ev->kv->value.data, sizeof(due));
    /* Values this run did not write (another writer, or before the start) do not carry a time of ours. */
    if (!started || due < t->sh->start_ns || due > now) continue;
    lkv__bench_record(t, LKV_GRPC_OK, NULL, due);
    n++;
  }
  if (n) atomic_fetch_add(&t->sh->events, n);
}

static void watch_message(void *ud, lkv_grpc_stream_t *s, const uint8_t *msg, size_t len) {
  lkv__bench_watcher_t *w = ud;
  lkv__bench_thread_t *t = w->t;
  (void)s;
  if (t->phase == LKV__PH_DONE) return;
  Etcdserverpb__WatchResponse *resp = etcdserverpb__watch_response__unpack(NULL, len, msg);
  if (!resp) {
    lkv__bench_record(t, LKV_BENCH_BAD_RESPONSE, "undecodable WatchResponse", lkv__bench_now_ns());
    return;
  }
  if (resp->created && !w->created) {
    w->created = 1;
    t->setup_pending--;
  }
  if (resp->canceled) {
    const char *why = resp->cancel_reason && resp->cancel_reason[0] ? resp->cancel_reason : "no reason given";
    lkv__bench_record(t, LKV_GRPC_CANCELLED, why, lkv__bench_now_ns());
    if (t->phase < LKV__PH_RUN) lkv__bench_setup_failed(t, "watch canceled by the server: %s", why);
  } else {
    count_events(t, resp);
  }
  etcdserverpb__watch_response__free_unpacked(resp, NULL);
}

static void watch_close(void *ud, lkv_grpc_stream_t *s, int status, const char *message) {
  lkv__bench_watcher_t *w = ud;
  lkv__bench_thread_t *t = w->t;
  (void)s;
  w->stream = NULL;
  if (t->phase == LKV__PH_DONE) return;
  if (status == LKV_GRPC_OK) message = "watch stream ended by the server";
  lkv__bench_record(t, status == LKV_GRPC_OK ? LKV_BENCH_BAD_RESPONSE : status, message, lkv__bench_now_ns());
  if (!w->created) lkv__bench_setup_failed(t, "watch: %s: %s", lkv_bench_outcome_name(status), message);
}

static int start_watcher(lkv__bench_thread_t *t, lkv__bench_watcher_t *w, lkv_grpc_conn_t *conn) {
  static const lkv_grpc_stream_cbs_t cbs = {watch_message, watch_close};
  Etcdserverpb__WatchCreateRequest create;
  Etcdserverpb__WatchRequest req;
  size_t len;
  etcdserverpb__watch_create_request__init(&create);
  create.key.data = (uint8_t *)WATCH_FROM;
  create.key.len = strlen(WATCH_FROM);
  create.range_end.data = (uint8_t *)WATCH_TO;
  create.range_end.len = strlen(WATCH_TO);
  etcdserverpb__watch_request__init(&req);
  req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
  req.create_request = &create;
  int rv = lkv__bench_pack(t, &req.base, &len);
  if (rv == 0) rv = lkv_grpc_stream_open(conn, PATH_WATCH, &cbs, w, &w->stream);
  if (rv == 0) rv = lkv_grpc_stream_send(w->stream, t->buf, len);
  return rv;
}

/* ---- lease-keepalive ---- */

static void keepalive_message(void *ud, lkv_grpc_stream_t *s, const uint8_t *msg, size_t len) {
  lkv__bench_client_t *c = ud;
  lkv__bench_thread_t *t = c->t;
  (void)s;
  if (t->phase == LKV__PH_DONE || !c->busy) return;
  Etcdserverpb__LeaseKeepAliveResponse *resp =
      etcdserverpb__lease_keep_alive_response__unpack(NULL, len, msg);
  if (!resp) {
    lkv__bench_record(t, LKV_BENCH_BAD_RESPONSE, "undecodable LeaseKeepAliveResponse", c->start_ns);
  } else if (resp->ttl <= 0) {
    /* etcd answers a keep-alive for an unknown lease with TTL 0 on the stream rather than an error. */
    lkv__bench_record(t, LKV_GRPC_NOT_FOUND, "lease not found (keep-alive answered with TTL 0)", c->start_ns);
  } else {
    lkv__bench_record(t, LKV_GRPC_OK, NULL, c->start_ns);
  }
  if (resp) etcdserverpb__lease_keep_alive_response__free_unpacked(resp, NULL);
  lkv__bench_client_done(c);
}

static void keepalive_close(void *ud, lkv_grpc_stream_t *s, int status, const char *message) {
  lkv__bench_client_t *c = ud;
  lkv__bench_thread_t *t = c->t;
  (void)s;
  c->stream = NULL;
  c->dead = 1;
  if (t->phase == LKV__PH_DONE || !c->busy) return;
  lkv__bench_record(t, status == LKV_GRPC_OK ? LKV_BENCH_BAD_RESPONSE : status,
                    status == LKV_GRPC_OK ? "keep-alive stream ended by the server" : message, c->start_ns);
  lkv__bench_client_done(c);
}

/* The last grant answered: without a single lease the workload cannot run. */
static void grants_settled(lkv__bench_thread_t *t) {
  for (int i = 0; i < t->n_clients; i++) {
    if (!t->clients[i].dead) return;
  }
  int first = 1;
  while (first < LKV_BENCH_N_OUTCOMES && !t->stats.errors[first]) first++;
  lkv__bench_setup_failed(
      t, "lease-keepalive: no lease could be granted (%s: %s)", lkv_bench_outcome_name(first),
      first < LKV_BENCH_N_OUTCOMES && t->stats.first_error[first] ? t->stats.first_error[first] : "");
}

static void grant_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  static const lkv_grpc_stream_cbs_t cbs = {keepalive_message, keepalive_close};
  lkv__bench_client_t *c = ud;
  lkv__bench_thread_t *t = c->t;
  if (t->phase == LKV__PH_DONE) return;
  t->setup_pending--;
  c->dead = 1;
  if (status != LKV_GRPC_OK) {
    lkv__bench_record(t, status, message, lkv__bench_now_ns());
  } else {
    Etcdserverpb__LeaseGrantResponse *g = etcdserverpb__lease_grant_response__unpack(NULL, len, resp);
    if (!g || g->id == 0 || (g->error && g->error[0])) {
      lkv__bench_record(t, LKV_BENCH_BAD_RESPONSE, g && g->error ? g->error : "bad LeaseGrantResponse",
                        lkv__bench_now_ns());
    } else {
      c->lease_id = g->id;
      int rv = lkv_grpc_stream_open(c->conn, PATH_KEEPALIVE, &cbs, c, &c->stream);
      if (rv == 0)
        c->dead = 0;
      else
        lkv__bench_record(t, LKV_GRPC_UNAVAILABLE, lkv_strerror(rv), lkv__bench_now_ns());
    }
    if (g) etcdserverpb__lease_grant_response__free_unpacked(g, NULL);
  }
  if (t->setup_pending == 0) grants_settled(t);
}

int lkv__bench_issue_keepalive(lkv__bench_client_t *c) {
  Etcdserverpb__LeaseKeepAliveRequest req;
  size_t len;
  etcdserverpb__lease_keep_alive_request__init(&req);
  req.id = c->lease_id;
  int rv = lkv__bench_pack(c->t, &req.base, &len);
  return rv ? rv : lkv_grpc_stream_send(c->stream, c->t->buf, len);
}

static int start_grant(lkv__bench_client_t *c) {
  Etcdserverpb__LeaseGrantRequest req;
  etcdserverpb__lease_grant_request__init(&req);
  req.ttl = c->t->cfg->lease_ttl;
  return lkv__bench_unary(c->t, c->conn, PATH_GRANT, &req.base, grant_done, c);
}

/* ---- setup and teardown ---- */

int lkv__bench_setup_streams(lkv__bench_thread_t *t) {
  int rv = 0;
  if (t->cfg->workload == LKV_BENCH_WATCH) {
    for (int i = 0; i < t->n_watchers && rv == 0; i++) {
      if ((rv = start_watcher(t, &t->watchers[i], t->conns[i % t->n_conns])) == 0) t->setup_pending++;
    }
    if (rv != 0) lkv__bench_setup_failed(t, "watch: %s", lkv_strerror(rv));
  } else if (t->cfg->workload == LKV_BENCH_LEASE_KEEPALIVE) {
    for (int i = 0; i < t->n_clients && rv == 0; i++) {
      if ((rv = start_grant(&t->clients[i])) == 0) t->setup_pending++;
    }
    if (rv != 0) lkv__bench_setup_failed(t, "lease grant: %s", lkv_strerror(rv));
  }
  return rv;
}

void lkv__bench_teardown_streams(lkv__bench_thread_t *t) {
  for (int i = 0; i < t->n_watchers; i++) {
    if (t->watchers[i].stream) lkv_grpc_stream_cancel(t->watchers[i].stream);
  }
  for (int i = 0; i < t->n_clients; i++) {
    if (t->clients[i].stream) lkv_grpc_stream_cancel(t->clients[i].stream);
  }
}
