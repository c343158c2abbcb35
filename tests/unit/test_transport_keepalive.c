/* Transport keepalive: server PINGs reap silent connections, grpc-go's policy for client PINGs
 * (ENHANCE_YOUR_CALM "too_many_pings"), SETTINGS_MAX_CONCURRENT_STREAMS advertised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "h2_test_client.h"
#include "transport/transport.h"

static lkv_transport_t *transport;
static int port;

/* One route: /k.S/Chat, a client stream that answers each message with an empty one. */
static const int chat_route;

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app;
  *streaming = 1;
  return len == 9 && memcmp(path, "/k.S/Chat", 9) == 0 ? &chat_route : NULL;
}

static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app, (void)route, (void)data, (void)len;
  lkv_call_send(call, NULL, 0);
}

static void on_done(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void start(uint32_t max_streams, lkv_transport_keepalive_t ka) {
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr,
                                  .n_addrs = 1,
                                  .n_loops = 1,
                                  .max_recv_msg_bytes = 1024,
                                  .max_concurrent_streams = max_streams,
                                  .keepalive = ka};
  lkv_transport_handler_t h = {
      .lookup = lookup, .on_message = on_message, .on_half_close = on_done, .on_cancel = on_done};
  assert_int_equal(lkv_transport_start(&transport, &opts, &h), 0);
  port = lkv_transport_bound_port(transport, 0);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int got_goaway(void *arg) {
  return h2c_goaway(arg, NULL);
}

/* A stream open, as grpc-go's policy needs for pings every min_time. */
static h2c_stream_t *open_chat(h2c_t *c) {
  h2c_stream_t *s = h2c_request(c, "/k.S/Chat", NULL, NULL);
  h2c_send_msg(c, s, "", 0);
  h2c_run(c, NULL, NULL, 50);
  return s;
}

typedef struct answer_wait_s {
  h2c_t *c;
  h2c_stream_t *s;
  size_t n_msgs;
} answer_wait_t;

static int got_answer_or_goaway(void *arg) {
  answer_wait_t *w = arg;
  return w->s->n_msgs > w->n_msgs || h2c_goaway(w->c, NULL);
}

/* Pings n times, 20 ms apart, each followed by a message on s when s is not NULL; then the next ping waits
 * for its answer (DATA from the server between two pings), however slow a loaded machine makes it. Returns
 * 1 when the server sent GOAWAY. */
static int ping_often(h2c_t *c, h2c_stream_t *s, int n) {
  for (int i = 0; i < n; i++) {
    h2c_ping(c);
    if (s) {
      answer_wait_t w = {c, s, s->n_msgs};
      h2c_send_msg(c, s, "", 0);
      if (h2c_run(c, got_answer_or_goaway, &w, 5000) != 1 || h2c_goaway(c, NULL)) break;
    }
    if (h2c_run(c, got_goaway, c, 20) != 0) break;
  }
  h2c_run(c, got_goaway, c, 200);
  return h2c_goaway(c, NULL);
}

static void test_ping_policy(void **state) {
  (void)state;
  start(0, (lkv_transport_keepalive_t){.min_time_ms = 1000});
  char debug[64];

  /* with a stream open, pings 20 ms apart: the fourth is the third strike */
  h2c_t *c = h2c_connect(port);
  open_chat(c);
  assert_int_equal(ping_often(c, NULL, 6), 1);
  assert_int_equal(h2c_goaway_code(c, debug, sizeof(debug)), 11); /* ENHANCE_YOUR_CALM */
  assert_string_equal(debug, "too_many_pings");
  assert_int_equal(h2c_run(c, NULL, NULL, 500), -1); /* and the connection is closed */
  h2c_free(c);

  /* without a stream, the same (grpc-go allows one ping per 2 h then) */
  c = h2c_connect(port);
  assert_int_equal(ping_often(c, NULL, 6), 1);
  h2c_free(c);

  /* data from the server between pings resets the count: never GOAWAY */
  c = h2c_connect(port);
  h2c_stream_t *s = open_chat(c);
  assert_int_equal(ping_often(c, s, 8), 0);
  assert_true(h2c_ping_acks(c) >= 8);
  h2c_free(c);
  lkv_transport_stop(transport, 100);

  /* pings slower than min_time with a stream open: fine */
  start(0, (lkv_transport_keepalive_t){.min_time_ms = 50});
  c = h2c_connect(port);
  open_chat(c);
  for (int i = 0; i < 5; i++) {
    h2c_ping(c);
    h2c_run(c, NULL, NULL, 150); /* three times min_time: two pings stay apart though the server lags */
  }
  assert_int_equal(h2c_goaway(c, NULL), 0);
  assert_int_equal(h2c_ping_acks(c), 5);
  h2c_free(c);
  lkv_transport_stop(transport, 100);

  /* min_time 0: not policed */
  start(0, (lkv_transport_keepalive_t){0});
  c = h2c_connect(port);
  assert_int_equal(ping_often(c, NULL, 10), 0);
  h2c_free(c);
  lkv_transport_stop(transport, 100);
}

/* A connection that stops sending anything (not even the PING acknowledgement) is closed interval +
 * timeout after its last bytes; one that answers the server's PINGs stays. */
static void test_keepalive_reaps_silent_connections(void **state) {
  (void)state;
  /* a timeout of 400 ms: a live client descheduled for a while on a loaded machine still answers in time */
  start(0, (lkv_transport_keepalive_t){.interval_ms = 100, .timeout_ms = 400});
  h2c_t *silent = h2c_connect(port), *live = h2c_connect(port);
  h2c_run(silent, NULL, NULL, 50);
  for (int i = 0; i < 24; i++) h2c_run(live, NULL, NULL, 50); /* 1.2 s, answering pings */
  sleep_ms(100);
  assert_int_equal(h2c_run(silent, NULL, NULL, 200), -1); /* closed without a GOAWAY */
  assert_int_equal(h2c_goaway(silent, NULL), 0);
  h2c_stream_t *s = open_chat(live);
  h2c_close_send(live, s);
  assert_int_equal(h2c_wait_closed(live, s, 2000), 1);
  assert_int_equal(s->grpc_status, 0);
  h2c_free(silent);
  h2c_free(live);
  lkv_transport_stop(transport, 100);
}

static int settings_seen(void *arg) {
  return h2c_remote_setting(arg, 3 /* MAX_CONCURRENT_STREAMS */) != 100; /* nghttp2's assumption before */
}

static void test_max_concurrent_streams(void **state) {
  (void)state;
  start(7, (lkv_transport_keepalive_t){0});
  h2c_t *c = h2c_connect(port);
  assert_int_equal(h2c_run(c, settings_seen, c, 2000), 1);
  assert_int_equal(h2c_remote_setting(c, 3), 7);
  h2c_free(c);
  lkv_transport_stop(transport, 100);

  start(UINT32_MAX, (lkv_transport_keepalive_t){0}); /* etcd's default, advertised as grpc-go does */
  c = h2c_connect(port);
  assert_int_equal(h2c_run(c, settings_seen, c, 2000), 1);
  assert_int_equal(h2c_remote_setting(c, 3), UINT32_MAX);
  h2c_free(c);
  lkv_transport_stop(transport, 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ping_policy),
      cmocka_unit_test(test_keepalive_reaps_silent_connections),
      cmocka_unit_test(test_max_concurrent_streams),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
