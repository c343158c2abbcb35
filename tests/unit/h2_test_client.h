/* A small blocking HTTP/2 gRPC client (nghttp2 client session over a socket) for transport tests. */
#ifndef LKV_TESTS_H2_TEST_CLIENT_H
#define LKV_TESTS_H2_TEST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "transport/grpc_frame.h"

/* What the client saw on one stream. Owned by the client; valid until h2c_free. */
typedef struct h2c_stream_s {
  int32_t id;
  int http_status; /* :status, 0 until response headers arrive */
  char content_type[64];
  int n_headers;          /* HEADERS frames received: 1 for Trailers-Only, 2 for headers + trailers */
  int n_data;             /* DATA frames received */
  int grpc_status;        /* -1 until a grpc-status header arrives */
  char grpc_message[256]; /* as sent (percent-encoded) */
  int end_stream;         /* the server half-closed */
  int closed;             /* the stream is closed (nghttp2 on_stream_close) */
  int rst;                /* RST_STREAM received */
  uint32_t rst_code;
  size_t n_msgs; /* response messages, deframed */
  uint8_t **msgs;
  size_t *msg_lens;
  lkv__grpc_deframer_t deframer;
  uint8_t *out; /* request body bytes not yet sent */
  size_t out_len, out_off;
  int out_eof, deferred;
} h2c_stream_t;

typedef struct h2c_s h2c_t;

/* Connects to 127.0.0.1:port and queues the connection preface and SETTINGS (HTTP/2's default 64 KiB
 * receive windows). NULL on failure. */
h2c_t *h2c_connect(int port);

/* Like h2c_connect, with stream and connection receive windows of window bytes. */
h2c_t *h2c_connect_window(int port, int32_t window);

/* Closes the socket and frees the client and all its streams. */
void h2c_free(h2c_t *c);

/* Like h2c_free, but resets the TCP connection (SO_LINGER 0): the server's next write fails with EPIPE. */
void h2c_abort(h2c_t *c);

/* Opens a stream: HEADERS with the given :method (NULL: POST), :path and content-type (NULL:
 * application/grpc); the body follows with h2c_send_*. Returns the stream or NULL. */
h2c_stream_t *h2c_request(h2c_t *c, const char *path, const char *method, const char *content_type);

/* Header pairs h2c_request_md sends at most. */
#define H2C_MAX_METADATA 8

/* h2c_request with request metadata: name, value, name, value, ..., NULL (lower-case names). */
h2c_stream_t *h2c_request_md(h2c_t *c, const char *path, const char *method, const char *content_type,
                             const char *const *metadata);

/* Queues one gRPC message (prefix added here) on s. */
void h2c_send_msg(h2c_t *c, h2c_stream_t *s, const void *msg, size_t len);

/* Queues raw body bytes on s (for malformed framing). */
void h2c_send_raw(h2c_t *c, h2c_stream_t *s, const void *bytes, size_t len);

/* Ends the request body (END_STREAM once the queued bytes are sent). */
void h2c_close_send(h2c_t *c, h2c_stream_t *s);

/* Resets s with error_code. */
void h2c_rst(h2c_t *c, h2c_stream_t *s, uint32_t error_code);

/* Sends a PING; h2c_ping_acks counts the acknowledgements received. */
void h2c_ping(h2c_t *c);
int h2c_ping_acks(const h2c_t *c);

/* Sends what is pending and processes what arrives for up to timeout_ms, returning early once pred(arg)
 * holds (pred may be NULL: run the whole time). Returns 1 if pred held, 0 on timeout, -1 if the
 * connection ended (EOF, error or fatal protocol error). */
int h2c_run(h2c_t *c, int (*pred)(void *arg), void *arg, int timeout_ms);

/* Runs until s is closed. Returns 1, 0 on timeout, -1 if the connection ended first. */
int h2c_wait_closed(h2c_t *c, h2c_stream_t *s, int timeout_ms);

/* One unary call: request, message, END_STREAM, wait for the close. Returns the stream (check ->closed). */
h2c_stream_t *h2c_unary(h2c_t *c, const char *path, const void *msg, size_t len, int timeout_ms);

/* 1 once the server sent GOAWAY; its last-stream-id in *last if non-NULL. */
int h2c_goaway(const h2c_t *c, int32_t *last);

/* The error code of the server's GOAWAY, and its debug data (NUL-terminated, truncated) in debug. */
uint32_t h2c_goaway_code(const h2c_t *c, char *debug, size_t debug_cap);

/* Grows the client's receive window of s (NULL: of the connection) by delta bytes with WINDOW_UPDATE (sent
 * by the next h2c_run): lets a client that opened with a closed window read. */
void h2c_open_window(h2c_t *c, h2c_stream_t *s, int32_t delta);

/* The value of a SETTINGS entry the server sent (NGHTTP2_SETTINGS_*), as nghttp2 keeps it. */
uint32_t h2c_remote_setting(const h2c_t *c, int id);

/* Writes raw bytes on a plain socket to 127.0.0.1:port and waits up to timeout_ms for the server to close
 * the connection. Returns 1 if it closed, 0 if it stayed open, -1 if the connect failed. */
int h2c_raw_closes(int port, const void *bytes, size_t len, int timeout_ms);

#endif
