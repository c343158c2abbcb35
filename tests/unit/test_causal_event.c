/* Unit tests for the causal event codec (canonical form, signatures, tampering) and the write-set codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal/event.h"
#include "causal/mutation.h"
#include "common/error.h"

typedef struct {
  uint8_t pk[LKV_CAUSAL_PK_LEN], sk[LKV_CAUSAL_SK_LEN];
  uint8_t pk2[LKV_CAUSAL_PK_LEN], sk2[LKV_CAUSAL_SK_LEN];
} keys_t;

static int setup(void **state) {
  keys_t *k = calloc(1, sizeof(*k));
  uint8_t seed[32] = {1}, seed2[32] = {2};
  if (!k || lkv_causal_keypair_from_seed(seed, k->pk, k->sk) ||
      lkv_causal_keypair_from_seed(seed2, k->pk2, k->sk2))
    return -1;
  *state = k;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

/* An event of origin 7, seq 3, with deps {5: 2, 7: 2} and the given payload. */
static lkv_causal_event_t sample(const uint8_t *payload, size_t len) {
  lkv_causal_event_t e;
  memset(&e, 0, sizeof(e));
  e.origin = 7;
  e.seq = 3;
  e.hlc = (lkv_causal_hlc_t){.wall = 1700000000123ull, .logical = 9};
  lkv_causal_vv_init(&e.deps);
  assert_int_equal(lkv_causal_vv_set(&e.deps, 7, 2), 0);
  assert_int_equal(lkv_causal_vv_set(&e.deps, 5, 2), 0);
  e.payload = payload;
  e.payload_len = len;
  return e;
}

static void test_round_trip(void **state) {
  keys_t *k = *state;
  const uint8_t payload[] = "the write set";
  lkv_causal_event_t e = sample(payload, sizeof(payload)), d;
  uint8_t buf[512];
  size_t len = 0;
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, lkv_causal_event_size(&e));
  assert_int_equal(len, 40 + 2 * 16 + 4 + sizeof(payload) + 64);
  assert_int_equal(lkv_causal_event_decode(buf, len, &d), 0);
  assert_int_equal(d.origin, 7);
  assert_int_equal(d.seq, 3);
  assert_int_equal(d.hlc.wall, e.hlc.wall);
  assert_int_equal(d.hlc.logical, 9);
  assert_int_equal(lkv_causal_vv_compare(&d.deps, &e.deps), LKV_CAUSAL_EQUAL);
  assert_int_equal(d.payload_len, sizeof(payload));
  assert_ptr_equal(d.payload, buf + 40 + 32 + 4); /* borrowed */
  assert_memory_equal(d.sig, e.sig, LKV_CAUSAL_SIG_LEN);
  assert_int_equal(lkv_causal_event_verify(buf, len, k->pk), 0);
  /* Re-encoding the decoded event gives the same bytes (deterministic signatures, one encoding). */
  uint8_t again[512];
  size_t len2 = 0;
  assert_int_equal(lkv_causal_event_encode_signed(&d, k->sk, again, sizeof(again), &len2), 0);
  assert_int_equal(len2, len);
  assert_memory_equal(again, buf, len);
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, len - 1, &len2), LKV_EMSGSIZE);
}

static void test_tamper_refused(void **state) {
  keys_t *k = *state;
  const uint8_t payload[] = "value";
  lkv_causal_event_t e = sample(payload, sizeof(payload));
  uint8_t buf[512];
  size_t len = 0;
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, sizeof(buf), &len), 0);
  /* Every single bit flip anywhere is refused: by the decoder's form checks or by the signature. */
  for (size_t i = 0; i < len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      buf[i] ^= (uint8_t)(1u << bit);
      lkv_causal_event_t d;
      int bad = lkv_causal_event_decode(buf, len, &d) != 0 || lkv_causal_event_verify(buf, len, k->pk) != 0;
      assert_true(bad);
      buf[i] ^= (uint8_t)(1u << bit);
    }
  }
  assert_int_equal(lkv_causal_event_verify(buf, len, k->pk), 0);
  assert_int_equal(lkv_causal_event_verify(buf, len, k->pk2), LKV_EVERIFY); /* another member's key */
  assert_int_equal(lkv_causal_event_verify(buf, 10, k->pk), LKV_EBADMSG);
}

static void test_not_canonical(void **state) {
  keys_t *k = *state;
  lkv_causal_event_t e = sample(NULL, 0);
  uint8_t buf[512];
  size_t len = 0;
  e.seq = 4; /* deps[origin] must be seq - 1 */
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, sizeof(buf), &len), LKV_EINVAL);
  e.seq = 3;
  e.origin = 0;
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, sizeof(buf), &len), LKV_EINVAL);
  e = sample(NULL, 0);
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, sizeof(buf), &len), 0);
  lkv_causal_event_t d;
  /* Truncations and a trailing byte. */
  for (size_t cut = 0; cut < len; cut++) assert_int_equal(lkv_causal_event_decode(buf, cut, &d), LKV_EBADMSG);
  assert_int_equal(lkv_causal_event_decode(buf, len + 1, &d), LKV_EBADMSG);
  /* Deps out of order (swap the two entries), a zero sequence in deps: refused by form. */
  uint8_t swapped[512];
  memcpy(swapped, buf, len);
  memcpy(swapped + 40, buf + 56, 16);
  memcpy(swapped + 56, buf + 40, 16);
  assert_int_equal(lkv_causal_event_decode(swapped, len, &d), LKV_EBADMSG);
  memcpy(swapped, buf, len);
  memset(swapped + 48, 0, 8);
  assert_int_equal(lkv_causal_event_decode(swapped, len, &d), LKV_EBADMSG);
  /* A first event has no deps at all. */
  e = sample(NULL, 0);
  e.seq = 1;
  lkv_causal_vv_init(&e.deps);
  assert_int_equal(lkv_causal_event_encode_signed(&e, k->sk, buf, sizeof(buf), &len), 0);
  assert_int_equal(lkv_causal_event_decode(buf, len, &d), 0);
  assert_int_equal(d.deps.n, 0);
}

/* Encodes in[0..n) (len bytes expected), decodes it back field by field, and checks that every truncation
 * is refused. Leaves the encoding in buf. */
static void round_trip(const lkv_causal_mutation_t *in, size_t n, uint8_t *buf, size_t cap, size_t want) {
  size_t len = 0;
  assert_int_equal(lkv_causal_mutations_encode(in, n, buf, cap, &len), 0);
  assert_int_equal(len, lkv_causal_mutations_size(in, n));
  assert_int_equal(len, want);
  lkv_causal_mutation_iter_t it;
  lkv_causal_mutation_t m;
  assert_int_equal(lkv_causal_mutations_open(buf, len, &it), 0);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(lkv_causal_mutations_next(&it, &m), 1);
    assert_int_equal(m.kind, in[i].kind);
    assert_int_equal(m.key_len, in[i].key_len);
    if (m.key_len) assert_memory_equal(m.key, in[i].key, m.key_len);
    assert_int_equal(m.value_len, in[i].value_len);
    if (m.value_len) assert_memory_equal(m.value, in[i].value, m.value_len);
    assert_int_equal(m.lease, in[i].lease);
    assert_int_equal(m.ttl, in[i].ttl);
  }
  assert_int_equal(lkv_causal_mutations_next(&it, &m), 0);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(lkv_causal_mutations_open(buf, cut, &it), LKV_EBADMSG);
}

static void test_mutations(void **state) {
  (void)state;
  lkv_causal_mutation_t in[3] = {
      {.kind = LKV_CAUSAL_PUT,
       .key = (const uint8_t *)"a",
       .key_len = 1,
       .value = (const uint8_t *)"1",
       .value_len = 1},
      {.kind = LKV_CAUSAL_DEL, .key = (const uint8_t *)"bb", .key_len = 2},
      {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"c", .key_len = 1}, /* empty value */
  };
  uint8_t buf[128];
  size_t len = 4 + (1 + 4 + 1 + 4 + 1) + (1 + 4 + 2) + (1 + 4 + 1 + 4);
  round_trip(in, 3, buf, sizeof(buf), len);
  lkv_causal_mutation_iter_t it;
  assert_int_equal(lkv_causal_mutations_open(buf, len + 1, &it), LKV_EBADMSG);
  buf[4] = 9; /* a bad kind */
  assert_int_equal(lkv_causal_mutations_open(buf, len, &it), LKV_EBADMSG);
  in[1].key_len = 0;
  assert_int_equal(lkv_causal_mutations_encode(in, 3, buf, sizeof(buf), &len), LKV_EINVAL);
  in[1].key_len = 2;
  assert_int_equal(lkv_causal_mutations_encode(in, 3, buf, 10, &len), LKV_EMSGSIZE);
}

/* Leased puts, grants and revokes (docs/causal.md §5): their encodings, and the lease ids refused. */
static void test_lease_mutations(void **state) {
  (void)state;
  lkv_causal_mutation_t in[3] = {
      {.kind = LKV_CAUSAL_LEASE_GRANT, .lease = (INT64_C(3) << 48) | 9, .ttl = 60},
      {.kind = LKV_CAUSAL_PUT,
       .key = (const uint8_t *)"k",
       .key_len = 1,
       .value = (const uint8_t *)"v",
       .value_len = 1,
       .lease = (INT64_C(3) << 48) | 9},
      {.kind = LKV_CAUSAL_LEASE_REVOKE, .lease = 77},
  };
  uint8_t buf[128];
  size_t len = 4 + (1 + 8 + 8) + (1 + 4 + 1 + 4 + 1 + 8) + (1 + 8);
  round_trip(in, 3, buf, sizeof(buf), len);
  assert_int_equal(buf[4 + 17], 3); /* a put with a lease has its own kind byte on the wire */
  lkv_causal_mutation_iter_t it;
  memset(buf + 4 + 17 + 1 + 4 + 1 + 4 + 1, 0, 8); /* the leased put's lease becomes 0: not a lease */
  assert_int_equal(lkv_causal_mutations_open(buf, len, &it), LKV_EBADMSG);
  in[0].lease = 0; /* a grant needs a positive id */
  assert_int_equal(lkv_causal_mutations_encode(in, 3, buf, sizeof(buf), &len), LKV_EINVAL);
  in[0].lease = -5;
  assert_int_equal(lkv_causal_mutations_encode(in, 1, buf, sizeof(buf), &len), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_tamper_refused),
      cmocka_unit_test(test_not_canonical),   cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_lease_mutations),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
