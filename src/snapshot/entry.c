/* Entries of etcd's "key" and "lease" buckets: the bytes etcd 3.4 stores each under, and its value. */
#include <stdlib.h>

#include "common/error.h"
#include "etcd/lease/leasepb/lease.pb-c.h"
#include "etcd/mvcc/mvccpb/kv.pb-c.h"
#include "snapshot/internal.h"

void lkv__rev_key(uint8_t out[LKV__REV_KEY_LEN], int64_t main, int64_t sub) {
  for (int i = 0; i < 8; i++) {
    out[i] = (uint8_t)((uint64_t)main >> (56 - 8 * i));
    out[9 + i] = (uint8_t)((uint64_t)sub >> (56 - 8 * i));
  }
  out[8] = '_';
}

int lkv__entry_pack(lkv__entry_t *e, const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > e->cap) {
    uint8_t *b = realloc(e->val, n);
    if (!b) return LKV_ENOMEM;
    e->val = b;
    e->cap = n;
  }
  e->val_len = protobuf_c_message_pack(msg, e->val);
  return 0;
}

int lkv__key_entry_encode(lkv__entry_t *e, const lkv_mvcc_kv_t *kv, int64_t sub, int tombstone) {
  lkv__rev_key(e->key, kv->mod_revision, sub);
  e->key[LKV__REV_KEY_LEN] = 't';
  e->key_len = LKV__REV_KEY_LEN + (tombstone ? 1 : 0);
  /* A tombstone's KeyValue carries its key alone, as etcd writes it. */
  Mvccpb__KeyValue m = MVCCPB__KEY_VALUE__INIT;
  m.key = (ProtobufCBinaryData){.len = kv->key_len, .data = (uint8_t *)kv->key};
  if (!tombstone) {
    m.create_revision = kv->create_revision;
    m.mod_revision = kv->mod_revision;
    m.version = kv->version;
    m.value = (ProtobufCBinaryData){.len = kv->value_len, .data = (uint8_t *)kv->value};
    m.lease = kv->lease;
  }
  return lkv__entry_pack(e, &m.base);
}

int lkv__lease_entry_encode(lkv__entry_t *e, int64_t id, int64_t ttl) {
  for (int i = 0; i < 8; i++) e->key[i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
  e->key_len = 8;
  Leasepb__Lease l = LEASEPB__LEASE__INIT;
  l.id = id;
  l.ttl = ttl;
  return lkv__entry_pack(e, &l.base);
}
