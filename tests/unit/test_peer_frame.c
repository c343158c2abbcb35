/* Unit tests of the peer transport's pure functions: hello, reply, frame and query answer codec, peer URLs
 * and addresses. */
#include <arpa/inet.h>
#include <netdb.h>
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
  lkv__peer_hello_t h = {1, 0x1122334455667788ull, 0xa1, 0xfffffffffffffffeull, 0}, d;
  uint8_t buf[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, buf);
  assert_memory_equal(buf, "lkvpeer\x01", 8);
  assert_int_equal(buf[8], 0x88); /* little-endian */
  assert_int_equal(lkv__peer_hello_decode(buf, sizeof(buf), &d), 0);
  assert_int_equal(d.version, 1);
  assert_true(d.cluster_id == h.cluster_id && d.from == h.from && d.to == h.to);
  assert_int_equal(d.query, 0);
  /* Every truncation asks for more, never decodes. */
  for (size_t i = 0; i < sizeof(buf); i++) assert_int_equal(lkv__peer_hello_decode(buf, i, &d), LKV_EAGAIN);
}

static void test_hello_refused(void **state) {
  (void)state;
  lkv__peer_hello_t h = {1, 7, 1, 2, 0}, d;
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

/* A query hello: the ids go out as 0 whatever the struct holds, and only all three 0 make a query. */
static void test_query_hello(void **state) {
  (void)state;
  lkv__peer_hello_t q = {1, 0xc1, 5, 6, 1}, d;
  uint8_t buf[LKV__PEER_HELLO_SIZE], zero[24] = {0};
  lkv__peer_hello_encode(&q, buf);
  assert_memory_equal(buf, "lkvpeer\x01", 8);
  assert_memory_equal(buf + 8, zero, 24);
  assert_int_equal(lkv__peer_hello_decode(buf, sizeof(buf), &d), 0);
  assert_int_equal(d.query, 1);
  assert_int_equal(d.version, 1);
  assert_true(d.cluster_id == 0 && d.from == 0 && d.to == 0);
  for (size_t i = 0; i < sizeof(buf); i++) assert_int_equal(lkv__peer_hello_decode(buf, i, &d), LKV_EAGAIN);
  /* A cluster id with from and to 0 is neither a member nor a query. */
  buf[8] = 1;
  assert_int_equal(lkv__peer_hello_decode(buf, sizeof(buf), &d), LKV_EPROTO);
  assert_int_equal(d.query, 0);
  /* A newer version's query is refused like its member hello, from 8 bytes. */
  buf[8] = 0;
  buf[7] = 2;
  assert_int_equal(lkv__peer_hello_decode(buf, sizeof(buf), &d), LKV_EUNSUPPORTED);
  assert_int_equal(d.query, 0);
}

/* Writes an OK reply from member 0x42 of cluster 0xabc and a frame of n pattern bytes; returns the size. */
static size_t ok_answer(uint8_t *buf, size_t cap, size_t n) {
  lkv__peer_reply_t r = {LKV__PEER_OK, 1, 0xabc, 0x42, NULL, 0};
  size_t len = lkv__peer_reply_encode(&r, buf, cap);
  assert_int_equal(len, LKV__PEER_REPLY_HEAD);
  lkv__peer_frame_head((uint32_t)n, buf + len);
  for (size_t i = 0; i < n; i++) buf[len + LKV__PEER_FRAME_HEAD + i] = (uint8_t)(i * 7);
  return len + LKV__PEER_FRAME_HEAD + n;
}

static void test_query_answer(void **state) {
  (void)state;
  uint8_t buf[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT + 64];
  lkv__peer_reply_t r;
  const uint8_t *blob;
  size_t blob_len, used;
  size_t len = ok_answer(buf, sizeof(buf), 40);
  assert_int_equal(lkv__peer_answer_decode(buf, len, 100, &r, &blob, &blob_len, &used), 0);
  assert_int_equal(used, len);
  assert_int_equal(r.status, LKV__PEER_OK);
  assert_true(r.cluster_id == 0xabc && r.member_id == 0x42);
  assert_ptr_equal(blob, buf + LKV__PEER_REPLY_HEAD + LKV__PEER_FRAME_HEAD);
  assert_int_equal(blob_len, 40);
  assert_int_equal(blob[39], (uint8_t)(39 * 7));
  /* Truncations ask for more, with a size that never overshoots and is exact once the prefix is in. */
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(lkv__peer_answer_decode(buf, i, 100, &r, &blob, &blob_len, &used), LKV_EAGAIN);
    assert_true(used > i && used <= len);
    if (i >= LKV__PEER_REPLY_HEAD + LKV__PEER_FRAME_HEAD) assert_int_equal(used, len);
    assert_null(blob);
  }
  /* An empty blob; a blob above the limit is refused as soon as its prefix is in. */
  len = ok_answer(buf, sizeof(buf), 0);
  assert_int_equal(lkv__peer_answer_decode(buf, len, 100, &r, &blob, &blob_len, &used), 0);
  assert_int_equal(blob_len, 0);
  assert_int_equal(used, LKV__PEER_REPLY_HEAD + LKV__PEER_FRAME_HEAD);
  len = ok_answer(buf, sizeof(buf), 41);
  assert_int_equal(lkv__peer_answer_decode(buf, LKV__PEER_REPLY_HEAD + 4, 40, &r, &blob, &blob_len, &used),
                   LKV_EMSGSIZE);
  /* A refusal is the reply alone, its text included. */
  const char *text = "this member does not answer membership queries";
  lkv__peer_reply_t no = {LKV__PEER_QUERY_REFUSED, 1, 0xabc, 0x42, text, strlen(text)};
  len = lkv__peer_reply_encode(&no, buf, sizeof(buf));
  assert_int_equal(lkv__peer_answer_decode(buf, len, 100, &r, &blob, &blob_len, &used), 0);
  assert_int_equal(used, len);
  assert_int_equal(r.status, LKV__PEER_QUERY_REFUSED);
  assert_null(blob);
  assert_memory_equal(r.text, text, r.text_len);
  for (size_t i = 0; i < len; i++) {
    assert_int_equal(lkv__peer_answer_decode(buf, i, 100, &r, &blob, &blob_len, &used), LKV_EAGAIN);
    assert_true(used > i && used <= len);
  }
  /* An unknown status is not an answer. */
  buf[0] = LKV__PEER_STATUS_MAX + 1;
  assert_int_equal(lkv__peer_answer_decode(buf, len, 100, &r, &blob, &blob_len, &used), LKV_EPROTO);
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
  assert_int_equal(u.tls, 0);
  /* https:// is marked: dialed in TLS, never in clear. */
  assert_int_equal(lkv__peer_url_parse("https://10.0.0.1:2380", &u), 0);
  assert_int_equal(u.tls, 1);
  assert_string_equal(u.host, "10.0.0.1");
  assert_int_equal(u.port, 2380);
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

/* Literal addresses and a resolver's answer become the socket addresses the dialers try, in its order. */
static void test_addresses(void **state) {
  (void)state;
  struct sockaddr_storage ss[3];
  uint8_t v4[4] = {10, 0, 0, 7}, v6[16] = {0};
  v6[15] = 1;
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  memset(&a4, 0, sizeof(a4));
  memset(&a6, 0, sizeof(a6));
  a4.sin_family = AF_INET;
  memcpy(&a4.sin_addr, v4, 4);
  a6.sin6_family = AF_INET6;
  memcpy(&a6.sin6_addr, v6, 16);
  struct addrinfo unix_ai = {0}, ai6 = {0}, ai4 = {0};
  ai4.ai_family = AF_INET;
  ai4.ai_addr = (struct sockaddr *)&a4;
  ai6.ai_family = AF_INET6;
  ai6.ai_addr = (struct sockaddr *)&a6;
  ai6.ai_next = &unix_ai;
  unix_ai.ai_family = AF_UNIX; /* skipped */
  unix_ai.ai_next = &ai4;
  assert_int_equal(lkv__peer_addrinfo_take(&ai6, 2380, ss, 3), 2);
  assert_int_equal(ss[0].ss_family, AF_INET6);
  assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss[0])->sin6_port), 2380);
  assert_memory_equal(&((struct sockaddr_in6 *)&ss[0])->sin6_addr, v6, 16);
  assert_int_equal(ss[1].ss_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&ss[1])->sin_port), 2380);
  assert_memory_equal(&((struct sockaddr_in *)&ss[1])->sin_addr, v4, 4);
  assert_int_equal(lkv__peer_addrinfo_take(&ai6, 1, ss, 1), 1); /* at most max */
  assert_int_equal(lkv__peer_addrinfo_take(NULL, 1, ss, 3), 0);
  lkv__peer_sockaddr(&ss[2], AF_INET, v4, 9);
  assert_int_equal(ss[2].ss_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&ss[2])->sin_port), 9);
  assert_memory_equal(&((struct sockaddr_in *)&ss[2])->sin_addr, v4, 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hello_round_trip), cmocka_unit_test(test_hello_refused),
      cmocka_unit_test(test_reply_round_trip), cmocka_unit_test(test_reply_refused),
      cmocka_unit_test(test_frames),           cmocka_unit_test(test_urls),
      cmocka_unit_test(test_query_hello),      cmocka_unit_test(test_query_answer),
      cmocka_unit_test(test_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
