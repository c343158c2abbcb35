/* Unit tests for the intrusive min-heap (src/lease/heap.h): order, removal from anywhere, re-keying,
 * checked against a plain array model under random operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "lease/heap.h"

typedef struct item_s {
  int64_t key;
  int id;
  lkv_heap_node_t node;
} item_t;

#define ITEM(n) ((item_t *)((char *)(n)-offsetof(item_t, node)))

static int item_less(const lkv_heap_node_t *a, const lkv_heap_node_t *b) {
  const item_t *x = ITEM(a), *y = ITEM(b);
  return x->key != y->key ? x->key < y->key : x->id < y->id;
}

static void test_basic(void **state) {
  (void)state;
  lkv_heap_t h;
  lkv_heap_init(&h, item_less);
  assert_null(lkv_heap_min(&h));
  assert_null(lkv_heap_pop(&h));
  item_t it[5] = {{50, 0, {0}}, {10, 1, {0}}, {40, 2, {0}}, {30, 3, {0}}, {20, 4, {0}}};
  for (int i = 0; i < 5; i++) {
    lkv_heap_node_init(&it[i].node);
    assert_false(lkv_heap_contains(&it[i].node));
    assert_int_equal(lkv_heap_insert(&h, &it[i].node), 0);
  }
  assert_int_equal(lkv_heap_size(&h), 5);
  assert_ptr_equal(lkv_heap_min(&h), &it[1].node);
  lkv_heap_remove(&h, &it[4].node); /* 20, from the middle */
  assert_false(lkv_heap_contains(&it[4].node));
  lkv_heap_remove(&h, &it[4].node); /* not in the heap: no-op */
  it[0].key = 5;                    /* 50 -> 5 moves to the top */
  lkv_heap_update(&h, &it[0].node);
  it[1].key = 45; /* 10 -> 45 moves down */
  lkv_heap_update(&h, &it[1].node);
  int want[] = {0, 3, 2, 1};
  for (int i = 0; i < 4; i++) assert_int_equal(ITEM(lkv_heap_pop(&h))->id, want[i]);
  assert_int_equal(lkv_heap_size(&h), 0);
  lkv_heap_free(&h);
}

#define N 300

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* The model's least element among those in the heap, or -1. */
static int model_min(const item_t *it, const int *in) {
  int best = -1;
  for (int i = 0; i < N; i++)
    if (in[i] && (best < 0 || item_less(&it[i].node, &it[best].node))) best = i;
  return best;
}

static void test_random(void **state) {
  (void)state;
  static item_t it[N];
  int in[N] = {0};
  uint64_t seed = 0x2545F4914F6CDD1DULL;
  lkv_heap_t h;
  lkv_heap_init(&h, item_less);
  for (int i = 0; i < N; i++) {
    it[i].id = i;
    lkv_heap_node_init(&it[i].node);
  }
  for (int step = 0; step < 20000; step++) {
    int i = (int)(rnd(&seed) % N);
    switch (rnd(&seed) % 4) {
      case 0:
        if (!in[i]) {
          it[i].key = (int64_t)(rnd(&seed) % 1000);
          assert_int_equal(lkv_heap_insert(&h, &it[i].node), 0);
          in[i] = 1;
        }
        break;
      case 1:
        lkv_heap_remove(&h, &it[i].node);
        in[i] = 0;
        break;
      case 2:
        if (in[i]) {
          it[i].key = (int64_t)(rnd(&seed) % 1000);
          lkv_heap_update(&h, &it[i].node);
        }
        break;
      default: {
        lkv_heap_node_t *m = lkv_heap_pop(&h);
        int want = model_min(it, in);
        if (want < 0) {
          assert_null(m);
        } else {
          assert_int_equal(ITEM(m)->id, want);
          in[want] = 0;
        }
      }
    }
    size_t count = 0;
    for (int j = 0; j < N; j++) {
      count += (size_t)in[j];
      assert_int_equal(lkv_heap_contains(&it[j].node), in[j]);
    }
    assert_int_equal(lkv_heap_size(&h), count);
  }
  lkv_heap_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
