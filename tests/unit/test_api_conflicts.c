/* Unit tests for the Conflicts service's protobuf pieces: a key's siblings (winner first, the rule's order,
 * store revisions, the context) and etcd's key ranges of WatchConflicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "api/conflicts.h"
#include "causal_testnet.h"

static ProtobufCBinaryData bytes(const char *s, size_t len) {
  return (ProtobufCBinaryData){.len = len, .data = (uint8_t *)s};
}

static int in(const char *key, const char *start, const char *end, size_t end_len) {
  ProtobufCBinaryData s = bytes(start, strlen(start)), e = bytes(end, end_len);
  return lkv__conflicts_in_range((const uint8_t *)key, strlen(key), &s, &e);
}

static void test_ranges(void **state) {
  (void)state;
  /* range_end empty: the key alone */
  assert_true(in("a", "a", "", 0));
  assert_false(in("ab", "a", "", 0));
  assert_false(in("", "a", "", 0));
  /* [start, end) */
  assert_true(in("conf/", "conf/", "conf0", 5));
  assert_true(in("conf/k", "conf/", "conf0", 5));
  assert_false(in("conf0", "conf/", "conf0", 5));
  assert_false(in("conf", "conf/", "conf0", 5));
  assert_false(in("z", "conf/", "conf0", 5));
  /* "\0": every key from start on */
  assert_true(in("zzz", "b", "\0", 1));
  assert_false(in("a", "b", "\0", 1));
}

static void test_siblings_pb(void **state) {
  (void)state;
  net_t *t = net_new(2, 100, 64);
  put(t, 0, "k", "first");
  put(t, 1, "k", "second"); /* later stamp: the winner */
  settle(t);
  const lkv_causal_key_t *k = key(t, 0, "k");
  lkv__conflicts_sibs_t s;
  lkv__conflicts_sibs(&s, t->m[0], k);
  assert_int_equal(s.n, 2);
  assert_true(s.ptrs[0]->winner && !s.ptrs[1]->winner);
  assert_int_equal(s.ptrs[0]->event->origin, 2);
  assert_memory_equal(s.ptrs[0]->value.data, "second", 6);
  assert_int_equal(s.ptrs[1]->event->origin, 1);
  assert_int_equal(s.ptrs[1]->revision, 2); /* member 1 applied its own write at core revision 1 */
  assert_int_equal(s.ptrs[0]->revision, 3);
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
  size_t n = lkv_causal_context_of_key(k, ids);
  uint8_t ctx[64];
  lkv_causal_context_encode(ids, n, ctx);
  assert_int_equal(s.ctx_len, lkv_causal_context_size(n));
  assert_memory_equal(s.ctx, ctx, s.ctx_len);
  lkv__conflicts_sibs(&s, t->m[0], NULL); /* no state: nothing, an empty context */
  assert_int_equal(s.n, 0);
  assert_int_equal(s.ctx_len, 0);
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_ranges), cmocka_unit_test(test_siblings_pb)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
