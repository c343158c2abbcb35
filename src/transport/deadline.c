/* gRPC deadlines: grpc-timeout values, one libuv timer per call with a deadline. */
#include "transport/deadline.h"

#include <stdlib.h>
#include <uv.h>

#include "common/error.h"
#include "transport/loop.h"

/* The timer lives apart from the call: libuv frees a handle only after its close callback, which may run
 * after the call itself is gone. */
typedef struct lkv__deadline_s {
  uv_timer_t timer;
  lkv_call_t *call; /* NULL once stopped */
} lkv__deadline_t;

int lkv__deadline_parse(const uint8_t *v, size_t len, uint64_t *ns) {
  static const struct {
    char unit;
    uint64_t ns;
  } units[] = {{'H', 3600000000000u}, {'M', 60000000000u}, {'S', 1000000000u},
               {'m', 1000000u},       {'u', 1000u},        {'n', 1u}};
  if (len < 2 || len > 9) return -1;
  uint64_t n = 0;
  for (size_t i = 0; i + 1 < len; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    n = n * 10 + (uint64_t)(v[i] - '0'); /* 8 digits: no overflow */
  }
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (units[i].unit != (char)v[len - 1]) continue;
    *ns = n > UINT64_MAX / units[i].ns ? UINT64_MAX : n * units[i].ns;
    return 0;
  }
  return -1;
}

void lkv__deadline_set(lkv_call_t *call, uint64_t timeout_ns) {
  uint64_t now = uv_hrtime();
  call->deadline_ns = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

int lkv__deadline_passed(const lkv_call_t *call) {
  return call->deadline_ns != 0 && uv_hrtime() >= call->deadline_ns;
}

static void on_closed(uv_handle_t *h) {
  free(h->data);
}

/* Milliseconds until the deadline, rounded up so that the timer never fires before it. */
static uint64_t ms_left(const lkv_call_t *call) {
  uint64_t now = uv_hrtime();
  return now >= call->deadline_ns ? 0 : (call->deadline_ns - now + 999999) / 1000000;
}

static void on_timer(uv_timer_t *t) {
  lkv__deadline_t *d = t->data;
  lkv_call_t *call = d->call;
  if (!lkv__deadline_passed(call)) { /* libuv counts from the loop's cached time: may be early */
    uv_timer_start(t, on_timer, ms_left(call), 0);
    return;
  }
  lkv__call_answer(call, LKV_GRPC_DEADLINE_EXCEEDED, LKV__DEADLINE_MESSAGE);
}

int lkv__deadline_start(lkv_call_t *call) {
  lkv__deadline_t *d = malloc(sizeof(*d));
  if (!d) return LKV_ENOMEM;
  d->call = call;
  d->timer.data = d;
  uv_timer_init(&call->loop->uv, &d->timer);
  uv_timer_start(&d->timer, on_timer, ms_left(call), 0);
  call->deadline = d;
  return 0;
}

void lkv__deadline_stop(lkv_call_t *call) {
  lkv__deadline_t *d = call->deadline;
  if (!d) return;
  call->deadline = NULL;
  d->call = NULL;
  uv_close((uv_handle_t *)&d->timer, on_closed);
}
