/* The corruption checks' peer messages (server/peer_hash.h): every answer survives the trip, and anything
 * else a peer could send is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "server/peer_hash.h"

static void test_ask(void **state) {
  (void)state;
  uint8_t m[LKV__PEER_HASH_ASK_LEN];
  lkv__peer_hash_ask_encode(0x0102030405060708u, -1, 1, m);
  uint64_t id;
  int64_t rev;
  int heads;
  assert_int_equal(lkv__peer_hash_ask_decode(m, sizeof(m), &id, &rev, &heads), 0);
  assert_true(id == 0x0102030405060708u && rev == -1 && heads == 1);
  lkv__peer_hash_ask_encode(7, 123456789012345, 0, m);
  assert_int_equal(lkv__peer_hash_ask_decode(m, sizeof(m), &id, &rev, &heads), 0);
  assert_true(id == 7 && rev == 123456789012345 && heads == 0);
  assert_int_equal(lkv__peer_hash_ask_decode(m, sizeof(m) - 1, &id, &rev, &heads), LKV_EINVAL);
  m[17] = 2; /* heads is a flag */
  assert_int_equal(lkv__peer_hash_ask_decode(m, sizeof(m), &id, &rev, &heads), LKV_EINVAL);
  m[17] = 0;
  m[0] = 2; /* an answer's kind */
  assert_int_equal(lkv__peer_hash_ask_decode(m, sizeof(m), &id, &rev, &heads), LKV_EINVAL);
}

static void test_answers(void **state) {
  (void)state;
  lkv__peer_hash_t a = {
      .err = 0, .hash = 0xdeadbeef, .revision = 42, .compact_revision = 17, .has_head = 1, .tree_size = 99};
  memset(a.root.b, 0x5c, sizeof(a.root.b));
  uint8_t m[LKV__PEER_HASH_ANSWER_LEN];
  lkv__peer_hash_answer_encode(3, &a, m);
  uint64_t id;
  lkv__peer_hash_t b;
  assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m), &id, &b), 0);
  assert_true(id == 3 && b.err == 0 && b.hash == a.hash && b.revision == 42 && b.compact_revision == 17 &&
              b.has_head == 1 && b.tree_size == 99 && memcmp(b.root.b, a.root.b, sizeof(a.root.b)) == 0);
  a.has_head = 0;
  lkv__peer_hash_answer_encode(4, &a, m);
  assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m), &id, &b), 0);
  assert_true(id == 4 && b.has_head == 0 && b.tree_size == 0 && b.hash == a.hash);
  /* The refusals the checks tell apart travel as such; any other failure is "did not answer". */
  const int errs[][2] = {{LKV_EFUTUREREV, LKV_EFUTUREREV},
                         {LKV_ECOMPACTED, LKV_ECOMPACTED},
                         {LKV_ENOMEM, LKV_EIO},
                         {LKV_EIO, LKV_EIO}};
  for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
    a.err = errs[i][0];
    lkv__peer_hash_answer_encode(5, &a, m);
    assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m), &id, &b), 0);
    assert_int_equal(b.err, errs[i][1]);
    assert_int_equal(b.hash, 0); /* nothing else is sent with a refusal */
  }
  assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m) - 1, &id, &b), LKV_EINVAL);
  m[9] = 4; /* no such result */
  assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m), &id, &b), LKV_EINVAL);
  m[9] = 0;
  m[30] = 2; /* has head is a flag */
  assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m), &id, &b), LKV_EINVAL);
  m[30] = 0;
  m[0] = 1; /* a question's kind */
  assert_int_equal(lkv__peer_hash_answer_decode(m, sizeof(m), &id, &b), LKV_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_ask), cmocka_unit_test(test_answers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
