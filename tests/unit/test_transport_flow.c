/* Transport back-pressure and deadlines: reply bytes bounded per connection and per stream (requests held,
 * control frames and other streams flowing), grpc-timeout honoured before and while a call runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "h2_test_client.h"
#include "transport/deadline.h"
#include "transport/transport.h"

#define STREAM_BOUND (64 * 1024)
#define CONN_BOUND (256 * 1024)
#define BIG_REPLY (100 * 1024)

/* Routes: Big answers a reply of the size it is sent (size_msg: the request's index, then the size in
 * multiples of 256 bytes), its first byte the index; Stream
 * answers every message so, in order, and OK at half-close; Echo echoes; Hang answers only when cancelled. */
enum { R_BIG = 1, R_STREAM, R_ECHO, R_HANG, R_PROBE, N_ROUTES };
static const int route_ids[] = {0, R_BIG, R_STREAM, R_ECHO, R_HANG, R_PROBE};

static lkv_transport_t *transport;
static int port;
static atomic_int runs[N_ROUTES]; /* on_message per route */
static atomic_int cancels;
/* Probe: a client stream whose call on_tick watches as a watch stream would (loop thread only). */
static lkv_call_t *probe;
static atomic_int probe_congested, wakes;

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app;
  static const char *const paths[] = {NULL,        "/t.S/Big",  "/t.S/Stream",
                                      "/t.S/Echo", "/t.S/Hang", "/t.S/Probe"};
  for (int r = R_BIG; r < N_ROUTES; r++) {
    if (strlen(paths[r]) == len && memcmp(paths[r], path, len) == 0) {
      *streaming = r == R_STREAM || r == R_PROBE;
      return &route_ids[r];
    }
  }
  return NULL;
}

static void reply_sized(lkv_call_t *call, const uint8_t *data, size_t len) {
  uint32_t size = 0;
  if (len >= 4) size = (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
  uint8_t *buf = calloc(1, size ? size : 1);
  if (size) buf[0] = data[0];
  lkv_call_send(call, buf, size);
  free(buf);
}

static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app;
  int r = *(const int *)route;
  atomic_fetch_add(&runs[r], 1);
  if (r == R_PROBE) probe = call;
  if (r == R_HANG || r == R_PROBE) return;
  if (r == R_ECHO) {
    lkv_call_send(call, data, len);
  } else {
    reply_sized(call, data, len);
  }
  if (r != R_STREAM) lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_half_close(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  if (call == probe) probe = NULL;
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_cancel(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  atomic_fetch_add(&cancels, 1);
  if (call == probe) probe = NULL;
  lkv_call_finish(call, LKV_GRPC_CANCELLED, NULL);
}

/* What the watch hub does: a stream whose pending bytes are over its mark stops being fed and asks for a
 * wake once they are down to a low mark. */
static void on_tick(void *app, int loop) {
  (void)app, (void)loop;
  if (!probe || atomic_load(&probe_congested) || lkv_call_pending_bytes(probe) <= CONN_BOUND) return;
  atomic_store(&probe_congested, 1);
  lkv_call_wake_when_drained(probe, 1000);
}

static void on_wake(void *app, int loop) {
  (void)app, (void)loop;
  atomic_fetch_add(&wakes, 1);
}

static int start(size_t stream_bound) {
  for (int i = 0; i < N_ROUTES; i++) atomic_store(&runs[i], 0);
  atomic_store(&cancels, 0);
  atomic_store(&probe_congested, 0);
  atomic_store(&wakes, 0);
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {.addrs = &addr,
                                  .n_addrs = 1,
                                  .n_loops = 1,
                                  .max_recv_msg_bytes = 1 << 20,
                                  .stream_reply_bytes = stream_bound,
                                  .conn_reply_bytes = CONN_BOUND,
                                  .tick_ms = 20};
  lkv_transport_handler_t h = {.lookup = lookup,
                               .on_message = on_message,
                               .on_half_close = on_half_close,
                               .on_cancel = on_cancel,
                               .on_tick = on_tick,
                               .on_wake = on_wake};
  if (lkv_transport_start(&transport, &opts, &h) != 0) return -1;
  port = lkv_transport_bound_port(transport, 0);
  return 0;
}

static int setup(void **state) {
  (void)state;
  return start(STREAM_BOUND);
}

static int setup_small_streams(void **state) {
  (void)state;
  return start(4 * 1024);
}

static int teardown(void **state) {
  (void)state;
  lkv_transport_stop(transport, 100);
  return 0;
}

static void size_msg(uint8_t msg[4], uint32_t size, uint8_t index) {
  msg[0] = index;
  msg[1] = (uint8_t)(size >> 8);
  msg[2] = (uint8_t)(size >> 16);
  msg[3] = (uint8_t)(size >> 24);
}

static h2c_stream_t *big_request(h2c_t *c, uint8_t index) {
  uint8_t msg[4];
  size_msg(msg, BIG_REPLY, index);
  h2c_stream_t *s = h2c_request(c, "/t.S/Big", NULL, NULL);
  h2c_send_msg(c, s, msg, sizeof(msg));
  h2c_close_send(c, s);
  return s;
}

typedef struct {
  h2c_stream_t **s;
  int n;
} streams_t;

static int all_closed(void *arg) {
  streams_t *w = arg;
  for (int i = 0; i < w->n; i++)
    if (!w->s[i]->closed) return 0;
  return 1;
}

static int ping_acked(void *arg) {
  return h2c_ping_acks(arg) > 0;
}

#define N_BIG 40

/* A client that never reads (its stream windows closed): the connection's requests stop running once its
 * replies exceed the bound, yet PINGs are answered and another connection is served; once it reads, every
 * request runs and is answered in full. */
static void test_connection_backlog_bounded(void **state) {
  (void)state;
  h2c_t *c = h2c_connect_window(port, 0);
  h2c_stream_t *s[N_BIG];
  for (int i = 0; i < N_BIG; i++) s[i] = big_request(c, (uint8_t)i);
  h2c_run(c, NULL, NULL, 300);
  /* 100 KiB each: the third reply takes the backlog past 256 KiB; the rest wait */
  assert_int_equal(atomic_load(&runs[R_BIG]), 3);
  h2c_ping(c);
  assert_int_equal(h2c_run(c, ping_acked, c, 2000), 1);

  h2c_t *other = h2c_connect(port);
  h2c_stream_t *e = h2c_unary(other, "/t.S/Echo", "hi", 2, 2000);
  assert_true(e->closed);
  assert_int_equal(e->grpc_status, 0);
  assert_int_equal(e->n_msgs, 1);
  h2c_free(other);
  assert_int_equal(atomic_load(&runs[R_BIG]), 3);

  h2c_open_window(c, NULL, 64 << 20);
  for (int i = 0; i < N_BIG; i++) h2c_open_window(c, s[i], 1 << 20);
  streams_t w = {s, N_BIG};
  assert_int_equal(h2c_run(c, all_closed, &w, 10000), 1);
  for (int i = 0; i < N_BIG; i++) {
    assert_int_equal(s[i]->grpc_status, 0);
    assert_int_equal(s[i]->n_msgs, 1);
    assert_int_equal(s[i]->msg_lens[0], BIG_REPLY);
    assert_int_equal(s[i]->msgs[0][0], i);
  }
  assert_int_equal(atomic_load(&runs[R_BIG]), N_BIG);
  h2c_free(c);
}

/* A stream over its own bound: its further messages (and its half-close) wait in order while another
 * stream of the same connection is answered. */
static void test_stream_backlog_holds_messages(void **state) {
  (void)state;
  h2c_t *c = h2c_connect_window(port, 0);
  h2c_stream_t *st = h2c_request(c, "/t.S/Stream", NULL, NULL);
  for (int i = 0; i < 5; i++) {
    uint8_t msg[4];
    size_msg(msg, 40 * 1024, (uint8_t)i);
    h2c_send_msg(c, st, msg, sizeof(msg));
  }
  h2c_close_send(c, st);
  h2c_run(c, NULL, NULL, 300);
  assert_int_equal(atomic_load(&runs[R_STREAM]), 2); /* 80 KiB queued: over 64 KiB */
  assert_false(st->closed);

  h2c_stream_t *e = h2c_request(c, "/t.S/Echo", NULL, NULL);
  h2c_send_msg(c, e, "abc", 3);
  h2c_close_send(c, e);
  h2c_run(c, NULL, NULL, 50); /* the stream must be open before its window can grow */
  h2c_open_window(c, NULL, 1 << 20);
  h2c_open_window(c, e, 1 << 16);
  assert_int_equal(h2c_wait_closed(c, e, 2000), 1);
  assert_int_equal(e->n_msgs, 1);
  assert_int_equal(e->grpc_status, 0);
  assert_false(st->closed);

  h2c_open_window(c, st, 1 << 20);
  assert_int_equal(h2c_wait_closed(c, st, 5000), 1);
  assert_int_equal(st->grpc_status, 0);
  assert_int_equal(st->n_msgs, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(st->msgs[i][0], i);
  assert_int_equal(atomic_load(&runs[R_STREAM]), 5);
  h2c_free(c);
}

#define N_HELD 20
#define HELD_MSG (60 * 1024)

/* Streams that hold messages keep only their own window: 20 of them holding about 1 MiB each (their whole
 * stream window) take more than the 16 MiB connection window, yet another stream's request still gets in. */
static void test_held_streams_keep_connection_window(void **state) {
  (void)state;
  h2c_t *c = h2c_connect_window(port, 0);
  uint8_t *msg = calloc(1, HELD_MSG);
  for (int i = 0; i < N_HELD; i++) {
    h2c_stream_t *st = h2c_request(c, "/t.S/Stream", NULL, NULL);
    size_msg(msg, 5 * 1024, (uint8_t)i); /* the first reply puts the stream over its 4 KiB bound */
    for (int k = 0; k < 17; k++) h2c_send_msg(c, st, msg, HELD_MSG);
  }
  free(msg);
  h2c_run(c, NULL, NULL, 1500);
  assert_int_equal(atomic_load(&runs[R_STREAM]), N_HELD); /* one message each ran, 16 each are held */
  h2c_stream_t *e = h2c_request(c, "/t.S/Echo", NULL, NULL);
  h2c_send_msg(c, e, "abc", 3);
  h2c_close_send(c, e);
  h2c_run(c, NULL, NULL, 50);
  h2c_open_window(c, NULL, 1 << 20);
  h2c_open_window(c, e, 1 << 16);
  assert_int_equal(h2c_wait_closed(c, e, 3000), 1);
  assert_int_equal(e->grpc_status, 0);
  assert_int_equal(atomic_load(&runs[R_ECHO]), 1);
  h2c_free(c);
}

static int is_set(void *arg) {
  return atomic_load((atomic_int *)arg) > 0;
}

/* A stream of a congested connection reports the connection's backlog (so a watch stream stops being fed
 * though its own bytes are few), and its drain notice fires once the connection has drained. */
static void test_congested_connection_seen_by_streams(void **state) {
  (void)state;
  h2c_t *c = h2c_connect_window(port, 0);
  h2c_stream_t *p = h2c_request(c, "/t.S/Probe", NULL, NULL);
  h2c_send_msg(c, p, "", 0);
  h2c_run(c, NULL, NULL, 100);
  assert_int_equal(atomic_load(&runs[R_PROBE]), 1);
  h2c_stream_t *s[N_BIG];
  for (int i = 0; i < N_BIG; i++) s[i] = big_request(c, (uint8_t)i);
  assert_int_equal(h2c_run(c, is_set, &probe_congested, 2000), 1);
  h2c_run(c, NULL, NULL, 100);
  assert_int_equal(atomic_load(&wakes), 0); /* still congested */
  h2c_open_window(c, NULL, 64 << 20);
  for (int i = 0; i < N_BIG; i++) h2c_open_window(c, s[i], 1 << 20);
  assert_int_equal(h2c_run(c, is_set, &wakes, 10000), 1);
  streams_t w = {s, N_BIG};
  assert_int_equal(h2c_run(c, all_closed, &w, 10000), 1);
  h2c_free(c);
}

static h2c_stream_t *timed_request(h2c_t *c, const char *path, const char *timeout) {
  const char *md[] = {"grpc-timeout", timeout, NULL};
  h2c_stream_t *s = h2c_request_md(c, path, NULL, NULL, md);
  h2c_send_msg(c, s, "x", 1);
  h2c_close_send(c, s);
  return s;
}

/* A call still running when its deadline passes is answered DEADLINE_EXCEEDED (the application is told);
 * one whose deadline passes while it waits behind a blocked connection never runs. */
static void test_deadlines(void **state) {
  (void)state;
  h2c_t *c = h2c_connect(port);
  h2c_stream_t *hang = timed_request(c, "/t.S/Hang", "100m");
  assert_int_equal(h2c_wait_closed(c, hang, 3000), 1);
  assert_int_equal(hang->grpc_status, LKV_GRPC_DEADLINE_EXCEEDED);
  assert_string_equal(hang->grpc_message, "context deadline exceeded");
  assert_int_equal(atomic_load(&runs[R_HANG]), 1);
  assert_int_equal(atomic_load(&cancels), 1);

  h2c_stream_t *bad = timed_request(c, "/t.S/Echo", "12x");
  assert_int_equal(h2c_wait_closed(c, bad, 3000), 1);
  assert_true(bad->rst);
  assert_int_equal(bad->rst_code, 1); /* PROTOCOL_ERROR, as grpc-go's "malformed time-out" */
  h2c_free(c);

  h2c_t *slow = h2c_connect_window(port, 0);
  for (int i = 0; i < 3; i++) big_request(slow, (uint8_t)i);
  h2c_run(slow, NULL, NULL, 200);
  h2c_stream_t *late = timed_request(slow, "/t.S/Echo", "50m");
  assert_int_equal(h2c_wait_closed(slow, late, 3000), 1);
  assert_int_equal(late->grpc_status, LKV_GRPC_DEADLINE_EXCEEDED);
  assert_int_equal(atomic_load(&runs[R_ECHO]), 0); /* held, then timed out: never run */
  h2c_free(slow);
}

static void test_deadline_parse(void **state) {
  (void)state;
  uint64_t ns;
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"100m", 4, &ns), 0);
  assert_int_equal(ns, 100000000u);
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"3S", 2, &ns), 0);
  assert_int_equal(ns, 3000000000u);
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"99999999H", 9, &ns), 0);
  assert_int_equal(ns, UINT64_MAX); /* saturated, as grpc-go's */
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"7n", 2, &ns), 0);
  assert_int_equal(ns, 7);
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"1", 1, &ns), -1);           /* too short */
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"123456789S", 10, &ns), -1); /* 9 digits */
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"10s", 3, &ns), -1);         /* no such unit */
  assert_int_equal(lkv__deadline_parse((const uint8_t *)"-1S", 3, &ns), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_connection_backlog_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stream_backlog_holds_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_held_streams_keep_connection_window, setup_small_streams,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_congested_connection_seen_by_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadlines, setup, teardown),
      cmocka_unit_test(test_deadline_parse),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
