/* HTTP/1.1 on the transport's port (exchange.h) over real sockets: replies, calls of unary and client-
 * streaming routes rendered by a codec (a body, or one chunk per message), failures and unknown routes
 * through the codec, metadata forwarded as grpc-gateway does, pipelining, and a request split byte by
 * byte across the protocol sniff. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "transport/exchange.h"

static const char *const keys[] = {"authorization", "hasleader", NULL};
static const int unary_route = 1, stream_route = 2;
static lkv_transport_t *transport;
static int port;

static const void *lookup(void *app, const char *path, size_t len, int *streaming) {
  (void)app;
  if (len == 10 && memcmp(path, "/t.S/Unary", 10) == 0) return &unary_route;
  if (len == 11 && memcmp(path, "/t.S/Stream", 11) == 0) {
    *streaming = 1;
    return &stream_route;
  }
  return NULL;
}

/* Unary: echoes the message and the forwarded metadata; "fail" fails. Stream: echoes each message twice. */
static void on_message(void *app, const void *route, lkv_call_t *call, const uint8_t *data, size_t len) {
  (void)app;
  if (route == &stream_route) {
    lkv_call_send(call, data, len);
    lkv_call_send(call, data, len);
    return;
  }
  if (len == 4 && memcmp(data, "fail", 4) == 0) {
    lkv_call_finish(call, LKV_GRPC_INVALID_ARGUMENT, "bad");
    return;
  }
  char out[256];
  const char *auth = lkv_call_metadata(call, "authorization"), *leader = lkv_call_metadata(call, "hasleader");
  int n = snprintf(out, sizeof(out), "%.*s|%s|%s", (int)len, (const char *)data, auth ? auth : "-",
                   leader ? leader : "-");
  lkv_call_send(call, (const uint8_t *)out, (size_t)n);
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_half_close(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  lkv_call_finish(call, LKV_GRPC_OK, NULL);
}

static void on_cancel(void *app, const void *route, lkv_call_t *call) {
  (void)app, (void)route;
  lkv_call_finish(call, LKV_GRPC_CANCELLED, NULL);
}

static int render(const void *arg, const uint8_t *msg, size_t len, char **out, size_t *out_len) {
  (void)arg;
  *out = malloc(len + 1);
  memcpy(*out, msg, len);
  (*out)[len] = '!';
  *out_len = len + 1;
  return 0;
}

static int fail_body(const void *arg, int code, const char *message, char **out, size_t *out_len) {
  (void)arg;
  *out = malloc(300);
  *out_len = (size_t)snprintf(*out, 300, "E:%d:%s", code, message);
  return 400;
}

/* /reply answers itself; /unary, /stream (the body's comma-separated parts) and /none call routes. */
static void on_http(void *app, lkv_http_exchange_t *x) {
  (void)app;
  const lkv_http_exchange_request_t *r = lkv_http_exchange_request(x);
  lkv_http_call_codec_t codec = {
      .stream = 0, .content_type = "text/plain", .render = render, .fail = fail_body};
  if (strcmp(r->path, "/reply") == 0) {
    lkv_http_response_t resp = {
        .status = 200, .content_type = "text/plain", .body = strdup("hi"), .body_len = 2};
    lkv_http_exchange_set_headers(x, "X-Extra: 1\r\n");
    lkv_http_exchange_reply(x, &resp);
  } else if (strcmp(r->path, "/unary") == 0) {
    const uint8_t *msg = r->body;
    assert_int_equal(lkv_http_exchange_call(x, "/t.S/Unary", &msg, &r->body_len, 1, &codec), 0);
  } else if (strcmp(r->path, "/stream") == 0) {
    const uint8_t *msgs[8];
    size_t lens[8], n = 0, start = 0;
    for (size_t i = 0; r->body_len && i <= r->body_len && n < 8; i++) {
      if (i == r->body_len || r->body[i] == ',') {
        msgs[n] = r->body + start;
        lens[n++] = i - start;
        start = i + 1;
      }
    }
    codec.stream = 1;
    assert_int_equal(lkv_http_exchange_call(x, "/t.S/Stream", msgs, lens, n, &codec), 0);
  } else {
    const uint8_t *msg = r->body;
    assert_int_equal(lkv_http_exchange_call(x, "/t.S/Missing", &msg, &r->body_len, 1, &codec), 0);
  }
}

static int setup(void **state) {
  (void)state;
  lkv_listen_addr_t addr = {.host = "127.0.0.1", .port = 0};
  lkv_transport_options_t opts = {.addrs = &addr, .n_addrs = 1, .n_loops = 1, .max_recv_msg_bytes = 4096};
  lkv_transport_handler_t h = {.lookup = lookup,
                               .on_message = on_message,
                               .on_half_close = on_half_close,
                               .on_cancel = on_cancel,
                               .metadata_keys = keys,
                               .on_http = on_http};
  assert_int_equal(lkv_transport_start(&transport, &opts, &h), 0);
  port = lkv_transport_bound_port(transport, 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lkv_transport_stop(transport, 1000);
  return 0;
}

/* Sends req (in pieces of `step` bytes, 0: at once) and reads until the server closes. */
static char *exchange(const char *req, size_t step) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  size_t len = strlen(req);
  for (size_t off = 0; off < len;) {
    size_t k = step && len - off > step ? step : len - off;
    assert_int_equal(send(fd, req + off, k, 0), (ssize_t)k);
    off += k;
    if (step) usleep(2000);
  }
  static char buf[16384];
  size_t have = 0;
  ssize_t n;
  while (have < sizeof(buf) - 1 && (n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) > 0)
    have += (size_t)n;
  buf[have] = '\0';
  close(fd);
  return buf;
}

static void test_reply_split_and_pipelined(void **state) {
  (void)state;
  const char *want =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Extra: 1\r\nContent-Length: 2\r\n\r\nhi"
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Extra: 1\r\nContent-Length: 2\r\nConnection: "
      "close\r\n\r\nhi";
  const char *req = "GET /reply HTTP/1.1\r\nHost: x\r\n\r\nGET /reply HTTP/1.1\r\nConnection: close\r\n\r\n";
  assert_string_equal(exchange(req, 0), want);
  assert_string_equal(exchange(req, 1), want); /* "P", "O": the sniff waits, then HTTP/1.1 */
}

static void test_unary_call(void **state) {
  (void)state;
  assert_string_equal(
      exchange("POST /unary HTTP/1.1\r\nAuthorization: tok\r\nGrpc-Metadata-Hasleader: true\r\n"
               "X-Other: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
               0),
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: "
      "close\r\n\r\nabc|tok|true!");
  assert_string_equal(
      exchange("POST /unary HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfail", 0),
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: "
      "close\r\n\r\nE:3:bad");
  assert_string_equal(exchange("POST /none HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", 0),
                      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
                      "Connection: close\r\n\r\nE:12:unknown service t.S");
}

static void test_stream_call(void **state) {
  (void)state;
  assert_string_equal(
      exchange("POST /stream HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\na,b", 0),
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: "
      "close\r\n\r\n2\r\na!\r\n2\r\na!\r\n2\r\nb!\r\n2\r\nb!\r\n0\r\n\r\n");
  /* an empty client stream is ended by the transport (OK, nothing sent) */
  assert_string_equal(
      exchange("POST /stream HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0),
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: "
      "close\r\n\r\n0\r\n\r\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reply_split_and_pipelined),
      cmocka_unit_test(test_unary_call),
      cmocka_unit_test(test_stream_call),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
