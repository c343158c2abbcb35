/* Unit tests of the peer transport's pure functions: hello, reply and frame codec, peer URL parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "transport/peer.h"
#include "transport/peer_frame.h"

static void test_hello_round_trip(void **state) {
  (void)state;
  lkv__peer_hello_t h = {1, 0x1122334455667788ull, 0xa1, 0xfffffffffffffffeull}, d;
  uint8_t buf[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, buf);
  assert_memory_equal(buf, "lkvpeer\x01", 8);
  assert_int_equal(buf[8], 0x88); /* little-endian */
  assert_int_equal(lkv__peer_hello_decode(buf, sizeof(buf), &d), 0);
  assert_int_equal(d.version, 1);
  assert_true(d.cluster_id == h.cluster_id && d.from == h.from && d.to == h.to);
  /* Every truncation asks for more, never decodes. */
  for (size_t i = 0; i < sizeof(buf); i++) assert_int_equal(lkv__peer_hello_decode(buf, i, &d), LKV_EAGAIN);
}

static void test_hello_refused(void **state) {
  (void)state;
  lkv__peer_hello_t h = {1, 7, 1, 2}, d;
  uint8_t buf[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, buf);
  /* Junk is refused from its first wrong byte. */
  assert_int_equal(lkv__peer_hello_decode((const uint8_t *)"G", 1, &d), LKV_EPROTO);
  assert_int_equal(lkv__peer_hello_decode((const uint8_t *)"lkvpeeX", 7, &d), LKV_EPROTO);
  uint8_t bad[LKV__PEER_HELLO_SIZE];
  memcpy(bad, buf, sizeof(bad));
  bad[7] = 0; /* version 0 */
  assert_int_equal(lkv__peer_hello_decode(bad, sizeof(bad), &d), LKV_EPROTO);
  memcpy(bad, buf, sizeof(bad));
  memset(bad + 16, 0, 8); /* from 0 */
  assert_int_equal(lkv__peer_hello_decode(bad, sizeof(bad), &d), LKV_EPROTO);
  memcpy(bad, buf, sizeof(bad));
  memset(bad + 24, 0, 8); /* to 0 */
  assert_int_equal(lkv__peer_hello_decode(bad, sizeof(bad), &d), LKV_EPROTO);
  /* A newer version is known from 8 bytes, whatever follows. */
  memcpy(bad, buf, sizeof(bad));
  bad[7] = 2;
  assert_int_equal(lkv__peer_hello_decode(bad, 8, &d), LKV_EUNSUPPORTED);
  assert_int_equal(d.version, 2);
  assert_int_equal(lkv__peer_hello_decode(bad, sizeof(bad), &d), LKV_EUNSUPPORTED);
}

static void test_reply_round_trip(void **state) {
  (void)state;
  const char *text = "request cluster ID mismatch";
  lkv__peer_reply_t r = {LKV__PEER_CLUSTER_MISMATCH, 1, 0xabcdef, 0x42, text, strlen(text)}, d;
  uint8_t buf[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  size_t len = lkv__peer_reply_encode(&r, buf, sizeof(buf)), used = 0;
  assert_int_equal(len, LKV__PEER_REPLY_HEAD + strlen(text));
  assert_int_equal(lkv__peer_reply_size(&r), len);
  assert_int_equal(lkv__peer_reply_decode(buf, len, &d, &used), 0);
  assert_int_equal(used, len);
  assert_int_equal(d.status, LKV__PEER_CLUSTER_MISMATCH);
  assert_true(d.cluster_id == 0xabcdef && d.member_id == 0x42 && d.version == 1);
  assert_int_equal(d.text_len, strlen(text));
  assert_memory_equal(d.text, text, d.text_len);
  for (size_t i = 1; i < len; i++) assert_int_equal(lkv__peer_reply_decode(buf, i, &d, &used), LKV_EAGAIN);
  /* Trailing bytes are the caller's to judge: decode reports what it used. */
  assert_int_equal(lkv__peer_reply_decode(buf, sizeof(buf), &d, &used), 0);
  assert_int_equal(used, len);
  /* An OK without text. */
  lkv__peer_reply_t ok = {LKV__PEER_OK, 1, 1, 2, NULL, 0};
  assert_int_equal(lkv__peer_reply_encode(&ok, buf, sizeof(buf)), LKV__PEER_REPLY_HEAD);
  assert_int_equal(lkv__peer_reply_decode(buf, LKV__PEER_REPLY_HEAD, &d, &used), 0);
  assert_int_equal(d.status, LKV__PEER_OK);
  assert_int_equal(d.text_len, 0);
  /* Too small a buffer, too long a text. */
  assert_int_equal(lkv__peer_reply_encode(&r, buf, len - 1), 0);
  r.text_len = LKV__PEER_REPLY_MAX_TEXT + 1;
  assert_int_equal(lkv__peer_reply_encode(&r, buf, sizeof(buf)), 0);
}

static void test_reply_refused(void **state) {
  (void)state;
  uint8_t buf[LKV__PEER_REPLY_HEAD + 2] = {0};
  lkv__peer_reply_t d;
  size_t used;
  buf[0] = LKV__PEER_STATUS_MAX + 1; /* unknown status: refused from the first byte */
  assert_int_equal(lkv__peer_reply_decode(buf, 1, &d, &used), LKV_EPROTO);
  buf[0] = LKV__PEER_OK;
  buf[2] = 0x01;
  buf[3] = 0x04; /* text of 1025 bytes */
  assert_int_equal(lkv__peer_reply_decode(buf, LKV__PEER_REPLY_HEAD, &d, &used), LKV_EPROTO);
  buf[2] = 2;
  buf[3] = 0;
  assert_int_equal(lkv__peer_reply_decode(buf, LKV__PEER_REPLY_HEAD + 1, &d, &used), LKV_EAGAIN);
  assert_int_equal(lkv__peer_reply_decode(buf, LKV__PEER_REPLY_HEAD + 2, &d, &used), 0);
}

static void test_frames(void **state) {
  (void)state;
  uint8_t buf[64];
  const uint8_t *payload;
  size_t plen, used;
  /* Two frames back to back: "abc" and an empty one. */
  lkv__peer_frame_head(3, buf);
  assert_memory_equal(buf, "\x03\x00\x00\x00", 4);
  memcpy(buf + 4, "abc", 3);
  lkv__peer_frame_head(0, buf + 7);
  assert_int_equal(lkv__peer_frame_next(buf, 11, 100, &payload, &plen, &used), 0);
  assert_int_equal(plen, 3);
  assert_int_equal(used, 7);
  assert_memory_equal(payload, "abc", 3);
  assert_int_equal(lkv__peer_frame_next(buf + 7, 4, 100, &payload, &plen, &used), 0);
  assert_int_equal(plen, 0);
  assert_int_equal(used, 4);
  /* Truncated: how much is needed, once the prefix is there. */
  assert_int_equal(lkv__peer_frame_next(buf, 2, 100, &payload, &plen, &used), LKV_EAGAIN);
  assert_int_equal(used, 4);
  assert_int_equal(lkv__peer_frame_next(buf, 6, 100, &payload, &plen, &used), LKV_EAGAIN);
  assert_int_equal(used, 7);
  /* Absurd lengths: above the limit given, and the full 32-bit range against the real limit. */
  assert_int_equal(lkv__peer_frame_next(buf, 7, 2, &payload, &plen, &used), LKV_EMSGSIZE);
  lkv__peer_frame_head(0xffffffffu, buf);
  assert_int_equal(lkv__peer_frame_next(buf, 4, LKV_PEER_MAX_FRAME, &payload, &plen, &used), LKV_EMSGSIZE);
  lkv__peer_frame_head(LKV_PEER_MAX_FRAME, buf);
  assert_int_equal(lkv__peer_frame_next(buf, 4, LKV_PEER_MAX_FRAME, &payload, &plen, &used), LKV_EAGAIN);
  assert_int_equal(used, 4 + (size_t)LKV_PEER_MAX_FRAME);
}

static void test_urls(void **state) {
  (void)state;
  lkv__peer_url_t u;
  assert_int_equal(lkv__peer_url_parse("http://127.0.0.1:2380", &u), 0);
  assert_string_equal(u.host, "127.0.0.1");
  assert_int_equal(u.port, 2380);
  assert_int_equal(u.family, AF_INET);
  assert_memory_equal(u.addr, "\x7f\x00\x00\x01", 4);
  assert_int_equal(lkv__peer_url_parse("http://[::1]:2380/", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.family, AF_INET6);
  assert_int_equal(u.addr[15], 1);
  assert_int_equal(lkv__peer_url_parse("http://etcd-0.etcd.kube-system.svc:12380", &u), 0);
  assert_string_equal(u.host, "etcd-0.etcd.kube-system.svc");
  assert_int_equal(u.port, 12380);
  assert_int_equal(u.family, AF_UNSPEC);
  /* TLS is refused (issue 13), not dialed in clear. */
  assert_int_equal(lkv__peer_url_parse("https://10.0.0.1:2380", &u), LKV_EUNSUPPORTED);
  const char *bad[] = {"10.0.0.1:2380",
                       "unix://x:1",
                       "http://10.0.0.1",
                       "http://:2380",
                       "http://host:0",
                       "http://host:65536",
                       "http://host:23x",
                       "http://host:2380/p",
                       "http://::1:2380",
                       "http://[::1]2380",
                       "http://[zz]:2380",
                       "http://[::1:2380",
                       "http://ho st:2380",
                       "http://host:",
                       "",
                       NULL};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rv = lkv__peer_url_parse(bad[i], &u);
    if (rv != LKV_EINVAL) fail_msg("%s: %d", bad[i] ? bad[i] : "(null)", rv);
  }
  char longname[300] = "http://";
  memset(longname + 7, 'a', 260);
  strcpy(longname + 267, ":1");
  assert_int_equal(lkv__peer_url_parse(longname, &u), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_round_trip), cmocka_unit_test(test_hello_refused),
      cmocka_unit_test(test_reply_round_trip), cmocka_unit_test(test_reply_refused),
      cmocka_unit_test(test_frames),           cmocka_unit_test(test_urls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
