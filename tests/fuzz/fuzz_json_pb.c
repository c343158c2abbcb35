/* libFuzzer target for the JSON gateway's request decoder (src/gateway/json_parse.c, with the renderer of
 * src/gateway/json_render.c): every body a curl or Patroni sends to /v3/... goes through it. Text it
 * accepts packs to a message protobuf-c unpacks, and rendering that message and parsing the rendering
 * again gives the same bytes (the mapping is canonical); text it refuses has a reason; parsing never
 * consumes more than it is given. The input is a message type (u8, one of the gateway's request types) ‖
 * JSON text. */
#include <protobuf-c/protobuf-c.h>

#include "common/error.h"
#include "etcd/etcdserver/api/v3election/v3electionpb/v3election.pb-c.h"
#include "etcd/etcdserver/api/v3lock/v3lockpb/v3lock.pb-c.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb-c.h"
#include "fuzz.h"
#include "gateway/json_pb.h"

static const ProtobufCMessageDescriptor *const TYPES[] = {
    &etcdserverpb__range_request__descriptor,
    &etcdserverpb__put_request__descriptor,
    &etcdserverpb__delete_range_request__descriptor,
    &etcdserverpb__txn_request__descriptor,
    &etcdserverpb__compaction_request__descriptor,
    &etcdserverpb__watch_request__descriptor,
    &etcdserverpb__lease_grant_request__descriptor,
    &etcdserverpb__lease_keep_alive_request__descriptor,
    &etcdserverpb__member_add_request__descriptor,
    &etcdserverpb__auth_user_add_request__descriptor,
    &etcdserverpb__auth_role_grant_permission_request__descriptor,
    &v3lockpb__lock_request__descriptor,
    &v3electionpb__campaign_request__descriptor,
    &etcdserverpb__alarm_request__descriptor,
};
#define N_TYPES (sizeof(TYPES) / sizeof(TYPES[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const ProtobufCMessageDescriptor *desc = TYPES[data[0] % N_TYPES];
  const char *json = (const char *)data + 1;
  size_t len = size - 1, used = 0, pb_len = 0;
  uint8_t *pb = NULL;
  char err[256] = "";
  int rc = lkv_json_pb_parse(desc, json, len, &used, &pb, &pb_len, err, sizeof(err));
  if (rc == LKV_EINVAL) lkv_fuzz_require(err[0] != 0 && pb == NULL);
  if (rc != 0) return 0;
  lkv_fuzz_require(used <= len && (pb_len == 0) == (pb == NULL));
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, pb_len, pb);
  lkv_fuzz_require(m != NULL);
  protobuf_c_message_free_unpacked(m, NULL);

  char *text = NULL;
  size_t text_len = 0;
  lkv_fuzz_require(lkv_json_pb_render(desc, pb, pb_len, &text, &text_len) == 0);
  uint8_t *again = NULL;
  size_t again_len = 0, used2 = 0;
  lkv_fuzz_require(lkv_json_pb_parse(desc, text, text_len, &used2, &again, &again_len, err, sizeof(err)) ==
                   0);
  lkv_fuzz_require(used2 == text_len && lkv_fuzz_same_bytes(pb, pb_len, again, again_len));
  free(again);
  free(text);
  free(pb);
  return 0;
}

static void add_text(lkv_fuzz_add_fn add, void *arg, const ProtobufCMessageDescriptor *desc,
                     const char *json) {
  size_t i = 0;
  while (TYPES[i] != desc) i++;
  size_t len = strlen(json);
  uint8_t *b = malloc(len + 1);
  lkv_fuzz_require(b != NULL);
  b[0] = (uint8_t)i;
  memcpy(b + 1, json, len);
  add(arg, b, len + 1);
  free(b);
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  add_text(
      add, arg, &etcdserverpb__range_request__descriptor,
      "{\"key\":\"Zm9v\",\"range_end\":\"Zm9w\",\"limit\":\"10\",\"revision\":3,\"sort_order\":\"DESCEND\","
      "\"keysOnly\":true}");
  add_text(add, arg, &etcdserverpb__put_request__descriptor,
           "{\"key\":\"a2V5\",\"value\":\"dmFsdWU=\",\"lease\":\"7587862\",\"prev_kv\":true,\"ignore_value\":"
           "false}");
  add_text(add, arg, &etcdserverpb__delete_range_request__descriptor,
           "{\"key\":\"AA==\",\"range_end\":\"AA\"}");
  add_text(add, arg, &etcdserverpb__txn_request__descriptor,
           "{\"compare\":[{\"result\":\"EQUAL\",\"target\":\"VALUE\",\"key\":\"Zm9v\",\"value\":\"YmFy\"},"
           "{\"target\":\"MOD\",\"key\":\"eA==\",\"mod_revision\":\"5\",\"result\":2}],"
           "\"success\":[{\"request_put\":{\"key\":\"Zm9v\",\"value\":\"YmF6\"}}],"
           "\"failure\":[{\"requestRange\":{\"key\":\"Zm9v\"}},{\"request_txn\":{\"success\":[]}}]}");
  add_text(add, arg, &etcdserverpb__compaction_request__descriptor,
           "{\"revision\":\"12\",\"physical\":true}");
  add_text(add, arg, &etcdserverpb__watch_request__descriptor,
           "{\"create_request\":{\"key\":\"Zm9v\",\"start_revision\":\"2\",\"filters\":[\"NOPUT\",1],"
           "\"prev_kv\":true,\"watch_id\":\"-1\",\"fragment\":null}}");
  add_text(add, arg, &etcdserverpb__lease_grant_request__descriptor, "{\"TTL\":\"60\",\"ID\":0}");
  add_text(add, arg, &etcdserverpb__lease_keep_alive_request__descriptor,
           "{\"ID\":\"-9223372036854775808\"}");
  add_text(add, arg, &etcdserverpb__member_add_request__descriptor,
           "{\"peerURLs\":[\"http://127.0.0.1:2380\",\"http://[::1]:2380\"],\"isLearner\":true}");
  add_text(add, arg, &etcdserverpb__auth_user_add_request__descriptor,
           "{\"name\":\"r\\u00f6ot\",\"password\":\"p\\\"w\",\"options\":{\"no_password\":true}}");
  add_text(add, arg, &etcdserverpb__auth_role_grant_permission_request__descriptor,
           "{\"name\":\"role\",\"perm\":{\"permType\":\"READWRITE\",\"key\":\"YQ\",\"range_end\":\"Yg-_\"}}");
  add_text(add, arg, &v3lockpb__lock_request__descriptor,
           "  {\"name\":\"bG9jaw==\",\"lease\":1}  {\"more\":1}");
  add_text(add, arg, &v3electionpb__campaign_request__descriptor,
           "{\"name\":\"ZQ==\",\"lease\":\"5\",\"value\":\"dg==\",\"unknown\":[1,{\"x\":null}]}");
  add_text(add, arg, &etcdserverpb__alarm_request__descriptor,
           "{\"action\":\"DEACTIVATE\",\"memberID\":\"18446744073709551615\",\"alarm\":\"NOSPACE\"}");
}
