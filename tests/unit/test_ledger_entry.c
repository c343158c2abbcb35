/* Unit tests for the ledger entry codec, write sets, claims digests and the leaf definition. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "ledger/entry.h"
#include "ledger/state.h"

/* Stands for an origin's signed event: opaque to the ledger. */
#define SAMPLE_EVENT "lkvcevt1 origin seq clock deps payload signature"

/* Backs the sample STATE entry (freed at the end of main). */
static lkv_ledger_state_t sample_state;

/* One valid entry of each kind; ws backs the two kinds with ops, sample_state the STATE. */
static void sample(lkv_ledger_kind_t kind, lkv_ledger_entry_t *e, lkv_ledger_ws_t *ws) {
  memset(e, 0, sizeof(*e));
  lkv_ledger_ws_reset(ws);
  e->kind = kind;
  e->revision = 0x0102030405060708;
  for (int i = 0; i < LKV_LEDGER_DIGEST_LEN; i++) e->claims[i] = (uint8_t)(0xc0 + i);
  switch (kind) {
    case LKV_LEDGER_REVISION:
      assert_int_equal(lkv_ledger_ws_put(ws, "a", 1, "value", 5, 7, 2, 0x1234), 0);
      assert_int_equal(lkv_ledger_ws_delete(ws, "bb", 2), 0);
      assert_int_equal(lkv_ledger_ws_put(ws, "c", 1, NULL, 0, -1, INT64_MAX, INT64_MIN), 0);
      lkv_ledger_entry_set_ws(e, ws);
      break;
    case LKV_LEDGER_COMPACTION:
      e->compact_revision = 42;
      break;
    case LKV_LEDGER_LEASE_GRANT:
      e->lease_id = 0x7fffabcd;
      e->lease_ttl = 60;
      break;
    case LKV_LEDGER_LEASE_REVOKE:
      e->lease_id = 99;
      assert_int_equal(lkv_ledger_ws_delete(ws, "leased/1", 8), 0);
      assert_int_equal(lkv_ledger_ws_delete(ws, "leased/2", 8), 0);
      lkv_ledger_entry_set_ws(e, ws);
      break;
    case LKV_LEDGER_SIGNED_TREE_HEAD:
      e->sth.head.tree_size = 1000;
      e->sth.head.revision = e->revision;
      e->sth.head.timestamp_ms = 1700000000123;
      for (int i = 0; i < 32; i++)
        e->sth.head.root.b[i] = (uint8_t)i, e->sth.public_key[i] = (uint8_t)(255 - i);
      for (int i = 0; i < 64; i++) e->sth.signature[i] = (uint8_t)(i * 3);
      break;
    case LKV_LEDGER_STATE: {
      lkv_ledger_state_key_t k = {.key = (const uint8_t *)"k",
                                  .key_len = 1,
                                  .value = (const uint8_t *)"v",
                                  .value_len = 1,
                                  .create_revision = 2,
                                  .mod_revision = 3,
                                  .version = 2,
                                  .lease = 9};
      if (!sample_state.n_keys) {
        assert_int_equal(lkv_ledger_state_lease(&sample_state, 9, 30), 0);
        assert_int_equal(lkv_ledger_state_key(&sample_state, &k), 0);
      }
      uint8_t claims[LKV_LEDGER_DIGEST_LEN];
      memcpy(claims, e->claims, sizeof(claims));
      lkv_ledger_state_entry(&sample_state, e->revision, e);
      memcpy(e->claims, claims, sizeof(claims));
      break;
    }
    case LKV_LEDGER_CAUSAL_EVENT:
      assert_int_equal(lkv_ledger_ws_put(ws, "won", 3, "value", 5, 3, 1, 0), 0);
      assert_int_equal(lkv_ledger_ws_delete(ws, "gone", 4), 0);
      lkv_ledger_entry_set_ws(e, ws);
      e->event = (const uint8_t *)SAMPLE_EVENT;
      e->event_len = sizeof(SAMPLE_EVENT) - 1;
      break;
  }
}

/* Leaves are compared by hash: the struct has padding. */
static void leaf_hash_of(const lkv_ledger_entry_t *e, lkv_merkle_hash_t *h) {
  lkv_ledger_leaf_t leaf;
  lkv_ledger_entry_leaf(e, &leaf);
  lkv_ledger_leaf_hash(&leaf, h);
}

static size_t encode(const lkv_ledger_entry_t *e, uint8_t *buf, size_t cap) {
  size_t len = 0;
  assert_int_equal(lkv_ledger_entry_encode(e, buf, cap, &len), 0);
  assert_int_equal(len, lkv_ledger_entry_size(e));
  return len;
}

static void test_roundtrip_every_kind(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  uint8_t buf[1024], again[1024];
  for (int k = LKV_LEDGER_REVISION; k <= LKV_LEDGER_KIND_MAX; k++) {
    lkv_ledger_entry_t e, d;
    lkv_merkle_hash_t le, ld;
    sample((lkv_ledger_kind_t)k, &e, &ws);
    size_t len = encode(&e, buf, sizeof(buf));
    assert_int_equal(lkv_ledger_entry_decode(buf, len, &d), 0);
    assert_int_equal(d.kind, k);
    assert_int_equal(d.revision, e.revision);
    assert_memory_equal(d.claims, e.claims, LKV_LEDGER_DIGEST_LEN);
    assert_int_equal(d.n_ops, e.n_ops);
    assert_int_equal(d.n_leases, e.n_leases);
    assert_int_equal(d.compact_revision, e.compact_revision);
    assert_int_equal(d.lease_id, e.lease_id);
    assert_int_equal(d.lease_ttl, e.lease_ttl);
    assert_memory_equal(&d.sth.head.root, &e.sth.head.root, 32);
    assert_int_equal(d.sth.head.tree_size, e.sth.head.tree_size);
    assert_int_equal(d.sth.head.timestamp_ms, e.sth.head.timestamp_ms);
    assert_memory_equal(d.sth.signature, e.sth.signature, 64);
    assert_int_equal(lkv_ledger_entry_is_revision(&d), k == LKV_LEDGER_REVISION ||
                                                           k == LKV_LEDGER_LEASE_REVOKE ||
                                                           k == LKV_LEDGER_CAUSAL_EVENT);
    assert_int_equal(d.event_len, e.event_len);
    if (e.event_len) assert_memory_equal(d.event, e.event, e.event_len);
    /* the encoding is canonical, and both views give the same leaf */
    assert_int_equal(encode(&d, again, sizeof(again)), len);
    assert_memory_equal(again, buf, len);
    leaf_hash_of(&e, &le);
    leaf_hash_of(&d, &ld);
    assert_memory_equal(le.b, ld.b, sizeof(le.b));
  }
  lkv_ledger_ws_free(&ws);
}

static void test_ops_roundtrip(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e, d;
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  uint8_t buf[1024];
  sample(LKV_LEDGER_REVISION, &e, &ws);
  size_t len = encode(&e, buf, sizeof(buf));
  assert_int_equal(lkv_ledger_entry_decode(buf, len, &d), 0);
  lkv_ledger_ops_begin(&d, &it);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 1);
  assert_int_equal(op.type, LKV_LEDGER_OP_PUT);
  assert_int_equal(op.key_len, 1);
  assert_memory_equal(op.key, "a", 1);
  assert_int_equal(op.value_len, 5);
  assert_memory_equal(op.value, "value", 5);
  assert_int_equal(op.create_revision, 7);
  assert_int_equal(op.version, 2);
  assert_int_equal(op.lease, 0x1234);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 1);
  assert_int_equal(op.type, LKV_LEDGER_OP_DELETE);
  assert_memory_equal(op.key, "bb", 2);
  assert_null(op.value);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 1);
  assert_int_equal(op.value_len, 0);
  assert_int_equal(op.create_revision, -1);
  assert_int_equal(op.version, INT64_MAX);
  assert_int_equal(op.lease, INT64_MIN);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 0);
  /* kinds without a write set have no ops */
  sample(LKV_LEDGER_COMPACTION, &e, &ws);
  lkv_ledger_ops_begin(&e, &it);
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 0);
  lkv_ledger_ws_free(&ws);
}

static void test_ws_builder(void **state) {
  (void)state;
  lkv_ledger_ws_t ws;
  lkv_ledger_ws_init(&ws);
  assert_int_equal(lkv_ledger_ws_put(&ws, "", 0, "v", 1, 1, 1, 0), LKV_EINVAL);
  assert_int_equal(lkv_ledger_ws_delete(&ws, "", 0), LKV_EINVAL);
  assert_int_equal(ws.n_ops, 0);
  /* growth keeps earlier ops intact */
  char key[16];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "k%04d", i);
    assert_int_equal(lkv_ledger_ws_put(&ws, key, 5, key, 5, i, 1, 0), 0);
  }
  assert_int_equal(ws.n_ops, 1000);
  assert_int_equal(ws.len, 1000 * (5 + 5 + 28 + 5));
  lkv_ledger_entry_t e = {.kind = LKV_LEDGER_REVISION, .revision = 5};
  lkv_ledger_entry_set_ws(&e, &ws);
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  lkv_ledger_ops_begin(&e, &it);
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "k%04d", i);
    assert_int_equal(lkv_ledger_ops_next(&it, &op), 1);
    assert_memory_equal(op.key, key, 5);
    assert_int_equal(op.create_revision, i);
  }
  assert_int_equal(lkv_ledger_ops_next(&it, &op), 0);
  size_t cap = ws.cap;
  lkv_ledger_ws_reset(&ws);
  assert_int_equal(ws.len, 0);
  assert_int_equal(ws.cap, cap);
  lkv_ledger_ws_free(&ws);
  assert_null(ws.buf);
}

/* A causal event's body is n_ops ‖ event_len ‖ event ‖ ops (docs/ledger.md §3); one that changed no key on
 * this member has no ops but still its event; the event is required. */
static void test_causal_event_layout(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e, d;
  uint8_t buf[1024], body[1024];
  size_t len, ev_len = sizeof(SAMPLE_EVENT) - 1;
  sample(LKV_LEDGER_CAUSAL_EVENT, &e, &ws);
  len = encode(&e, buf, sizeof(buf));
  assert_int_equal(buf[0], 7);
  const uint8_t *b = buf + LKV_LEDGER_ENTRY_HEADER_LEN;
  assert_memory_equal(b, "\0\0\0\2", 4);
  assert_int_equal(((size_t)b[6] << 8) | b[7], ev_len);
  assert_memory_equal(b + 8, SAMPLE_EVENT, ev_len);
  assert_memory_equal(b + 8 + ev_len, ws.buf, ws.len);
  assert_int_equal(len, LKV_LEDGER_ENTRY_HEADER_LEN + 8 + ev_len + ws.len);
  /* the write-set digest is SHA-256 of that body */
  lkv_ledger_leaf_t leaf;
  uint8_t digest[32];
  lkv_ledger_entry_leaf(&e, &leaf);
  crypto_hash_sha256(digest, b, len - LKV_LEDGER_ENTRY_HEADER_LEN);
  assert_memory_equal(leaf.ws_digest, digest, 32);
  /* no ops: an event that changed no winner here */
  e.ops = NULL, e.ops_len = 0, e.n_ops = 0;
  len = encode(&e, buf, sizeof(buf));
  assert_int_equal(lkv_ledger_entry_decode(buf, len, &d), 0);
  assert_int_equal(d.n_ops, 0);
  assert_true(lkv_ledger_entry_is_revision(&d));
  /* without an event: refused both ways */
  e.event_len = 0;
  assert_int_equal(lkv_ledger_entry_encode(&e, body, sizeof(body), &len), LKV_EINVAL);
  e.event = NULL, e.event_len = 3;
  assert_int_equal(lkv_ledger_entry_encode(&e, body, sizeof(body), &len), LKV_EINVAL);
  memcpy(body, buf, LKV_LEDGER_ENTRY_HEADER_LEN);
  memset(body + LKV_LEDGER_ENTRY_HEADER_LEN, 0, 8);
  assert_int_equal(lkv_ledger_entry_decode(body, LKV_LEDGER_ENTRY_HEADER_LEN + 8, &d), LKV_ECORRUPT);
  /* an event length beyond the body */
  body[LKV_LEDGER_ENTRY_HEADER_LEN + 7] = 1;
  assert_int_equal(lkv_ledger_entry_decode(body, LKV_LEDGER_ENTRY_HEADER_LEN + 8, &d), LKV_ECORRUPT);
  lkv_ledger_ws_free(&ws);
}

static void test_encode_refuses_invalid(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e;
  uint8_t buf[1024];
  size_t len;
  sample(LKV_LEDGER_REVISION, &e, &ws);
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, lkv_ledger_entry_size(&e) - 1, &len), LKV_EMSGSIZE);
  e.kind = (lkv_ledger_kind_t)6;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  e.kind = (lkv_ledger_kind_t)0;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  e.kind = (lkv_ledger_kind_t)(LKV_LEDGER_KIND_MAX + 1);
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  /* a revision must change something */
  e.kind = LKV_LEDGER_REVISION;
  e.n_ops = 0;
  e.ops_len = 0;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  /* ops count disagreeing with the bytes */
  lkv_ledger_entry_set_ws(&e, &ws);
  e.n_ops = 2;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  e.n_ops = 4;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  /* a lease revoke only deletes */
  e.kind = LKV_LEDGER_LEASE_REVOKE;
  e.n_ops = ws.n_ops;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  /* a revoke of a lease without keys is fine */
  e.n_ops = 0;
  e.ops_len = 0;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), 0);
  assert_false(lkv_ledger_entry_is_revision(&e));
  /* a head's revision is the entry's */
  sample(LKV_LEDGER_SIGNED_TREE_HEAD, &e, &ws);
  e.sth.head.revision++;
  assert_int_equal(lkv_ledger_entry_encode(&e, buf, sizeof(buf), &len), LKV_EINVAL);
  lkv_ledger_ws_free(&ws);
}

/* Every prefix and every one-byte extension of a valid encoding is refused. */
static void test_decode_rejects_truncation_and_trailing(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  uint8_t buf[1024];
  for (int k = LKV_LEDGER_REVISION; k <= LKV_LEDGER_KIND_MAX; k++) {
    lkv_ledger_entry_t e, d;
    sample((lkv_ledger_kind_t)k, &e, &ws);
    size_t len = encode(&e, buf, sizeof(buf) - 1);
    for (size_t cut = 0; cut < len; cut++) {
      /* a revoke's ops may legally end early only at an op boundary with a matching count: never here */
      assert_int_equal(lkv_ledger_entry_decode(buf, cut, &d), LKV_ECORRUPT);
    }
    buf[len] = 0;
    assert_int_equal(lkv_ledger_entry_decode(buf, len + 1, &d), LKV_ECORRUPT);
  }
  lkv_ledger_ws_free(&ws);
}

/* Flipping any bit either is refused or yields an entry whose leaf differs: nothing changes silently. */
static void test_decode_bit_flips(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  uint8_t buf[1024];
  for (int k = LKV_LEDGER_REVISION; k <= LKV_LEDGER_KIND_MAX; k++) {
    lkv_ledger_entry_t e, d;
    lkv_merkle_hash_t want, got;
    sample((lkv_ledger_kind_t)k, &e, &ws);
    leaf_hash_of(&e, &want);
    size_t len = encode(&e, buf, sizeof(buf));
    for (size_t i = 0; i < len; i++) {
      for (int bit = 0; bit < 8; bit++) {
        buf[i] ^= (uint8_t)(1 << bit);
        if (lkv_ledger_entry_decode(buf, len, &d) == 0) {
          leaf_hash_of(&d, &got);
          assert_memory_not_equal(got.b, want.b, sizeof(got.b));
        }
        buf[i] ^= (uint8_t)(1 << bit);
      }
    }
  }
  lkv_ledger_ws_free(&ws);
}

/* Random bytes and random mutations never crash the decoder (ASan/UBSan builds check the accesses). */
static void test_decode_fuzz(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e, d;
  lkv_ledger_op_iter_t it;
  lkv_ledger_op_t op;
  uint8_t base[1024], buf[1024];
  int accepted = 0;
  srand(77);
  sample(LKV_LEDGER_REVISION, &e, &ws);
  size_t base_len = encode(&e, base, sizeof(base));
  for (int round = 0; round < 200000; round++) {
    size_t len;
    if (round % 2) {
      len = (size_t)rand() % 200;
      for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rand();
      if (len) buf[0] = (uint8_t)(1 + rand() % 5);
    } else {
      memcpy(buf, base, base_len);
      len = base_len;
      for (int m = 1 + rand() % 4; m > 0; m--) buf[(size_t)rand() % len] = (uint8_t)rand();
      if (rand() % 4 == 0) len = (size_t)rand() % (len + 1);
    }
    /* decode into an exact-size heap copy so any overread is caught */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    if (lkv_ledger_entry_decode(copy, len, &d) == 0) {
      accepted++;
      int rc;
      lkv_ledger_ops_begin(&d, &it);
      while ((rc = lkv_ledger_ops_next(&it, &op)) == 1) assert_true(op.key_len >= 1);
      assert_int_equal(rc, 0);
    }
    free(copy);
  }
  assert_true(accepted > 0); /* mutations of the sample reach the op parser, not just the header check */
  lkv_ledger_ws_free(&ws);
}

static void test_digests_and_leaf_layout(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t e;
  lkv_ledger_leaf_t leaf;
  uint8_t buf[1024], want[32], data[LKV_LEDGER_LEAF_DATA_LEN], pre[1 + LKV_LEDGER_LEAF_DATA_LEN];
  lkv_merkle_hash_t h;
  /* claims = SHA-256(u64 BE 3 ‖ "req" ‖ u64 BE 4 ‖ "resp") */
  uint8_t cl[8 + 3 + 8 + 4] = {0, 0, 0, 0, 0, 0, 0, 3,   'r', 'e', 'q', 0,
                               0, 0, 0, 0, 0, 0, 4, 'r', 'e', 's', 'p'};
  lkv_ledger_claims_digest("req", 3, "resp", 4, e.claims);
  crypto_hash_sha256(want, cl, sizeof(cl));
  assert_memory_equal(e.claims, want, 32);
  /* moving a byte from the request to the response changes the digest */
  lkv_ledger_claims_digest("re", 2, "qresp", 5, want);
  assert_memory_not_equal(e.claims, want, 32);
  for (int k = LKV_LEDGER_REVISION; k <= LKV_LEDGER_KIND_MAX; k++) {
    sample((lkv_ledger_kind_t)k, &e, &ws);
    size_t len = encode(&e, buf, sizeof(buf));
    /* write-set digest = SHA-256 of everything after the 41-byte entry header */
    lkv_ledger_entry_leaf(&e, &leaf);
    crypto_hash_sha256(want, buf + LKV_LEDGER_ENTRY_HEADER_LEN, len - LKV_LEDGER_ENTRY_HEADER_LEN);
    assert_memory_equal(leaf.ws_digest, want, 32);
    /* leaf data = kind ‖ revision ‖ ws digest ‖ claims; leaf hash = SHA-256(0x00 ‖ leaf data) */
    lkv_ledger_leaf_data(&leaf, data);
    assert_int_equal(data[0], k);
    assert_memory_equal(data + 1, buf + 1, 8);
    assert_memory_equal(data + 9, want, 32);
    assert_memory_equal(data + 41, e.claims, 32);
    pre[0] = 0;
    memcpy(pre + 1, data, sizeof(data));
    crypto_hash_sha256(want, pre, sizeof(pre));
    lkv_ledger_leaf_hash(&leaf, &h);
    assert_memory_equal(h.b, want, 32);
  }
  lkv_ledger_ws_free(&ws);
}

static void hex_equal(const uint8_t *bin, size_t len, const char *want) {
  char hex[512];
  assert_true(2 * len < sizeof(hex));
  sodium_bin2hex(hex, sizeof(hex), bin, len);
  assert_string_equal(hex, want);
}

/* The worked example of docs/ledger.md, whose values were computed from the document's definitions
 * with Python's hashlib and struct, independently of this code. */
static void test_documented_example(void **state) {
  (void)state;
  lkv_ledger_ws_t ws = {0};
  lkv_ledger_entry_t put = {.kind = LKV_LEDGER_REVISION, .revision = 2};
  lkv_ledger_entry_t compact = {.kind = LKV_LEDGER_COMPACTION, .revision = 2, .compact_revision = 1};
  lkv_ledger_leaf_t leaf;
  lkv_merkle_hash_t h1, h2, root;
  lkv_merkle_frontier_t f;
  uint8_t buf[256];
  size_t len;
  assert_int_equal(lkv_ledger_ws_put(&ws, "foo", 3, "bar", 3, 2, 1, 0), 0);
  lkv_ledger_entry_set_ws(&put, &ws);
  lkv_ledger_claims_digest("req", 3, "resp", 4, put.claims);
  hex_equal(put.claims, 32, "b8787aaafbd3bebf7d0e55cc841e8182fb7bdc75b5c09cb6918015de4aba0b59");
  assert_int_equal(lkv_ledger_entry_encode(&put, buf, sizeof(buf), &len), 0);
  hex_equal(
      buf, len,
      "010000000000000002b8787aaafbd3bebf7d0e55cc841e8182fb7bdc75b5c09cb6918015de4aba0b59000000010100000003"
      "666f6f00000000000000020000000000000001000000000000000000000003626172");
  lkv_ledger_entry_leaf(&put, &leaf);
  hex_equal(leaf.ws_digest, 32, "a9bdb99445f2c911a3fbbda7374fa15ffd82d9de896a25ddbcbec635c9fe859a");
  lkv_ledger_leaf_hash(&leaf, &h1);
  hex_equal(h1.b, 32, "06f1d1004345ede38ff8ae12e7b21b9c9c6d47dd95d78bda7c88a61b874a3a6a");
  lkv_ledger_claims_digest(NULL, 0, NULL, 0, compact.claims);
  hex_equal(compact.claims, 32, "374708fff7719dd5979ec875d56cd2286f6d3cf7ec317a3b25632aab28ec37bb");
  lkv_ledger_entry_leaf(&compact, &leaf);
  lkv_ledger_leaf_hash(&leaf, &h2);
  hex_equal(h2.b, 32, "7a6a1345d3487ab2a56115595d51b65ea274a6451c5d218303d955c39f93309e");
  lkv_merkle_frontier_init(&f);
  lkv_merkle_frontier_append(&f, &h1, NULL);
  lkv_merkle_frontier_append(&f, &h2, NULL);
  lkv_merkle_frontier_root(&f, &root);
  hex_equal(root.b, 32, "3a777a97818803286d8636ea6d0ef863d956afbcd3d6d285c4924182750ad6ed");
  lkv_ledger_ws_free(&ws);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_every_kind),
      cmocka_unit_test(test_ops_roundtrip),
      cmocka_unit_test(test_ws_builder),
      cmocka_unit_test(test_causal_event_layout),
      cmocka_unit_test(test_encode_refuses_invalid),
      cmocka_unit_test(test_decode_rejects_truncation_and_trailing),
      cmocka_unit_test(test_decode_bit_flips),
      cmocka_unit_test(test_decode_fuzz),
      cmocka_unit_test(test_digests_and_leaf_layout),
      cmocka_unit_test(test_documented_example),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  lkv_ledger_state_free(&sample_state);
  return failed;
}
