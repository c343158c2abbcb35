/* libFuzzer target for the causal mode's decoders of what other members send (src/causal/event.c, with
 * the vector and write-set codecs): whatever decodes re-encodes to the same bytes (one encoding per
 * value: the signature covers it), and the signature check refuses what the key did not sign. */
#include "causal/event.h"
#include "causal/mutation.h"
#include "fuzz.h"

static uint8_t pk[LKV_CAUSAL_PK_LEN], sk[LKV_CAUSAL_SK_LEN];

static void keys(void) {
  static int done;
  const uint8_t seed[32] = {7};
  if (!done) lkv_fuzz_require(lkv_causal_keypair_from_seed(seed, pk, sk) == 0);
  done = 1;
}

/* A write set that opens re-encodes to the same bytes. */
static void check_mutations(const uint8_t *p, size_t len) {
  lkv_causal_mutation_iter_t it;
  if (lkv_causal_mutations_open(p, len, &it)) return;
  size_t n = 0, cap = 16;
  lkv_causal_mutation_t *m = malloc(cap * sizeof(*m));
  lkv_fuzz_require(m != NULL);
  while (lkv_causal_mutations_next(&it, &m[n]))
    if (++n == cap) {
      cap *= 2;
      m = realloc(m, cap * sizeof(*m));
      lkv_fuzz_require(m != NULL);
    }
  uint8_t *out = malloc(len);
  size_t olen = 0;
  lkv_fuzz_require(out != NULL && lkv_causal_mutations_encode(m, n, out, len, &olen) == 0);
  lkv_fuzz_require(lkv_fuzz_same_bytes(out, olen, p, len));
  free(out);
  free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  keys();
  lkv_causal_vv_t v;
  size_t used = 0;
  if (lkv_causal_vv_decode(data, size, &v, &used) == 0) {
    uint8_t out[4 + 16 * LKV_CAUSAL_MAX_ORIGINS];
    lkv_fuzz_require(lkv_causal_vv_encoded_size(&v) == used);
    lkv_causal_vv_encode(&v, out);
    lkv_fuzz_require(lkv_fuzz_same_bytes(out, used, data, used));
  }
  check_mutations(data, size);
  lkv_causal_event_t e;
  if (lkv_causal_event_decode(data, size, &e) != 0) return 0;
  lkv_fuzz_require(lkv_causal_event_size(&e) == size);
  lkv_fuzz_require(e.payload >= data && e.payload + e.payload_len <= data + size);
  check_mutations(e.payload, e.payload_len);
  /* Re-encoded and signed by the fuzzer's key: the same bytes up to the signature, which then verifies;
   * the input verifies only if it carried that very signature. */
  uint8_t *out = malloc(size);
  size_t len = 0;
  lkv_fuzz_require(out != NULL && lkv_causal_event_encode_signed(&e, sk, out, size, &len) == 0);
  lkv_fuzz_require(len == size && memcmp(out, data, size - LKV_CAUSAL_SIG_LEN) == 0);
  lkv_fuzz_require(lkv_causal_event_verify(out, len, pk) == 0);
  int same_sig =
      memcmp(out + size - LKV_CAUSAL_SIG_LEN, data + size - LKV_CAUSAL_SIG_LEN, LKV_CAUSAL_SIG_LEN) == 0;
  lkv_fuzz_require((lkv_causal_event_verify(data, size, pk) == 0) == same_sig);
  free(out);
  return 0;
}

void lkv_fuzz_seeds(lkv_fuzz_add_fn add, void *arg) {
  keys();
  const lkv_causal_mutation_t muts[] = {
      {.kind = LKV_CAUSAL_PUT,
       .key = (const uint8_t *)"/a",
       .key_len = 2,
       .value = (const uint8_t *)"1",
       .value_len = 1},
      {.kind = LKV_CAUSAL_DEL, .key = (const uint8_t *)"/b", .key_len = 2},
  };
  uint8_t payload[64], out[512];
  size_t plen = 0, len = 0;
  lkv_fuzz_require(lkv_causal_mutations_encode(muts, 2, payload, sizeof(payload), &plen) == 0);
  add(arg, payload, plen);
  lkv_causal_event_t e = {.origin = 3, .seq = 2, .hlc = {.wall = 1700000000000ull, .logical = 4}};
  lkv_causal_vv_init(&e.deps);
  lkv_fuzz_require(lkv_causal_vv_set(&e.deps, 3, 1) == 0 && lkv_causal_vv_set(&e.deps, 9, 5) == 0);
  add(arg, out, 0);
  uint8_t vv[64];
  lkv_causal_vv_encode(&e.deps, vv);
  add(arg, vv, lkv_causal_vv_encoded_size(&e.deps));
  e.payload = payload;
  e.payload_len = plen;
  lkv_fuzz_require(lkv_causal_event_encode_signed(&e, sk, out, sizeof(out), &len) == 0);
  add(arg, out, len);
}
