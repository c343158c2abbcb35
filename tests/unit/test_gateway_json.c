/* The gateway's protobuf <-> JSON codec: jsonpb's mapping (OrigName, no defaults, base64 bytes, 64-bit
 * integers as strings, enums by name, oneofs), what parsing accepts, ignores and refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "gateway/json_pb.h"

/* Parses json as desc, renders the packed bytes back and compares with want. */
static void round_trip(const ProtobufCMessageDescriptor *desc, const char *json, const char *want) {
  uint8_t *pb = NULL;
  size_t pb_len = 0, used = 0;
  char err[128] = "";
  int rc = lkv_json_pb_parse(desc, json, strlen(json), &used, &pb, &pb_len, err, sizeof(err));
  if (rc != 0) fail_msg("parse %s: %s", json, err);
  assert_int_equal(used, strlen(json));
  char *out;
  size_t out_len;
  assert_int_equal(lkv_json_pb_render(desc, pb, pb_len, &out, &out_len), 0);
  assert_string_equal(out, want);
  assert_int_equal(out_len, strlen(want));
  free(out);
  free(pb);
}

static void test_render_range_response(void **state) {
  (void)state;
  Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
  kv.key.data = (uint8_t *)"foo";
  kv.key.len = 3;
  kv.value.data = (uint8_t *)"bar";
  kv.value.len = 3;
  kv.create_revision = 2;
  kv.mod_revision = 9007199254740993LL; /* above 2^53: why jsonpb writes strings */
  kv.version = 1;
  Mvccpb__KeyValue *kvs[] = {&kv};
  Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
  h.cluster_id = 14841639068965178418ULL;
  h.revision = 3;
  Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
  r.header = &h;
  r.kvs = kvs;
  r.n_kvs = 1;
  r.count = 1;
  uint8_t buf[256];
  size_t n = etcdserverpb__range_response__pack(&r, buf);
  char *out;
  size_t out_len;
  assert_int_equal(lkv_json_pb_render(&etcdserverpb__range_response__descriptor, buf, n, &out, &out_len), 0);
  assert_string_equal(out,
                      "{\"header\":{\"cluster_id\":\"14841639068965178418\",\"revision\":\"3\"},"
                      "\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":"
                      "\"9007199254740993\",\"version\":\"1\",\"value\":\"YmFy\"}],\"count\":\"1\"}");
  free(out);
}

static void test_defaults_left_out(void **state) {
  (void)state;
  round_trip(&etcdserverpb__range_request__descriptor, "{}", "{}");
  round_trip(&etcdserverpb__range_request__descriptor, "{\"key\":\"\",\"limit\":0,\"serializable\":false}",
             "{}");
  round_trip(&etcdserverpb__put_response__descriptor, "{\"header\":{}}", "{\"header\":{}}");
}

static void test_parse_forms(void **state) {
  (void)state;
  /* lowerCamelCase names, numbers and strings for int64, URL-safe base64 without padding, enum by number */
  round_trip(&etcdserverpb__range_request__descriptor,
             "{\"key\":\"Zm9v\",\"rangeEnd\":\"_w\",\"limit\":\"5\",\"revision\":7,\"sort_order\":2,"
             "\"sort_target\":\"MOD\",\"keys_only\":true}",
             "{\"key\":\"Zm9v\",\"range_end\":\"/w==\",\"limit\":\"5\",\"revision\":\"7\",\"sort_order\":"
             "\"DESCEND\",\"sort_target\":\"MOD\",\"keys_only\":true}");
  /* a field the message lacks is ignored (etcd 3.4's gateway); null leaves a field unset */
  round_trip(&etcdserverpb__range_request__descriptor, "{\"key\":\"YQ==\",\"nope\":{\"x\":[1]}}",
             "{\"key\":\"YQ==\"}");
  round_trip(&etcdserverpb__put_request__descriptor, "{\"key\":\"YQ==\",\"value\":null}",
             "{\"key\":\"YQ==\"}");
}

static void test_oneof_and_nesting(void **state) {
  (void)state;
  const char *txn =
      "{\"compare\":[{\"result\":\"GREATER\",\"key\":\"YQ==\",\"version\":\"0\"}],"
      "\"success\":[{\"request_put\":{\"key\":\"YQ==\",\"value\":\"Yg==\"}}],"
      "\"failure\":[{\"request_range\":{\"key\":\"YQ==\"}}]}";
  /* a oneof member is written when set, even at its default (version 0); target VERSION is the enum's
   * first value, left out */
  round_trip(&etcdserverpb__txn_request__descriptor, txn, txn);
  round_trip(&etcdserverpb__watch_request__descriptor,
             "{\"create_request\":{\"key\":\"YQ==\",\"start_revision\":\"4\",\"filters\":[\"NODELETE\"]}}",
             "{\"create_request\":{\"key\":\"YQ==\",\"start_revision\":\"4\",\"filters\":[\"NODELETE\"]}}");
}

static void test_several_objects(void **state) {
  (void)state;
  const char *body = " {\"ID\":\"5\"} \n{\"ID\":6}";
  uint8_t *pb;
  size_t pb_len, used;
  char err[128];
  assert_int_equal(lkv_json_pb_parse(&etcdserverpb__lease_keep_alive_request__descriptor, body, strlen(body),
                                     &used, &pb, &pb_len, err, sizeof(err)),
                   0);
  assert_true(used >= 11 && body[used] == '{'); /* after the first object (and the space after it) */
  Etcdserverpb__LeaseKeepAliveRequest *r = etcdserverpb__lease_keep_alive_request__unpack(NULL, pb_len, pb);
  assert_non_null(r);
  assert_int_equal(r->id, 5);
  etcdserverpb__lease_keep_alive_request__free_unpacked(r, NULL);
  free(pb);
  size_t used2;
  assert_int_equal(lkv_json_pb_parse(&etcdserverpb__lease_keep_alive_request__descriptor, body + used,
                                     strlen(body) - used, &used2, &pb, &pb_len, err, sizeof(err)),
                   0);
  assert_int_equal(used + used2, strlen(body));
  free(pb);
}

/* Each refusal is LKV_EINVAL with a reason, and leaks nothing (the ASan build checks). */
static void refused(const ProtobufCMessageDescriptor *desc, const char *json, const char *reason) {
  uint8_t *pb = NULL;
  size_t pb_len = 0, used = 0;
  char err[128] = "";
  assert_int_equal(lkv_json_pb_parse(desc, json, strlen(json), &used, &pb, &pb_len, err, sizeof(err)),
                   LKV_EINVAL);
  if (!strstr(err, reason)) fail_msg("%s: reason \"%s\" lacks \"%s\"", json, err, reason);
}

static void test_refusals(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *range = &etcdserverpb__range_request__descriptor;
  refused(range, "{\"key\":", "unexpected EOF");
  refused(range, "", "unexpected EOF");
  refused(range, "{\"key\":}", "invalid JSON");
  refused(range, "[1]", "want a JSON object");
  refused(range, "{\"limit\":\"x\"}", "limit");
  refused(range, "{\"limit\":1.5}", "limit");
  refused(range, "{\"key\":\"***\"}", "base64");
  refused(range, "{\"sort_order\":\"SIDEWAYS\"}", "SIDEWAYS");
  refused(range, "{\"serializable\":1}", "serializable");
  refused(&etcdserverpb__txn_request__descriptor,
          "{\"success\":[{\"request_put\":{\"key\":\"YQ==\"},\"request_range\":{\"key\":\"YQ==\"}}]}",
          "oneof");
  refused(&etcdserverpb__txn_request__descriptor, "{\"success\":[{\"request_put\":{\"key\":5}}]}", "key");
  refused(&etcdserverpb__lease_grant_request__descriptor, "{\"TTL\":\"99999999999999999999\"}", "TTL");
}

static void test_render_refuses_garbage(void **state) {
  (void)state;
  const uint8_t junk[] = {0xff, 0xff, 0xff};
  char *out;
  size_t out_len;
  assert_int_equal(
      lkv_json_pb_render(&etcdserverpb__range_response__descriptor, junk, sizeof(junk), &out, &out_len),
      LKV_EPROTO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_range_response),
      cmocka_unit_test(test_defaults_left_out),
      cmocka_unit_test(test_parse_forms),
      cmocka_unit_test(test_oneof_and_nesting),
      cmocka_unit_test(test_several_objects),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_render_refuses_garbage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
