/* Unit tests for the conflicts service's core pieces: the context codec, a resolve that supersedes exactly
 * the siblings its context names (on every member, and after replay), its refusals, the reported vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal_testnet.h"
#include "common/error.h"

static void test_context_codec(void **state) {
  (void)state;
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX] = {{1, 5}, {3, 1}, {UINT64_MAX, UINT64_MAX}}, got[40];
  uint8_t buf[1 + 16 * LKV_CAUSAL_CONTEXT_MAX + 16];
  size_t n = 99;
  assert_int_equal(lkv_causal_context_size(0), 0);
  assert_int_equal(lkv_causal_context_decode(buf, 0, got, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(lkv_causal_context_size(3), 49);
  lkv_causal_context_encode(ids, 3, buf);
  assert_int_equal(buf[0], 1);
  assert_int_equal(buf[1], 1); /* origin 1, little-endian */
  assert_int_equal(lkv_causal_context_decode(buf, 49, got, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(got, ids, 3 * sizeof(ids[0]));
  /* refused: truncated, version byte alone, another version, origins not increasing, zero seq, too many */
  assert_int_equal(lkv_causal_context_decode(buf, 48, got, &n), LKV_EBADMSG);
  assert_int_equal(lkv_causal_context_decode(buf, 1, got, &n), LKV_EBADMSG);
  buf[0] = 2;
  assert_int_equal(lkv_causal_context_decode(buf, 49, got, &n), LKV_EBADMSG);
  lkv_causal_event_id_t bad[2][2] = {{{3, 1}, {3, 2}}, {{1, 0}, {2, 1}}};
  for (int i = 0; i < 2; i++) {
    lkv_causal_context_encode(bad[i], 2, buf);
    assert_int_equal(lkv_causal_context_decode(buf, 33, got, &n), LKV_EBADMSG);
  }
  for (size_t i = 0; i < LKV_CAUSAL_CONTEXT_MAX; i++) ids[i] = (lkv_causal_event_id_t){i + 1, 1};
  lkv_causal_context_encode(ids, LKV_CAUSAL_CONTEXT_MAX, buf);
  size_t full = lkv_causal_context_size(LKV_CAUSAL_CONTEXT_MAX);
  assert_int_equal(lkv_causal_context_decode(buf, full, got, &n), 0);
  assert_int_equal(n, LKV_CAUSAL_CONTEXT_MAX);
  memset(buf + full, 0x7f, 16); /* a 33rd entry */
  assert_int_equal(lkv_causal_context_decode(buf, full + 16, got, &n), LKV_EBADMSG);
}

/* k written concurrently on members 1 and 2 (indexes 0, 1), known everywhere: two siblings. */
static net_t *conflict(void) {
  net_t *t = net_new(3, 100, 64);
  put(t, 0, "k", "a");
  put(t, 1, "k", "b");
  settle(t);
  for (size_t i = 0; i < 3; i++) assert_int_equal(key(t, i, "k")->n, 2);
  return t;
}

static int resolve(net_t *t, size_t i, const lkv_causal_event_id_t *named, size_t n, const char *v) {
  lkv_causal_mutation_t mu = {.kind = v ? LKV_CAUSAL_PUT : LKV_CAUSAL_DEL,
                              .key = (const uint8_t *)"k",
                              .key_len = 1,
                              .value = (const uint8_t *)v,
                              .value_len = v ? strlen(v) : 0};
  uint64_t rev = 0;
  int rc = lkv_causal_member_resolve(t->m[i], t->now++, &mu, named, n, 5, &rev);
  if (rc == 0) assert_int_equal(flush(t, i), rev);
  return rc;
}

/* The context of k on member i. */
static size_t context(net_t *t, size_t i, lkv_causal_event_id_t *ids) {
  return lkv_causal_context_of_key(key(t, i, "k"), ids);
}

static void test_context_of_key_sorted(void **state) {
  (void)state;
  net_t *t = conflict();
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(context(t, i, ids), 2);
    assert_true(ids[0].origin == 1 && ids[0].seq == 1 && ids[1].origin == 2 && ids[1].seq == 1);
  }
  assert_int_equal(lkv_causal_context_of_key(NULL, ids), 0);
  net_free(t);
}

static void test_resolve_full_context(void **state) {
  (void)state;
  net_t *t = conflict();
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
  size_t n = context(t, 2, ids);
  assert_int_equal(resolve(t, 2, ids, n, "r"), 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(key(t, i, "k")->n, 1);
    assert_string_equal(value(t, i, "k"), "r");
  }
  /* A replayed member rebuilds the same state from its log. */
  lkv_causal_member_t *again = replayed(t, 0);
  const lkv_causal_key_t *k = lkv_causal_member_key(again, (const uint8_t *)"k", 1);
  assert_int_equal(k->n, 1);
  assert_int_equal(k->sib[0].origin, 3);
  lkv_causal_member_free(again);
  net_free(t);
}

static void test_resolve_spares_unnamed(void **state) {
  (void)state;
  net_t *t = conflict();
  lkv_causal_event_id_t only_first = {1, 1};
  assert_int_equal(resolve(t, 2, &only_first, 1, "r"), 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
    assert_int_equal(context(t, i, ids), 2); /* member 2's write stays, beside the resolve */
    assert_true(ids[0].origin == 2 && ids[0].seq == 1 && ids[1].origin == 3 && ids[1].seq == 1);
    assert_string_equal(value(t, i, "k"), "r"); /* the latest stamp wins */
  }
  /* A delete with the fresh context resolves the rest: one tombstone left everywhere. */
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX];
  size_t n = context(t, 0, ids);
  assert_int_equal(resolve(t, 0, ids, n, NULL), 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_true(lkv_causal_key_sole_tombstone(key(t, i, "k")));
    assert_string_equal(value(t, i, "k"), "");
  }
  net_free(t);
}

static void test_resolve_refusals(void **state) {
  (void)state;
  net_t *t = conflict();
  uint64_t rev = lkv_causal_member_revision(t->m[0]);
  lkv_causal_event_id_t unknown = {2, 9}, none[1];
  /* a write this member has not applied; then the member's own sibling left out */
  assert_int_equal(resolve(t, 0, &unknown, 1, "r"), LKV_ENOENT);
  assert_int_equal(resolve(t, 0, none, 0, "r"), LKV_EEXIST);
  lkv_causal_mutation_t empty = {.kind = LKV_CAUSAL_PUT, .key = (const uint8_t *)"", .key_len = 0};
  uint64_t r;
  assert_int_equal(lkv_causal_member_resolve(t->m[0], t->now, &empty, none, 0, 5, &r), LKV_EINVAL);
  assert_int_equal(lkv_causal_member_revision(t->m[0]), rev); /* nothing applied */
  assert_int_equal(key(t, 0, "k")->n, 2);
  /* member 3 wrote no sibling: an empty context spares both (a third sibling) */
  assert_int_equal(resolve(t, 2, none, 0, "r"), 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) assert_int_equal(key(t, i, "k")->n, 3);
  net_free(t);
}

/* A tombstone is not spared: member 2 deletes k (a tombstone everywhere), purges it once 1 and 3 reported
 * having it, and 3, which has not purged it yet, resolves k naming nothing: the resolve supersedes the
 * tombstone, so every member ends with the resolve alone (sparing it left 1 and 3 with both, 2 with one). */
static void test_resolve_supersedes_tombstones(void **state) {
  (void)state;
  net_t *t = conflict();
  lkv_causal_event_id_t ids[LKV_CAUSAL_CONTEXT_MAX], none[1];
  assert_int_equal(resolve(t, 1, ids, context(t, 1, ids), NULL), 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) assert_true(lkv_causal_key_sole_tombstone(key(t, i, "k")));
  for (size_t i = 0; i < 3; i += 2) { /* 1 and 3 report to 2 only */
    assert_int_equal(lkv_causal_member_tick(t->m[i]), 0);
    flush(t, i);
  }
  for (size_t k = 0; k < t->nq;)
    if (t->q[k].to == 2)
      assert_int_equal(deliver(t, k), 0);
    else
      drop(t, k);
  assert_int_equal(lkv_causal_member_tick(t->m[1]), 0); /* stable there: purged */
  flush(t, 1);
  drop_all(t);
  assert_null(key(t, 1, "k"));
  assert_non_null(key(t, 2, "k"));
  assert_int_equal(resolve(t, 2, none, 0, "r"), 0);
  settle(t);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(key(t, i, "k")->n, 1);
    assert_string_equal(value(t, i, "k"), "r");
  }
  net_free(t);
}

static void test_reports(void **state) {
  (void)state;
  net_t *t = conflict();
  assert_null(lkv_causal_member_report(t->m[0], 9));
  assert_ptr_equal(lkv_causal_member_report(t->m[0], 1), lkv_causal_member_vv(t->m[0]));
  assert_false(lkv_causal_vv_covers(lkv_causal_member_report(t->m[0], 2), 1, 1)); /* not heard yet */
  assert_int_equal(lkv_causal_member_tick(t->m[1]), 0);
  flush(t, 1);
  settle(t);
  const lkv_causal_vv_t *heard = lkv_causal_member_report(t->m[0], 2);
  assert_true(lkv_causal_vv_covers(heard, 1, 1) && lkv_causal_vv_covers(heard, 2, 1));
  assert_false(lkv_causal_vv_covers(lkv_causal_member_report(t->m[0], 3), 1, 1)); /* 3 did not tick */
  net_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_context_codec),
      cmocka_unit_test(test_context_of_key_sorted),
      cmocka_unit_test(test_resolve_full_context),
      cmocka_unit_test(test_resolve_spares_unnamed),
      cmocka_unit_test(test_resolve_refusals),
      cmocka_unit_test(test_resolve_supersedes_tombstones),
      cmocka_unit_test(test_reports),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
