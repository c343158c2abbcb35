/* libFuzzer target for the ledger's readers (src/ledger/entry.c: entries and their write sets;
 * src/ledger/log_format.c: frames, index entries, torn-tail detection). A ledger file is read back at every
 * start and by `ledgerkv audit` and `verify`, and an operator who tampers with it must meet a refusal, never
 * a crash. An entry that decodes re-encodes to the same bytes, its ops read without error, and framed with
 * its leaf hash it parses back whole (every shorter prefix is torn). The input is flags (u8) ‖ image; flag
 * 0x1 frames the image with the right salt, length and leaf hash first, so the checks behind them run. */
#include "common/error.h"
#include "fuzz.h"
#include "ledger/entry.h"
#include "ledger/log_internal.h"

static const uint8_t SALT[LKV__SALT_LEN] = {'f', 'u', 'z', 'z', 's', 'a', 'l', 't'};

/* Checks everything a decoded entry promises; returns its leaf hash. */
static void check_entry(const uint8_t *img, size_t len, const lkv_ledger_entry_t *e,
                        lkv_merkle_hash_t *leaf) {
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  uint32_t n = 0;
  int rc;
  lkv_ledger_ops_begin(e, &it);
  while ((rc = lkv_ledger_ops_next(&it, &op)) == 1) {
    lkv_fuzz_require(op.key_len >= 1 && op.key >= img && op.key + op.key_len <= img + len);
    lkv_fuzz_require(op.type == LKV_LEDGER_OP_DELETE ||
                     (op.type == LKV_LEDGER_OP_PUT && e->kind != LKV_LEDGER_LEASE_REVOKE));
    if (op.type == LKV_LEDGER_OP_PUT)
      lkv_fuzz_require(op.value_len == 0 || (op.value >= img && op.value + op.value_len <= img + len));
    n++;
  }
  lkv_fuzz_require(rc == 0 && n == e->n_ops);
  lkv_fuzz_require(lkv_ledger_entry_size(e) == len);
  uint8_t *out = malloc(len);
  size_t out_len = 0;
  lkv_fuzz_require(out != NULL && lkv_ledger_entry_encode(e, out, len, &out_len) == 0);
  lkv_fuzz_require(out_len == len && memcmp(out, img, len) == 0);
  free(out);
  lkv_ledger_leaf_t l;
  lkv_ledger_entry_leaf(e, &l);
  lkv_fuzz_require(l.kind == e->kind && l.revision == e->revision);
  lkv_ledger_leaf_hash(&l, leaf);
}

/* The image as the body of a frame with the right header: it parses iff the entry decodes. */
static void fuzz_framed(const uint8_t *img, size_t len, int decoded, const lkv_merkle_hash_t *leaf) {
  if (len > 1 << 20) return;
  uint8_t *f = malloc(LKV__FRAME_HDR + len);
  lkv_fuzz_require(f != NULL);
  lkv_merkle_hash_t fake;
  memset(&fake, 0xab, sizeof(fake));
  lkv__frame_header(SALT, f, (uint32_t)len, decoded ? leaf : &fake);
  memcpy(f + LKV__FRAME_HDR, img, len);
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t got;
  size_t flen = 0;
  int rc = lkv__frame_parse(SALT, f, LKV__FRAME_HDR + len, &e, &got, &flen);
  if (!decoded) {
    lkv_fuzz_require(rc == LKV__FRAME_BAD);
  } else {
    lkv_fuzz_require(rc == LKV__FRAME_OK && flen == LKV__FRAME_HDR + len &&
                     memcmp(&got, leaf, sizeof(got)) == 0);
    for (size_t cut = 0; cut < LKV__FRAME_HDR + len; cut += 1 + cut / 4)
      lkv_fuzz_require(lkv__frame_parse(SALT, f, cut, &e, &got, &flen) == LKV__FRAME_TORN);
    /* A frame that parses is never a torn tail when it follows a damaged byte. */
    uint8_t *g = malloc(1 + LKV__FRAME_HDR + len);
    lkv_fuzz_require(g != NULL);
    g[0] = 0xff;
    memcpy(g + 1, f, LKV__FRAME_HDR + len);
    lkv_fuzz_require(lkv__damage_is_tail(SALT, g, 0, 1 + LKV__FRAME_HDR + len) == 0);
    free(g);
  }
  free(f);
}

/* The raw image as a frame and as index entries: whatever parses stays within the image. */
static void fuzz_raw(const uint8_t *img, size_t len) {
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t leaf;
  size_t flen = 0;
  if (lkv__frame_parse(SALT, img, len, &e, &leaf, &flen) == LKV__FRAME_OK)
    lkv_fuzz_require(flen <= len && flen >= LKV__FRAME_HDR + LKV_LEDGER_ENTRY_HEADER_LEN);
  (void)lkv__damage_is_tail(SALT, img, 0, len);
  for (size_t at = 0; at + LKV__META_LEN <= len && at < 4 * LKV__META_LEN; at += LKV__META_LEN) {
    lkv_ledger_log_meta_t m;
    if (lkv__meta_decode(img + at, &m) != 0) continue;
    uint8_t out[LKV__META_LEN];
    lkv__meta_encode(&m, out);
    lkv_fuzz_require(memcmp(out, img + at, LKV__META_LEN) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t flags = data[0];
  const uint8_t *img = data + 1;
  size_t len = size - 1;
  lkv_ledger_entry_t e;
  lkv_merkle_hash_t leaf;
  int decoded = lkv_ledger_entry_decode(img, len, &e) == 0;
  if (decoded) check_entry(img, len, &e, &leaf);
  if (flags & 1)
    fuzz_framed(img, len, decoded, &leaf);
  else
    fuzz_raw(img, len);
  return 0;
}

static void add_entry(lkv_fuzz_add_fn add, void *arg, const lkv_ledger_entry_t *e) {
  uint8_t buf[1024];
  size_t len = 0;
  lkv_fuzz_require(lkv_ledger_entry_encode(e, buf + 1, sizeof(buf) - 1, &len) == 0);
  for (uint8_t flags = 0; flags < 2; flags++) {
    buf[0] = flags;
    add(arg, buf, len + 1);
  }
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  lkv_ledger_ws_t ws;
  lkv_ledger_ws_init(&ws);
  lkv_fuzz_require(lkv_ledger_ws_put(&ws, "key", 3, "value", 5, 7, 2, 0) == 0);
  lkv_fuzz_require(lkv_ledger_ws_delete(&ws, "gone", 4) == 0);
  lkv_fuzz_require(lkv_ledger_ws_put(&ws, "k2", 2, "", 0, 9, 1, 0x1234) == 0);
  lkv_ledger_entry_t e = {.kind = LKV_LEDGER_REVISION, .revision = 9};
  memset(e.claims, 0x5a, sizeof(e.claims));
  lkv_ledger_entry_set_ws(&e, &ws);
  add_entry(add, arg, &e);
  lkv_ledger_ws_reset(&ws);
  lkv_fuzz_require(lkv_ledger_ws_delete(&ws, "leased", 6) == 0);
  lkv_ledger_entry_t revoke = {.kind = LKV_LEDGER_LEASE_REVOKE, .revision = 10, .lease_id = 0x1234};
  lkv_ledger_entry_set_ws(&revoke, &ws);
  add_entry(add, arg, &revoke);
  lkv_ledger_entry_t grant = {.kind = LKV_LEDGER_LEASE_GRANT, .revision = 10, .lease_id = 5, .lease_ttl = 60};
  add_entry(add, arg, &grant);
  lkv_ledger_entry_t compact = {.kind = LKV_LEDGER_COMPACTION, .revision = 10, .compact_revision = 8};
  add_entry(add, arg, &compact);
  lkv_ledger_entry_t head = {.kind = LKV_LEDGER_SIGNED_TREE_HEAD, .revision = 10};
  head.sth.head.tree_size = 4;
  head.sth.head.revision = 10;
  head.sth.head.timestamp_ms = 1700000000000ull;
  add_entry(add, arg, &head);
  lkv_ledger_ws_free(&ws);
  lkv_ledger_log_meta_t m = {0};
  uint8_t metas[1 + 2 * LKV__META_LEN] = {0};
  lkv__meta_of(&e, 4096, 120, &m);
  lkv__meta_encode(&m, metas + 1);
  lkv__meta_of(&compact, 4216, 49, &m);
  lkv__meta_encode(&m, metas + 1 + LKV__META_LEN);
  add(arg, metas, sizeof(metas));
}
