/* The HTTP/1.1 server over real sockets: answers from the handler, keep-alive and pipelining, HEAD, the
 * server's own 400/413/431 answers and closes, and that it keeps serving after them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "transport/http_server.h"

/* Answers "path=<path> query=<query>" for any path but /missing (404). */
static void handle(void *app, const lkv_http_request_t *req, lkv_http_response_t *resp) {
  (void)app;
  if (req->path_len == 8 && memcmp(req->path, "/missing", 8) == 0) {
    resp->status = 404;
    return;
  }
  char text[256];
  int n = snprintf(text, sizeof(text), "%s path=%.*s query=%.*s", req->method, (int)req->path_len, req->path,
                   (int)req->query_len, req->query);
  resp->status = 200;
  resp->content_type = "text/plain";
  resp->body = malloc((size_t)n);
  memcpy(resp->body, text, (size_t)n);
  resp->body_len = (size_t)n;
}

static lkv_http_server_t *start(unsigned head_timeout_ms) {
  lkv_listen_addr_t addr = {.host = "127.0.0.1", .port = 0};
  lkv_http_server_options_t o = {.addrs = &addr,
                                 .n_addrs = 1,
                                 .handle = handle,
                                 .head_timeout_ms = head_timeout_ms,
                                 .max_request_bytes = 1024};
  lkv_http_server_t *s;
  assert_int_equal(lkv_http_server_start(&s, &o), 0);
  return s;
}

static int dial(lkv_http_server_t *s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)lkv_http_server_bound_port(s, 0))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return fd;
}

static void send_all(int fd, const char *text) {
  assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Reads until want bytes arrived, the peer closed (*closed = 1) or 3 s passed. Returns the NUL-terminated
 * text in a static buffer. */
static char *read_for(int fd, size_t want, int *closed) {
  static char buf[8192];
  size_t len = 0;
  *closed = 0;
  while (len < want && len < sizeof(buf) - 1) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0) break;
    ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    if (n <= 0) {
      *closed = 1;
      break;
    }
    len += (size_t)n;
  }
  buf[len] = '\0';
  return buf;
}

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

static void keep_alive_and_pipelining(void **state) {
  (void)state;
  lkv_http_server_t *s = start(0);
  int fd = dial(s), closed;
  send_all(fd, "GET /health?exclude=NOSPACE HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  const char *want = OK_HEAD "Content-Length: 38\r\n\r\nGET path=/health query=exclude=NOSPACE" OK_HEAD
                             "Content-Length: 18\r\n\r\nGET path=/a query=";
  assert_string_equal(read_for(fd, strlen(want), &closed), want);
  assert_false(closed);
  send_all(fd, "HEAD /b HTTP/1.1\r\n\r\nGET /missing HTTP/1.1\r\nConnection: close\r\n\r\n");
  want = OK_HEAD
      "Content-Length: 19\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  assert_string_equal(read_for(fd, 100000, &closed), want);
  assert_true(closed);
  close(fd);
  lkv_http_server_stop(s);
}

static void refusals(void **state) {
  (void)state;
  lkv_http_server_t *s = start(0);
  int fd = dial(s), closed;
  send_all(fd, "GET /a HTTP/1.1\r\nBad Header\r\n\r\n");
  const char *want =
      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\n"
      "Connection: close\r\n\r\n400 Bad Request";
  assert_string_equal(read_for(fd, 100000, &closed), want);
  assert_true(closed);
  close(fd);

  fd = dial(s);
  char big[2048];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  send_all(fd, "GET /a HTTP/1.1\r\nX-Big: ");
  send_all(fd, big);
  assert_non_null(strstr(read_for(fd, 100000, &closed), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  assert_true(closed);
  close(fd);

  fd = dial(s);
  send_all(fd, "POST /a HTTP/1.1\r\nContent-Length: 2000\r\n\r\n");
  send_all(fd, big);
  assert_non_null(strstr(read_for(fd, 100000, &closed), "HTTP/1.1 413 Request Entity Too Large\r\n"));
  assert_true(closed);
  close(fd);

  fd = dial(s); /* still serving */
  send_all(fd, "GET /c HTTP/1.0\r\n\r\n");
  assert_string_equal(read_for(fd, 100000, &closed),
                      OK_HEAD "Content-Length: 18\r\nConnection: close\r\n\r\nGET path=/c query=");
  assert_true(closed);
  close(fd);
  lkv_http_server_stop(s);
}

static void slow_client_closed(void **state) {
  (void)state;
  lkv_http_server_t *s = start(200);
  int fd = dial(s), closed;
  send_all(
      fd,
      "GET /a HTTP/1.1\r\n"); /* and nothing more: closed after the head timeout (+ the reaper's second) */
  assert_string_equal(read_for(fd, 100000, &closed), "");
  assert_true(closed);
  close(fd);
  int idle = dial(s); /* an open connection does not hold up stop */
  lkv_http_server_stop(s);
  close(idle);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(keep_alive_and_pipelining),
      cmocka_unit_test(refusals),
      cmocka_unit_test(slow_client_closed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
