/* Unit tests for a key's siblings: superseding by deps, the winner rule, order independence, purging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "causal/key.h"
#include "common/error.h"

/* A write (origin, seq) at stamp (wall, logical) that saw deps (pairs, 0-terminated). */
typedef struct {
  uint64_t origin, seq, wall;
  uint32_t logical;
  int tomb;
  uint64_t deps[4][2];
} spec_t;

static lkv_causal_write_t write_of(const spec_t *s, lkv_causal_vv_t *deps, uint64_t rev) {
  lkv_causal_vv_init(deps);
  for (int i = 0; i < 4 && s->deps[i][0]; i++)
    assert_int_equal(lkv_causal_vv_set(deps, s->deps[i][0], s->deps[i][1]), 0);
  static const uint8_t val[] = "v";
  return (lkv_causal_write_t){.origin = s->origin,
                              .seq = s->seq,
                              .hlc = {.wall = s->wall, .logical = s->logical},
                              .deps = deps,
                              .tombstone = s->tomb,
                              .value = s->tomb ? NULL : val,
                              .value_len = s->tomb ? 0 : 1,
                              .rev = rev};
}

static void apply_spec(lkv_causal_key_t *k, const spec_t *s, uint64_t rev) {
  lkv_causal_vv_t deps;
  lkv_causal_write_t w = write_of(s, &deps, rev);
  assert_int_equal(lkv_causal_key_apply(k, &w), 0);
}

/* The siblings as a bit set of indexes into specs. */
static unsigned sibling_set(const lkv_causal_key_t *k, const spec_t *specs, size_t n) {
  unsigned set = 0;
  for (size_t i = 0; i < k->n; i++)
    for (size_t j = 0; j < n; j++)
      if (k->sib[i].origin == specs[j].origin && k->sib[i].seq == specs[j].seq) set |= 1u << j;
  return set;
}

static void test_concurrent_then_supersede(void **state) {
  (void)state;
  lkv_causal_key_t k;
  assert_int_equal(lkv_causal_key_init(&k, (const uint8_t *)"k", 1), 0);
  const spec_t s[] = {
      {.origin = 1, .seq = 1, .wall = 10},                           /* A puts */
      {.origin = 2, .seq = 1, .wall = 12},                           /* B puts, not having seen A */
      {.origin = 1, .seq = 2, .wall = 20, .deps = {{1, 1}, {2, 1}}}, /* A puts after seeing both */
  };
  apply_spec(&k, &s[0], 1);
  assert_int_equal(k.create_rev, 1);
  assert_int_equal(k.mod_rev, 1);
  assert_int_equal(k.version, 1);
  apply_spec(&k, &s[1], 2);
  assert_int_equal(k.n, 2); /* siblings */
  assert_int_equal(lkv_causal_key_winner(&k)->origin, 2);
  assert_int_equal(k.mod_rev, 2);
  assert_int_equal(k.version, 2);
  apply_spec(&k, &s[2], 3);
  assert_int_equal(k.n, 1); /* a write that saw both supersedes both */
  assert_int_equal(sibling_set(&k, s, 3), 4u);
  assert_int_equal(k.create_rev, 1);
  assert_int_equal(k.mod_rev, 3);
  lkv_causal_key_free(&k);
}

static void test_winner_rule(void **state) {
  (void)state;
  lkv_causal_sibling_t a = {.origin = 1, .seq = 5, .hlc = {10, 0}};
  lkv_causal_sibling_t b = {.origin = 2, .seq = 1, .hlc = {10, 0}};
  lkv_causal_sibling_t c = {.origin = 1, .seq = 6, .hlc = {10, 0}};
  lkv_causal_sibling_t d = {.origin = 1, .seq = 1, .hlc = {10, 1}};
  assert_true(lkv_causal_sibling_cmp(&b, &a) > 0); /* same stamp: greater origin */
  assert_true(lkv_causal_sibling_cmp(&c, &a) > 0); /* same stamp and origin: greater seq */
  assert_true(lkv_causal_sibling_cmp(&d, &b) > 0); /* the stamp first */
  assert_int_equal(lkv_causal_sibling_cmp(&a, &a), 0);
}

static void test_tombstone_view_and_purge(void **state) {
  (void)state;
  lkv_causal_key_t k;
  assert_int_equal(lkv_causal_key_init(&k, (const uint8_t *)"k", 1), 0);
  const spec_t s[] = {
      {.origin = 1, .seq = 1, .wall = 10},
      {.origin = 2, .seq = 1, .wall = 30, .tomb = 1}, /* a concurrent delete with a later stamp wins */
      {.origin = 1, .seq = 2, .wall = 40, .tomb = 1, .deps = {{1, 1}, {2, 1}}},
  };
  apply_spec(&k, &s[0], 1);
  apply_spec(&k, &s[1], 2);
  assert_int_equal(k.n, 2);
  assert_true(lkv_causal_key_winner(&k)->tombstone);
  assert_int_equal(k.create_rev, 0);
  assert_int_equal(k.version, 0);
  assert_false(lkv_causal_key_sole_tombstone(&k));
  assert_int_equal(lkv_causal_key_purge(&k), LKV_EINVAL);
  apply_spec(&k, &s[2], 3);
  assert_true(lkv_causal_key_sole_tombstone(&k));
  assert_int_equal(lkv_causal_key_purge(&k), 0);
  assert_int_equal(k.n, 0);
  assert_null(lkv_causal_key_winner(&k));
  /* A new put after the purge makes the key live again from its revision. */
  const spec_t again = {.origin = 2, .seq = 2, .wall = 50, .deps = {{1, 2}, {2, 1}}};
  apply_spec(&k, &again, 4);
  assert_int_equal(k.create_rev, 4);
  assert_int_equal(k.version, 1);
  lkv_causal_key_free(&k);
}

/* Every causal order of these writes gives the same siblings and winner. */
static const spec_t dag[] = {
    {.origin = 1, .seq = 1, .wall = 10},
    {.origin = 2, .seq = 1, .wall = 10},                           /* tie with the first: origin */
    {.origin = 1, .seq = 2, .wall = 11, .deps = {{1, 1}}},         /* supersedes 0 */
    {.origin = 3, .seq = 1, .wall = 9, .tomb = 1},                 /* concurrent with all */
    {.origin = 2, .seq = 2, .wall = 15, .deps = {{1, 1}, {2, 1}}}, /* supersedes 0 and 1 */
    {.origin = 3, .seq = 2, .wall = 12, .deps = {{1, 2}, {3, 1}}}, /* supersedes 0, 2, 3 */
};
#define DAG_N (sizeof(dag) / sizeof(dag[0]))

static int ready(const spec_t *s, unsigned applied) {
  if (s->seq > 1) {
    size_t prev = DAG_N;
    for (size_t j = 0; j < DAG_N; j++)
      if (dag[j].origin == s->origin && dag[j].seq == s->seq - 1) prev = j;
    if (!(applied & (1u << prev))) return 0;
  }
  for (int d = 0; d < 4 && s->deps[d][0]; d++)
    for (size_t j = 0; j < DAG_N; j++)
      if (dag[j].origin == s->deps[d][0] && dag[j].seq <= s->deps[d][1] && !(applied & (1u << j))) return 0;
  return 1;
}

static void orders(size_t *seq, size_t depth, unsigned applied, unsigned *want_set, uint64_t *want_win,
                   int *count) {
  if (depth == DAG_N) {
    lkv_causal_key_t k;
    assert_int_equal(lkv_causal_key_init(&k, (const uint8_t *)"k", 1), 0);
    for (size_t i = 0; i < DAG_N; i++) apply_spec(&k, &dag[seq[i]], i + 1);
    unsigned set = sibling_set(&k, dag, DAG_N);
    const lkv_causal_sibling_t *w = lkv_causal_key_winner(&k);
    uint64_t win = w->origin * 100 + w->seq;
    if (*count == 0) {
      *want_set = set;
      *want_win = win;
    }
    assert_int_equal(set, *want_set);
    assert_int_equal(win, *want_win);
    (*count)++;
    lkv_causal_key_free(&k);
    return;
  }
  for (size_t i = 0; i < DAG_N; i++) {
    if ((applied & (1u << i)) || !ready(&dag[i], applied)) continue;
    seq[depth] = i;
    orders(seq, depth + 1, applied | (1u << i), want_set, want_win, count);
  }
}

static void test_any_causal_order_same_state(void **state) {
  (void)state;
  size_t seq[DAG_N];
  unsigned want_set = 0;
  uint64_t want_win = 0;
  int count = 0;
  orders(seq, 0, 0, &want_set, &want_win, &count);
  assert_true(count > 20);                           /* many orders were tried */
  assert_int_equal(want_set, (1u << 4) | (1u << 5)); /* 2:2 and 3:2 remain, concurrent */
  assert_int_equal(want_win, 202);                   /* stamp 15 beats 12 */
}

static void test_same_event_twice_replaces(void **state) {
  (void)state;
  lkv_causal_key_t k;
  assert_int_equal(lkv_causal_key_init(&k, (const uint8_t *)"k", 1), 0);
  const spec_t s = {.origin = 1, .seq = 1, .wall = 10};
  apply_spec(&k, &s, 1);
  apply_spec(&k, &s, 1);
  assert_int_equal(k.n, 1);
  assert_int_equal(k.version, 1);
  lkv_causal_key_free(&k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_concurrent_then_supersede), cmocka_unit_test(test_winner_rule),
      cmocka_unit_test(test_tombstone_view_and_purge),  cmocka_unit_test(test_any_causal_order_same_state),
      cmocka_unit_test(test_same_event_twice_replaces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
