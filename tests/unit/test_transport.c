/* Transport tests: an echo application on the real transport, driven by a small nghttp2 client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "h2_test_client.h"
#include "transport/transport.h"

#define TIMEOUT_MS 10000
#define MAX_REQUEST (8u << 20)
#define N_LOOPS 2
#define MAX_WORKERS 32

/* ---- the echo application ---- */

typedef enum { R_UNARY, R_STREAM, R_FAIL, R_LATER, R_BIG, R_HOLD, R_ORDERED } route_id_t;

typedef struct {
  const char *path;
  route_id_t id;
  int streaming;
} route_t;

static const route_t routes[] = {
    {"/test.Echo/Unary", R_UNARY, 0},     {"/test.Echo/Stream", R_STREAM, 1}, {"/test.Echo/Fail", R_FAIL, 0},
    {"/test.Echo/Later", R_LATER, 0},     {"/test.Echo/Big", R_BIG, 0},       {"/test.Echo/Hold", R_HOLD, 0},
    {"/test.Echo/Ordered", R_ORDERED, 0},
};

#define ORDERED_SENDS 50

typedef struct {
  lkv_transport_t *t;
  int port;
  atomic_int messages, cancels, half_closes, later_started, later_canceled_sends, held;
  atomic_int loop_seen[N_LOOPS];
  atomic_size_t big_pending; /* lkv_call_pending_bytes right after the Big route's send */
  atomic_int failures;       /* checks that failed on server threads (cmocka asserts only on the main one) */
  pthread_mutex_t mu;
  pthread_t workers[MAX_WORKERS];
  int n_workers;
} server_t;

static server_t srv;

typedef struct {
  lkv_call_t *call;
  uint8_t *msg;
  size_t len;
} job_t;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      atomic_fetch_add(&srv.failures, 1);                                      \
    }                                                                          \
  } while (0)

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* The Later route's answer comes from another thread, as a write's answer comes from the committer. */
static void *later_worker(void *arg) {
  job_t *job = arg;
  sleep_ms(100);
  if (lkv_call_send(job->call, job->msg, job->len) == LKV_ECANCELED)
    atomic_fetch_add(&srv.later_canceled_sends, 1);
  lkv_call_finish(job->call, LKV_GRPC_OK, NULL);
  free(job->msg);
  free(job);
  return NULL;
}

static void start_later(lkv_call_t *call, const uint8_t *data, size_t len) {
  job_t *job = malloc(sizeof(*job));
  job->call = call;
  job->msg = malloc(len ? len : 1);
  memcpy(job->msg, data, len);
  job->len = len;
  pthread_mutex_lock(&srv.mu);
  CHECK(srv.n_workers < MAX_WORKERS);
  CHECK(pthread_create(&srv.workers[srv.n_workers++], NULL, later_worker, job) == 0);
  pthread_mutex_unlock(&srv.mu);
  atomic_fetch_add(&srv.later_started, 1);
}

static void join_workers(void) {
  pthread_mutex_lock(&srv.mu);
  for (int i = 0; i < srv.n_workers; i++) pthread_join(srv.workers[i], NULL);
  srv.n_workers = 0;
  pthread_mutex_unlock(&srv.mu);
}

static void *ordered_worker(void *arg) {
  lkv_call_t *call = arg;
  for (uint32_t i = 0; i < ORDERED_SENDS; i++)
    CHECK(lkv_call_send(call, (const uint8_t *)&i, sizeof(i)) == 0);
  return NULL;
}

/* Ordered: another thread queues sends while the loop thread waits, then the loop thread finishes. The
 * finish must not overtake the sends still in the loop's queue. */
static void ordered(lkv_call_t *call) {
  pthread_t th;
  CHECK(pthread_create(&th, NULL, ordered_worker, call) == 0);
  pthread_join(th, NULL);
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static const void *app_lookup(void *app, const char *path, size_t path_len, int *client_streaming) {
  (void)app;
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    if (strlen(routes[i].path) == path_len && memcmp(routes[i].path, path, path_len) == 0) {
      *client_streaming = routes[i].streaming;
      return &routes[i];
    }
  }
  return NULL;
}

/* Big: the request is a decimal size; the answer is one message of that many patterned bytes. */
static void send_big(lkv_call_t *call, const uint8_t *data, size_t len) {
  char num[32];
  snprintf(num, sizeof(num), "%.*s", (int)len, (const char *)data);
  size_t size = strtoul(num, NULL, 10);
  uint8_t *buf = malloc(size);
  for (size_t i = 0; i < size; i++) buf[i] = (uint8_t)(i % 251);
  CHECK(lkv_call_send(call, buf, size) == 0);
  atomic_store(&srv.big_pending, lkv_call_pending_bytes(call));
  free(buf);
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void app_on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app;
  int idx = lkv_call_loop_index(call);
  CHECK(idx >= 0 && idx < N_LOOPS);
  if (idx >= 0 && idx < N_LOOPS) atomic_fetch_add(&srv.loop_seen[idx], 1);
  atomic_fetch_add(&srv.messages, 1);
  switch (((const route_t *)route)->id) {
    case R_UNARY:
      CHECK(lkv_call_send(call, data, len) == 0);
      lkv_call_finish(call, LKV_GRPC_OK, NULL);
      break;
    case R_STREAM:
      lkv_call_set_data(call, (void *)&routes[R_STREAM]);
      CHECK(lkv_call_send(call, data, len) == 0);
      break;
    case R_FAIL:
      lkv_call_finish(call, LKV_GRPC_NOT_FOUND, "no such thing: 100% sure\n");
      break;
    case R_LATER:
      start_later(call, data, len);
      break;
    case R_BIG:
      send_big(call, data, len);
      break;
    case R_HOLD:
      atomic_fetch_add(&srv.held, 1);
      break;
    case R_ORDERED:
      ordered(call);
      break;
  }
}

static int app_has_service(void *app, const char *service, size_t len) {
  (void)app;
  return len == 9 && memcmp(service, "test.Echo", 9) == 0;
}

static void app_on_half_close(void *app, const void *route, lkv_call_t *call) {
  (void)app;
  CHECK(((const route_t *)route)->id == R_STREAM);
  CHECK(lkv_call_get_data(call) == &routes[R_STREAM]);
  atomic_fetch_add(&srv.half_closes, 1);
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void app_on_cancel(void *app, const void *route, lkv_call_t *call) {
  (void)app;
  atomic_fetch_add(&srv.cancels, 1);
  /* a cancelled stream drops further sends */
  CHECK(lkv_call_send(call, (const uint8_t *)"x", 1) == LKV_ECANCELED);
  route_id_t id = ((const route_t *)route)->id;
  if (id == R_STREAM || id == R_HOLD) lkv_call_finish(call, LKV_GRPC_CANCELLED, NULL);
  /* R_LATER: its worker thread still finishes the call */
}

static int start_server(void) {
  memset(&srv, 0, sizeof(srv));
  pthread_mutex_init(&srv.mu, NULL);
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr,
                                  .n_addrs = 1,
                                  .n_loops = N_LOOPS,
                                  .max_recv_msg_bytes = MAX_REQUEST};
  lkv_transport_handler_t handler = {.app = &srv,
                                     .lookup = app_lookup,
                                     .on_message = app_on_message,
                                     .on_half_close = app_on_half_close,
                                     .on_cancel = app_on_cancel,
                                     .has_service = app_has_service};
  int rv = lkv_transport_start(&srv.t, &opts, &handler);
  if (rv != 0) return rv;
  srv.port = lkv_transport_bound_port(srv.t, 0);
  return 0;
}

static int setup(void **state) {
  (void)state;
  return start_server();
}

static int teardown(void **state) {
  (void)state;
  join_workers();
  if (srv.t) lkv_transport_stop(srv.t, 1000);
  srv.t = NULL;
  assert_int_equal(atomic_load(&srv.failures), 0);
  pthread_mutex_destroy(&srv.mu);
  return 0;
}

/* Waits (sleeping) until *counter reaches want; for conditions only the server side can observe. */
static int wait_counter(atomic_int *counter, int want) {
  for (int i = 0; i < TIMEOUT_MS / 5; i++) {
    if (atomic_load(counter) >= want) return 1;
    sleep_ms(5);
  }
  return 0;
}

typedef struct {
  atomic_int *counter;
  int want;
} counter_pred_t;

static int counter_reached(void *arg) {
  counter_pred_t *p = arg;
  return atomic_load(p->counter) >= p->want;
}

typedef struct {
  h2c_stream_t *s;
  size_t want;
} msgs_pred_t;

static int msgs_reached(void *arg) {
  msgs_pred_t *p = arg;
  return p->s->n_msgs >= p->want;
}

static void assert_ok_echo(h2c_stream_t *s, const void *msg, size_t len) {
  assert_non_null(s);
  assert_true(s->closed);
  assert_int_equal(s->http_status, 200);
  assert_string_equal(s->content_type, "application/grpc");
  assert_int_equal(s->grpc_status, 0);
  assert_int_equal(s->n_headers, 2); /* headers, then trailers */
  assert_int_equal(s->n_msgs, 1);
  assert_int_equal(s->msg_lens[0], len);
  assert_memory_equal(s->msgs[0], msg, len);
}

/* ---- tests ---- */

static void test_unary_round_trip(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  assert_non_null(c);
  h2c_stream_t *s = h2c_unary(c, "/test.Echo/Unary", "ping", 4, TIMEOUT_MS);
  assert_ok_echo(s, "ping", 4);
  assert_true(s->end_stream);
  /* an empty message is a message too */
  s = h2c_unary(c, "/test.Echo/Unary", "", 0, TIMEOUT_MS);
  assert_ok_echo(s, "", 0);
  h2c_free(c);
}

static void test_unary_answered_before_half_close(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_request(c, "/test.Echo/Unary", NULL, NULL);
  h2c_send_msg(c, s, "early", 5); /* no END_STREAM: the message alone is enough */
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_ok_echo(s, "early", 5);
  assert_true(s->rst); /* the server stops our half of the stream after its trailers */
  assert_int_equal(s->rst_code, NGHTTP2_NO_ERROR);
  h2c_free(c);
}

static void test_sends_and_finish_keep_order_across_threads(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_unary(c, "/test.Echo/Ordered", "", 0, TIMEOUT_MS);
  assert_true(s->closed);
  assert_int_equal(s->grpc_status, 0);
  assert_int_equal(s->n_msgs, ORDERED_SENDS);
  for (uint32_t i = 0; i < ORDERED_SENDS; i++) {
    uint32_t got;
    assert_int_equal(s->msg_lens[i], sizeof(got));
    memcpy(&got, s->msgs[i], sizeof(got));
    assert_int_equal(got, i);
  }
  h2c_free(c);
}

static void test_streaming(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_request(c, "/test.Echo/Stream", NULL, NULL);
  const char *words[] = {"alpha", "beta", "gamma"};
  for (size_t i = 0; i < 3; i++) {
    h2c_send_msg(c, s, words[i], strlen(words[i]));
    /* each message is answered before the client half-closes */
    msgs_pred_t echoed = {s, i + 1};
    assert_int_equal(h2c_run(c, msgs_reached, &echoed, TIMEOUT_MS), 1);
    assert_int_equal(s->msg_lens[i], strlen(words[i]));
    assert_memory_equal(s->msgs[i], words[i], strlen(words[i]));
  }
  assert_false(s->closed);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->grpc_status, 0);
  assert_int_equal(s->n_headers, 2);
  assert_int_equal(atomic_load(&srv.half_closes), 1);

  /* a client stream that ends without any message never reaches the application: OK, Trailers-Only */
  s = h2c_request(c, "/test.Echo/Stream", NULL, NULL);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->grpc_status, 0);
  assert_int_equal(s->n_headers, 1);
  assert_int_equal(atomic_load(&srv.half_closes), 1);
  h2c_free(c);
}

static void test_error_is_trailers_only(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_unary(c, "/test.Echo/Fail", "q", 1, TIMEOUT_MS);
  assert_true(s->closed);
  assert_int_equal(s->n_headers, 1);
  assert_int_equal(s->n_data, 0);
  assert_int_equal(s->http_status, 200);
  assert_string_equal(s->content_type, "application/grpc");
  assert_int_equal(s->grpc_status, LKV_GRPC_NOT_FOUND);
  assert_string_equal(s->grpc_message, "no such thing: 100%25 sure%0A");
  h2c_free(c);
}

static void test_unknown_method(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"/test.Echo/Nope", "unknown method Nope for service test.Echo"},
      {"/foo.Bar/Baz", "unknown service foo.Bar"},
      {"/nope", "malformed method name: \"/nope\""},
  };
  h2c_t *c = h2c_connect(srv.port);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    h2c_stream_t *s = h2c_unary(c, cases[i][0], "q", 1, TIMEOUT_MS);
    assert_true(s->closed);
    assert_int_equal(s->n_headers, 1);
    assert_int_equal(s->http_status, 200);
    assert_int_equal(s->grpc_status, LKV_GRPC_UNIMPLEMENTED);
    assert_string_equal(s->grpc_message, cases[i][1]);
  }
  assert_int_equal(atomic_load(&srv.messages), 0);
  h2c_free(c);
}

static void test_not_grpc(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_request(c, "/test.Echo/Unary", NULL, "text/plain");
  h2c_send_msg(c, s, "q", 1);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->http_status, 415);
  assert_int_equal(s->grpc_status, LKV_GRPC_INTERNAL);
  assert_string_equal(s->grpc_message, "invalid gRPC request content-type \"text/plain\"");

  s = h2c_request(c, "/test.Echo/Unary", NULL, "application/grpcfoo"); /* a prefix is not enough */
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->http_status, 415);

  s = h2c_request(c, "/test.Echo/Unary", "PUT", NULL);
  h2c_send_msg(c, s, "q", 1);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->http_status, 405);
  assert_int_equal(s->grpc_status, LKV_GRPC_INTERNAL);

  /* content-type with a subtype is gRPC */
  s = h2c_request(c, "/test.Echo/Unary", NULL, "application/grpc+proto");
  h2c_send_msg(c, s, "ok", 2);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_ok_echo(s, "ok", 2);
  assert_int_equal(atomic_load(&srv.messages), 1);
  h2c_free(c);
}

static void test_oversize_request(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_request(c, "/test.Echo/Unary", NULL, NULL);
  uint8_t prefix[LKV__GRPC_PREFIX_LEN];
  lkv__grpc_frame_prefix(prefix, MAX_REQUEST + 1);
  h2c_send_raw(c, s, prefix, sizeof(prefix));
  uint8_t *junk = calloc(1, 256 * 1024);
  h2c_send_raw(c, s, junk, 256 * 1024); /* the body is never completed nor half-closed */
  free(junk);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->n_headers, 1);
  assert_int_equal(s->grpc_status, LKV_GRPC_RESOURCE_EXHAUSTED);
  assert_string_equal(s->grpc_message, "grpc: received message larger than max (8388609 vs. 8388608)");
  assert_true(s->rst);
  assert_int_equal(s->rst_code, NGHTTP2_NO_ERROR);
  assert_int_equal(atomic_load(&srv.messages), 0);

  /* the connection keeps serving; a message of exactly the limit is accepted */
  size_t len = MAX_REQUEST;
  uint8_t *big = malloc(len);
  for (size_t i = 0; i < len; i++) big[i] = (uint8_t)(i * 13);
  s = h2c_unary(c, "/test.Echo/Unary", big, len, TIMEOUT_MS);
  assert_ok_echo(s, big, len);
  free(big);
  h2c_free(c);
}

static void test_unary_message_count(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *none = h2c_request(c, "/test.Echo/Unary", NULL, NULL);
  h2c_close_send(c, none);
  assert_int_equal(h2c_wait_closed(c, none, TIMEOUT_MS), 1);
  assert_int_equal(none->grpc_status, LKV_GRPC_INTERNAL);
  assert_int_equal(none->n_headers, 1);

  /* Later holds the call, so the second message meets an unfinished unary call */
  h2c_stream_t *two = h2c_request(c, "/test.Echo/Later", NULL, NULL);
  h2c_send_msg(c, two, "1", 1);
  h2c_send_msg(c, two, "2", 1);
  h2c_close_send(c, two);
  assert_int_equal(h2c_wait_closed(c, two, TIMEOUT_MS), 1);
  assert_int_equal(two->grpc_status, LKV_GRPC_INTERNAL);
  assert_int_equal(two->n_msgs, 0);
  join_workers(); /* the worker's send is refused, its finish frees the call */
  assert_int_equal(atomic_load(&srv.cancels), 1);
  assert_int_equal(atomic_load(&srv.later_canceled_sends), 1);

  /* a stream cut inside a message */
  h2c_stream_t *cut = h2c_request(c, "/test.Echo/Unary", NULL, NULL);
  h2c_send_raw(c, cut,
               "\0\0\0\0\x09"
               "abc",
               8);
  h2c_close_send(c, cut);
  assert_int_equal(h2c_wait_closed(c, cut, TIMEOUT_MS), 1);
  assert_int_equal(cut->grpc_status, LKV_GRPC_INTERNAL);
  h2c_free(c);
}

static void test_compressed_message(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_request(c, "/test.Echo/Unary", NULL, NULL);
  h2c_send_raw(c, s, "\x01\0\0\0\x02zz", 7);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, TIMEOUT_MS), 1);
  assert_int_equal(s->grpc_status, LKV_GRPC_INTERNAL);
  assert_string_equal(s->grpc_message, "grpc: compressed flag set with identity or empty encoding");
  assert_int_equal(atomic_load(&srv.messages), 0);
  h2c_free(c);
}

static void test_answer_from_other_thread(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *a = h2c_request(c, "/test.Echo/Later", NULL, NULL);
  h2c_stream_t *b = h2c_request(c, "/test.Echo/Later", NULL, NULL);
  h2c_send_msg(c, a, "first", 5);
  h2c_send_msg(c, b, "second", 6);
  h2c_close_send(c, a);
  h2c_close_send(c, b);
  assert_int_equal(h2c_wait_closed(c, a, TIMEOUT_MS), 1);
  assert_int_equal(h2c_wait_closed(c, b, TIMEOUT_MS), 1);
  assert_ok_echo(a, "first", 5);
  assert_ok_echo(b, "second", 6);
  h2c_free(c);
}

static void test_client_reset_before_answer(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_request(c, "/test.Echo/Later", NULL, NULL);
  h2c_send_msg(c, s, "gone", 4);
  h2c_close_send(c, s);
  counter_pred_t started = {&srv.later_started, 1};
  assert_int_equal(h2c_run(c, counter_reached, &started, TIMEOUT_MS), 1);
  h2c_rst(c, s, NGHTTP2_CANCEL);
  counter_pred_t cancelled = {&srv.cancels, 1};
  assert_int_equal(h2c_run(c, counter_reached, &cancelled, TIMEOUT_MS), 1);
  join_workers(); /* sends after the reset are refused; finish still frees */
  assert_int_equal(atomic_load(&srv.later_canceled_sends), 1);
  assert_int_equal(s->n_msgs, 0);
  h2c_stream_t *next = h2c_unary(c, "/test.Echo/Unary", "still", 5, TIMEOUT_MS);
  assert_ok_echo(next, "still", 5);
  h2c_free(c);
}

static void test_connection_drop_with_open_calls(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *later = h2c_request(c, "/test.Echo/Later", NULL, NULL);
  h2c_send_msg(c, later, "x", 1);
  h2c_close_send(c, later);
  h2c_stream_t *stream = h2c_request(c, "/test.Echo/Stream", NULL, NULL);
  h2c_send_msg(c, stream, "y", 1);
  msgs_pred_t echoed = {stream, 1};
  assert_int_equal(h2c_run(c, msgs_reached, &echoed, TIMEOUT_MS), 1);
  counter_pred_t started = {&srv.later_started, 1};
  assert_int_equal(h2c_run(c, counter_reached, &started, TIMEOUT_MS), 1);
  h2c_free(c);
  assert_true(wait_counter(&srv.cancels, 2));
  join_workers();
  assert_int_equal(atomic_load(&srv.later_canceled_sends), 1);
}

static void test_drop_during_large_write(void **state) {
  (void)state;
  /* The client leaves while a large answer is being written: politely (FIN, the server sees EOF) or by a
   * reset, after which the server's writes fail with EPIPE (and must not raise SIGPIPE). */
  for (int i = 0; i < 6; i++) {
    h2c_t *c = h2c_connect_window(srv.port, 64 << 20); /* lets the server write as fast as it can */
    h2c_stream_t *s = h2c_request(c, "/test.Echo/Big", NULL, NULL);
    h2c_send_msg(c, s, "33554432", 8); /* 32 MiB: far more than the socket buffers hold */
    h2c_close_send(c, s);
    counter_pred_t got = {&srv.messages, i + 1};
    assert_int_equal(h2c_run(c, counter_reached, &got, TIMEOUT_MS), 1);
    h2c_run(c, NULL, NULL, 5 * i); /* let the server start writing */
    if (i % 2)
      h2c_abort(c);
    else
      h2c_free(c);
  }
  h2c_t *c2 = h2c_connect(srv.port);
  h2c_stream_t *next = h2c_unary(c2, "/test.Echo/Unary", "alive", 5, TIMEOUT_MS);
  assert_ok_echo(next, "alive", 5);
  h2c_free(c2);
}

static void test_not_http2(void **state) {
  (void)state;
  static const char http1[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  static const char garbage[] = "\x16\x03\x01\x02\x00garbage that is not a connection preface at all";
  assert_int_equal(h2c_raw_closes(srv.port, http1, sizeof(http1) - 1, TIMEOUT_MS), 1);
  assert_int_equal(h2c_raw_closes(srv.port, garbage, sizeof(garbage) - 1, TIMEOUT_MS), 1);
  h2c_t *c = h2c_connect(srv.port);
  h2c_stream_t *s = h2c_unary(c, "/test.Echo/Unary", "fine", 4, TIMEOUT_MS);
  assert_ok_echo(s, "fine", 4);
  h2c_free(c);
}

static int ping_acked(void *arg) {
  return h2c_ping_acks(arg) >= 1;
}

static void test_ping(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_ping(c);
  assert_int_equal(h2c_run(c, ping_acked, c, TIMEOUT_MS), 1);
  h2c_free(c);
}

static void test_large_response(void **state) {
  (void)state;
  size_t size = 10u << 20;
  /* HTTP/2's default 64 KiB windows make the server wait for WINDOW_UPDATEs; large ones let it stream */
  int32_t windows[] = {NGHTTP2_INITIAL_WINDOW_SIZE, 16 << 20};
  for (size_t w = 0; w < 2; w++) {
    h2c_t *c = h2c_connect_window(srv.port, windows[w]);
    h2c_stream_t *s = h2c_unary(c, "/test.Echo/Big", "10485760", 8, TIMEOUT_MS);
    assert_true(s->closed);
    assert_int_equal(s->grpc_status, 0);
    assert_int_equal(s->n_msgs, 1);
    assert_int_equal(s->msg_lens[0], size);
    for (size_t i = 0; i < size; i++) {
      if (s->msgs[0][i] != (uint8_t)(i % 251)) fail_msg("byte %zu differs", i);
    }
    assert_true(s->n_data > 1); /* split into DATA frames of at most the client's max frame size */
    assert_int_equal(atomic_load(&srv.big_pending), size + LKV__GRPC_PREFIX_LEN);
    h2c_free(c);
  }
}

static void test_connections_spread_over_loops(void **state) {
  (void)state;
  enum { N = 16 };
  h2c_t *cs[N];
  for (int i = 0; i < N; i++) {
    cs[i] = h2c_connect(srv.port);
    h2c_stream_t *s = h2c_unary(cs[i], "/test.Echo/Unary", "n", 1, TIMEOUT_MS);
    assert_ok_echo(s, "n", 1);
  }
  for (int i = 0; i < N; i++) h2c_free(cs[i]);
  /* SO_REUSEPORT hashes connections; all 16 on one loop has odds of 2^-15 */
  for (int i = 0; i < N_LOOPS; i++) assert_true(atomic_load(&srv.loop_seen[i]) > 0);
}

static void test_stop_with_open_calls(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(srv.port);
  h2c_t *idle = h2c_connect(srv.port);
  h2c_run(idle, NULL, NULL, 20);
  h2c_stream_t *stream = h2c_request(c, "/test.Echo/Stream", NULL, NULL);
  h2c_send_msg(c, stream, "s", 1);
  h2c_stream_t *later = h2c_request(c, "/test.Echo/Later", NULL, NULL);
  h2c_send_msg(c, later, "l", 1);
  h2c_close_send(c, later);
  h2c_stream_t *hold = h2c_request(c, "/test.Echo/Hold", NULL, NULL);
  h2c_send_msg(c, hold, "h", 1);
  h2c_close_send(c, hold);
  counter_pred_t all = {&srv.messages, 3};
  assert_int_equal(h2c_run(c, counter_reached, &all, TIMEOUT_MS), 1);
  msgs_pred_t echoed = {stream, 1};
  assert_int_equal(h2c_run(c, msgs_reached, &echoed, TIMEOUT_MS), 1);

  lkv_transport_stop(srv.t, 400);
  srv.t = NULL;
  /* The transport is gone; what it wrote before closing is still in our socket. */
  assert_int_equal(h2c_run(c, NULL, NULL, TIMEOUT_MS), -1);
  assert_true(h2c_goaway(c, NULL));
  assert_int_equal(stream->grpc_status, LKV_GRPC_UNAVAILABLE); /* client streams end at once */
  assert_ok_echo(later, "l", 1);                               /* a pending answer drains in the grace */
  assert_int_equal(hold->grpc_status, -1);                     /* cut at the end of the grace */
  assert_int_equal(atomic_load(&srv.cancels), 2);              /* stream and hold */
  assert_int_equal(h2c_run(idle, NULL, NULL, TIMEOUT_MS), -1);
  assert_true(h2c_goaway(idle, NULL));
  h2c_free(c);
  h2c_free(idle);
}

static void test_start_errors(void **state) {
  (void)state;
  lkv_transport_t *t = NULL;
  lkv_listen_addr_t taken = {"127.0.0.1", srv.port};
  lkv_listen_addr_t bad = {"not-an-address", 0};
  lkv_transport_handler_t handler = {.lookup = app_lookup, .on_message = app_on_message};
  lkv_transport_options_t opts = {.addrs = &bad, .n_addrs = 1, .n_loops = 1, .max_recv_msg_bytes = 1};
  assert_int_equal(lkv_transport_start(&t, &opts, &handler), LKV_EINVAL);
  opts.n_loops = 0;
  opts.addrs = &taken;
  assert_int_equal(lkv_transport_start(&t, &opts, &handler), LKV_EINVAL);
  /* SO_REUSEPORT only joins sockets of the same user; our own transport's port is shareable, so use a
   * port held by a socket without SO_REUSEPORT instead */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 1), 0);
  socklen_t len = sizeof(sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  taken.port = ntohs(sa.sin_port);
  opts.n_loops = 2;
  assert_int_equal(lkv_transport_start(&t, &opts, &handler), -EADDRINUSE);
  assert_null(t);
  close(fd);
  assert_int_equal(lkv_transport_bound_port(srv.t, 1), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unary_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unary_answered_before_half_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sends_and_finish_keep_order_across_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_is_trailers_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_grpc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversize_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unary_message_count, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compressed_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answer_from_other_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_reset_before_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_drop_with_open_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drop_during_large_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_http2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_response, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connections_spread_over_loops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_with_open_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
