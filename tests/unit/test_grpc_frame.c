/* Unit tests of the gRPC message codec (src/transport/grpc_frame.c): deframing, framing, percent-encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "transport/grpc_frame.h"

#define MAX_MSGS 16

typedef struct {
  size_t n;
  size_t len[MAX_MSGS];
  uint8_t *data[MAX_MSGS];
  const uint8_t *ptr[MAX_MSGS]; /* where the payload was when delivered (zero-copy check) */
  int stop_after;               /* return 1 after this many messages (0: never) */
} collector_t;

static int collect(void *ud, const uint8_t *msg, size_t len) {
  collector_t *c = ud;
  assert_true(c->n < MAX_MSGS);
  c->len[c->n] = len;
  c->ptr[c->n] = msg;
  c->data[c->n] = malloc(len + 1);
  if (len) memcpy(c->data[c->n], msg, len);
  c->n++;
  return c->stop_after && (int)c->n >= c->stop_after ? 1 : 0;
}

static void collector_free(collector_t *c) {
  for (size_t i = 0; i < c->n; i++) free(c->data[i]);
}

/* Frames payload into out (prefix + bytes); returns the framed size. */
static size_t frame(uint8_t *out, const char *payload, size_t len) {
  lkv__grpc_frame_prefix(out, (uint32_t)len);
  memcpy(out + LKV__GRPC_PREFIX_LEN, payload, len);
  return LKV__GRPC_PREFIX_LEN + len;
}

static void test_whole_message_is_not_copied(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "hello", 5);
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, 1024);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, n, collect, &c), 0);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.len[0], 5);
  assert_memory_equal(c.data[0], "hello", 5);
  assert_ptr_equal(c.ptr[0], buf + LKV__GRPC_PREFIX_LEN);
  assert_false(lkv__grpc_deframer_partial(&d));
  assert_null(d.body);
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
}

static void test_byte_by_byte(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "abcdefg", 7);
  n += frame(buf + n, "xy", 2);
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, 1024);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(lkv__grpc_deframer_feed(&d, buf + i, 1, collect, &c), 0);
    /* split prefix (i < 4) and split body keep the message partial until its last byte */
    if (i == 0 || i == 4 || i == 12) assert_true(lkv__grpc_deframer_partial(&d));
  }
  assert_int_equal(c.n, 2);
  assert_int_equal(c.len[0], 7);
  assert_memory_equal(c.data[0], "abcdefg", 7);
  assert_int_equal(c.len[1], 2);
  assert_memory_equal(c.data[1], "xy", 2);
  assert_false(lkv__grpc_deframer_partial(&d));
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
}

static void test_message_across_chunks(void **state) {
  (void)state;
  enum { LEN = 100000 };
  uint8_t *buf = malloc(LEN + LKV__GRPC_PREFIX_LEN);
  char *payload = malloc(LEN);
  for (size_t i = 0; i < LEN; i++) payload[i] = (char)(i * 7);
  size_t n = frame(buf, payload, LEN);
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, LEN);
  /* 16 KiB chunks, like DATA frames; the second starts mid-body */
  for (size_t off = 0; off < n; off += 16384) {
    size_t k = n - off < 16384 ? n - off : 16384;
    assert_int_equal(lkv__grpc_deframer_feed(&d, buf + off, k, collect, &c), 0);
    if (off + k < n) assert_int_equal(c.n, 0);
  }
  assert_int_equal(c.n, 1);
  assert_int_equal(c.len[0], LEN);
  assert_memory_equal(c.data[0], payload, LEN);
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
  free(buf);
  free(payload);
}

static void test_many_messages_in_one_chunk(void **state) {
  (void)state;
  uint8_t buf[256];
  size_t n = 0;
  n += frame(buf + n, "one", 3);
  n += frame(buf + n, "", 0);
  n += frame(buf + n, "three", 5);
  n += frame(buf + n, "", 0); /* zero-length message as the last bytes of the chunk */
  n += frame(buf + n, "fi", 2);
  size_t split = n - 1; /* the last message's final byte comes in a second chunk */
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, 1024);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, split, collect, &c), 0);
  assert_int_equal(c.n, 4);
  assert_true(lkv__grpc_deframer_partial(&d));
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf + split, 1, collect, &c), 0);
  assert_int_equal(c.n, 5);
  const char *want[] = {"one", "", "three", "", "fi"};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(c.len[i], strlen(want[i]));
    assert_memory_equal(c.data[i], want[i], c.len[i]);
  }
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
}

static void test_zero_length_message_alone(void **state) {
  (void)state;
  uint8_t buf[8];
  size_t n = frame(buf, "", 0);
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, 0); /* even a zero limit admits an empty message */
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, n, collect, &c), 0);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.len[0], 0);
  assert_false(lkv__grpc_deframer_partial(&d));
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
}

static void test_oversize_reported_at_prefix(void **state) {
  (void)state;
  uint8_t buf[16];
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, 10);
  lkv__grpc_frame_prefix(buf, 11);
  /* the first four bytes are not enough to decide */
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, 4, collect, &c), 0);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf + 4, 1, collect, &c), LKV_EMSGSIZE);
  assert_int_equal(lkv__grpc_deframer_announced(&d), 11);
  assert_null(d.body); /* nothing was buffered for the body */
  assert_int_equal(c.n, 0);
  lkv__grpc_deframer_free(&d);

  /* exactly at the limit is accepted; a huge announcement is refused without allocating */
  size_t n = frame(buf, "0123456789", 10);
  lkv__grpc_deframer_init(&d, 10);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, n, collect, &c), 0);
  assert_int_equal(c.n, 1);
  lkv__grpc_frame_prefix(buf, UINT32_MAX);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, LKV__GRPC_PREFIX_LEN, collect, &c), LKV_EMSGSIZE);
  assert_int_equal(lkv__grpc_deframer_announced(&d), UINT32_MAX);
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
}

static void test_body_buffer_grows_with_data(void **state) {
  (void)state;
  uint8_t buf[16];
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  lkv__grpc_deframer_init(&d, 1 << 30);
  lkv__grpc_frame_prefix(buf, 1 << 29); /* announces 512 MiB, sends 3 bytes */
  memcpy(buf + LKV__GRPC_PREFIX_LEN, "abc", 3);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, LKV__GRPC_PREFIX_LEN + 3, collect, &c), 0);
  assert_true(d.body_cap <= 4096);
  assert_true(lkv__grpc_deframer_partial(&d));
  lkv__grpc_deframer_free(&d);
}

static void test_compressed_and_bad_flag(void **state) {
  (void)state;
  uint8_t buf[16];
  lkv__grpc_deframer_t d;
  collector_t c = {0};
  size_t n = frame(buf, "zz", 2);
  buf[0] = 1;
  lkv__grpc_deframer_init(&d, 1024);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, n, collect, &c), LKV_EUNSUPPORTED);
  lkv__grpc_deframer_free(&d);
  buf[0] = 2;
  lkv__grpc_deframer_init(&d, 1024);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, n, collect, &c), LKV_EPROTO);
  lkv__grpc_deframer_free(&d);
  assert_int_equal(c.n, 0);
}

static void test_callback_stops_feeding(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = frame(buf, "a", 1);
  n += frame(buf + n, "b", 1);
  lkv__grpc_deframer_t d;
  collector_t c = {.stop_after = 1};
  lkv__grpc_deframer_init(&d, 1024);
  assert_int_equal(lkv__grpc_deframer_feed(&d, buf, n, collect, &c), 1);
  assert_int_equal(c.n, 1);
  lkv__grpc_deframer_free(&d);
  collector_free(&c);
}

static void test_frame_prefix(void **state) {
  (void)state;
  uint8_t p[LKV__GRPC_PREFIX_LEN];
  lkv__grpc_frame_prefix(p, 0x01020304);
  const uint8_t want[] = {0, 1, 2, 3, 4};
  assert_memory_equal(p, want, sizeof(want));
  lkv__grpc_frame_prefix(p, 0);
  const uint8_t zero[] = {0, 0, 0, 0, 0};
  assert_memory_equal(p, zero, sizeof(zero));
}

static void test_percent_encode(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(lkv__grpc_percent_encode(out, sizeof(out), "key not found"), 13);
  assert_string_equal(out, "key not found");
  assert_int_equal(lkv__grpc_percent_encode(out, sizeof(out), "100%"), 6);
  assert_string_equal(out, "100%25");
  assert_int_equal(lkv__grpc_percent_encode(out, sizeof(out), "caf\xc3\xa9\n~ \x7f"), 17);
  assert_string_equal(out, "caf%C3%A9%0A~ %7F");
  assert_int_equal(lkv__grpc_percent_encode(out, sizeof(out), ""), 0);
  assert_string_equal(out, "");
  /* snprintf-like: a size query, then output truncated to cap - 1 bytes */
  assert_int_equal(lkv__grpc_percent_encode(NULL, 0, "a%b"), 5);
  assert_int_equal(lkv__grpc_percent_encode(out, 3, "a%b"), 5);
  assert_string_equal(out, "a%");
}

/* Decoding reverses the encoding; an escape that is malformed or cut short stays as it stands. */
static void test_percent_decode(void **state) {
  (void)state;
  static const char *const texts[] = {"key not found", "100%", "caf\xc3\xa9\n~ \x7f", ""};
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    char enc[64];
    size_t n = lkv__grpc_percent_encode(enc, sizeof(enc), texts[i]);
    char *dec = lkv__grpc_percent_decode((const uint8_t *)enc, n);
    assert_non_null(dec);
    assert_string_equal(dec, texts[i]);
    free(dec);
  }
  static const struct {
    const char *in, *out;
  } raw[] = {{"%zz%", "%zz%"}, {"a%4", "a%4"}, {"%4a%4A%41", "JJA"}, {"%%41", "%A"}};
  for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
    char *dec = lkv__grpc_percent_decode((const uint8_t *)raw[i].in, strlen(raw[i].in));
    assert_non_null(dec);
    assert_string_equal(dec, raw[i].out);
    free(dec);
  }
  /* The value is not NUL-terminated: only len bytes count. */
  char *dec = lkv__grpc_percent_decode((const uint8_t *)"ab%41", 2);
  assert_string_equal(dec, "ab");
  free(dec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_whole_message_is_not_copied),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_message_across_chunks),
      cmocka_unit_test(test_many_messages_in_one_chunk),
      cmocka_unit_test(test_zero_length_message_alone),
      cmocka_unit_test(test_oversize_reported_at_prefix),
      cmocka_unit_test(test_body_buffer_grows_with_data),
      cmocka_unit_test(test_compressed_and_bad_flag),
      cmocka_unit_test(test_callback_stops_feeding),
      cmocka_unit_test(test_frame_prefix),
      cmocka_unit_test(test_percent_encode),
      cmocka_unit_test(test_percent_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
