/* A small blocking HTTP/2 gRPC client built on nghttp2, used by the transport tests. */
#include "h2_test_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define H2C_MAX_STREAMS 64

struct h2c_s {
  int fd;
  nghttp2_session *session;
  h2c_stream_t *streams[H2C_MAX_STREAMS];
  size_t n_streams;
  int ended; /* EOF, socket error or fatal session error */
  int goaway;
  int32_t goaway_last;
  uint32_t goaway_code;
  char goaway_debug[64];
  int ping_acks;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_local(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static h2c_stream_t *find(nghttp2_session *session, int32_t id) {
  return nghttp2_session_get_stream_user_data(session, id);
}

static int on_msg(void *ud, const uint8_t *msg, size_t len) {
  h2c_stream_t *s = ud;
  s->msgs = realloc(s->msgs, (s->n_msgs + 1) * sizeof(*s->msgs));
  s->msg_lens = realloc(s->msg_lens, (s->n_msgs + 1) * sizeof(*s->msg_lens));
  s->msgs[s->n_msgs] = malloc(len ? len : 1);
  if (len) memcpy(s->msgs[s->n_msgs], msg, len);
  s->msg_lens[s->n_msgs++] = len;
  return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud) {
  (void)flags, (void)ud;
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  h2c_stream_t *s = find(session, frame->hd.stream_id);
  if (!s) return 0;
  char v[256];
  size_t n = valuelen < sizeof(v) - 1 ? valuelen : sizeof(v) - 1;
  memcpy(v, value, n);
  v[n] = '\0';
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    s->http_status = atoi(v);
  } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
    snprintf(s->content_type, sizeof(s->content_type), "%.63s", v);
  } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
    s->grpc_status = atoi(v);
  } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
    memcpy(s->grpc_message, v, n + 1);
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  h2c_t *c = ud;
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->goaway = 1;
    c->goaway_last = frame->goaway.last_stream_id;
    c->goaway_code = frame->goaway.error_code;
    size_t n = frame->goaway.opaque_data_len;
    n = n < sizeof(c->goaway_debug) - 1 ? n : sizeof(c->goaway_debug) - 1;
    if (n) memcpy(c->goaway_debug, frame->goaway.opaque_data, n);
    c->goaway_debug[n] = '\0';
    return 0;
  }
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    c->ping_acks++;
    return 0;
  }
  h2c_stream_t *s = find(session, frame->hd.stream_id);
  if (!s) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS) s->n_headers++;
  if (frame->hd.type == NGHTTP2_DATA) s->n_data++;
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    s->rst = 1;
    s->rst_code = frame->rst_stream.error_code;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    s->end_stream = 1;
  }
  return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *ud) {
  (void)flags, (void)ud;
  h2c_stream_t *s = find(session, stream_id);
  if (s && lkv__grpc_deframer_feed(&s->deframer, data, len, on_msg, s) != 0) {
    fprintf(stderr, "h2c: bad response framing on stream %d\n", stream_id);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *ud) {
  (void)error_code, (void)ud;
  h2c_stream_t *s = find(session, stream_id);
  if (s) s->closed = 1;
  return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *ud) {
  (void)session, (void)stream_id, (void)ud;
  h2c_stream_t *s = source->ptr;
  size_t n = s->out_len - s->out_off;
  if (n > length) n = length;
  if (n) memcpy(buf, s->out + s->out_off, n);
  s->out_off += n;
  if (s->out_off == s->out_len) {
    if (s->out_eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      s->deferred = 1;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return (ssize_t)n;
}

h2c_t *h2c_connect_window(int port, int32_t window) {
  h2c_t *c = calloc(1, sizeof(*c));
  if ((c->fd = connect_local(port)) < 0) {
    free(c);
    return NULL;
  }
  nghttp2_session_callbacks *cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_client_new(&c->session, cbs, c);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)window}};
  nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 1);
  nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, window);
  return c;
}

h2c_t *h2c_connect(int port) {
  return h2c_connect_window(port, NGHTTP2_INITIAL_WINDOW_SIZE);
}

void h2c_free(h2c_t *c) {
  if (!c) return;
  nghttp2_session_del(c->session);
  close(c->fd);
  for (size_t i = 0; i < c->n_streams; i++) {
    h2c_stream_t *s = c->streams[i];
    for (size_t k = 0; k < s->n_msgs; k++) free(s->msgs[k]);
    free(s->msgs);
    free(s->msg_lens);
    free(s->out);
    lkv__grpc_deframer_free(&s->deframer);
    free(s);
  }
  free(c);
}

void h2c_abort(h2c_t *c) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  h2c_free(c);
}

h2c_stream_t *h2c_request(h2c_t *c, const char *path, const char *method, const char *content_type) {
  return h2c_request_md(c, path, method, content_type, NULL);
}

h2c_stream_t *h2c_request_md(h2c_t *c, const char *path, const char *method, const char *content_type,
                             const char *const *metadata) {
  if (c->n_streams == H2C_MAX_STREAMS) return NULL;
  h2c_stream_t *s = calloc(1, sizeof(*s));
  s->grpc_status = -1;
  lkv__grpc_deframer_init(&s->deframer, (size_t)1 << 30);
  method = method ? method : "POST";
  content_type = content_type ? content_type : "application/grpc";
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
  nghttp2_nv nva[6 + 2 * H2C_MAX_METADATA] = {NV(":method", method),
                                              NV(":scheme", "http"),
                                              NV(":authority", "localhost"),
                                              NV(":path", path),
                                              NV("content-type", content_type),
                                              NV("te", "trailers")};
  size_t n = 6;
  for (size_t i = 0; metadata && metadata[i] && i < 2 * H2C_MAX_METADATA; i += 2)
    nva[n++] = (nghttp2_nv)NV(metadata[i], metadata[i + 1]);
#undef NV
  nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
  s->id = nghttp2_submit_request(c->session, NULL, nva, n, &prd, s);
  if (s->id < 0) {
    lkv__grpc_deframer_free(&s->deframer);
    free(s);
    return NULL;
  }
  c->streams[c->n_streams++] = s;
  return s;
}

static void resume(h2c_t *c, h2c_stream_t *s) {
  if (!s->deferred) return;
  s->deferred = 0;
  nghttp2_session_resume_data(c->session, s->id);
}

void h2c_send_raw(h2c_t *c, h2c_stream_t *s, const void *bytes, size_t len) {
  s->out = realloc(s->out, s->out_len + len);
  memcpy(s->out + s->out_len, bytes, len);
  s->out_len += len;
  resume(c, s);
}

void h2c_send_msg(h2c_t *c, h2c_stream_t *s, const void *msg, size_t len) {
  uint8_t prefix[LKV__GRPC_PREFIX_LEN];
  lkv__grpc_frame_prefix(prefix, (uint32_t)len);
  h2c_send_raw(c, s, prefix, sizeof(prefix));
  if (len) h2c_send_raw(c, s, msg, len);
}

void h2c_close_send(h2c_t *c, h2c_stream_t *s) {
  s->out_eof = 1;
  resume(c, s);
}

void h2c_rst(h2c_t *c, h2c_stream_t *s, uint32_t error_code) {
  nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, error_code);
}

void h2c_ping(h2c_t *c) {
  nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL);
}

int h2c_ping_acks(const h2c_t *c) {
  return c->ping_acks;
}

int h2c_goaway(const h2c_t *c, int32_t *last) {
  if (last) *last = c->goaway_last;
  return c->goaway;
}

uint32_t h2c_goaway_code(const h2c_t *c, char *debug, size_t debug_cap) {
  if (debug_cap) snprintf(debug, debug_cap, "%s", c->goaway_debug);
  return c->goaway_code;
}

void h2c_open_window(h2c_t *c, h2c_stream_t *s, int32_t delta) {
  nghttp2_submit_window_update(c->session, NGHTTP2_FLAG_NONE, s ? s->id : 0, delta);
}

uint32_t h2c_remote_setting(const h2c_t *c, int id) {
  return nghttp2_session_get_remote_settings(c->session, (nghttp2_settings_id)id);
}

/* Writes everything nghttp2 has to send. Blocking, but the server always reads, so it cannot stall long. */
static int flush_out(h2c_t *c) {
  for (;;) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->session, &data);
    if (n < 0) return -1;
    if (n == 0) return 0;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = send(c->fd, data + off, (size_t)(n - off), MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return -1;
      off += w;
    }
  }
}

int h2c_run(h2c_t *c, int (*pred)(void *arg), void *arg, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  uint8_t buf[65536];
  for (;;) {
    if (pred && pred(arg)) return 1;
    if (c->ended) return -1;
    if (flush_out(c) != 0) {
      c->ended = 1;
      continue;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, (int)(left < 10 ? left : 10));
    if (pr <= 0) continue;
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      c->ended = 1;
      continue;
    }
    if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0) c->ended = 1;
  }
}

static int stream_closed(void *arg) {
  return ((h2c_stream_t *)arg)->closed;
}

int h2c_wait_closed(h2c_t *c, h2c_stream_t *s, int timeout_ms) {
  return h2c_run(c, stream_closed, s, timeout_ms);
}

h2c_stream_t *h2c_unary(h2c_t *c, const char *path, const void *msg, size_t len, int timeout_ms) {
  h2c_stream_t *s = h2c_request(c, path, NULL, NULL);
  if (!s) return NULL;
  h2c_send_msg(c, s, msg, len);
  h2c_close_send(c, s);
  h2c_wait_closed(c, s, timeout_ms);
  return s;
}

int h2c_raw_closes(int port, const void *bytes, size_t len, int timeout_ms) {
  int fd = connect_local(port);
  if (fd < 0) return -1;
  int closed = 0;
  int64_t deadline = now_ms() + timeout_ms;
  if (send(fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len) {
    uint8_t buf[4096];
    while (!closed && now_ms() < deadline) {
      struct pollfd pfd = {.fd = fd, .events = POLLIN};
      if (poll(&pfd, 1, 10) <= 0) continue;
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EINTR)) closed = 1; /* whatever the server wrote first is skipped */
    }
  }
  close(fd);
  return closed;
}
