/* Transport tests for per-loop work: lkv_transport_wake (coalesced on_wake) and periodic on_tick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "transport/transport.h"

#define N_LOOPS 2

static atomic_int wakes[N_LOOPS], ticks[N_LOOPS];
static atomic_int wake_again; /* on_wake re-wakes its own loop this many times */
static lkv_transport_t *transport;

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app, (void)path, (void)len, (void)streaming;
  return NULL;
}

static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app, (void)route, (void)call, (void)data, (void)len;
}

static void on_wake(void *app, int loop) {
  (void)app;
  atomic_fetch_add(&wakes[loop], 1);
  if (atomic_fetch_sub(&wake_again, 1) > 0) lkv_transport_wake(transport, loop); /* from the loop itself */
}

static void on_tick(void *app, int loop) {
  (void)app;
  atomic_fetch_add(&ticks[loop], 1);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int wait_for(atomic_int *v, int want) {
  for (int i = 0; i < 2000; i++) {
    if (atomic_load(v) >= want) return 1;
    sleep_ms(5);
  }
  return 0;
}

static void start(unsigned tick_ms) {
  for (int i = 0; i < N_LOOPS; i++) {
    atomic_store(&wakes[i], 0);
    atomic_store(&ticks[i], 0);
  }
  atomic_store(&wake_again, 0);
  lkv_listen_addr_t addr = {"127.0.0.1", 0};
  lkv_transport_options_t opts = {
      .addrs = &addr, .n_addrs = 1, .n_loops = N_LOOPS, .max_recv_msg_bytes = 1024, .tick_ms = tick_ms};
  lkv_transport_handler_t h = {
      .lookup = lookup, .on_message = on_message, .on_wake = on_wake, .on_tick = on_tick};
  assert_int_equal(lkv_transport_start(&transport, &opts, &h), 0);
}

static void test_wake(void **state) {
  (void)state;
  start(0);
  assert_int_equal(lkv_transport_wake(transport, N_LOOPS), LKV_EINVAL);
  assert_int_equal(lkv_transport_wake(transport, -1), LKV_EINVAL);
  for (int i = 0; i < 1000; i++) assert_int_equal(lkv_transport_wake(transport, 1), 0);
  assert_true(wait_for(&wakes[1], 1));
  sleep_ms(50);
  int n = atomic_load(&wakes[1]);
  assert_true(n >= 1 && n < 1000); /* coalesced: a wake pending absorbs the next ones */
  assert_int_equal(atomic_load(&wakes[0]), 0);
  /* a wake made while on_wake runs (here: by on_wake itself) runs it again */
  atomic_store(&wake_again, 3);
  assert_int_equal(lkv_transport_wake(transport, 0), 0);
  assert_true(wait_for(&wakes[0], 4));
  assert_int_equal(atomic_load(&ticks[0]) + atomic_load(&ticks[1]), 0); /* no tick_ms: no ticks */
  lkv_transport_stop(transport, 0);
}

static void test_tick(void **state) {
  (void)state;
  start(10);
  for (int i = 0; i < N_LOOPS; i++) assert_true(wait_for(&ticks[i], 5));
  lkv_transport_stop(transport, 0);
  int n = atomic_load(&ticks[0]);
  sleep_ms(50);
  assert_int_equal(atomic_load(&ticks[0]), n); /* none after stop */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wake),
      cmocka_unit_test(test_tick),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
