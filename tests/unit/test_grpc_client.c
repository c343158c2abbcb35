/* Tests for the gRPC client (transport/grpc_client.h) against the server transport with an echo handler. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "transport/grpc_client.h"
#include "transport/transport.h"

/* ---- echo server ---- */

enum { R_UNARY = 1, R_STREAM, R_FAIL, R_TWICE, R_SILENT };
static const int routes[] = {0, R_UNARY, R_STREAM, R_FAIL, R_TWICE, R_SILENT};

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app;
  static const struct {
    const char *path;
    int route;
  } table[] = {{"/t.Echo/Unary", R_UNARY},
               {"/t.Echo/Stream", R_STREAM},
               {"/t.Echo/Fail", R_FAIL},
               {"/t.Echo/Twice", R_TWICE},
               {"/t.Echo/Silent", R_SILENT}};
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    if (strlen(table[i].path) == len && memcmp(table[i].path, path, len) == 0) {
      *streaming = table[i].route == R_STREAM || table[i].route == R_SILENT;
      return &routes[table[i].route];
    }
  }
  return NULL;
}

static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app;
  switch (*(const int *)route) {
    case R_UNARY:
      lkv_call_send(call, data, len);
      lkv_call_finish(call, LKV_GRPC_OK, NULL);
      break;
    case R_STREAM:
      lkv_call_send(call, data, len);
      break;
    case R_FAIL:
      lkv_call_finish(call, LKV_GRPC_FAILED_PRECONDITION, "bad thing: 100% \xc3\xa9");
      break;
    case R_TWICE:
      lkv_call_send(call, data, len);
      lkv_call_send(call, data, len);
      lkv_call_finish(call, LKV_GRPC_OK, NULL);
      break;
    default:
      break; /* R_SILENT: holds the call until the client goes away */
  }
}

static void on_half_close(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_cancel(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  lkv_call_finish(call, LKV_GRPC_CANCELLED, NULL);
}

typedef struct {
  lkv_transport_t *server;
  int port;
  lkv_grpc_loop_t *loop;
  lkv_grpc_conn_t *conn;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr,
                                  .n_addrs = 1,
                                  .n_loops = 1,
                                  .max_recv_msg_bytes = 8 << 20};
  lkv_transport_handler_t h = {
      .lookup = lookup, .on_message = on_message, .on_half_close = on_half_close, .on_cancel = on_cancel};
  assert_int_equal(lkv_transport_start(&f->server, &opts, &h), 0);
  f->port = lkv_transport_bound_port(f->server, 0);
  assert_int_equal(lkv_grpc_loop_new(&f->loop), 0);
  assert_int_equal(lkv_grpc_conn_open(f->loop, "127.0.0.1", f->port, NULL, NULL, &f->conn), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  lkv_grpc_loop_free(f->loop);
  if (f->server) lkv_transport_stop(f->server, 1000);
  free(f);
  return 0;
}

/* ---- running the loop until something happened ---- */

typedef struct {
  lkv_grpc_loop_t *loop;
  int (*pred)(void *);
  void *arg;
  int ticks_left;
} waiter_t;

static void tick(void *ud) {
  waiter_t *w = ud;
  if (w->pred(w->arg) || --w->ticks_left <= 0) lkv_grpc_loop_stop(w->loop);
}

/* Runs the loop until pred(arg) holds; fails the test after timeout_ms. */
static void run_until(lkv_grpc_loop_t *loop, int (*pred)(void *), void *arg, int timeout_ms) {
  waiter_t w = {loop, pred, arg, timeout_ms};
  lkv_grpc_timer_t *t;
  assert_int_equal(lkv_grpc_timer_new(loop, tick, &w, &t), 0);
  lkv_grpc_timer_start(t, 1, 1);
  lkv_grpc_loop_run(loop);
  lkv_grpc_timer_free(t);
  assert_true(pred(arg));
}

/* ---- results ---- */

typedef struct {
  int done;
  int status;
  char message[256];
  uint8_t *resp;
  size_t len;
  int msgs;         /* streams: messages received */
  size_t msg_bytes; /* streams: total payload bytes */
  int want;         /* got_msgs: messages to wait for */
} result_t;

static int is_done(void *arg) {
  return ((result_t *)arg)->done;
}

static void unary_done(void *ud, int status, const char *message, const uint8_t *resp, size_t len) {
  result_t *r = ud;
  r->done++;
  r->status = status;
  snprintf(r->message, sizeof(r->message), "%s", message);
  r->resp = len ? malloc(len) : NULL;
  if (len) memcpy(r->resp, resp, len);
  r->len = len;
}

static void stream_msg(void *ud, lkv_grpc_stream_t *s, const uint8_t *msg, size_t len) {
  (void)s, (void)msg;
  result_t *r = ud;
  r->msgs++;
  r->msg_bytes += len;
}

static void stream_close(void *ud, lkv_grpc_stream_t *s, int status, const char *message) {
  (void)s;
  result_t *r = ud;
  r->done++;
  r->status = status;
  snprintf(r->message, sizeof(r->message), "%s", message);
}

static const lkv_grpc_stream_cbs_t stream_cbs = {stream_msg, stream_close};

/* ---- tests ---- */

static void test_unary_echo(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", (const uint8_t *)"hello", 5, unary_done, &r), 0);
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.done, 1);
  assert_int_equal(r.status, LKV_GRPC_OK);
  assert_int_equal(r.len, 5);
  assert_memory_equal(r.resp, "hello", 5);
  free(r.resp);

  /* An empty request message is a valid message too. */
  result_t e = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", NULL, 0, unary_done, &e), 0);
  run_until(f->loop, is_done, &e, 5000);
  assert_int_equal(e.status, LKV_GRPC_OK);
  assert_int_equal(e.len, 0);
}

static void test_unknown_method(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Nope", (const uint8_t *)"x", 1, unary_done, &r), 0);
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.status, LKV_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(r.message, "t.Echo")); /* the server's text, decoded */
  assert_string_equal(lkv_grpc_status_name(r.status), "UNIMPLEMENTED");
}

static void test_error_message_decoded(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Fail", (const uint8_t *)"x", 1, unary_done, &r), 0);
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.status, LKV_GRPC_FAILED_PRECONDITION);
  assert_string_equal(r.message, "bad thing: 100% \xc3\xa9");
  assert_null(r.resp);
}

static void test_two_messages_is_internal(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Twice", (const uint8_t *)"x", 1, unary_done, &r), 0);
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.status, LKV_GRPC_INTERNAL);
}

typedef struct {
  result_t r[2000];
  int n;
} many_t;

static int all_done(void *arg) {
  many_t *m = arg;
  for (int i = 0; i < m->n; i++) {
    if (!m->r[i].done) return 0;
  }
  return 1;
}

static void test_many_concurrent_calls(void **state) {
  fixture_t *f = *state;
  many_t *m = calloc(1, sizeof(*m));
  m->n = 2000;
  for (int i = 0; i < m->n; i++) {
    uint32_t v = (uint32_t)i;
    assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", (const uint8_t *)&v, 4, unary_done, &m->r[i]),
                     0);
  }
  run_until(f->loop, all_done, m, 20000);
  for (int i = 0; i < m->n; i++) {
    uint32_t v;
    assert_int_equal(m->r[i].done, 1);
    assert_int_equal(m->r[i].status, LKV_GRPC_OK);
    assert_int_equal(m->r[i].len, 4);
    memcpy(&v, m->r[i].resp, 4);
    assert_int_equal(v, (uint32_t)i);
    free(m->r[i].resp);
  }
  free(m);
}

static void test_large_message(void **state) {
  fixture_t *f = *state;
  size_t len = 3 << 20; /* beyond every default HTTP/2 window */
  uint8_t *big = malloc(len);
  for (size_t i = 0; i < len; i++) big[i] = (uint8_t)(i * 31);
  result_t r = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", big, len, unary_done, &r), 0);
  run_until(f->loop, is_done, &r, 10000);
  assert_int_equal(r.status, LKV_GRPC_OK);
  assert_int_equal(r.len, len);
  assert_memory_equal(r.resp, big, len);
  free(r.resp);
  free(big);
}

static int got_msgs(void *arg) {
  result_t *r = arg;
  return r->msgs >= r->want || r->done;
}

static void test_bidi_stream(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  lkv_grpc_stream_t *s;
  const char *msgs[] = {"a", "bb", "ccc"};
  assert_int_equal(lkv_grpc_stream_open(f->conn, "/t.Echo/Stream", &stream_cbs, &r, &s), 0);
  /* Interactive: each answer arrives before the next request is sent. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(lkv_grpc_stream_send(s, (const uint8_t *)msgs[i], strlen(msgs[i])), 0);
    r.want = i + 1;
    run_until(f->loop, got_msgs, &r, 5000);
    assert_int_equal(r.msgs, i + 1);
    assert_int_equal(r.done, 0);
  }
  lkv_grpc_stream_close_send(s);
  assert_int_equal(lkv_grpc_stream_send(s, (const uint8_t *)"x", 1), LKV_EINVAL);
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.status, LKV_GRPC_OK);
  assert_int_equal(r.msg_bytes, 6);
}

static void test_cancel_stream(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  lkv_grpc_stream_t *s;
  assert_int_equal(lkv_grpc_stream_open(f->conn, "/t.Echo/Silent", &stream_cbs, &r, &s), 0);
  assert_int_equal(lkv_grpc_stream_send(s, (const uint8_t *)"a", 1), 0);
  lkv_grpc_stream_cancel(s);
  assert_int_equal(lkv_grpc_stream_send(s, (const uint8_t *)"b", 1), LKV_ECANCELED);
  assert_int_equal(r.done, 0); /* on_close comes from the loop, not from inside cancel */
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.done, 1);
  assert_int_equal(r.status, LKV_GRPC_CANCELLED);

  /* The connection is still usable. */
  result_t u = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", (const uint8_t *)"z", 1, unary_done, &u), 0);
  run_until(f->loop, is_done, &u, 5000);
  assert_int_equal(u.status, LKV_GRPC_OK);
  free(u.resp);
}

static void test_close_ends_streams(void **state) {
  fixture_t *f = *state;
  result_t r = {0}, u = {0};
  lkv_grpc_stream_t *s;
  assert_int_equal(lkv_grpc_stream_open(f->conn, "/t.Echo/Silent", &stream_cbs, &r, &s), 0);
  assert_int_equal(lkv_grpc_stream_send(s, (const uint8_t *)"a", 1), 0);
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", (const uint8_t *)"z", 1, unary_done, &u), 0);
  run_until(f->loop, is_done, &u, 5000);
  lkv_grpc_conn_close(f->conn);
  f->conn = NULL;
  assert_int_equal(r.done, 1); /* before close returned */
  assert_int_equal(r.status, LKV_GRPC_CANCELLED);
  free(u.resp);
}

typedef struct {
  int called;
  int status;
} connect_t;

static void on_connect(void *ud, lkv_grpc_conn_t *conn, int status) {
  (void)conn;
  connect_t *c = ud;
  c->called++;
  c->status = status;
}

static void test_connect_refused(void **state) {
  fixture_t *f = *state;
  /* A port that was just free: bind one, note it, close it. */
  lkv_transport_t *tmp;
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {
      .addrs = &addr, .n_addrs = 1, .n_loops = 1, .max_recv_msg_bytes = 1024};
  lkv_transport_handler_t h = {.lookup = lookup, .on_message = on_message};
  assert_int_equal(lkv_transport_start(&tmp, &opts, &h), 0);
  int port = lkv_transport_bound_port(tmp, 0);
  lkv_transport_stop(tmp, 0);

  connect_t c = {0};
  result_t r = {0};
  lkv_grpc_conn_t *conn;
  assert_int_equal(lkv_grpc_conn_open(f->loop, "127.0.0.1", port, on_connect, &c, &conn), 0);
  assert_int_equal(lkv_grpc_unary(conn, "/t.Echo/Unary", (const uint8_t *)"z", 1, unary_done, &r), 0);
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.status, LKV_GRPC_UNAVAILABLE);
  assert_int_equal(c.called, 1);
  assert_int_equal(c.status, -ECONNREFUSED);
  assert_int_equal(lkv_grpc_conn_error(conn), -ECONNREFUSED);
  assert_non_null(strstr(lkv_grpc_conn_error_text(conn), "connect"));
  /* A failed connection refuses new calls without calling back. */
  result_t r2 = {0};
  assert_int_equal(lkv_grpc_unary(conn, "/t.Echo/Unary", (const uint8_t *)"z", 1, unary_done, &r2),
                   -ECONNREFUSED);
  assert_int_equal(r2.done, 0);
  lkv_grpc_conn_close(conn);
}

static void test_bad_host(void **state) {
  fixture_t *f = *state;
  lkv_grpc_conn_t *conn;
  assert_int_equal(lkv_grpc_conn_open(f->loop, "no such host.invalid", 1, NULL, NULL, &conn), LKV_EINVAL);
  assert_int_equal(lkv_grpc_conn_open(f->loop, "127.0.0.1", 70000, NULL, NULL, &conn), LKV_EINVAL);
}

static int conn_ended(void *arg) {
  return lkv_grpc_conn_error(arg) != 0;
}

static void test_server_shutdown(void **state) {
  fixture_t *f = *state;
  result_t r = {0};
  lkv_grpc_stream_t *s;
  assert_int_equal(lkv_grpc_stream_open(f->conn, "/t.Echo/Stream", &stream_cbs, &r, &s), 0);
  assert_int_equal(lkv_grpc_stream_send(s, (const uint8_t *)"a", 1), 0);
  r.want = 1;
  run_until(f->loop, got_msgs, &r, 5000);
  /* A graceful stop ends the open stream with the transport's UNAVAILABLE, then the connection. The
   * client's socket buffers what the server sends meanwhile. */
  lkv_transport_stop(f->server, 2000);
  f->server = NULL;
  run_until(f->loop, is_done, &r, 5000);
  assert_int_equal(r.status, LKV_GRPC_UNAVAILABLE);
  run_until(f->loop, conn_ended, f->conn, 5000);
  result_t u = {0};
  assert_int_equal(lkv_grpc_unary(f->conn, "/t.Echo/Unary", (const uint8_t *)"z", 1, unary_done, &u),
                   lkv_grpc_conn_error(f->conn));
  assert_int_equal(u.done, 0);
}

typedef struct {
  lkv_grpc_timer_t *t;
  int n;
} ticker_t;

static void count_tick(void *ud) {
  ticker_t *k = ud;
  if (++k->n == 3) lkv_grpc_timer_free(k->t); /* from its own callback */
}

static void *stop_later(void *arg) {
  usleep(20000);
  lkv_grpc_loop_stop(arg);
  return NULL;
}

static void test_timers_and_stop(void **state) {
  (void)state;
  lkv_grpc_loop_t *loop;
  assert_int_equal(lkv_grpc_loop_new(&loop), 0);
  /* With nothing left to wait for, run returns on its own. */
  ticker_t k = {NULL, 0};
  assert_int_equal(lkv_grpc_timer_new(loop, count_tick, &k, &k.t), 0);
  lkv_grpc_timer_start(k.t, 1, 1);
  lkv_grpc_loop_run(loop);
  assert_int_equal(k.n, 3);

  /* A running timer keeps the loop busy until another thread stops it. */
  ticker_t forever = {NULL, 0};
  assert_int_equal(lkv_grpc_timer_new(loop, count_tick, &forever, &forever.t), 0);
  forever.n = 10; /* never reaches 3 again */
  lkv_grpc_timer_start(forever.t, 1, 1);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stop_later, loop), 0);
  lkv_grpc_loop_run(loop);
  pthread_join(th, NULL);
  assert_true(forever.n > 10);

  /* A stop requested before run ends the next run at once. */
  lkv_grpc_loop_stop(loop);
  int before = forever.n;
  lkv_grpc_loop_run(loop);
  assert_true(forever.n - before < 100);
  lkv_grpc_loop_free(loop); /* frees the still-running timer */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unary_echo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_message_decoded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_two_messages_is_internal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_concurrent_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bidi_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_ends_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_host, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_shutdown, setup, teardown),
      cmocka_unit_test(test_timers_and_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
