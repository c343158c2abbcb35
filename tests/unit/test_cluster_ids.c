/* Unit tests for etcd's member and cluster ids, their hex text and the --initial-cluster parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/ids.h"
#include "cluster/initial_cluster.h"
#include "common/error.h"

/* 1984-12-23T15:04:05Z, the time in etcd's TestMemberTime. */
static const int64_t k_1984 = 472662245;

static uint64_t member_id(const char *const *urls, size_t n, const char *token, const int64_t *t) {
  uint64_t id = 0;
  assert_int_equal(lkv_cluster_member_id(urls, n, token, t, &id), 0);
  return id;
}

/* etcd's membership/member_test.go TestMemberTime, and the default member of `etcd` without flags. */
static void test_etcd_vectors(void **state) {
  (void)state;
  const char *one[] = {"http://10.0.0.8:2379"};
  assert_true(member_id(one, 1, "", NULL) == 14544069596553697298ULL);
  assert_true(member_id(one, 1, NULL, NULL) == 14544069596553697298ULL); /* NULL token is "" */
  assert_true(member_id(one, 1, "", &k_1984) == 2448790162483548276ULL);
  assert_true(member_id(one, 1, "etcd", &k_1984) == 6973882743191604649ULL);
  const char *other[] = {"http://10.0.0.1:2379"};
  assert_true(member_id(other, 1, "", &k_1984) == 1466075294948436910ULL);
  const char *two[] = {"http://10.0.0.1:2379", "http://10.0.0.2:2379"};
  const char *two_rev[] = {"http://10.0.0.2:2379", "http://10.0.0.1:2379"};
  assert_true(member_id(two, 2, "", NULL) == 16552244735972308939ULL);
  assert_true(member_id(two_rev, 2, "", NULL) == 16552244735972308939ULL);
  assert_string_equal(two_rev[0], "http://10.0.0.2:2379"); /* the caller's array is not sorted in place */
  const char *def[] = {"http://localhost:2380"};
  uint64_t m = member_id(def, 1, "etcd-cluster", NULL);
  assert_true(m == 0x8e9e05c52164694dULL);
  uint64_t c = 0;
  assert_int_equal(lkv_cluster_id_of_members(&m, 1, &c), 0);
  assert_true(c == 0xcdf818194e3a8c32ULL);
}

/* Cluster ids from a separate implementation (Python's hashlib over the same byte layout). */
static void test_cluster_id(void **state) {
  (void)state;
  const uint64_t perms[][3] = {{1, 2, 3}, {3, 1, 2}, {2, 3, 1}, {3, 2, 1}};
  for (size_t i = 0; i < 4; i++) {
    uint64_t c = 0;
    assert_int_equal(lkv_cluster_id_of_members(perms[i], 3, &c), 0);
    assert_true(c == 0x70b9aefc37c00c85ULL);
  }
  uint64_t c = 0, max = UINT64_MAX;
  assert_int_equal(lkv_cluster_id_of_members(&max, 1, &c), 0);
  assert_true(c == 0xbe673e8a56eaa9d8ULL);
  assert_int_equal(lkv_cluster_id_of_members(NULL, 0, &c), 0);
  assert_true(c == 0xda39a3ee5e6b4b0dULL); /* SHA-1 of nothing */
  assert_int_equal(lkv_cluster_member_id(NULL, 0, NULL, NULL, &c), 0);
  assert_true(c == 0xda39a3ee5e6b4b0dULL); /* no URLs, no token, no time: nothing hashed either */
  assert_int_equal(lkv_cluster_id_of_members(NULL, 1, &c), LKV_EINVAL);
  assert_int_equal(lkv_cluster_member_id(NULL, 1, "", NULL, &c), LKV_EINVAL);
}

static void test_format_parse(void **state) {
  (void)state;
  char hex[LKV_CLUSTER_ID_HEX_LEN];
  assert_string_equal(lkv_cluster_id_format(0, hex), "0");
  assert_string_equal(lkv_cluster_id_format(0x8e9e05c52164694dULL, hex), "8e9e05c52164694d");
  assert_string_equal(lkv_cluster_id_format(0x0abcULL, hex), "abc"); /* unpadded */
  assert_string_equal(lkv_cluster_id_format(UINT64_MAX, hex), "ffffffffffffffff");
  const uint64_t round[] = {0, 1, 0xf, 0x10, 0x8e9e05c52164694dULL, 14544069596553697298ULL, UINT64_MAX};
  for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
    uint64_t back = 1234;
    assert_int_equal(lkv_cluster_id_parse(lkv_cluster_id_format(round[i], hex), &back), 0);
    assert_true(back == round[i]);
  }
  uint64_t v = 0;
  assert_int_equal(lkv_cluster_id_parse("8E9E05C52164694D", &v), 0);
  assert_true(v == 0x8e9e05c52164694dULL);
  assert_int_equal(lkv_cluster_id_parse("00000000000000000000ff", &v), 0); /* leading zeros, as Go */
  assert_true(v == 0xff);
  const char *bad[] = {"", "0x1", "-1", "+1", " 1", "1 ", "g", "10000000000000000", "1_0"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    v = 77;
    assert_int_equal(lkv_cluster_id_parse(bad[i], &v), LKV_EINVAL);
    assert_true(v == 77);
  }
}

static void test_url_canonical(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } ok[] = {
      {"http://127.0.0.1:2380", "http://127.0.0.1:2380"},
      {"  HTTPS://Host.Example:2380\t", "https://Host.Example:2380"}, /* scheme lowercased, host kept */
      {"http://[::1]:2380", "http://[::1]:2380"},
      {"unix://localhost:1", "unix://localhost:1"},
      {"unixs://x:1", "unixs://x:1"},
      {"http://h:", "http://h:"},       /* Go allows an empty port */
      {"http://:2380", "http://:2380"}, /* and an empty host */
      {"http://h:1?a=b", "http://h:1?a=b"},
      {"http://h:1?", "http://h:1?"},
      {"http://h:1#frag", "http://h:1#frag"},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    char *out = NULL, err[256] = "";
    assert_int_equal(lkv_cluster_url_parse(ok[i].in, &out, err, sizeof(err)), 0);
    assert_string_equal(out, ok[i].out);
    free(out);
  }
}

/* Messages as etcd 3.4.23 prints them after "error setting up initial cluster: " (checked against
 * /usr/bin/etcd), except the ledgerkv-only refusals at the end. */
static void test_url_errors(void **state) {
  (void)state;
  static const struct {
    const char *in, *msg;
  } bad[] = {
      {"http://127.0.0.1", "URL address does not have the form \"host:port\": http://127.0.0.1"},
      {"127.0.0.1:2380", "parse \"127.0.0.1:2380\": first path segment in URL cannot contain colon"},
      {"localhost:2380", "URL scheme must be http, https, unix, or unixs: localhost:2380"},
      {"http://[::1", "parse \"http://[::1\": missing ']' in host"},
      {"http://h:abc", "parse \"http://h:abc\": invalid port \":abc\" after host"},
      {"http://[::1]x:1", "parse \"http://[::1]x:1\": invalid port \"x:1\" after host"},
      {"http://h:1/x", "URL must not contain a path: http://h:1/x"},
      {"http://h:1/", "URL must not contain a path: http://h:1/"},
      {"ftp://h:1", "URL scheme must be http, https, unix, or unixs: ftp://h:1"},
      {"", "URL scheme must be http, https, unix, or unixs: "},
      {"://h:1", "parse \"://h:1\": missing protocol scheme"},
      {"http:h:1", "URL address does not have the form \"host:port\": http:h:1"},
      {"http://::1:2380", "URL address does not have the form \"host:port\": http://::1:2380"},
      {"http://[::1]", "URL address does not have the form \"host:port\": http://[::1]"},
      {"http://h", "URL address does not have the form \"host:port\": http://h"},
      {"http://h h:1", "parse \"http://h h:1\": invalid character \" \" in host name"},
      {"http://h\x01:1", "parse \"http://h\\x01:1\": net/url: invalid control character in URL"},
      {"http://u@h:1", "ledgerkv does not accept user information in a peer URL: http://u@h:1"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *out = NULL, err[256] = "";
    assert_int_equal(lkv_cluster_url_parse(bad[i].in, &out, err, sizeof(err)), LKV_EINVAL);
    assert_null(out);
    assert_string_equal(err, bad[i].msg);
  }
}

static void test_initial_parse(void **state) {
  (void)state;
  lkv_cluster_initial_t ic;
  char err[256] = "";
  /* Names sorted, a repeated name collects its URLs (sorted), empty entries skipped. */
  const char *s =
      ",c=http://10.0.0.3:2380,,a=http://10.0.0.2:2380,b=http://10.0.0.9:1,a= HTTP://10.0.0.1:2380,";
  assert_int_equal(lkv_cluster_initial_parse(s, &ic, err, sizeof(err)), 0);
  assert_int_equal(ic.n_members, 3);
  assert_string_equal(ic.members[0].name, "a");
  assert_int_equal(ic.members[0].n_peer_urls, 2);
  assert_string_equal(ic.members[0].peer_urls[0], "http://10.0.0.1:2380");
  assert_string_equal(ic.members[0].peer_urls[1], "http://10.0.0.2:2380");
  assert_string_equal(ic.members[1].name, "b");
  assert_string_equal(ic.members[2].name, "c");
  assert_ptr_equal(lkv_cluster_initial_find(&ic, "b"), &ic.members[1]);
  assert_null(lkv_cluster_initial_find(&ic, "d"));
  lkv_cluster_initial_free(&ic);
  lkv_cluster_initial_free(&ic); /* zeroed: a second free is harmless */

  /* Only the first '=' splits; a name may be empty. */
  assert_int_equal(lkv_cluster_initial_parse("=http://h:1", &ic, err, sizeof(err)), 0);
  assert_int_equal(ic.n_members, 1);
  assert_string_equal(ic.members[0].name, "");
  lkv_cluster_initial_free(&ic);

  assert_int_equal(lkv_cluster_initial_parse(",,", &ic, err, sizeof(err)), 0);
  assert_int_equal(ic.n_members, 0);
  uint64_t cid;
  assert_int_equal(lkv_cluster_bootstrap(&ic, "t", &cid, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "initial cluster unset and no discovery URL found");
  lkv_cluster_initial_free(&ic);

  static const struct {
    const char *in, *msg;
  } bad[] = {
      {"a", "URL scheme must be http, https, unix, or unixs: "},
      {"a=", "URL scheme must be http, https, unix, or unixs: "},
      {"a=http://h:1,b=http://h", "URL address does not have the form \"host:port\": http://h"},
      {"a=http://h:1,a=http://h:2/p", "URL must not contain a path: http://h:2/p"},
      {"a=http://h:1=x", "parse \"http://h:1=x\": invalid port \":1=x\" after host"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    assert_int_equal(lkv_cluster_initial_parse(bad[i].in, &ic, err, sizeof(err)), LKV_EINVAL);
    assert_string_equal(err, bad[i].msg);
  }
}

/* Ids of a new three-member cluster, as computed by Python's hashlib over etcd's layout. */
static void test_bootstrap(void **state) {
  (void)state;
  lkv_cluster_initial_t ic;
  char err[256] = "";
  uint64_t cid = 0;
  const char *orders[] = {
      "a=http://127.0.0.1:2380,b=http://127.0.0.1:2381,b=http://[::1]:2381,c=http://127.0.0.1:2382",
      "c=http://127.0.0.1:2382,b=http://[::1]:2381,a=http://127.0.0.1:2380,b=http://127.0.0.1:2381",
  };
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(lkv_cluster_initial_parse(orders[i], &ic, err, sizeof(err)), 0);
    assert_int_equal(lkv_cluster_bootstrap(&ic, "etcd-cluster", &cid, err, sizeof(err)), 0);
    assert_true(ic.members[0].id == 0xb71f75320dc06a6cULL);
    assert_true(ic.members[1].id == 0xdbe5fb53063522acULL);
    assert_true(ic.members[2].id == 0x9e85cc091d4d15bbULL);
    assert_true(cid == 0x56ecd54f175bd1c4ULL);
    lkv_cluster_initial_free(&ic);
  }
  /* The token changes every member id, hence the cluster id. */
  assert_int_equal(lkv_cluster_initial_parse(orders[0], &ic, err, sizeof(err)), 0);
  uint64_t other = 0;
  assert_int_equal(lkv_cluster_bootstrap(&ic, "another-token", &other, err, sizeof(err)), 0);
  assert_true(ic.members[0].id != 0xb71f75320dc06a6cULL);
  assert_true(other != cid);
  lkv_cluster_initial_free(&ic);

  /* etcd's VerifyBootstrap: one URL for two members, or twice for one. */
  assert_int_equal(lkv_cluster_initial_parse("b=http://h:1,a=http://h:1", &ic, err, sizeof(err)), 0);
  assert_int_equal(lkv_cluster_bootstrap(&ic, "t", &cid, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "initial cluster a=http://h:1,b=http://h:1 has duplicate url");
  lkv_cluster_initial_free(&ic);
  assert_int_equal(lkv_cluster_initial_parse("a=http://h:2,a=HTTP://h:2", &ic, err, sizeof(err)), 0);
  assert_int_equal(lkv_cluster_bootstrap(&ic, "t", &cid, err, sizeof(err)), LKV_EINVAL);
  assert_string_equal(err, "initial cluster a=http://h:2,a=http://h:2 has duplicate url");
  lkv_cluster_initial_free(&ic);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_etcd_vectors), cmocka_unit_test(test_cluster_id),
      cmocka_unit_test(test_format_parse), cmocka_unit_test(test_url_canonical),
      cmocka_unit_test(test_url_errors),   cmocka_unit_test(test_initial_parse),
      cmocka_unit_test(test_bootstrap),
  };
  return cmocka_run_group_tests(tests, 0, NULL);
}
