/* Tests for the Ledger service's protobuf answers as ledger types (bench/receipt_pb.h): a signed receipt
 * survives packing, unpacking and conversion and still verifies; malformed answers are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "bench/receipt_pb.h"
#include "common/error.h"

typedef struct {
  char dir[64];
  lkv_ledger_receipt_t want; /* leaf 1 of a two-leaf tree, signed */
  uint8_t key[LKV_LEDGER_KEY_LEN];
  /* The message built from want (its bytes point into want). */
  ProtobufCBinaryData proof[1];
  Ledgerkvpb__SignedTreeHead head;
  Ledgerkvpb__ReceiptResponse resp;
} fixture_t;

static void make_leaf(lkv_ledger_leaf_t *leaf, int64_t revision) {
  memset(leaf, 0, sizeof(*leaf));
  leaf->kind = LKV_LEDGER_REVISION;
  leaf->revision = revision;
  memset(leaf->ws_digest, (int)revision, sizeof(leaf->ws_digest));
  memset(leaf->claims, 0x40 + (int)revision, sizeof(leaf->claims));
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  strcpy(f->dir, "/tmp/lkv-receipt-pb-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  lkv_ledger_signer_t *signer;
  assert_int_equal(lkv_ledger_signer_open(&signer, f->dir, LKV_LEDGER_SIGNER_CREATE, NULL), 0);
  memcpy(f->key, lkv_ledger_signer_public_key(signer), LKV_LEDGER_KEY_LEN);

  lkv_ledger_leaf_t first;
  lkv_merkle_hash_t h0, h1;
  make_leaf(&first, 2);
  make_leaf(&f->want.leaf, 3);
  lkv_ledger_leaf_hash(&first, &h0);
  lkv_ledger_leaf_hash(&f->want.leaf, &h1);
  f->want.leaf_index = 1;
  f->want.proof.n = 1;
  f->want.proof.h[0] = h0;
  lkv_ledger_sth_t sth = {.tree_size = 2, .revision = 3, .timestamp_ms = 1795786588265ull};
  lkv_merkle_node_hash(&h0, &h1, &sth.root);
  assert_int_equal(lkv_ledger_signer_sign(signer, &sth, &f->want.sth), 0);
  lkv_ledger_signer_close(signer);
  assert_int_equal(lkv_ledger_receipt_verify(&f->want, f->key), 0);

  lkv_ledger_receipt_t *w = &f->want;
  ledgerkvpb__signed_tree_head__init(&f->head);
  f->head.tree_size = w->sth.head.tree_size;
  f->head.root = (ProtobufCBinaryData){LKV_MERKLE_HASH_LEN, w->sth.head.root.b};
  f->head.revision = w->sth.head.revision;
  f->head.timestamp_ms = w->sth.head.timestamp_ms;
  f->head.public_key = (ProtobufCBinaryData){LKV_LEDGER_KEY_LEN, w->sth.public_key};
  f->head.signature = (ProtobufCBinaryData){LKV_LEDGER_SIG_LEN, w->sth.signature};
  f->proof[0] = (ProtobufCBinaryData){LKV_MERKLE_HASH_LEN, w->proof.h[0].b};
  ledgerkvpb__receipt_response__init(&f->resp);
  f->resp.kind = (uint32_t)w->leaf.kind;
  f->resp.revision = w->leaf.revision;
  f->resp.write_set_digest = (ProtobufCBinaryData){LKV_LEDGER_DIGEST_LEN, w->leaf.ws_digest};
  f->resp.claims_digest = (ProtobufCBinaryData){LKV_LEDGER_DIGEST_LEN, w->leaf.claims};
  f->resp.leaf_index = w->leaf_index;
  f->resp.n_proof = 1;
  f->resp.proof = f->proof;
  f->resp.head = &f->head;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

/* Through the wire format and back: every field arrives, and the receipt verifies with the node's key. */
static void test_round_trip_verifies(void **state) {
  fixture_t *f = *state;
  uint8_t buf[1024];
  size_t n = protobuf_c_message_pack(&f->resp.base, buf);
  Ledgerkvpb__ReceiptResponse *m = ledgerkvpb__receipt_response__unpack(NULL, n, buf);
  assert_non_null(m);
  lkv_ledger_receipt_t got;
  assert_int_equal(lkv_bench_receipt_from_pb(m, &got), 0);
  ledgerkvpb__receipt_response__free_unpacked(m, NULL);
  assert_int_equal(got.leaf.kind, f->want.leaf.kind);
  assert_int_equal(got.leaf.revision, 3);
  assert_memory_equal(got.leaf.ws_digest, f->want.leaf.ws_digest, LKV_LEDGER_DIGEST_LEN);
  assert_memory_equal(got.leaf.claims, f->want.leaf.claims, LKV_LEDGER_DIGEST_LEN);
  assert_int_equal(got.leaf_index, 1);
  assert_int_equal(got.proof.n, 1);
  assert_memory_equal(got.proof.h[0].b, f->want.proof.h[0].b, LKV_MERKLE_HASH_LEN);
  assert_int_equal(got.sth.head.tree_size, 2);
  assert_int_equal(got.sth.head.revision, 3);
  assert_int_equal(got.sth.head.timestamp_ms, 1795786588265ull);
  assert_memory_equal(got.sth.head.root.b, f->want.sth.head.root.b, LKV_MERKLE_HASH_LEN);
  assert_memory_equal(got.sth.signature, f->want.sth.signature, LKV_LEDGER_SIG_LEN);
  assert_int_equal(lkv_ledger_receipt_verify(&got, f->key), 0);
  /* The conversion only copies: a changed component is caught by the verification, not here. */
  f->resp.revision = 4;
  assert_int_equal(lkv_bench_receipt_from_pb(&f->resp, &got), 0);
  assert_int_equal(lkv_ledger_receipt_verify(&got, f->key), LKV_EVERIFY);
}

static void test_head_alone(void **state) {
  fixture_t *f = *state;
  lkv_ledger_signed_head_t h;
  assert_int_equal(lkv_bench_head_from_pb(&f->head, &h), 0);
  assert_memory_equal(h.public_key, f->key, LKV_LEDGER_KEY_LEN);
  assert_int_equal(lkv_ledger_sth_verify(&h, f->key), 0);
  assert_int_equal(lkv_bench_head_from_pb(NULL, &h), LKV_EINVAL);
}

/* Each field of the wrong length, a missing head or too long a proof is refused. */
static void test_malformed(void **state) {
  fixture_t *f = *state;
  lkv_ledger_receipt_t got;
  ProtobufCBinaryData *fields[] = {
      &f->resp.write_set_digest, &f->resp.claims_digest, &f->proof[0], &f->head.root,
      &f->head.public_key,       &f->head.signature};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    fields[i]->len--;
    assert_int_equal(lkv_bench_receipt_from_pb(&f->resp, &got), LKV_EINVAL);
    fields[i]->len++;
  }
  assert_int_equal(lkv_bench_receipt_from_pb(&f->resp, &got), 0);
  f->resp.head = NULL;
  assert_int_equal(lkv_bench_receipt_from_pb(&f->resp, &got), LKV_EINVAL);
  f->resp.head = &f->head;
  ProtobufCBinaryData many[LKV_MERKLE_PROOF_MAX + 1];
  for (size_t i = 0; i <= LKV_MERKLE_PROOF_MAX; i++) many[i] = f->proof[0];
  f->resp.proof = many;
  f->resp.n_proof = LKV_MERKLE_PROOF_MAX + 1;
  assert_int_equal(lkv_bench_receipt_from_pb(&f->resp, &got), LKV_EINVAL);
  lkv_merkle_proof_t p;
  assert_int_equal(lkv_bench_proof_from_pb(many, LKV_MERKLE_PROOF_MAX, &p), 0);
  assert_int_equal(p.n, LKV_MERKLE_PROOF_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_verifies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_head_alone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
