/* libFuzzer target for the gRPC message codec of every client call (src/transport/grpc_frame.c: the
 * deframer that DATA frames feed, and the grpc-message percent-coding): however the bytes are cut into
 * chunks, the deframer delivers the same messages and the same verdict, never a payload above its limit,
 * and what it delivers re-frames to the bytes it consumed; a percent-encoded text decodes to itself. The
 * input is max_len (u16) ‖ cut seed (u8) ‖ stream bytes. */
#include "common/error.h"
#include "fuzz.h"
#include "transport/grpc_frame.h"

#define PREFIX 3
#define MAX_MSGS 4096

typedef struct {
  size_t n;
  size_t total;           /* payload bytes delivered */
  size_t len[MAX_MSGS];   /* each message's length */
  uint32_t sum[MAX_MSGS]; /* and a checksum of its bytes */
  size_t max_len;
} seen_t;

static uint32_t sum_of(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static int on_msg(void *ud, const uint8_t *msg, size_t len) {
  seen_t *s = ud;
  lkv_fuzz_require(len <= s->max_len);
  if (s->n == MAX_MSGS) return 1; /* enough: stop both runs at the same message */
  s->len[s->n] = len;
  s->sum[s->n++] = sum_of(msg, len);
  s->total += len;
  return 0;
}

/* Feeds data in chunks whose sizes come from a small generator seeded by cut (cut 0: one chunk). */
static int feed(const uint8_t *data, size_t size, size_t max_len, uint8_t cut, seen_t *s, int *partial) {
  lkv__grpc_deframer_t d;
  lkv__grpc_deframer_init(&d, max_len);
  memset(s, 0, sizeof(*s));
  s->max_len = max_len;
  uint32_t x = cut;
  int rc = 0;
  for (size_t at = 0; at < size && rc == 0;) {
    size_t n = size - at;
    if (cut) {
      x = x * 1103515245u + 12345u;
      size_t want = 1 + (x >> 16) % 9;
      if (want < n) n = want;
    }
    rc = lkv__grpc_deframer_feed(&d, data + at, n, on_msg, s);
    at += n;
  }
  *partial = rc == 0 && lkv__grpc_deframer_partial(&d);
  lkv__grpc_deframer_free(&d);
  return rc;
}

static void fuzz_deframer(const uint8_t *data, size_t size) {
  if (size < PREFIX) return;
  size_t max_len = (size_t)data[0] | (size_t)data[1] << 8;
  uint8_t cut = data[2];
  data += PREFIX, size -= PREFIX;
  static seen_t whole, cutup;
  int p1, p2;
  int rc1 = feed(data, size, max_len, 0, &whole, &p1);
  int rc2 = feed(data, size, max_len, cut, &cutup, &p2);
  lkv_fuzz_require(rc1 == rc2 && p1 == p2 && whole.n == cutup.n);
  for (size_t i = 0; i < whole.n; i++)
    lkv_fuzz_require(whole.len[i] == cutup.len[i] && whole.sum[i] == cutup.sum[i]);
  /* Delivered messages are the input's own, framed: their prefixes and payloads tile its start. */
  size_t consumed = whole.n * LKV__GRPC_PREFIX_LEN + whole.total;
  lkv_fuzz_require(consumed <= size);
  if (rc1 == 0 && !p1 && whole.n < MAX_MSGS) lkv_fuzz_require(consumed == size);
  size_t at = 0;
  for (size_t i = 0; i < whole.n; i++) {
    uint8_t prefix[LKV__GRPC_PREFIX_LEN];
    lkv__grpc_frame_prefix(prefix, (uint32_t)whole.len[i]);
    lkv_fuzz_require(memcmp(prefix + 1, data + at + 1, 4) == 0 && data[at] == 0);
    lkv_fuzz_require(sum_of(data + at + LKV__GRPC_PREFIX_LEN, whole.len[i]) == whole.sum[i]);
    at += LKV__GRPC_PREFIX_LEN + whole.len[i];
  }
  if (rc1 == LKV_EMSGSIZE) lkv_fuzz_require(size - at >= LKV__GRPC_PREFIX_LEN);
  if (rc1 == LKV_EUNSUPPORTED) lkv_fuzz_require(data[at] == 1);
  if (rc1 == LKV_EPROTO) lkv_fuzz_require(data[at] > 1);
}

static void fuzz_percent(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  lkv_fuzz_require(text != NULL);
  memcpy(text, data, size);
  text[size] = 0;
  size_t n = lkv__grpc_percent_encode(NULL, 0, text);
  char *enc = malloc(n + 1);
  lkv_fuzz_require(enc != NULL);
  lkv_fuzz_require(lkv__grpc_percent_encode(enc, n + 1, text) == n && strlen(enc) == n);
  for (size_t i = 0; i < n; i++) lkv_fuzz_require(enc[i] >= 0x20 && enc[i] <= 0x7e);
  char *dec = lkv__grpc_percent_decode((const uint8_t *)enc, n);
  lkv_fuzz_require(dec != NULL && strcmp(dec, text) == 0);
  free(dec);
  /* Received as it stands, any value decodes to a string no longer than itself. */
  dec = lkv__grpc_percent_decode(data, size);
  lkv_fuzz_require(dec != NULL && strlen(dec) <= size);
  free(dec);
  free(enc);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_deframer(data, size);
  fuzz_percent(data, size);
  return 0;
}

static void add_stream(lkv_fuzz_add_fn add, void *arg, size_t max_len, uint8_t cut, const size_t *lens,
                       size_t n) {
  uint8_t buf[512];
  size_t at = 0;
  buf[at++] = (uint8_t)max_len, buf[at++] = (uint8_t)(max_len >> 8), buf[at++] = cut;
  for (size_t i = 0; i < n; i++) {
    lkv__grpc_frame_prefix(buf + at, (uint32_t)lens[i]);
    at += LKV__GRPC_PREFIX_LEN;
    for (size_t k = 0; k < lens[i]; k++) buf[at++] = (uint8_t)(i * 31 + k);
  }
  add(arg, buf, at);
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  const size_t some[] = {0, 7, 100, 1, 60};
  add_stream(add, arg, 200, 0, some, 5);
  add_stream(add, arg, 200, 7, some, 5);
  add_stream(add, arg, 50, 3, some, 5); /* 100 is above the limit */
  const size_t one[] = {300};
  add_stream(add, arg, 4096, 1, one, 1);
  const uint8_t compressed[] = {0, 16, 1, 1, 0, 0, 0, 2, 'h', 'i'};
  add(arg, compressed, sizeof(compressed));
  const char *text =
      "\x10\x00\x00"
      "bad request: 100% \xff\n";
  add(arg, (const uint8_t *)text, strlen(text + 3) + 3);
}
