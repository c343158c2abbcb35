/* WatchResponse encoding (rpc.proto / kv.proto field numbers), written by hand for one-encode fan-out. */
#include "watch/codec.h"

#include <stdlib.h>
#include <string.h>

#include "common/varint.h"

enum { WT_VARINT = 0, WT_LEN = 2 };

void lkv__wbuf_free(lkv__wbuf_t *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

static int reserve(lkv__wbuf_t *b, size_t n) {
  if (b->oom) return 0;
  if (b->cap - b->len >= n) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n) cap *= 2;
  uint8_t *d = realloc(b->data, cap);
  if (!d) {
    b->oom = 1;
    return 0;
  }
  b->data = d;
  b->cap = cap;
  return 1;
}

void lkv__wbuf_put(lkv__wbuf_t *b, const void *p, size_t n) {
  if (n == 0 || !reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void put_varint(lkv__wbuf_t *b, uint64_t v) {
  uint8_t tmp[LKV_VARINT_MAX];
  lkv__wbuf_put(b, tmp, lkv_varint_put(tmp, v));
}

static void put_tag(lkv__wbuf_t *b, unsigned field, unsigned wt) {
  put_varint(b, (uint64_t)field << 3 | wt);
}

/* Varint field, omitted when zero (int64 values are sent as their 64-bit two's complement). */
static void put_u64(lkv__wbuf_t *b, unsigned field, uint64_t v) {
  if (!v) return;
  put_tag(b, field, WT_VARINT);
  put_varint(b, v);
}

static size_t u64_size(unsigned field, uint64_t v) {
  return v ? lkv_varint_size((uint64_t)field << 3) + lkv_varint_size(v) : 0;
}

static void put_bytes(lkv__wbuf_t *b, unsigned field, const void *p, size_t n) {
  if (!n) return;
  put_tag(b, field, WT_LEN);
  put_varint(b, n);
  lkv__wbuf_put(b, p, n);
}

static size_t bytes_size(unsigned field, size_t n) {
  return n ? lkv_varint_size((uint64_t)field << 3) + lkv_varint_size(n) + n : 0;
}

/* mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6. */
static size_t kv_size(const lkv_mvcc_kv_t *kv) {
  return bytes_size(1, kv->key_len) + u64_size(2, (uint64_t)kv->create_revision) +
         u64_size(3, (uint64_t)kv->mod_revision) + u64_size(4, (uint64_t)kv->version) +
         bytes_size(5, kv->value_len) + u64_size(6, (uint64_t)kv->lease);
}

static void put_kv(lkv__wbuf_t *b, unsigned field, const lkv_mvcc_kv_t *kv) {
  put_tag(b, field, WT_LEN);
  put_varint(b, kv_size(kv));
  put_bytes(b, 1, kv->key, kv->key_len);
  put_u64(b, 2, (uint64_t)kv->create_revision);
  put_u64(b, 3, (uint64_t)kv->mod_revision);
  put_u64(b, 4, (uint64_t)kv->version);
  put_bytes(b, 5, kv->value, kv->value_len);
  put_u64(b, 6, (uint64_t)kv->lease);
}

/* mvccpb.Event: type 1 (PUT = 0, DELETE = 1), kv 2, prev_kv 3; the entry is field 11 of WatchResponse. */
void lkv__wenc_event(lkv__wbuf_t *b, const lkv_mvcc_kv_t *kv, int tomb, const lkv_mvcc_kv_t *prev) {
  size_t kvs = kv_size(kv), ps = prev ? kv_size(prev) : 0;
  size_t ev = (tomb ? 2 : 0) + 1 + lkv_varint_size(kvs) + kvs + (prev ? 1 + lkv_varint_size(ps) + ps : 0);
  put_tag(b, 11, WT_LEN);
  put_varint(b, ev);
  put_u64(b, 1, tomb ? 1 : 0);
  put_kv(b, 2, kv);
  if (prev) put_kv(b, 3, prev);
}

/* ResponseHeader: cluster_id 1, member_id 2, revision 3, raft_term 4. WatchResponse: header 1, watch_id 2,
 * created 3, canceled 4, compact_revision 5, cancel_reason 6, fragment 7. */
void lkv__wenc_resp(lkv__wbuf_t *b, const lkv__wresp_t *r) {
  size_t hs = u64_size(1, r->cluster_id) + u64_size(2, r->member_id) + u64_size(3, (uint64_t)r->revision) +
              u64_size(4, r->raft_term);
  put_tag(b, 1, WT_LEN); /* etcd always sends a header, even an empty one */
  put_varint(b, hs);
  put_u64(b, 1, r->cluster_id);
  put_u64(b, 2, r->member_id);
  put_u64(b, 3, (uint64_t)r->revision);
  put_u64(b, 4, r->raft_term);
  put_u64(b, 2, (uint64_t)r->watch_id);
  put_u64(b, 3, r->created ? 1 : 0);
  put_u64(b, 4, r->canceled ? 1 : 0);
  put_u64(b, 5, (uint64_t)r->compact_revision);
  if (r->cancel_reason) put_bytes(b, 6, r->cancel_reason, strlen(r->cancel_reason));
  put_u64(b, 7, r->fragment ? 1 : 0);
}
