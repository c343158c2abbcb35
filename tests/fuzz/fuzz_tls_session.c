/* libFuzzer target for the TLS sessions over memory buffers (src/transport/tls_conn.c) that every TLS
 * client connection and every dialed or accepted peer connection runs through. Two kinds of input:
 *   - mode 0: bytes a client sends to an accepting session (garbage, truncated or replayed records), cut
 *     into chunks: the session fails with a reason or waits for more, never crashes, and yields at most an
 *     alert;
 *   - mode 1: a dialing session and an accepting one (with or without client certificates) talk through
 *     memory while the input damages bytes of the exchange at chosen offsets: either a side fails, or both
 *     finish the handshake and the application bytes each side reads are exactly those the other wrote.
 * The input is mode (u8) ‖ chunk seed (u8) ‖ bytes (mode 0) or (offset u16, xor u8) triples (mode 1).
 * Refusals are logged on stderr, thousands a second here: they are silenced unless LKV_FUZZ_VERBOSE is set
 * (set it when replaying a crash). A handshake costs about a millisecond, so runs are short (RUNS). */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/error.h"
#include "fuzz.h"
#include "transport/tls_internal.h"

static lkv_tls_t *server, *server_mtls, *client;
static int quiet_fd = -1, saved_fd = -1;

static void quiet(int on) {
  if (quiet_fd < 0) return;
  fflush(stderr);
  dup2(on ? quiet_fd : saved_fd, 2);
}

static void setup(void) {
  if (server) return;
  char dir[] = "/tmp/lkv-fuzz-tls-XXXXXX", cert[256], key[256], err[256];
  lkv_fuzz_require(mkdtemp(dir) != NULL);
  const char *hosts[] = {"127.0.0.1"};
  lkv_fuzz_require(lkv_tls_self_cert(dir, hosts, 1, cert, key, sizeof(cert), err, sizeof(err)) == 0);
  lkv_tls_options_t o = {.cert_file = cert, .key_file = key, .alpn = "h2"};
  lkv_fuzz_require(lkv_tls_new(&server, &o, err, sizeof(err)) == 0);
  o.self_signed = 1; /* the dialing side does not verify a self-signed server */
  lkv_fuzz_require(lkv_tls_new(&client, &o, err, sizeof(err)) == 0);
  /* Client certificates required: the self-signed one lacks the clientAuth usage, so the verify callback
   * runs and refuses; damage may make other paths fail first. */
  lkv_tls_options_t m = {
      .cert_file = cert, .key_file = key, .alpn = "h2", .trusted_ca_file = cert, .client_cert_auth = 1};
  lkv_fuzz_require(lkv_tls_new(&server_mtls, &m, err, sizeof(err)) == 0);
  /* The files are read; the contexts keep what they need (a later re-read finds them gone and keeps it). */
  unlink(cert), unlink(key), rmdir(dir);
  if (!getenv("LKV_FUZZ_VERBOSE")) {
    quiet_fd = open("/dev/null", O_WRONLY);
    saved_fd = dup(2);
  }
}

typedef struct {
  uint8_t *b;
  size_t len, cap;
} bytes_t;

static int collect(void *arg, const uint8_t *data, size_t len) {
  bytes_t *s = arg;
  if (s->len + len > s->cap) {
    s->cap = (s->len + len) * 2;
    s->b = realloc(s->b, s->cap);
    lkv_fuzz_require(s->b != NULL);
  }
  memcpy(s->b + s->len, data, len);
  s->len += len;
  return 0;
}

static int produce_from(void *arg, uint8_t **buf, size_t *len, size_t *cap, size_t limit) {
  bytes_t *src = arg;
  (void)limit;
  if (!src->len) return 0;
  if (*len + src->len > *cap) {
    *cap = *len + src->len;
    *buf = realloc(*buf, *cap);
    lkv_fuzz_require(*buf != NULL);
  }
  memcpy(*buf + *len, src->b, src->len);
  *len += src->len;
  src->len = 0;
  return 0;
}

static const struct sockaddr_in REMOTE = {
    .sin_family = AF_INET, .sin_port = 0x3930, .sin_addr = {.s_addr = 0x0100007f}};

static void mode_garbage(const uint8_t *data, size_t size, uint8_t seed) {
  lkv__tls_conn_t *s;
  lkv_fuzz_require(
      lkv__tls_conn_new(seed & 1 ? server_mtls : server, (const struct sockaddr *)&REMOTE, NULL, &s) == 0);
  static uint8_t scratch[16384];
  bytes_t plain = {0}, out = {0};
  uint32_t x = seed;
  int rc = 0;
  for (size_t at = 0; at < size && rc == 0;) {
    x = x * 1103515245u + 12345u;
    size_t n = 1 + (x >> 16) % 300;
    if (n > size - at) n = size - at;
    rc = lkv__tls_conn_recv(s, data + at, n, scratch, sizeof(scratch), collect, &plain);
    at += n;
    lkv_fuzz_require(lkv__tls_conn_send(s, NULL, NULL, &out.b, &out.len, &out.cap, 1 << 16) == 0 || rc != 0);
  }
  lkv_fuzz_require(rc == 0 || rc == LKV_EPROTO);
  lkv_fuzz_require(rc == 0 || lkv__tls_conn_failed(s));
  /* Nobody can finish a handshake against a fresh server key without it: no plaintext came through. */
  lkv_fuzz_require(plain.len == 0);
  lkv__tls_conn_free(s);
  free(plain.b);
  free(out.b);
}

/* Moves what one side has to send to the other, damaging the bytes the triples name (offsets count over
 * everything sent in that direction). Returns the receiver's verdict. */
static int pass(lkv__tls_conn_t *from, bytes_t *app_out, lkv__tls_conn_t *to, bytes_t *app_in, size_t *sent,
                const uint8_t *t, size_t nt, int dir, int *damaged) {
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  static uint8_t scratch[16384];
  int rc = lkv__tls_conn_send(from, lkv__tls_conn_ready(from) ? produce_from : NULL, app_out, &buf, &len,
                              &cap, 1 << 16);
  if (rc == 0 && len) {
    for (size_t i = 0; i < nt; i++) {
      size_t off = (size_t)t[3 * i] | (size_t)(t[3 * i + 1] & 0x7f) << 8;
      if ((t[3 * i + 1] >> 7) == dir && off >= *sent && off < *sent + len && t[3 * i + 2]) {
        buf[off - *sent] ^= t[3 * i + 2];
        *damaged = 1;
      }
    }
    *sent += len;
    rc = lkv__tls_conn_recv(to, buf, len, scratch, sizeof(scratch), collect, app_in);
  }
  free(buf);
  return rc;
}

static void mode_damaged(const uint8_t *data, size_t size, uint8_t seed) {
  lkv__tls_conn_t *c, *s;
  lkv_fuzz_require(
      lkv__tls_conn_new(seed & 1 ? server_mtls : server, (const struct sockaddr *)&REMOTE, NULL, &s) == 0);
  lkv_fuzz_require(lkv__tls_conn_new(client, NULL, "127.0.0.1", &c) == 0);
  const uint8_t *t = data;
  size_t nt = size / 3;
  const char *ping = "client says: PRI * HTTP/2.0", *pong = "server says: SETTINGS";
  bytes_t c_out = {0}, s_out = {0}, c_in = {0}, s_in = {0};
  collect(&c_out, (const uint8_t *)ping, strlen(ping));
  collect(&s_out, (const uint8_t *)pong, strlen(pong));
  size_t c_sent = 0, s_sent = 0;
  int rc_c = 0, rc_s = 0, damaged = 0;
  for (int round = 0; round < 12 && rc_c == 0 && rc_s == 0; round++) {
    rc_s = pass(c, &c_out, s, &s_in, &c_sent, t, nt, 0, &damaged);
    if (rc_s == 0) rc_c = pass(s, &s_out, c, &c_in, &s_sent, t, nt, 1, &damaged);
  }
  /* Whatever happened, what arrived is a prefix of what was written: damage that TLS let through into the
   * application's bytes would show here. */
  lkv_fuzz_require(s_in.len <= strlen(ping) && (s_in.len == 0 || memcmp(s_in.b, ping, s_in.len) == 0));
  lkv_fuzz_require(c_in.len <= strlen(pong) && (c_in.len == 0 || memcmp(c_in.b, pong, c_in.len) == 0));
  if (rc_c || rc_s) lkv_fuzz_require(rc_c == LKV_EPROTO || rc_s == LKV_EPROTO);
  if (!damaged && !(seed & 1)) /* undamaged: the handshake completes and everything arrives */
    lkv_fuzz_require(rc_c == 0 && rc_s == 0 && lkv__tls_conn_ready(c) && lkv__tls_conn_ready(s) &&
                     s_in.len == strlen(ping) && c_in.len == strlen(pong));
  if (!damaged && (seed & 1)) lkv_fuzz_require(rc_s == LKV_EPROTO && s_in.len == 0); /* no client cert fits */
  lkv__tls_conn_free(c);
  lkv__tls_conn_free(s);
  free(c_out.b), free(s_out.b), free(c_in.b), free(s_in.b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  setup();
  quiet(1);
  if (data[0] & 1)
    mode_damaged(data + 2, size - 2, data[1]);
  else
    mode_garbage(data + 2, size - 2, data[1]);
  quiet(0);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  const uint8_t clean[] = {1, 0};             /* an undamaged exchange */
  const uint8_t mtls[] = {1, 1};              /* client certificate required, none fit */
  const uint8_t flip[] = {1, 0, 40, 0, 0x20}; /* the ClientHello damaged */
  const uint8_t late[] = {1, 0, 10, 0x81, 1, 200, 0x1, 0x80};
  const uint8_t hello[] = {0, 3, 0x16, 0x03, 0x01, 0x00, 0x31, 0x01, 0x00, 0x00, 0x2d, 0x03, 0x03};
  const uint8_t h2c[] = {0, 5, 'P', 'R', 'I', ' ', '*', ' ', 'H', 'T', 'T', 'P', '/', '2', '.', '0'};
  add(arg, clean, sizeof(clean));
  add(arg, mtls, sizeof(mtls));
  add(arg, flip, sizeof(flip));
  add(arg, late, sizeof(late));
  add(arg, hello, sizeof(hello));
  add(arg, h2c, sizeof(h2c));
}
