/* Unit tests of the Raft core's in-memory log (src/raft/log.c): terms at boundaries, conflicts, slicing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "common/error.h"
#include "raft/internal.h"

static int freed;

static void count_free(void *arg, void *p) {
  (void)arg;
  if (p) freed++;
  free(p);
}

/* A log with base (base, base_term) and entries of the given terms, each with len bytes of data. */
static void build(lkv__log_t *l, uint64_t base, uint64_t base_term, const uint64_t *terms, size_t n,
                  size_t len) {
  memset(l, 0, sizeof(*l));
  l->base_index = l->stable = l->committed = l->applied = base;
  l->base_term = base_term;
  uint8_t data[64] = {0};
  for (size_t i = 0; i < n; i++) {
    data[0] = (uint8_t)i;
    lkv__log_append(l, terms[i], LKV_RAFT_ENTRY_NORMAL, data, len);
  }
}

static lkv_raft_entry_t ent(uint64_t index, uint64_t term) {
  return (lkv_raft_entry_t){.index = index, .term = term};
}

static void test_term_at_boundaries(void **state) {
  (void)state;
  lkv__log_t l;
  build(&l, 5, 2, (uint64_t[]){2, 3, 3}, 3, 4);
  uint64_t t = 99;
  assert_int_equal(lkv__log_term(&l, 4, &t), LKV_ECOMPACTED);
  assert_int_equal(lkv__log_term(&l, 5, &t), 0);
  assert_int_equal(t, 2);
  assert_int_equal(lkv__log_term(&l, 6, &t), 0);
  assert_int_equal(t, 2);
  assert_int_equal(lkv__log_term(&l, 8, &t), 0);
  assert_int_equal(t, 3);
  assert_int_equal(lkv__log_term(&l, 9, &t), LKV_ENOENT);
  assert_int_equal(lkv__log_last(&l), 8);
  assert_int_equal(lkv__log_last_term(&l), 3);
  assert_null(lkv__log_at(&l, 5));
  assert_int_equal(lkv__log_at(&l, 7)->index, 7);
  assert_true(lkv__log_match(&l, 5, 2));
  assert_false(lkv__log_match(&l, 6, 3));
  assert_false(lkv__log_match(&l, 9, 3));
  lkv__log_free(&l);

  /* An empty log: only index 0, term 0. */
  build(&l, 0, 0, NULL, 0, 0);
  assert_int_equal(lkv__log_term(&l, 0, &t), 0);
  assert_int_equal(t, 0);
  assert_int_equal(lkv__log_term(&l, 1, &t), LKV_ENOENT);
  assert_int_equal(lkv__log_last_term(&l), 0);
  lkv__log_free(&l);
}

static void test_find_conflict(void **state) {
  (void)state;
  lkv__log_t l;
  build(&l, 0, 0, (uint64_t[]){1, 1, 2, 2}, 4, 1);
  lkv_raft_entry_t all[] = {ent(2, 1), ent(3, 2), ent(4, 2)};
  assert_int_equal(lkv__log_find_conflict(&l, all, 3), 0); /* all present: nothing to truncate */
  lkv_raft_entry_t longer[] = {ent(3, 2), ent(4, 2), ent(5, 3)};
  assert_int_equal(lkv__log_find_conflict(&l, longer, 3), 5);
  lkv_raft_entry_t differ[] = {ent(2, 1), ent(3, 3), ent(4, 3)};
  assert_int_equal(lkv__log_find_conflict(&l, differ, 3), 3);
  assert_int_equal(lkv__log_find_conflict(&l, NULL, 0), 0);
  lkv__log_free(&l);

  /* Entries at or below the compaction base are committed: they never conflict. */
  build(&l, 3, 2, (uint64_t[]){2, 2}, 2, 1);
  lkv_raft_entry_t over_base[] = {ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 2), ent(6, 4)};
  assert_int_equal(lkv__log_find_conflict(&l, over_base, 5), 6);
  lkv__log_free(&l);
}

static void test_conflict_by_term(void **state) {
  (void)state;
  lkv__log_t l;
  /* indexes 1..7 with terms 1 1 2 2 2 4 4 */
  build(&l, 0, 0, (uint64_t[]){1, 1, 2, 2, 2, 4, 4}, 7, 1);
  uint64_t t;
  assert_int_equal(lkv__log_conflict_by_term(&l, 7, 3, &t), 5); /* skips the whole term-4 run */
  assert_int_equal(t, 2);
  assert_int_equal(lkv__log_conflict_by_term(&l, 7, 4, &t), 7);
  assert_int_equal(t, 4);
  assert_int_equal(lkv__log_conflict_by_term(&l, 3, 1, &t), 2);
  assert_int_equal(t, 1);
  assert_int_equal(lkv__log_conflict_by_term(&l, 50, 2, &t), 5); /* clamped to the last index */
  assert_int_equal(lkv__log_conflict_by_term(&l, 7, 0, &t), 0);
  assert_int_equal(t, 0);
  lkv__log_free(&l);

  /* Stops at the base: below it the term is unknown (0). */
  build(&l, 2, 1, (uint64_t[]){3, 3}, 2, 1);
  assert_int_equal(lkv__log_conflict_by_term(&l, 4, 2, &t), 2);
  assert_int_equal(t, 1);
  assert_int_equal(lkv__log_conflict_by_term(&l, 4, 0, &t), 1);
  assert_int_equal(t, 0);
  lkv__log_free(&l);
}

static void test_up_to_date(void **state) {
  (void)state;
  lkv__log_t l;
  build(&l, 0, 0, (uint64_t[]){1, 2, 2}, 3, 1);
  assert_true(lkv__log_up_to_date(&l, 3, 2));
  assert_true(lkv__log_up_to_date(&l, 4, 2));
  assert_false(lkv__log_up_to_date(&l, 2, 2));
  assert_true(lkv__log_up_to_date(&l, 1, 3)); /* a later last term wins whatever the length */
  assert_false(lkv__log_up_to_date(&l, 9, 1));
  lkv__log_free(&l);
}

static void test_slice_by_bytes(void **state) {
  (void)state;
  lkv__log_t l;
  build(&l, 0, 0, (uint64_t[]){1, 1, 1, 1}, 4, 10);
  size_t bytes;
  assert_int_equal(lkv__log_slice(&l, 1, 25, &bytes), 2);
  assert_int_equal(bytes, 20);
  assert_int_equal(lkv__log_slice(&l, 1, 30, &bytes), 3);
  assert_int_equal(bytes, 30);
  assert_int_equal(lkv__log_slice(&l, 2, 5, &bytes), 1); /* at least one entry, even over the limit */
  assert_int_equal(bytes, 10);
  assert_int_equal(lkv__log_slice(&l, 1, 0, &bytes), 4); /* 0: no limit */
  assert_int_equal(lkv__log_slice(&l, 4, 100, &bytes), 1);
  assert_int_equal(lkv__log_slice(&l, 5, 100, &bytes), 0);
  assert_int_equal(bytes, 0);
  lkv__log_free(&l);
  build(&l, 2, 1, (uint64_t[]){1}, 1, 10);
  assert_int_equal(lkv__log_slice(&l, 2, 100, &bytes), 0); /* compacted */
  assert_int_equal(lkv__log_slice(&l, 3, 100, &bytes), 1);
  lkv__log_free(&l);
}

static void test_truncate_append_compact(void **state) {
  (void)state;
  lkv__log_t l;
  build(&l, 0, 0, (uint64_t[]){1, 1, 2, 2, 2}, 5, 3);
  l.stable = 5;
  freed = 0;
  lkv__log_truncate(&l, 4, count_free, NULL);
  assert_int_equal(freed, 2);
  assert_int_equal(lkv__log_last(&l), 3);
  assert_int_equal(l.stable, 3); /* the dropped entries are no longer the durable ones */
  lkv__log_truncate(&l, 9, count_free, NULL);
  assert_int_equal(lkv__log_last(&l), 3);
  lkv__log_append(&l, 3, LKV_RAFT_ENTRY_CONF_CHANGE, (const uint8_t *)"xyz", 3);
  const lkv_raft_entry_t *e = lkv__log_at(&l, 4);
  assert_int_equal(e->term, 3);
  assert_int_equal(e->type, LKV_RAFT_ENTRY_CONF_CHANGE);
  assert_memory_equal(e->data, "xyz", 3);

  freed = 0;
  lkv__log_compact(&l, 2, count_free, NULL);
  assert_int_equal(freed, 2);
  assert_int_equal(l.base_index, 2);
  assert_int_equal(l.base_term, 1);
  assert_int_equal(lkv__log_last(&l), 4);
  assert_int_equal(lkv__log_at(&l, 3)->term, 2);
  assert_int_equal(lkv__log_at(&l, 4)->term, 3);
  uint64_t t;
  assert_int_equal(lkv__log_term(&l, 1, &t), LKV_ECOMPACTED);

  freed = 0;
  lkv__log_reset(&l, 10, 4, count_free, NULL);
  assert_int_equal(freed, 2);
  assert_int_equal(lkv__log_last(&l), 10);
  assert_int_equal(lkv__log_last_term(&l), 4);
  assert_int_equal(l.committed, 10);
  assert_int_equal(l.applied, 10);
  assert_int_equal(l.stable, 10);
  lkv__log_free(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_term_at_boundaries), cmocka_unit_test(test_find_conflict),
      cmocka_unit_test(test_conflict_by_term),   cmocka_unit_test(test_up_to_date),
      cmocka_unit_test(test_slice_by_bytes),     cmocka_unit_test(test_truncate_append_compact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
