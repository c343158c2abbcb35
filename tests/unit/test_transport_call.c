/* Transport tests for what a handler asks of its call beyond messages: request metadata (only the keys the
 * handler names, the first value of a repeated key) and lkv_call_run (another thread hands work back to the
 * call's loop thread, ordered with its sends; it runs even after the stream went away). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "h2_test_client.h"
#include "transport/transport.h"

static const char *const keys[] = {"hasleader", "x-two", NULL};
static const char unary_route[] = "unary", stream_route[] = "stream";

static lkv_transport_t *transport;
static int port;

/* What the streaming handler saw, for the test thread. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static lkv_call_t *stream_call;
static pthread_t loop_thread;
static atomic_int ran_on_loop, ran_elsewhere, cancels;
static atomic_int finish_in_run; /* on_message starts the worker, and runs finish the call */

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app;
  if (len == 10 && memcmp(path, "/t.S/Unary", 10) == 0) return unary_route;
  if (len == 11 && memcmp(path, "/t.S/Stream", 11) == 0) {
    *streaming = 1;
    return stream_route;
  }
  return NULL;
}

/* Unary: answers "<hasleader>|<x-two>|<user-agent>" as the call saw them ("-" for none). */
static void answer_metadata(lkv_call_t *call) {
  const char *names[] = {"hasleader", "x-two", "user-agent"};
  char out[256] = "";
  for (int i = 0; i < 3; i++) {
    const char *v = lkv_call_metadata(call, names[i]);
    strncat(out, v ? v : "-", sizeof(out) - strlen(out) - 2);
    if (i < 2) strcat(out, "|");
  }
  lkv_call_send(call, (const uint8_t *)out, strlen(out));
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_run(lkv_call_t *call, void *arg) {
  atomic_fetch_add(pthread_equal(pthread_self(), loop_thread) ? &ran_on_loop : &ran_elsewhere, 1);
  lkv_call_send(call, arg, 1); /* after "a", sent from the other thread before the run was asked for */
  if (finish_in_run) lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

/* Another thread sends, then hands the rest back to the loop. */
static void *worker(void *arg) {
  lkv_call_t *call = arg;
  assert_int_equal(lkv_call_send(call, (const uint8_t *)"a", 1), 0);
  assert_int_equal(lkv_call_run(call, on_run, "b"), 0);
  return NULL;
}

static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app, (void)data, (void)len;
  if (route == unary_route) {
    answer_metadata(call);
    return;
  }
  pthread_mutex_lock(&mu);
  stream_call = call;
  loop_thread = pthread_self();
  pthread_mutex_unlock(&mu);
  if (finish_in_run) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, worker, call), 0);
    pthread_detach(t);
  }
}

static void on_cancel(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route, (void)call;
  atomic_fetch_add(&cancels, 1); /* the call is finished later, by a run */
}

static void start(void) {
  atomic_store(&ran_on_loop, 0);
  atomic_store(&ran_elsewhere, 0);
  atomic_store(&cancels, 0);
  stream_call = NULL;
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr, .n_addrs = 1, .n_loops = 2, .max_recv_msg_bytes = 1024};
  lkv_transport_handler_t h = {
      .lookup = lookup, .on_message = on_message, .on_cancel = on_cancel, .metadata_keys = keys};
  assert_int_equal(lkv_transport_start(&transport, &opts, &h), 0);
  port = lkv_transport_bound_port(transport, 0);
}

static const char *reply_text(const h2c_stream_t *s, char *buf, size_t cap) {
  assert_int_equal(s->n_msgs, 1);
  size_t n = s->msg_lens[0] < cap - 1 ? s->msg_lens[0] : cap - 1;
  memcpy(buf, s->msgs[0], n);
  buf[n] = '\0';
  return buf;
}

static h2c_stream_t *unary_md(h2c_t *c, const char *const *md) {
  h2c_stream_t *s = h2c_request_md(c, "/t.S/Unary", NULL, NULL, md);
  assert_non_null(s);
  h2c_send_msg(c, s, "x", 1);
  h2c_close_send(c, s);
  assert_int_equal(h2c_wait_closed(c, s, 5000), 1);
  assert_int_equal(s->grpc_status, 0);
  return s;
}

static void test_metadata_only_named_keys_first_value(void **state) {
  (void)state;
  finish_in_run = 0;
  start();
  h2c_t *c = h2c_connect(port);
  assert_non_null(c);
  char buf[256];
  const char *const both[] = {"hasleader", "true", "x-two", "2", "user-agent", "t/1", NULL};
  assert_string_equal(reply_text(unary_md(c, both), buf, sizeof(buf)), "true|2|-");
  const char *const none[] = {"x-other", "1", NULL};
  assert_string_equal(reply_text(unary_md(c, none), buf, sizeof(buf)), "-|-|-");
  const char *const twice[] = {"x-two", "first", "x-two", "second", "hasleader", "", NULL};
  assert_string_equal(reply_text(unary_md(c, twice), buf, sizeof(buf)), "|first|-");
  h2c_free(c);
  lkv_transport_stop(transport, 0);
}

static int two_msgs_closed(void *arg) {
  const h2c_stream_t *s = arg;
  return s->closed && s->n_msgs == 2;
}

static void test_run_from_another_thread_is_ordered_and_on_the_loop(void **state) {
  (void)state;
  finish_in_run = 1;
  start();
  h2c_t *c = h2c_connect(port);
  h2c_stream_t *s = h2c_request(c, "/t.S/Stream", NULL, NULL);
  h2c_send_msg(c, s, "x", 1);
  assert_int_equal(h2c_run(c, two_msgs_closed, s, 5000), 1);
  assert_int_equal(s->grpc_status, 0);
  assert_memory_equal(s->msgs[0], "a", 1);
  assert_memory_equal(s->msgs[1], "b", 1);
  assert_int_equal(atomic_load(&ran_on_loop), 1);
  assert_int_equal(atomic_load(&ran_elsewhere), 0);
  h2c_free(c);
  lkv_transport_stop(transport, 0);
}

static int cancelled(void *arg) {
  (void)arg;
  return atomic_load(&cancels) == 1;
}

static void test_run_after_the_stream_went_away(void **state) {
  (void)state;
  finish_in_run = 0; /* the handler only records the call */
  start();
  h2c_t *c = h2c_connect(port);
  h2c_stream_t *s = h2c_request(c, "/t.S/Stream", NULL, NULL);
  h2c_send_msg(c, s, "x", 1);
  for (int i = 0; i < 500; i++) {
    h2c_run(c, NULL, NULL, 10);
    pthread_mutex_lock(&mu);
    int seen = stream_call != NULL;
    pthread_mutex_unlock(&mu);
    if (seen) break;
  }
  h2c_rst(c, s, 8 /* CANCEL */);
  assert_int_equal(h2c_run(c, cancelled, NULL, 5000), 1);
  finish_in_run = 1;
  assert_int_equal(lkv_call_run(stream_call, on_run, "b"), 0); /* the call lives until it is finished */
  for (int i = 0; i < 500 && atomic_load(&ran_on_loop) == 0; i++) h2c_run(c, NULL, NULL, 10);
  assert_int_equal(atomic_load(&ran_on_loop), 1);
  h2c_free(c);
  lkv_transport_stop(transport, 0); /* returns: the run finished the call */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metadata_only_named_keys_first_value),
      cmocka_unit_test(test_run_from_another_thread_is_ordered_and_on_the_loop),
      cmocka_unit_test(test_run_after_the_stream_went_away),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
