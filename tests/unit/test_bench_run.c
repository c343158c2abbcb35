/* Tests for the bench engine (bench/run.h) against an in-process fake etcd on the server transport. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "bench/args.h"
#include "bench/run.h"
#include "bench/stats.h"
#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "transport/transport.h"

/* ---- fake etcd: one loop thread, so its state needs no lock (counters are read by the test thread). It
 * runs on the transport's thread, where cmocka's asserts must not be used: a bad request is answered with
 * INVALID_ARGUMENT instead, which the tests' counts then reveal. ---- */

enum { R_PUT, R_RANGE, R_TXN, R_WATCH, R_GRANT, R_KEEPALIVE, N_ROUTES };
static const char *const paths[N_ROUTES] = {
    "/etcdserverpb.KV/Put",      "/etcdserverpb.KV/Range",         "/etcdserverpb.KV/Txn",
    "/etcdserverpb.Watch/Watch", "/etcdserverpb.Lease/LeaseGrant", "/etcdserverpb.Lease/LeaseKeepAlive"};
static const int route_ids[N_ROUTES] = {R_PUT, R_RANGE, R_TXN, R_WATCH, R_GRANT, R_KEEPALIVE};

#define MAX_WATCHES 64

typedef struct {
  int no_lease; /* answer the Lease service with UNIMPLEMENTED (as a server without leases does) */
  atomic_int puts, ranges, txn_reads, txn_writes, txn_ops, grants, keepalives;
  lkv_call_t *watches[MAX_WATCHES];
  int n_watches;
  int64_t next_lease;
} fake_t;

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  fake_t *f = app;
  for (int i = 0; i < N_ROUTES; i++) {
    if (strlen(paths[i]) != len || memcmp(paths[i], path, len) != 0) continue;
    if (f->no_lease && (i == R_GRANT || i == R_KEEPALIVE)) return NULL;
    *streaming = i == R_WATCH || i == R_KEEPALIVE;
    return &route_ids[i];
  }
  return NULL;
}

static void reply(lkv_call_t *call, const ProtobufCMessage *m, int finish) {
  uint8_t buf[512];
  size_t n = protobuf_c_message_pack(m, buf);
  lkv_call_send(call, buf, n);
  if (finish) lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

/* Every watcher sees every put, as an etcd watcher of the whole bench key range would. */
static void broadcast(fake_t *f, const Etcdserverpb__PutRequest *put) {
  Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
  Mvccpb__Event ev = MVCCPB__EVENT__INIT, *evp = &ev;
  Etcdserverpb__WatchResponse wr = ETCDSERVERPB__WATCH_RESPONSE__INIT;
  kv.key = put->key;
  kv.value = put->value;
  ev.type = MVCCPB__EVENT__EVENT_TYPE__PUT;
  ev.kv = &kv;
  wr.n_events = 1;
  wr.events = &evp;
  for (int i = 0; i < f->n_watches; i++) reply(f->watches[i], &wr.base, 0);
}

static void on_put(fake_t *f, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__PutRequest *put = etcdserverpb__put_request__unpack(NULL, len, data);
  Etcdserverpb__PutResponse resp = ETCDSERVERPB__PUT_RESPONSE__INIT;
  if (!put) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "undecodable request");
    return;
  }
  atomic_fetch_add(&f->puts, 1);
  broadcast(f, put);
  etcdserverpb__put_request__free_unpacked(put, NULL);
  reply(call, &resp.base, 1);
}

static void on_range(fake_t *f, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__RangeRequest *req = etcdserverpb__range_request__unpack(NULL, len, data);
  Etcdserverpb__RangeResponse resp = ETCDSERVERPB__RANGE_RESPONSE__INIT;
  if (!req) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "undecodable request");
    return;
  }
  atomic_fetch_add(&f->ranges, 1);
  int seven = req->key.len > 0 && req->key.data[req->key.len - 1] == '7';
  etcdserverpb__range_request__free_unpacked(req, NULL);
  if (seven)
    lkv_call_finish(call, LKV_GRPC_FAILED_PRECONDITION, "keys ending in 7 fail");
  else
    reply(call, &resp.base, 1);
}

static void on_txn(fake_t *f, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__TxnRequest *req = etcdserverpb__txn_request__unpack(NULL, len, data);
  Etcdserverpb__TxnResponse resp = ETCDSERVERPB__TXN_RESPONSE__INIT;
  if (!req) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "undecodable request");
    return;
  }
  atomic_fetch_add(&f->txn_ops, (int)req->n_success);
  if (req->n_success == 1 &&
      req->success[0]->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE) {
    atomic_fetch_add(&f->txn_reads, 1);
  } else {
    atomic_fetch_add(&f->txn_writes, 1);
  }
  etcdserverpb__txn_request__free_unpacked(req, NULL);
  resp.succeeded = 1;
  reply(call, &resp.base, 1);
}

static void on_watch(fake_t *f, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__WatchRequest *req = etcdserverpb__watch_request__unpack(NULL, len, data);
  Etcdserverpb__WatchResponse resp = ETCDSERVERPB__WATCH_RESPONSE__INIT;
  int create = req && req->request_union_case == ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
  if (req) etcdserverpb__watch_request__free_unpacked(req, NULL);
  if (!create || f->n_watches == MAX_WATCHES) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "not a watch creation");
    return;
  }
  resp.created = 1;
  resp.watch_id = f->n_watches;
  f->watches[f->n_watches++] = call;
  reply(call, &resp.base, 0);
}

static void on_grant(fake_t *f, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__LeaseGrantRequest *req = etcdserverpb__lease_grant_request__unpack(NULL, len, data);
  Etcdserverpb__LeaseGrantResponse resp = ETCDSERVERPB__LEASE_GRANT_RESPONSE__INIT;
  if (!req) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "undecodable request");
    return;
  }
  atomic_fetch_add(&f->grants, 1);
  resp.id = ++f->next_lease;
  resp.ttl = req->ttl;
  etcdserverpb__lease_grant_request__free_unpacked(req, NULL);
  reply(call, &resp.base, 1);
}

static void on_keepalive(fake_t *f, lkv_call_t *call, const uint8_t *data, size_t len) {
  Etcdserverpb__LeaseKeepAliveRequest *req = etcdserverpb__lease_keep_alive_request__unpack(NULL, len, data);
  Etcdserverpb__LeaseKeepAliveResponse resp = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
  if (!req) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "undecodable request");
    return;
  }
  atomic_fetch_add(&f->keepalives, 1);
  resp.id = req->id;
  resp.ttl = req->id > 0 && req->id <= f->next_lease ? 30 : 0;
  etcdserverpb__lease_keep_alive_request__free_unpacked(req, NULL);
  reply(call, &resp.base, 0);
}

static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  static void (*const handlers[N_ROUTES])(fake_t *, lkv_call_t *, const uint8_t *, size_t) = {
      on_put, on_range, on_txn, on_watch, on_grant, on_keepalive};
  handlers[*(const int *)route](app, call, data, len);
}

static void forget_watch(fake_t *f, lkv_call_t *call) {
  for (int i = 0; i < f->n_watches; i++) {
    if (f->watches[i] == call) f->watches[i] = f->watches[--f->n_watches];
  }
}

static void on_half_close(void *app, const void *route, lkv_call_t *call) {
  if (*(const int *)route == R_WATCH) forget_watch(app, call);
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_cancel(void *app, const void *route, lkv_call_t *call) {
  if (*(const int *)route == R_WATCH) forget_watch(app, call);
  lkv_call_finish(call, LKV_GRPC_CANCELLED, NULL);
}

typedef struct {
  fake_t fake;
  lkv_transport_t *server;
  char endpoint[32];
  lkv_bench_config_t cfg;
  lkv_bench_result_t res;
  int have_cfg, have_res;
} fixture_t;

static int start_fake(fixture_t *f) {
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr,
                                  .n_addrs = 1,
                                  .n_loops = 1,
                                  .max_recv_msg_bytes = 1 << 20};
  lkv_transport_handler_t h = {.app = &f->fake,
                               .lookup = lookup,
                               .on_message = on_message,
                               .on_half_close = on_half_close,
                               .on_cancel = on_cancel};
  int rv = lkv_transport_start(&f->server, &opts, &h);
  snprintf(f->endpoint, sizeof(f->endpoint), "127.0.0.1:%d",
           rv == 0 ? lkv_transport_bound_port(f->server, 0) : 0);
  return rv;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  assert_int_equal(start_fake(f), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->server) lkv_transport_stop(f->server, 1000);
  if (f->have_res) lkv_bench_result_free(&f->res);
  if (f->have_cfg) lkv_bench_args_free(&f->cfg);
  free(f);
  return 0;
}

/* Parses "workload flags..." (the endpoint of the fake is added) and runs the bench. */
static lkv_bench_result_t *run(fixture_t *f, const char *cmdline) {
  char line[512], err[256], *argv[64];
  int argc = 0;
  snprintf(line, sizeof(line), "%s --no-progress --endpoints %s", cmdline, f->endpoint);
  for (char *save = NULL, *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
    argv[argc++] = tok;
  if (lkv_bench_args_parse(&f->cfg, argc, argv, err, sizeof(err)) != 0) fail_msg("%s: %s", cmdline, err);
  f->have_cfg = 1;
  assert_int_equal(lkv_bench_run(&f->cfg, &f->res, NULL), 0);
  f->have_res = 1;
  return &f->res;
}

/* ---- tests ---- */

static void test_put_closed_loop(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "put --total 500 --clients 8 --conns 2 --threads 2");
  assert_null(r->aborted);
  assert_int_equal(r->stats.ok, 500);
  assert_int_equal(r->stats.sent, 500);
  assert_int_equal(lkv_bench_stats_errors(&r->stats), 0);
  assert_int_equal(r->stats.latency_ns.total, 500);
  assert_int_equal(atomic_load(&f->fake.puts), 500);
  assert_true(r->elapsed_s > 0);
}

/* Failures are counted by status, with the server's message. Sequential keys 0..999: 100 end in 7. */
static void test_errors_by_status(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "range --total 1000 --key-space 1000 --sequential-keys --clients 4");
  assert_int_equal(r->stats.ok, 900);
  assert_int_equal(r->stats.errors[LKV_GRPC_FAILED_PRECONDITION], 100);
  assert_int_equal(lkv_bench_stats_errors(&r->stats), 100);
  assert_string_equal(r->stats.first_error[LKV_GRPC_FAILED_PRECONDITION], "keys ending in 7 fail");
  assert_int_equal(r->stats.latency_ns.total, 900);
}

/* Open loop: 300 requests at 1500/s take about 0.2 s however fast the server is. */
static void test_open_loop_rate(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "put --total 300 --rate 1500 --clients 4");
  assert_int_equal(r->stats.ok, 300);
  assert_true(r->elapsed_s >= 0.19);
  assert_true(r->elapsed_s < 2.0);
}

static void test_duration(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "put --duration 300ms --clients 2");
  assert_true(r->stats.ok > 0);
  assert_int_equal(r->stats.ok, r->stats.sent);
  assert_true(r->elapsed_s >= 0.25);
  assert_true(r->elapsed_s < 2.0);
}

static void test_txn_mixed(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "txn-mixed --total 2000 --rw-ratio 3 --clients 4");
  assert_int_equal(r->stats.ok, 2000);
  assert_int_equal(r->stats.reads + r->stats.writes, 2000);
  assert_int_equal(r->stats.reads, atomic_load(&f->fake.txn_reads));
  assert_int_equal(r->stats.writes, atomic_load(&f->fake.txn_writes));
  assert_true(r->stats.reads > 1300 && r->stats.reads < 1700); /* 3 of 4 are reads */
}

static void test_txn_put(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "txn-put --total 100 --txn-ops 3 --key-space 10");
  assert_int_equal(r->stats.ok, 100);
  assert_int_equal(atomic_load(&f->fake.txn_ops), 300);
  assert_int_equal(atomic_load(&f->fake.txn_writes), 100);
}

static void test_watch_fan_out(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "watch --total 100 --watchers 5 --clients 2 --conns 2 --threads 2");
  assert_null(r->aborted);
  assert_int_equal(r->stats.puts_ok, 100);
  assert_int_equal(r->stats.sent, 100);
  assert_int_equal(r->stats.ok, 500); /* every put seen by every watcher */
  assert_int_equal(lkv_bench_stats_errors(&r->stats), 0);
}

static void test_lease_keepalive(void **state) {
  fixture_t *f = *state;
  lkv_bench_result_t *r = run(f, "lease-keepalive --total 200 --clients 4");
  assert_null(r->aborted);
  assert_int_equal(r->stats.ok, 200);
  assert_int_equal(atomic_load(&f->fake.grants), 4);
  assert_int_equal(atomic_load(&f->fake.keepalives), 200);
}

/* A server without the Lease service: the run is aborted and every grant counts as UNIMPLEMENTED. */
static void test_unimplemented(void **state) {
  fixture_t *f = *state;
  f->fake.no_lease = 1;
  lkv_bench_result_t *r = run(f, "lease-keepalive --total 200 --clients 3");
  assert_non_null(r->aborted);
  assert_non_null(strstr(r->aborted, "UNIMPLEMENTED"));
  assert_int_equal(r->stats.errors[LKV_GRPC_UNIMPLEMENTED], 3);
  assert_int_equal(r->stats.ok, 0);
  assert_int_equal(r->stats.sent, 0);
}

static void test_connect_refused(void **state) {
  fixture_t *f = *state;
  lkv_transport_stop(f->server, 0); /* nothing listens on the port any more */
  f->server = NULL;
  lkv_bench_result_t *r = run(f, "put --total 10");
  assert_non_null(r->aborted);
  assert_non_null(strstr(r->aborted, f->endpoint));
  assert_int_equal(r->stats.ok, 0);
}

static void *interrupt_later(void *arg) {
  (void)arg;
  usleep(200000);
  lkv_bench_interrupt();
  return NULL;
}

static void test_interrupt(void **state) {
  fixture_t *f = *state;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, interrupt_later, NULL), 0);
  lkv_bench_result_t *r = run(f, "put --total 100000000 --clients 2");
  pthread_join(th, NULL);
  assert_int_equal(r->interrupted, 1);
  assert_true(r->stats.ok > 0);
  assert_int_equal(r->stats.ok, r->stats.sent); /* in-flight requests were awaited */
  assert_true(r->elapsed_s < 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_put_closed_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors_by_status, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_loop_rate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_txn_mixed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_txn_put, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_fan_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lease_keepalive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unimplemented, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
