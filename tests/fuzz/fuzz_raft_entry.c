/* libFuzzer target for the payload of ledgerkv's Raft log entries (src/replication/raft_entry.h, read from
 * the log and from other members): whatever decodes re-encodes to the same bytes, and the request bytes of
 * a state-machine entry go through protobuf-c's unpacker for its kind as the apply path does, without
 * crashing and re-packing to the size it announces; with the auth flag, who asked (auth revision and user)
 * comes back the same. */
#include "fuzz.h"
#include "replication/raft_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lkv_raft_entry_payload_t p, p2;
  if (lkv_raft_entry_decode(data, size, &p) != 0) return 0;
  /* The request ends the entry; with the auth flag, who asked comes first (revision, user, NUL). */
  lkv_fuzz_require(p.request + p.request_len == data + size && p.request >= data + LKV_RAFT_ENTRY_HEADER);
  if (p.flags & LKV_RAFT_ENTRY_AUTH)
    lkv_fuzz_require(p.auth.user >= (const char *)data + LKV_RAFT_ENTRY_HEADER &&
                     p.auth.user + strlen(p.auth.user) < (const char *)p.request);
  else
    lkv_fuzz_require(p.request == data + LKV_RAFT_ENTRY_HEADER && p.auth.user == NULL);
  uint8_t *out;
  size_t len;
  lkv_fuzz_require(lkv_raft_entry_encode(&p, &out, &len) == 0);
  lkv_fuzz_require(lkv_fuzz_same_bytes(out, len, data, size));
  lkv_fuzz_require(lkv_raft_entry_decode(out, len, &p2) == 0 && p2.kind == p.kind && p2.flags == p.flags &&
                   p2.origin == p.origin && p2.seq == p.seq && p2.auth.revision == p.auth.revision);
  if (p.flags & LKV_RAFT_ENTRY_AUTH) lkv_fuzz_require(strcmp(p2.auth.user, p.auth.user) == 0);
  free(out);
  const ProtobufCMessageDescriptor *d = lkv_raft_entry_descriptor(p.kind);
  if (!d) return 0; /* attributes or a member update: their own codecs */
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, p.request_len, p.request);
  if (!m) return 0;
  size_t packed = protobuf_c_message_get_packed_size(m);
  uint8_t *again = malloc(packed ? packed : 1);
  lkv_fuzz_require(again != NULL && protobuf_c_message_pack(m, again) == packed);
  free(again);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
  put.key = (ProtobufCBinaryData){.len = 3, .data = (uint8_t *)"key"};
  put.value = (ProtobufCBinaryData){.len = 5, .data = (uint8_t *)"value"};
  put.lease = 7;
  uint8_t req[64];
  size_t req_len = protobuf_c_message_pack(&put.base, req);
  lkv_raft_entry_payload_t ps[] = {
      {.kind = LKV_OP_PUT, .origin = 1, .seq = 2, .request = req, .request_len = req_len},
      {.kind = LKV_OP_LEASE_REVOKE, .flags = LKV_RAFT_ENTRY_NO_CLAIMS, .origin = 3, .seq = 4},
      {.kind = LKV_OP_PUT,
       .flags = LKV_RAFT_ENTRY_AUTH,
       .origin = 1,
       .seq = 9,
       .request = req,
       .request_len = req_len,
       .auth = {.user = "alice", .revision = 12}},
      {.kind = (lkv_op_kind_t)LKV_RAFT_ENTRY_ATTRS,
       .origin = 5,
       .seq = 6,
       .request = (const uint8_t *)"\1",
       .request_len = 1},
  };
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
    uint8_t *out;
    size_t len;
    lkv_fuzz_require(lkv_raft_entry_encode(&ps[i], &out, &len) == 0);
    add(arg, out, len);
    free(out);
  }
}
