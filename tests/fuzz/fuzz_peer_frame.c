/* libFuzzer target for the peer transport's wire codec (src/transport/peer_frame.h: the hello, the reply,
 * frame prefixes, a query's answer; all of it arrives from the network, a byte at a time or in bulk):
 * what decodes re-encodes to the same bytes, every shorter prefix of a complete message asks for more
 * bytes (never a different verdict), and the sizes a decoder announces stay within the input. */
#include "common/error.h"
#include "fuzz.h"
#include "transport/peer.h"
#include "transport/peer_frame.h"

#define MAX_PAYLOAD 4096 /* the frame limit used here: inputs above it must be refused */

static void fuzz_hello(const uint8_t *data, size_t size) {
  lkv__peer_hello_t h, h2;
  int rc = lkv__peer_hello_decode(data, size, &h);
  if (rc == LKV_EUNSUPPORTED) {
    lkv_fuzz_require(size >= 8 && h.version > LKV_PEER_PROTOCOL_VERSION);
    return;
  }
  if (rc == LKV_EAGAIN) lkv_fuzz_require(size < LKV__PEER_HELLO_SIZE);
  if (rc != 0) return;
  lkv_fuzz_require(size >= LKV__PEER_HELLO_SIZE);
  uint8_t out[LKV__PEER_HELLO_SIZE];
  lkv__peer_hello_encode(&h, out);
  lkv_fuzz_require(memcmp(out, data, sizeof(out)) == 0);
  for (size_t k = 0; k < LKV__PEER_HELLO_SIZE; k++)
    lkv_fuzz_require(lkv__peer_hello_decode(data, k, &h2) == LKV_EAGAIN);
}

static void fuzz_reply(const uint8_t *data, size_t size) {
  lkv__peer_reply_t r, r2;
  size_t used, used2;
  if (lkv__peer_reply_decode(data, size, &r, &used) != 0) return;
  lkv_fuzz_require(used <= size && used == lkv__peer_reply_size(&r));
  lkv_fuzz_require((const uint8_t *)r.text >= data && (const uint8_t *)r.text + r.text_len <= data + size);
  uint8_t out[LKV__PEER_REPLY_HEAD + LKV__PEER_REPLY_MAX_TEXT];
  lkv_fuzz_require(lkv__peer_reply_encode(&r, out, used - 1) == 0);
  lkv_fuzz_require(lkv__peer_reply_encode(&r, out, sizeof(out)) == used);
  lkv_fuzz_require(memcmp(out, data, used) == 0);
  for (size_t k = 0; k < used; k++)
    lkv_fuzz_require(lkv__peer_reply_decode(data, k, &r2, &used2) == LKV_EAGAIN);
}

static void fuzz_frame(const uint8_t *data, size_t size) {
  const uint8_t *payload;
  size_t len, used;
  int rc = lkv__peer_frame_next(data, size, MAX_PAYLOAD, &payload, &len, &used);
  if (rc == LKV_EAGAIN) lkv_fuzz_require(used > size);
  if (rc == LKV_EMSGSIZE) lkv_fuzz_require(size >= LKV__PEER_FRAME_HEAD);
  if (rc != 0) return;
  lkv_fuzz_require(len <= MAX_PAYLOAD && used == LKV__PEER_FRAME_HEAD + len && used <= size &&
                   payload == data + LKV__PEER_FRAME_HEAD);
  uint8_t head[LKV__PEER_FRAME_HEAD];
  lkv__peer_frame_head((uint32_t)len, head);
  lkv_fuzz_require(memcmp(head, data, sizeof(head)) == 0);
}

static void fuzz_answer(const uint8_t *data, size_t size) {
  lkv__peer_reply_t r;
  const uint8_t *blob;
  size_t blob_len, used;
  int rc = lkv__peer_answer_decode(data, size, MAX_PAYLOAD, &r, &blob, &blob_len, &used);
  if (rc == LKV_EAGAIN) lkv_fuzz_require(used > size);
  if (rc != 0) return;
  lkv_fuzz_require(used <= size);
  if (r.status != LKV__PEER_OK) {
    lkv_fuzz_require(blob == NULL && blob_len == 0 && used == lkv__peer_reply_size(&r));
    return;
  }
  lkv_fuzz_require(blob_len <= MAX_PAYLOAD && blob + blob_len == data + used &&
                   used == lkv__peer_reply_size(&r) + LKV__PEER_FRAME_HEAD + blob_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_hello(data, size);
  fuzz_reply(data, size);
  fuzz_frame(data, size);
  fuzz_answer(data, size);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  uint8_t b[LKV__PEER_REPLY_HEAD + 64];
  lkv__peer_hello_t hellos[] = {{.version = 1, .cluster_id = 0x1234, .from = 1, .to = 2},
                                {.version = 1, .query = 1}};
  for (size_t i = 0; i < 2; i++) {
    lkv__peer_hello_encode(&hellos[i], b);
    add(arg, b, LKV__PEER_HELLO_SIZE);
  }
  lkv__peer_reply_t refused = {.status = LKV__PEER_REMOVED,
                               .version = 1,
                               .cluster_id = 3,
                               .member_id = 4,
                               .text = "removed",
                               .text_len = 7};
  add(arg, b, lkv__peer_reply_encode(&refused, b, sizeof(b)));
  /* An OK reply followed by a frame carrying a 5-byte blob: a query's whole answer. */
  lkv__peer_reply_t ok = {.status = LKV__PEER_OK, .version = 1, .cluster_id = 3, .member_id = 4};
  size_t n = lkv__peer_reply_encode(&ok, b, sizeof(b));
  lkv__peer_frame_head(5, b + n);
  memcpy(b + n + LKV__PEER_FRAME_HEAD, "blob!", 5);
  add(arg, b, n + LKV__PEER_FRAME_HEAD + 5);
  add(arg, b + n, LKV__PEER_FRAME_HEAD + 5);
}
