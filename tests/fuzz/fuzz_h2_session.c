/* libFuzzer target for what a client's bytes reach on the client port: the HTTP/2 server session
 * (src/transport/h2_conn.c on nghttp2), the gRPC framing of its streams, request dispatch to the handler,
 * back-pressure (requests held while replies are queued, h2_flow.c) and grpc-timeout (deadline.c). The input
 * is what a client writes, cut into reads by its first byte; between reads the loop applies the handler's
 * answers and the session's output is taken (the client never opens its windows unless the input does).
 * Properties: no message above the receive limit reaches the handler, and once the connection is gone every
 * call is freed. */
#include <nghttp2/nghttp2.h>
#include <stdio.h>

#include "common/error.h"
#include "fuzz.h"
#include "transport/h2_conn.h"
#include "transport/loop.h"

#define MAX_RECV 4096

static const int unary_route, stream_route;
static int finished; /* lkv_call_set_data's mark: the handler finished the call (exactly once) */

/* The handler's answers are queued here (the fuzzer's thread is not the loop's), so a cancel can come
 * before the finish is applied: the mark keeps the finish single. */
static void finish(lkv_call_t *call, int status) {
  if (lkv_call_get_data(call) == &finished) return;
  lkv_call_set_data(call, &finished);
  lkv_call_finish(call, status, status ? "cancelled" : NULL);
}

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app;
  if (len == 10 && memcmp(path, "/f.S/Unary", 10) == 0) return &unary_route;
  *streaming = 1;
  return len == 11 && memcmp(path, "/f.S/Stream", 11) == 0 ? &stream_route : NULL;
}

/* Answers every message with a reply of 256 bytes times its first byte: enough to go over the bounds. */
static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  static uint8_t reply[255 * 256];
  (void)app;
  lkv_fuzz_require(len <= MAX_RECV);
  lkv_call_send(call, reply, len ? (size_t)data[0] * 256 : 0);
  if (route == &unary_route) finish(call, LKV_GRPC_OK);
}

static void on_half_close(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  finish(call, LKV_GRPC_OK);
}

static void on_cancel(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  finish(call, LKV_GRPC_CANCELLED);
}

static lkv__h2_config_t cfg = {
    .handler = {.lookup = lookup,
                .on_message = on_message,
                .on_half_close = on_half_close,
                .on_cancel = on_cancel},
    .max_recv_msg_bytes = MAX_RECV,
    .max_concurrent_streams = 64,
    .stream_reply_bytes = 4096,
    .conn_reply_bytes = 16384,
    /* no ping policy: each GOAWAY it sends is logged, and the fuzzer would write a line per input (its
     * strikes are unit-tested: test_transport_keepalive) */
};

static void no_flush(lkv__h2_conn_t *h2) {
  (void)h2;
}

/* Applies the posts of the handler's answers (the fuzzer's thread is not the loop's, so they are queued),
 * timers and handle closes. */
static void run_loop(lkv__loop_t *loop) {
  for (int i = 0; i < 3; i++) uv_run(&loop->uv, UV_RUN_NOWAIT);
}

/* Takes what the session has to send (the bytes themselves are dropped). */
static int drain(lkv__h2_conn_t *h2) {
  static uint8_t *buf;
  static size_t cap;
  size_t len = 0;
  return lkv__h2_conn_send(h2, &buf, &len, &cap, 1 << 20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lkv__loop_t loop;
  static int ready;
  if (!ready) {
    lkv_fuzz_require(lkv__loop_init(&loop, 0, &cfg, 0) == 0);
    ready = 1;
  }
  if (size < 1) return 0;
  size_t cut = (size_t)data[0] * 16 + 1;
  data++, size--;
  lkv__h2_conn_t h2;
  lkv_fuzz_require(lkv__h2_conn_init(&h2, &cfg, &loop, no_flush) == 0);
  int rv = 0;
  for (size_t off = 0; off < size && rv == 0;) {
    size_t n = size - off < cut ? size - off : cut;
    rv = lkv__h2_conn_recv(&h2, data + off, n);
    off += n;
    run_loop(&loop);
    if (rv == 0) rv = drain(&h2);
  }
  lkv__h2_conn_free(&h2);
  run_loop(&loop);
  lkv_fuzz_require(loop.n_calls == 0);
  return 0;
}

/* ---- seeds: what an nghttp2 client writes for a few calls ---- */

typedef struct {
  const uint8_t *p;
  size_t len;
} body_t;

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  (void)s, (void)id, (void)ud;
  body_t *b = src->ptr;
  size_t n = b->len < length ? b->len : length;
  memcpy(buf, b->p, n);
  b->p += n;
  b->len -= n;
  if (!b->len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

#define NV(n, v) \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

/* One seed: a client that opens a call on path (with grpc-timeout when timeout is not NULL) sending body,
 * pings ping times, and (window) opens its receive windows. */
static void seed(lkv_fuzz_add_fn add, void *arg, uint8_t cut, const char *path, const char *timeout,
                 const uint8_t *body, size_t body_len, int pings, int window) {
  nghttp2_session_callbacks *cbs;
  nghttp2_session *s;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_client_new(&s, cbs, NULL);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry set = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window ? 1 << 20 : 0};
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, &set, 1);
  nghttp2_nv nva[] = {NV(":method", "POST"),
                      NV(":scheme", "http"),
                      NV(":authority", "f"),
                      NV(":path", "/f.S/Unary"),
                      NV("content-type", "application/grpc"),
                      NV("grpc-timeout", "1S")};
  nva[3].value = (uint8_t *)path;
  nva[3].valuelen = strlen(path);
  if (timeout) {
    nva[5].value = (uint8_t *)timeout;
    nva[5].valuelen = strlen(timeout);
  }
  body_t b = {body, body_len};
  nghttp2_data_provider prd = {.source.ptr = &b, .read_callback = read_body};
  nghttp2_submit_request(s, NULL, nva, timeout ? 6 : 5, &prd, NULL);
  for (int i = 0; i < pings; i++) nghttp2_submit_ping(s, NGHTTP2_FLAG_NONE, NULL);
  if (window) nghttp2_submit_window_update(s, NGHTTP2_FLAG_NONE, 0, 1 << 20);
  uint8_t out[8192];
  size_t n = 1;
  out[0] = cut;
  for (;;) {
    const uint8_t *p;
    ssize_t k = nghttp2_session_mem_send(s, &p);
    if (k <= 0 || n + (size_t)k > sizeof(out)) break;
    memcpy(out + n, p, (size_t)k);
    n += (size_t)k;
  }
  nghttp2_session_del(s);
  add(arg, out, n);
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  /* gRPC messages: 5-byte prefix, then the first byte picks the reply's size */
  static const uint8_t one[] = {0, 0, 0, 0, 2, 40, 7};
  static const uint8_t three[] = {0, 0, 0, 0, 1, 30, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 1, 90};
  seed(add, arg, 255, "/f.S/Unary", NULL, one, sizeof(one), 0, 1);
  seed(add, arg, 1, "/f.S/Stream", "200m", three, sizeof(three), 0, 0);
  seed(add, arg, 3, "/f.S/Stream", NULL, three, sizeof(three), 4, 0);
  seed(add, arg, 7, "/f.S/Unary", "12x", one, sizeof(one), 1, 1);
  seed(add, arg, 255, "/f.S/Nope", NULL, one, sizeof(one), 0, 1);
}
