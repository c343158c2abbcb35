/* Unit tests for members' attributes (src/cluster/attrs.h): version 1 as data dirs and logs hold it,
 * version 2 with the ledger key, canonical encodings, and refusal of malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "cluster/attrs.h"
#include "common/error.h"

/* Version 1 of {name "m1", peer "http://a:1", client "http://b:2"}, written out by hand: what a member
 * published before the ledger key existed. */
static const uint8_t V1[] = {1,   2,   0,   0,   0,   'm', '1', 1,   0,   0,   0,   10,  0,  0, 0,
                             'h', 't', 't', 'p', ':', '/', '/', 'a', ':', '1', 1,   0,   0,  0, 10,
                             0,   0,   0,   'h', 't', 't', 'p', ':', '/', '/', 'b', ':', '2'};

static char *PEERS[] = {"http://a:1"};
static char *CLIENTS[] = {"http://b:2"};

static lkv_cluster_attrs_t sample(int with_key) {
  lkv_cluster_attrs_t a = {
      .name = "m1", .peer_urls = PEERS, .n_peer_urls = 1, .client_urls = CLIENTS, .n_client_urls = 1};
  if (with_key) {
    a.has_ledger_key = 1;
    for (int i = 0; i < LKV_CLUSTER_KEY_LEN; i++) a.ledger_key[i] = (uint8_t)(0xa0 + i);
  }
  return a;
}

static void test_version1_decodes_and_is_written_without_a_key(void **state) {
  (void)state;
  lkv_cluster_attrs_t d;
  assert_int_equal(lkv_cluster_attrs_decode(V1, sizeof(V1), &d), 0);
  assert_string_equal(d.name, "m1");
  assert_int_equal(d.n_peer_urls, 1);
  assert_string_equal(d.peer_urls[0], "http://a:1");
  assert_int_equal(d.n_client_urls, 1);
  assert_string_equal(d.client_urls[0], "http://b:2");
  assert_int_equal(d.has_ledger_key, 0);
  lkv_cluster_attrs_free(&d);
  lkv_cluster_attrs_t a = sample(0);
  uint8_t *enc;
  size_t len;
  assert_int_equal(lkv_cluster_attrs_encode(&a, &enc, &len), 0);
  assert_int_equal(len, sizeof(V1));
  assert_memory_equal(enc, V1, sizeof(V1)); /* keyless attributes stay readable by older members */
  free(enc);
}

static void test_version2_carries_the_key(void **state) {
  (void)state;
  lkv_cluster_attrs_t a = sample(1);
  uint8_t *enc;
  size_t len;
  assert_int_equal(lkv_cluster_attrs_encode(&a, &enc, &len), 0);
  assert_int_equal(len, sizeof(V1) + LKV_CLUSTER_KEY_LEN);
  assert_int_equal(enc[0], 2);
  assert_memory_equal(enc + 1, V1 + 1, sizeof(V1) - 1);
  assert_memory_equal(enc + sizeof(V1), a.ledger_key, LKV_CLUSTER_KEY_LEN);
  lkv_cluster_attrs_t d;
  assert_int_equal(lkv_cluster_attrs_decode(enc, len, &d), 0);
  assert_int_equal(d.has_ledger_key, 1);
  assert_memory_equal(d.ledger_key, a.ledger_key, LKV_CLUSTER_KEY_LEN);
  assert_string_equal(d.name, "m1");
  assert_string_equal(d.client_urls[0], "http://b:2");
  /* Re-encoding what was decoded gives the same bytes: every member records the same. */
  uint8_t *again;
  size_t again_len;
  assert_int_equal(lkv_cluster_attrs_encode(&d, &again, &again_len), 0);
  assert_int_equal(again_len, len);
  assert_memory_equal(again, enc, len);
  lkv_cluster_attrs_free(&d);
  assert_null(d.name);
  assert_int_equal(d.has_ledger_key, 0);
  free(again);
  free(enc);
}

static void test_empty_attributes(void **state) {
  (void)state;
  lkv_cluster_attrs_t a = {0}, d;
  uint8_t *enc;
  size_t len;
  assert_int_equal(lkv_cluster_attrs_encode(&a, &enc, &len), 0);
  assert_int_equal(len, 13);
  assert_int_equal(lkv_cluster_attrs_decode(enc, len, &d), 0);
  assert_string_equal(d.name, "");
  assert_int_equal(d.n_peer_urls + d.n_client_urls, 0);
  lkv_cluster_attrs_free(&d);
  free(enc);
}

static void test_malformed_is_refused(void **state) {
  (void)state;
  lkv_cluster_attrs_t a = sample(1), d;
  uint8_t *enc;
  size_t len;
  assert_int_equal(lkv_cluster_attrs_encode(&a, &enc, &len), 0);
  /* Every strict prefix of either version, including a version 2 whose key is cut short. */
  for (size_t n = 0; n < len; n++) {
    assert_int_equal(lkv_cluster_attrs_decode(enc, n, &d), LKV_EBADMSG);
    assert_null(d.name);
  }
  for (size_t n = 0; n < sizeof(V1); n++) assert_int_equal(lkv_cluster_attrs_decode(V1, n, &d), LKV_EBADMSG);
  uint8_t *longer = malloc(len + 1);
  assert_non_null(longer);
  memcpy(longer, enc, len);
  longer[len] = 0;
  assert_int_equal(lkv_cluster_attrs_decode(longer, len + 1, &d), LKV_EBADMSG); /* trailing byte */
  longer[0] = 1; /* a version 1 followed by 32 bytes it does not have */
  assert_int_equal(lkv_cluster_attrs_decode(longer, len, &d), LKV_EBADMSG);
  for (uint8_t v = 0; v < 255; v++) {
    if (v == 1 || v == 2) continue;
    longer[0] = v;
    assert_int_equal(lkv_cluster_attrs_decode(longer, len, &d), LKV_EBADMSG);
  }
  free(longer);
  free(enc);
  /* A NUL inside a string (found by fuzz_cluster_attrs): as a C string it would be cut, then re-encoded
   * differently. */
  uint8_t nul[sizeof(V1)];
  memcpy(nul, V1, sizeof(V1));
  nul[6] = '\0'; /* "m\0" */
  assert_int_equal(lkv_cluster_attrs_decode(nul, sizeof(nul), &d), LKV_EBADMSG);
  memcpy(nul, V1, sizeof(V1));
  nul[sizeof(V1) - 1] = '\0'; /* the client URL's last byte */
  assert_int_equal(lkv_cluster_attrs_decode(nul, sizeof(nul), &d), LKV_EBADMSG);
  /* A count far beyond the bytes left is refused before anything is allocated for it. */
  uint8_t huge[] = {2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(lkv_cluster_attrs_decode(huge, sizeof(huge), &d), LKV_EBADMSG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version1_decodes_and_is_written_without_a_key),
      cmocka_unit_test(test_version2_carries_the_key),
      cmocka_unit_test(test_empty_attributes),
      cmocka_unit_test(test_malformed_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
